package gpadapt

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestTridiagMatchesEigen checks the tridiagonal form against the
// eigendecomposition: the same eigenvalues and, at several σ² and s, the
// same quadratic form rᵀ(s·K₀ + σ²·I)⁻¹r and log marginal likelihood, on full-rank and rank-deficient
// kernels.
func TestTridiagMatchesEigen(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ m, p int }{{1, 1}, {2, 5}, {7, 3}, {40, 100}, {60, 12}} {
		j := mat.NewDense(c.m, c.p, nil)
		for i := 0; i < c.m; i++ {
			for l := 0; l < c.p; l++ {
				j.Set(i, l, rng.NormFloat64())
			}
		}
		k0 := mat.NewSymDense(c.m, nil)
		k0.SymOuterK(1, j)
		r := make([]float64, c.m)
		for i := range r {
			r[i] = rng.NormFloat64()
		}
		tri, ok := newTridiag(k0, r)
		if !ok {
			t.Fatalf("m=%d: reduction failed", c.m)
		}
		var eig mat.EigenSym
		if !eig.Factorize(k0, true) {
			t.Fatal("eigen failed")
		}
		lam := eig.Values(nil)
		top := lam[len(lam)-1]
		for i := range lam {
			if d := math.Abs(lam[i] - tri.lam[i]); d > 1e-10*top {
				t.Errorf("m=%d: eigenvalue %d: %g vs %g", c.m, i, tri.lam[i], lam[i])
			}
		}
		for _, hp := range [][2]float64{{1, 1}, {1e-3, 10}, {5, 0.01}} {
			noise, scale := hp[0], hp[1]
			a := mat.NewSymDense(c.m, nil)
			a.ScaleSym(scale, k0)
			for i := 0; i < c.m; i++ {
				a.SetSym(i, i, a.At(i, i)+noise)
			}
			var chol mat.Cholesky
			if !chol.Factorize(a) {
				t.Fatal("cholesky failed")
			}
			var x mat.VecDense
			rv := mat.NewVecDense(c.m, r)
			if err := chol.SolveVecTo(&x, rv); err != nil {
				t.Fatal(err)
			}
			want := mat.Dot(rv, &x)
			if got := tri.quad(noise, scale); math.Abs(got-want) > 1e-9*math.Abs(want) {
				t.Errorf("m=%d p=%d σ²=%g s=%g: quad %.12g, want %.12g", c.m, c.p, noise, scale, got, want)
			}
			wantML := -0.5 * (want + chol.LogDet() + float64(c.m)*math.Log(2*math.Pi))
			if got := tri.logML(noise, scale); math.Abs(got-wantML) > 1e-9*(1+math.Abs(wantML)) {
				t.Errorf("m=%d p=%d σ²=%g s=%g: log marginal %.12g, want %.12g", c.m, c.p, noise, scale, got, wantML)
			}
		}
	}
}
