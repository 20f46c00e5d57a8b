package fvp_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// TestMulVecMatchesCross checks the matrix-free kernel products and
// columns against the kernel formed by Cross, with and without explicit
// gradient rows, with all outputs coupled and independent.
func TestMulVecMatchesCross(t *testing.T) {
	op := newOp(t, 3)
	f, err := op.Factors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	nk := f.N * f.K
	for _, rows := range []bool{false, true} {
		if rows {
			f.Rows = mat.NewDense(nk, 3, randVec(rng, nk*3))
		}
		want, err := fvp.Cross(f, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, indep := range []bool{false, true} {
			if indep {
				for i := range nk {
					for j := range nk {
						if i%f.K != j%f.K {
							want.Set(i, j, 0)
						}
					}
				}
			}
			const r = 3
			v := randVec(rng, r*nk)
			got := make([]float64, r*nk)
			if err := f.MulVec(got, v, r, indep); err != nil {
				t.Fatal(err)
			}
			for d := range r {
				var w mat.VecDense
				w.MulVec(want, mat.NewVecDense(nk, v[d*nk:(d+1)*nk]))
				expectClose(t, "K·v", got[d*nk:(d+1)*nk], w.RawVector().Data, 1e-12)
			}
			// The float32 products: the factors rounded to float32 and
			// float32 sums over 7 points, so within 1e-5 relative.
			got32 := make([]float64, r*nk)
			if err := f.Float32().MulVec(got32, v, r, indep); err != nil {
				t.Fatal(err)
			}
			expectClose(t, "K·v in float32", got32, got, 1e-5)
			col := make([]float64, nk)
			for c := range nk {
				if err := f.Column(col, c, indep); err != nil {
					t.Fatal(err)
				}
				expectClose(t, "kernel column", col, mat.Col(nil, c, want), 1e-12)
			}
		}
	}
	if err := f.MulVec(make([]float64, 2), make([]float64, 2), 1, false); err == nil {
		t.Error("MulVec accepted vectors of the wrong length")
	}
}
