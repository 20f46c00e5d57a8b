package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestNystromExactOnLowRank checks the preconditioner on an A of rank 20
// sketched with 30 directions: the sketch is then exact, and P⁻¹·(A + μI)
// = μ·I, so every vector comes back scaled by μ.
func TestNystromExactOnLowRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p, mu := 120, 0.01
	eig := make([]float64, p)
	for i := range 20 {
		eig[i] = math.Pow(10, -float64(i)/8)
	}
	a := psdWithSpectrum(rng, eig)
	ny, err := newNystrom(context.Background(), symOp(a), p, 30, mu, 7)
	if err != nil || ny == nil {
		t.Fatalf("newNystrom: %v, %v", ny, err)
	}
	if len(ny.w) != 20 {
		t.Errorf("kept rank %d, want 20", len(ny.w))
	}
	for i, l := range ny.lam {
		if math.Abs(l-eig[i]) > 1e-9 {
			t.Errorf("λ_%d = %g, want %g", i, l, eig[i])
		}
	}
	x := make([]float64, p)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	ax := make([]float64, p)
	mat.NewVecDense(p, ax).MulVec(a, mat.NewVecDense(p, x))
	for i := range ax {
		ax[i] += mu * x[i]
	}
	got := make([]float64, p)
	ny.apply(got, ax)
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(got[i]-mu*x[i]))
	}
	if worst > 1e-9*mu*math.Sqrt(dot(x, x)) {
		t.Errorf("P⁻¹(A+μI)x differs from μx by %g", worst)
	}
}

// TestNystromCG checks that conjugate gradients with the preconditioner
// solve (A + μI)x = b to the tolerance in fewer iterations than with the
// Jacobi diagonal, on a full-rank A with decaying spectrum, and that P⁻¹
// is symmetric positive definite.
func TestNystromCG(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p, mu := 200, 1e-4
	eig := make([]float64, p)
	for i := range eig {
		eig[i] = math.Pow(10, -float64(i)/25)
	}
	a := psdWithSpectrum(rng, eig)
	op := symOp(a)
	shifted := func(ctx context.Context, dst, src []float64, r int) error {
		if err := op(ctx, dst, src, r); err != nil {
			return err
		}
		for i := range dst {
			dst[i] += mu * src[i]
		}
		return nil
	}
	ny, err := newNystrom(context.Background(), op, p, 60, mu, 1)
	if err != nil || ny == nil {
		t.Fatalf("newNystrom: %v, %v", ny, err)
	}
	u, v := make([]float64, p), make([]float64, p)
	for i := range u {
		u[i], v[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	pu, pv := make([]float64, p), make([]float64, p)
	ny.apply(pu, u)
	ny.apply(pv, v)
	if d := math.Abs(dot(pu, v) - dot(pv, u)); d > 1e-12*math.Sqrt(dot(pu, pu)*dot(v, v)) {
		t.Errorf("P⁻¹ not symmetric: uᵀP⁻¹v − vᵀP⁻¹u = %g", d)
	}
	if dot(pu, u) <= 0 {
		t.Errorf("uᵀP⁻¹u = %g ≤ 0", dot(pu, u))
	}
	minv := make([]float64, p)
	for i := range minv {
		minv[i] = 1 / (a.At(i, i) + mu)
	}
	const tol = 1e-8
	_, jacobi, _, err := cgPre(context.Background(), shifted, u, 1, p, diagonal(minv), tol, 10000)
	if err != nil {
		t.Fatal(err)
	}
	x, its, resid, err := cgPre(context.Background(), shifted, u, 1, p, ny.apply, tol, 10000)
	if err != nil {
		t.Fatal(err)
	}
	ax := make([]float64, p)
	if err := shifted(context.Background(), ax, x, 1); err != nil {
		t.Fatal(err)
	}
	for i := range ax {
		ax[i] -= u[i]
	}
	if r := math.Sqrt(dot(ax, ax) / dot(u, u)); r > 2*tol || resid > tol {
		t.Errorf("relative residual %g (reported %g), want ≤ %g", r, resid, tol)
	}
	if its*2 > jacobi {
		t.Errorf("%d iterations with Nyström, %d with Jacobi: want at most half", its, jacobi)
	}
	t.Logf("CG iterations: Nyström %d, Jacobi %d", its, jacobi)
}

// TestNystromRank checks the rank rule: at most 100, p and nK, within
// the memory cap, and none below nystromMinRank.
func TestNystromRank(t *testing.T) {
	defer func(v int) { nystromMaxValues = v }(nystromMaxValues)
	nystromMaxValues = 1 << 20
	for _, c := range []struct{ p, m, want int }{
		{1000, 5000, 100}, {50, 5000, 50}, {1000, 30, 30}, {1000, 7, 0},
		{1 << 15, 5000, 32}, {1 << 18, 5000, 0},
	} {
		if got := nystromRank(c.p, c.m); got != c.want {
			t.Errorf("nystromRank(%d, %d) = %d, want %d", c.p, c.m, got, c.want)
		}
	}
}
