package simd

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// guarded returns a slice of n random values at offset off inside a larger
// NaN-filled slice, and the whole backing slice.
func guarded(rng *rand.Rand, n, off int) (x, all []float32) {
	all = make([]float32, off+n+guard)
	for i := range all {
		all[i] = nan32
	}
	x = all[off : off+n : off+n]
	for i := range x {
		x[i] = float32(rng.IntN(2001)-1000) / 1000
	}
	return x, all
}

func checkGuards(t *testing.T, name string, all []float32, off, n int) {
	t.Helper()
	for i, v := range all {
		if (i < off || i >= off+n) && !math.IsNaN(float64(v)) {
			t.Fatalf("%s: element %d outside the vector written", name, i)
		}
	}
}

// TestVec checks the vector kernels under every implementation against their
// reference loops at every length 0..100 and offsets 0..3. Sdot is a reduction
// and may be summed in another order: |got − ref| <= 2·n·u·Σ|x||y|.
func TestVec(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		for n := 0; n <= 100; n++ {
			off := n % 4
			x, xall := guarded(rng, n, off)
			y, yall := guarded(rng, n, (n+1)%4)
			x0 := append([]float32(nil), xall...)
			var ref, abs float64
			for i := range x {
				ref += float64(x[i]) * float64(y[i])
				abs += math.Abs(float64(x[i]) * float64(y[i]))
			}
			if got := Sdot(x, y); math.Abs(float64(got)-ref) > 2*float64(n)*eps32*abs {
				t.Fatalf("Sdot n=%d: %v, want %v", n, got, ref)
			}
			want := append([]float32(nil), y...)
			axpyGeneric(-1.5, x, want)
			Saxpy(-1.5, x, y)
			for i := range y {
				if y[i] != want[i] {
					t.Fatalf("Saxpy n=%d: y[%d]=%v, want %v", n, i, y[i], want[i])
				}
			}
			checkGuards(t, "Saxpy", yall, (n+1)%4, n)
			for i := range xall {
				if math.Float32bits(xall[i]) != math.Float32bits(x0[i]) {
					t.Fatalf("Saxpy n=%d changed x", n)
				}
			}
			Sscal(2, x)
			for i := range x {
				if x[i] != 2*x0[off+i] {
					t.Fatalf("Sscal n=%d: x[%d]=%v", n, i, x[i])
				}
			}
			checkGuards(t, "Sscal", xall, off, n)
			var s float32
			m := float32(math.Inf(-1))
			for _, v := range x {
				s += v
				m = max(m, v)
			}
			if got := Ssum(x); got != s {
				t.Fatalf("Ssum n=%d: %v, want %v", n, got, s)
			}
			if got := Smax(x); got != m {
				t.Fatalf("Smax n=%d: %v, want %v", n, got, m)
			}
		}
	})
	if v := Smax([]float32{1, nan32, 2}); !math.IsNaN(float64(v)) {
		t.Errorf("Smax with NaN = %v", v)
	}
}

// TestDotAxpy checks Sdot and Saxpy under every implementation at every
// length 0..300 and a few longer ones, at every pair of offsets 0..3 of x
// and y, with y longer than x. Sdot must be within the bound of TestVec,
// ignore y past len(x) (NaN there) and change neither input; Saxpy must be
// bitwise axpyGeneric, leave x and everything around y[:len(x)] (a
// non-NaN sentinel) as they were.
func TestDotAxpy(t *testing.T) {
	var lengths []int
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 511, 512, 513, 1000, 2000, 2003)
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(10, 10))
		for _, n := range lengths {
			for ox := range 4 {
				for oy := range 4 {
					checkDot(t, rng, n, ox, oy)
					checkAxpy(t, rng, n, ox, oy)
				}
			}
		}
	})
}

// checkDot runs Sdot on x of length n at offset ox and y of length n + n%3
// at offset oy, both in NaN-guarded memory: y[n:] is NaN.
func checkDot(t *testing.T, rng *rand.Rand, n, ox, oy int) {
	t.Helper()
	x, xall := guarded(rng, n, ox)
	_, yall := guarded(rng, n, oy)
	y := yall[oy : oy+n+n%3]
	x0, y0 := slices.Clone(xall), slices.Clone(yall)
	var ref, abs float64
	for i := range x {
		ref += float64(x[i]) * float64(y[i])
		abs += math.Abs(float64(x[i]) * float64(y[i]))
	}
	if got := Sdot(x, y); !(math.Abs(float64(got)-ref) <= 2*float64(n)*eps32*abs) {
		t.Fatalf("Sdot n=%d offsets %d,%d: %v, want %v", n, ox, oy, got, ref)
	}
	if !sameBits(xall, x0) || !sameBits(yall, y0) {
		t.Fatalf("Sdot n=%d offsets %d,%d changed its inputs", n, ox, oy)
	}
}

// checkAxpy runs Saxpy with a random alpha on x of length n at offset ox
// (NaN around it) and y of length n + n%3 at offset oy, every element of
// its backing array but y[:n] a sentinel that must stay.
func checkAxpy(t *testing.T, rng *rand.Rand, n, ox, oy int) {
	t.Helper()
	const sentinel = -777
	x, xall := guarded(rng, n, ox)
	_, yall := guarded(rng, n, oy)
	for i := range yall {
		if i < oy || i >= oy+n {
			yall[i] = sentinel
		}
	}
	alpha := float32(rng.NormFloat64())
	x0, want := slices.Clone(xall), slices.Clone(yall)
	axpyGeneric(alpha, x, want[oy:oy+n])
	Saxpy(alpha, x, yall[oy:oy+n+n%3])
	for i := range yall {
		if math.Float32bits(yall[i]) != math.Float32bits(want[i]) {
			t.Fatalf("Saxpy n=%d offsets %d,%d: y[%d]=%v, want %v", n, ox, oy, i-oy, yall[i], want[i])
		}
	}
	if !sameBits(xall, x0) {
		t.Fatalf("Saxpy n=%d offsets %d,%d changed x", n, ox, oy)
	}
}

// sameBits reports whether a and b hold bitwise the same values.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) })
}

func TestVecPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Sdot(make([]float32, 3), make([]float32, 2)) },
		func() { Saxpy(1, make([]float32, 3), make([]float32, 2)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}
