package gpadapt

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// factorKernel in place gives what forming A = s·K₀ + σ²·I apart and
// factoring it by mat.Cholesky (factorJitter) gives: L and α = A⁻¹·r to
// rounding, log det A; the same jitter and warning for a singular kernel;
// the same errors for a NaN, an indefinite and an ill-conditioned system.
func TestFactorKernelMatchesCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gram := func(n, p int) []float64 {
		j := mat.NewDense(n, p, nil)
		for i := range j.RawMatrix().Data {
			j.RawMatrix().Data[i] = rng.NormFloat64()
		}
		var k mat.Dense
		k.Mul(j, j.T())
		return k.RawMatrix().Data
	}
	nan := []float64{1, math.NaN(), math.NaN(), 1}
	near1 := math.Nextafter(1, 0) // condition number ~2⁵⁴
	cases := []struct {
		name         string
		n            int
		k0           []float64
		noise, scale float64
		jitter, fail bool
	}{
		{"full rank", 150, gram(150, 190), 0.1, 0.7, false, false},
		{"low rank", 70, gram(70, 20), 1e-3, 2, false, false},
		{"singular", 3, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 1, true, false},
		{"NaN", 2, nan, 0.1, 1, false, true},
		{"indefinite", 2, []float64{2, 0, 0, -1}, 0, 1, false, true},
		{"ill-conditioned", 2, []float64{1, near1, near1, 1}, 0, 1, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := make([]float64, c.n)
			for i := range r {
				r[i] = rng.NormFloat64()
			}
			var logs [2][]string
			opts := func(i int) *Options {
				return &Options{Logf: func(f string, a ...any) { logs[i] = append(logs[i], fmt.Sprintf(f, a...)) }}
			}
			const what = "the test system"
			// The reference: A apart, mat.Cholesky, as solveFunction did.
			k0 := mat.NewSymDense(c.n, append([]float64(nil), c.k0...))
			a := mat.NewSymDense(c.n, nil)
			a.ScaleSym(c.scale, k0)
			for i := 0; i < c.n; i++ {
				a.SetSym(i, i, a.At(i, i)+c.noise)
			}
			var wantRep, gotRep Report
			chol, wantErr := factorJitter(a, what, kernelEntry(1), opts(0), &wantRep)
			var alpha mat.VecDense
			if wantErr == nil {
				if err := chol.SolveVecTo(&alpha, mat.NewVecDense(c.n, r)); err != nil {
					wantErr = numerical("kernel solve: %v", err)
				}
			}
			kf, err := factorKernel(mat.NewSymDense(c.n, append([]float64(nil), c.k0...)), r, c.noise, c.scale, what, kernelEntry(1), opts(1), &gotRep)
			if (err == nil) != (wantErr == nil) || (err != nil && (err.Error() != wantErr.Error() || !errors.Is(err, ErrNumerical))) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if (wantErr != nil) != c.fail || (len(logs[0]) > 0) != c.jitter {
				t.Fatalf("the reference gives error %v and logs %q: not the case meant", wantErr, logs[0])
			}
			if gotRep.Jitter != wantRep.Jitter || fmt.Sprint(logs[1]) != fmt.Sprint(logs[0]) {
				t.Errorf("jitter %g, logs %q; want %g, %q", gotRep.Jitter, logs[1], wantRep.Jitter, logs[0])
			}
			if wantErr != nil {
				return
			}
			// The same factorization as mat.Cholesky's to rounding (simd.Dpotrf
			// sums in another order): L·Lᵀ reproduces A + jitter·I and α
			// solves it with backward errors of a few ulps, and log det agrees.
			aj := mat.NewSymDense(c.n, nil)
			aj.CopySym(a)
			for i := 0; i < c.n; i++ {
				aj.SetSym(i, i, aj.At(i, i)+gotRep.Jitter)
			}
			normA := mat.Norm(aj, 1)
			var llt mat.Dense
			llt.Mul(kf.l, kf.l.T())
			llt.Sub(&llt, aj)
			if e := mat.Norm(&llt, 1) / normA; e > 1e-14 {
				t.Errorf("‖L·Lᵀ − A‖/‖A‖ = %g", e)
			}
			var res mat.VecDense
			res.MulVec(aj, mat.NewVecDense(c.n, kf.alpha))
			res.SubVec(&res, mat.NewVecDense(c.n, r))
			if e := mat.Norm(&res, 1) / (normA*mat.Norm(mat.NewVecDense(c.n, kf.alpha), 1) + mat.Norm(mat.NewVecDense(c.n, r), 1)); e > 1e-14 {
				t.Errorf("α's backward error %g", e)
			}
			if raw := kf.l.RawTriangular(); raw.Data[1] != 0 || raw.Data[c.n-1] != 0 {
				t.Error("L's upper triangle is not zeroed")
			}
			if math.Abs(kf.logDet-chol.LogDet()) > 1e-12*math.Max(1, math.Abs(chol.LogDet())) {
				t.Errorf("log det %v, want %v", kf.logDet, chol.LogDet())
			}
		})
	}
}

// rcond matches Dpocon's estimate (mat.Cholesky's) to rounding, on
// well- and ill-conditioned systems.
func TestRcondMatchesPocon(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		n, p  int
		noise float64
	}{{1, 1, 1}, {40, 60, 1}, {90, 30, 1e-6}, {130, 130, 1e-12}} {
		j := mat.NewDense(c.n, c.p, nil)
		for i := range j.RawMatrix().Data {
			j.RawMatrix().Data[i] = rng.NormFloat64()
		}
		a := mat.NewSymDense(c.n, nil)
		a.SymOuterK(1, j)
		for i := 0; i < c.n; i++ {
			a.SetSym(i, i, a.At(i, i)+c.noise)
		}
		norm := lapack64.Lansy(mat.CondNorm, a.RawSymmetric(), make([]float64, c.n))
		sym := mat.NewSymDense(c.n, nil)
		sym.CopySym(a)
		u, ok := lapack64.Potrf(sym.RawSymmetric())
		if !ok {
			t.Fatalf("n=%d: not positive definite", c.n)
		}
		want := lapack64.Pocon(sym.RawSymmetric(), norm, make([]float64, 3*c.n), make([]int, c.n))
		if got := rcond(u, norm); math.Abs(got-want) > 1e-10*want {
			t.Errorf("n=%d, σ²=%g: rcond %g, Dpocon %g", c.n, c.noise, got, want)
		}
	}
}
