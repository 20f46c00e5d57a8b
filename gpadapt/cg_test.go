package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestBlockCG solves several SPD systems at once and checks each against
// a dense solve, with and without a preconditioner.
func TestBlockCG(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	const n, r = 40, 3
	g := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var a mat.SymDense
	a.SymOuterK(1, g)
	for i := 0; i < n; i++ {
		a.SetSym(i, i, a.At(i, i)+0.5+float64(i))
	}
	b := make([]float64, r*n)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	apply := func(_ context.Context, dst, src []float64, m int) error {
		for j := 0; j < m; j++ {
			var y mat.VecDense
			y.MulVec(&a, mat.NewVecDense(n, src[j*n:(j+1)*n]))
			copy(dst[j*n:(j+1)*n], y.RawVector().Data)
		}
		return nil
	}
	minv := make([]float64, n)
	for i := range minv {
		minv[i] = 1 / a.At(i, i)
	}
	for _, pre := range [][]float64{nil, minv} {
		x, iters, resid, err := cg(context.Background(), apply, b, r, n, pre, 1e-12, 500)
		if err != nil {
			t.Fatal(err)
		}
		if resid > 1e-12 || iters == 0 {
			t.Errorf("preconditioned=%v: residual %g after %d iterations", pre != nil, resid, iters)
		}
		var chol mat.Cholesky
		chol.Factorize(&a)
		for j := 0; j < r; j++ {
			var want mat.VecDense
			chol.SolveVecTo(&want, mat.NewVecDense(n, b[j*n:(j+1)*n]))
			for i := 0; i < n; i++ {
				if d := math.Abs(x[j*n+i] - want.AtVec(i)); d > 1e-9*math.Max(1, math.Abs(want.AtVec(i))) {
					t.Fatalf("system %d, x[%d] = %g, want %g", j, i, x[j*n+i], want.AtVec(i))
				}
			}
		}
	}
	// A cap below convergence is reported, not hidden.
	_, iters, resid, _ := cg(context.Background(), apply, b, r, n, nil, 1e-12, 3)
	if iters != 3 || resid <= 1e-12 {
		t.Errorf("capped run: %d iterations, residual %g", iters, resid)
	}
}

// TestParameterCGMatchesDense forces the iterative parameter form and
// checks it against the dense function form, and that an unconverged
// solve is an error unless accepted.
func TestParameterCGMatchesDense(t *testing.T) {
	g, d, xs := problem(12)
	defer func(v int) { maxJacobian = v }(maxJacobian)
	dense, err := Fit(context.Background(), g, d, &Options{Noise: 0.05, PriorScale: 0.7, Method: "function", Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	maxJacobian = 10
	it, err := Fit(context.Background(), g, d, &Options{Noise: 0.05, PriorScale: 0.7, Method: "parameter", Float64: true, Tol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if rep := it.Report(); rep.Solver != "cg" || rep.Iterations == 0 || rep.Residual > 1e-12 {
		t.Fatalf("report %+v", rep)
	}
	a, _ := dense.Predict(xs)
	b, _ := it.Predict(xs)
	if e := relToMax(flatten(b.Mean), flatten(a.Mean)); e > 1e-8 {
		t.Errorf("CG mean off the dense mean by %.3g", e)
	}
	if _, err := Fit(context.Background(), g, d, &Options{Noise: 0.05, PriorScale: 0.7, Method: "parameter", Float64: true, Tol: 1e-14, MaxIter: 2}); err == nil {
		t.Error("an unconverged CG solve was returned silently")
	}
	if _, err := Fit(context.Background(), g, d, &Options{Noise: 0.05, PriorScale: 0.7, Method: "parameter", Float64: true, Tol: 1e-14, MaxIter: 2, AcceptUnconverged: true}); err != nil {
		t.Errorf("accepted unconverged solve: %v", err)
	}
}
