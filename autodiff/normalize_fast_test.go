package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkBatchNormAffine compares BatchNormalization's forward, y = a·x + o
// per channel, with y = s·(x − μ)/√(σ² + ε) + B in float64 on random
// inputs of the given shape: within a few roundings of T relative to the
// terms' magnitude (|a·x| + |o|).
func checkBatchNormAffine[T Float](t *testing.T, shape []int, rng *rand.Rand, tol float64) {
	t.Helper()
	c := shape[1]
	rnd := func(n int, lo, hi float64) []T {
		v := make([]T, n)
		for i := range v {
			v[i] = T(lo + (hi-lo)*rng.Float64())
		}
		return v
	}
	x := FromData(rnd(Size(shape), -3, 3), shape...)
	s, b, mu, v := rnd(c, -2, 2), rnd(c, -1, 1), rnd(c, -1, 1), rnd(c, 0.1, 3)
	k, err := newBatchNorm[T](&Node{OpType: "BatchNormalization", Attrs: Attrs{}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := k.Forward([]*Tensor[T]{x, FromData(s, c), FromData(b, c), FromData(mu, c), FromData(v, c)})
	if err != nil {
		t.Fatal(err)
	}
	inner := Size(shape[2:])
	for i, xi := range x.Data {
		ch := i / inner % c
		a := float64(s[ch]) / math.Sqrt(float64(v[ch])+1e-5)
		want := a*(float64(xi)-float64(mu[ch])) + float64(b[ch])
		scale := math.Abs(a*float64(xi)) + math.Abs(float64(b[ch])-a*float64(mu[ch])) + 1e-30
		if d := math.Abs(float64(out[0].Data[i]) - want); d > tol*scale {
			t.Fatalf("%T %v: y[%d] = %v, want %v (error %.3g of scale %.3g)", xi, shape, i, out[0].Data[i], want, d, scale)
		}
	}
}

// TestBatchNormAffine runs checkBatchNormAffine on batch 1, odd spatial
// sizes, channel counts off the vector widths and no spatial axes, in
// float32 (simd.Saffine) and float64.
func TestBatchNormAffine(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, sh := range [][]int{{1, 1, 1, 1}, {1, 3, 5, 7}, {2, 17, 3, 3}, {4, 9, 16}, {3, 5}, {1, 8, 8, 8}} {
		checkBatchNormAffine[float32](t, sh, rng, 4e-7)
		checkBatchNormAffine[float64](t, sh, rng, 1e-15)
	}
}

// TestScatterBias checks scatterImages with a bias against the plain
// sum src + b[c] bit for bit (float32 goes through simd.Saffine with
// a = 1), on image sizes off the vector widths.
func TestScatterBias(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, c := range []struct{ b, i0, nb, ch, sp int }{{1, 0, 1, 1, 1}, {3, 1, 2, 5, 7}, {4, 0, 4, 3, 16}, {5, 2, 3, 17, 33}} {
		src := fastPoolValues[float32](rng, c.ch*c.nb*c.sp)
		bias := fastPoolValues[float32](rng, c.ch)
		x := make([]float32, c.b*c.ch*c.sp)
		scatterImages(src, x, c.i0, c.nb, c.ch, c.sp, false, bias)
		for i := 0; i < c.nb; i++ {
			for ch := 0; ch < c.ch; ch++ {
				for o := 0; o < c.sp; o++ {
					got := x[((c.i0+i)*c.ch+ch)*c.sp+o]
					want := src[ch*c.nb*c.sp+i*c.sp+o] + bias[ch]
					if !sameValue(got, want) {
						t.Fatalf("%+v: image %d channel %d position %d: %v, want %v", c, i, ch, o, got, want)
					}
				}
			}
		}
	}
}
