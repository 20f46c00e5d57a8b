package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// poolValues draws n float32s with ties, signed zeros, infinities and
// NaNs among normal values, the cases where the order of comparisons
// shows.
func poolValues(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(3) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

// poolSame reports whether a and b agree bit for bit, any NaN matching
// any NaN (the payloads are not part of the contract).
func poolSame(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func TestSaffine(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	forEachImpl(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 64, 100} {
			for _, ab := range [][2]float32{{1, 0.25}, {-1.5, 3}, {0.3, -0.7}, {1, 0}} {
				x := poolValues(rng, n)
				dst := make([]float32, n+1)
				dst[n] = 42
				Saffine(dst, x, ab[0], ab[1])
				for i, v := range x {
					want := float32(ab[0]*v) + ab[1]
					if !poolSame(dst[i], want) {
						t.Fatalf("n=%d a,b=%v: dst[%d] = %v, want %v", n, ab, i, dst[i], want)
					}
					if ab[0] == 1 && !poolSame(dst[i], v+ab[1]) {
						t.Fatalf("a=1: dst[%d] = %v, want x+b = %v", i, dst[i], v+ab[1])
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: wrote past len(x)", n)
				}
			}
		}
	})
}

// maxPoolLoop is 2×2 max pooling as a loop of strict comparisons from the
// window's first tap: the definition SmaxPool2 must agree with.
func maxPoolLoop(x []float32, w int) []float32 {
	h := w / 2
	rows := len(x) / (2 * w)
	y := make([]float32, rows*h)
	for r := 0; r < rows; r++ {
		for j := 0; j < h; j++ {
			taps := []int{2*r*w + 2*j, 2*r*w + 2*j + 1, (2*r+1)*w + 2*j, (2*r+1)*w + 2*j + 1}
			m := x[taps[0]]
			for _, i := range taps[1:] {
				if x[i] > m {
					m = x[i]
				}
			}
			y[r*h+j] = m
		}
	}
	return y
}

func TestSmaxPool2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	forEachImpl(t, func(t *testing.T) {
		for _, w := range []int{2, 4, 6, 8, 14, 16, 18, 30, 32, 34, 50} {
			for _, rows := range []int{0, 1, 2, 3, 5} {
				x := poolValues(rng, 2*w*rows)
				n := rows * w / 2
				dst := make([]float32, n+1)
				dst[n] = 42
				SmaxPool2(dst, x, w)
				want := maxPoolLoop(x, w)
				for i := range want {
					if !poolSame(dst[i], want[i]) {
						t.Fatalf("w=%d rows=%d: dst[%d] = %v, want %v", w, rows, i, dst[i], want[i])
					}
				}
				if dst[n] != 42 {
					t.Fatalf("w=%d rows=%d: wrote past the output", w, rows)
				}
			}
		}
	})
}

func TestSmaxPool2Panics(t *testing.T) {
	for _, c := range []struct{ x, dst, w int }{{8, 2, 3}, {8, 2, 0}, {12, 3, 4}, {16, 3, 4}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("len(x)=%d len(dst)=%d w=%d: no panic", c.x, c.dst, c.w)
				}
			}()
			SmaxPool2(make([]float32, c.dst), make([]float32, c.x), c.w)
		}()
	}
}

func TestSaffineRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	forEachImpl(t, func(t *testing.T) {
		for _, c := range []struct{ rows, n, ldd, ldx int }{{1, 1, 1, 1}, {3, 7, 7, 9}, {5, 16, 16, 40}, {4, 33, 35, 33}, {17, 64, 64, 2048}, {2, 0, 0, 3}, {0, 5, 5, 5}} {
			x := poolValues(rng, max(0, (c.rows-1)*c.ldx+c.n))
			a, b := poolValues(rng, c.rows), poolValues(rng, c.rows)
			size := max(0, (c.rows-1)*c.ldd+c.n)
			dst := make([]float32, size+1)
			for i := range dst {
				dst[i] = 42
			}
			SaffineRows(dst, x, a, b, c.n, c.ldd, c.ldx)
			for i := range dst {
				r, e := i/max(1, c.ldd), i%max(1, c.ldd)
				want := float32(42)
				if r < c.rows && e < c.n && i < size {
					want = float32(a[r]*x[r*c.ldx+e]) + b[r]
				}
				if !poolSame(dst[i], want) {
					t.Fatalf("%+v: dst[%d] = %v, want %v", c, i, dst[i], want)
				}
			}
		}
	})
	defer func() {
		if recover() == nil {
			t.Error("a short dst: no panic")
		}
	}()
	SaffineRows(make([]float32, 10), make([]float32, 12), []float32{1, 2}, []float32{0, 0}, 6, 6, 6)
}
