package fvp_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestColumnsMatchColumn checks the block columns of the float32 factors
// against single float64 columns: in any order, repeated, for every
// column at once, with and without explicit gradient rows, coupled and
// independent outputs, within float32 rounding.
func TestColumnsMatchColumn(t *testing.T) {
	op := newOp(t, 3)
	f, err := op.Factors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 7))
	nk := f.N * f.K
	all := make([]int, nk)
	for i := range all {
		all[i] = nk - 1 - i
	}
	for _, rows := range []bool{false, true} {
		if rows {
			f.Rows = mat.NewDense(nk, 3, randVec(rng, nk*3))
		}
		f32 := f.Float32()
		for _, indep := range []bool{false, true} {
			for _, cols := range [][]int{{0}, {nk - 1, 2, 2, 5}, all} {
				got := make([]float64, nk*len(cols))
				if err := f32.Columns(got, cols, indep); err != nil {
					t.Fatal(err)
				}
				col := make([]float64, nk)
				for j, c := range cols {
					if err := f.Column(col, c, indep); err != nil {
						t.Fatal(err)
					}
					g := make([]float64, nk)
					for r := range nk {
						g[r] = got[r*len(cols)+j]
					}
					expectClose(t, "block column", g, col, 1e-5)
				}
			}
		}
	}
	f32 := f.Float32()
	if err := f32.Columns(make([]float64, nk), []int{nk}, false); err == nil {
		t.Error("Columns accepted a column out of range")
	}
	if err := f32.Columns(make([]float64, nk), []int{0, 1}, false); err == nil {
		t.Error("Columns accepted a destination of the wrong length")
	}
}
