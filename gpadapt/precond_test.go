package gpadapt

import (
	"context"
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// TestPivotedCholeskyGreedy checks the block-built preconditioner against
// the textbook sequential greedy pivoted Cholesky in float64 on the formed
// kernel: the same first pivots (its columns come from the residual
// diagonal in the same order), and at full rank P = A, so that P⁻¹·A·v
// returns v within float32 rounding — coupled and independent outputs,
// with blocks smaller than the rank (pivotBlock candidates at a time).
func TestPivotedCholeskyGreedy(t *testing.T) {
	g, d, _ := problem(40) // nK = 80 > pivotBlock
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	op, err := fvp.New(context.Background(), e, autodiff.Convert[float64](d.X), 16)
	if err != nil {
		t.Fatal(err)
	}
	f, err := op.Factors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const noise, scale = 1e-3, 0.7
	for _, indep := range []bool{false, true} {
		k0, err := fvp.Cross(f, f)
		if err != nil {
			t.Fatal(err)
		}
		if indep {
			maskOutputs(k0, f.K)
		}
		nk := f.N * f.K
		// The textbook greedy pivots, from the formed kernel in float64.
		res := mat.DenseCopyOf(k0)
		var want []int
		for range 10 {
			piv := 0
			for i := range nk {
				if res.At(i, i) > res.At(piv, piv) {
					piv = i
				}
			}
			want = append(want, piv)
			var l mat.VecDense
			l.ScaleVec(1/math.Sqrt(res.At(piv, piv)), res.ColView(piv))
			var ll mat.Dense
			ll.Outer(1, &l, &l)
			res.Sub(res, &ll)
		}
		pc, err := newPivotedCholesky(f, nil, indep, nk, noise, scale)
		if err != nil {
			t.Fatal(err)
		}
		for j, piv := range want {
			// Column j of L is largest at its pivot: |l_j[i]| =
			// |R_{i,piv}|/√R_{piv,piv} ≤ √R_{ii} ≤ √R_{piv,piv} = l_j[piv] for
			// the residual kernel R, whose largest diagonal entry is the pivot.
			if got := argmaxAbs(pc.l[j]); got != piv {
				t.Errorf("independent=%v: pivot %d is %d, greedy %d", indep, j, got, piv)
				break
			}
		}
		if len(pc.l) < 10 {
			t.Fatalf("independent=%v: %d pivots", indep, len(pc.l))
		}
		// P⁻¹·A·v = v when L·Lᵀ + D is K₀ (up to the pivot floor).
		v := make([]float64, nk)
		for i := range v {
			v[i] = math.Sin(float64(3*i + 1))
		}
		var av mat.VecDense
		av.MulVec(k0, mat.NewVecDense(nk, v))
		av.ScaleVec(scale, &av)
		av.AddScaledVec(&av, noise, mat.NewVecDense(nk, v))
		got := make([]float64, nk)
		pc.apply(got, av.RawVector().Data)
		if e := relToMax(got, v); e > 1e-3 {
			t.Errorf("independent=%v: P⁻¹·A·v off v by %.3g relative to the largest (rank %d)", indep, e, len(pc.l))
		}
	}
}

func argmaxAbs(x []float64) int {
	best := 0
	for i, v := range x {
		if math.Abs(v) > math.Abs(x[best]) {
			best = i
		}
	}
	return best
}
