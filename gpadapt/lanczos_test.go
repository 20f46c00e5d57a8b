package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// randomSPD returns a random n×n symmetric positive definite matrix with
// eigenvalues spread over [0.01, 10].
func randomSPD(rng *rand.Rand, n int) *mat.SymDense {
	eig := make([]float64, n)
	for k := range eig {
		eig[k] = math.Pow(10, -2+3*float64(k)/float64(max(n-1, 1)))
	}
	return psdWithSpectrum(rng, eig)
}

// psdWithSpectrum returns U·diag(eig)·Uᵀ for a random orthogonal U.
func psdWithSpectrum(rng *rand.Rand, eig []float64) *mat.SymDense {
	n := len(eig)
	q := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			q.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(q)
	var u mat.Dense
	qr.QTo(&u)
	a := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s := 0.0
			for k, e := range eig {
				s += u.At(i, k) * u.At(j, k) * e
			}
			a.SetSym(i, j, s)
		}
	}
	return a
}

func symOp(a *mat.SymDense) blockOp {
	n := a.SymmetricDim()
	return func(_ context.Context, dst, src []float64, r int) error {
		for j := range r {
			var v mat.VecDense
			v.MulVec(a, mat.NewVecDense(n, src[j*n:(j+1)*n]))
			copy(dst[j*n:(j+1)*n], v.RawVector().Data)
		}
		return nil
	}
}

// TestLanczosFullRank checks that n steps of Lanczos recover A's spectrum
// and that Gauss quadrature on T is exact for log and inverse at full
// rank, for two start vectors run in lockstep.
func TestLanczosFullRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 23} {
		as := randomSPD(rand.New(rand.NewPCG(uint64(n), 9)), n)
		a := symOp(as)
		var eig mat.EigenSym
		eig.Factorize(as, true)
		want := eig.Values(nil)
		var vec mat.Dense
		eig.VectorsTo(&vec)
		z := make([]float64, 2*n)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		runs, err := lanczos(context.Background(), a, z, 2, n, n, true)
		if err != nil {
			t.Fatal(err)
		}
		for j, run := range runs {
			theta, w, ok := run.nodes()
			if !ok || len(theta) != n {
				t.Fatalf("n=%d run %d: %d Ritz values, ok=%v", n, j, len(theta), ok)
			}
			slices.Sort(theta)
			for i := range want {
				if math.Abs(theta[i]-want[i]) > 1e-10*want[n-1] {
					t.Errorf("n=%d run %d: Ritz value %d = %.15g, eigenvalue %.15g", n, j, i, theta[i], want[i])
				}
			}
			// zᵀ f(A) z from the eigendecomposition, f = log and 1/x.
			zj := mat.NewVecDense(n, z[j*n:(j+1)*n])
			var c mat.VecDense
			c.MulVec(vec.T(), zj)
			wantLog, wantInv, gotLog, gotInv := 0.0, 0.0, 0.0, 0.0
			for i, l := range want {
				wantLog += c.AtVec(i) * c.AtVec(i) * math.Log(l)
				wantInv += c.AtVec(i) * c.AtVec(i) / l
			}
			for i, th := range theta {
				gotLog += w[i] * math.Log(th)
				gotInv += w[i] / th
			}
			if math.Abs(gotLog-wantLog) > 1e-10*math.Max(1, math.Abs(wantLog)) {
				t.Errorf("n=%d run %d: zᵀlog(A)z = %.15g by quadrature, %.15g exact", n, j, gotLog, wantLog)
			}
			if math.Abs(gotInv-wantInv) > 1e-10*math.Abs(wantInv) {
				t.Errorf("n=%d run %d: zᵀA⁻¹z = %.15g by quadrature, %.15g exact", n, j, gotInv, wantInv)
			}
			// The basis is orthonormal and tridiagonalizes A.
			q := mat.NewDense(n, len(run.q), nil)
			for c, v := range run.q {
				q.SetCol(c, v)
			}
			var qtq mat.Dense
			qtq.Mul(q.T(), q)
			for r := range n {
				for c := range n {
					want := 0.0
					if r == c {
						want = 1
					}
					if math.Abs(qtq.At(r, c)-want) > 1e-12 {
						t.Fatalf("n=%d run %d: (QᵀQ)[%d,%d] = %g", n, j, r, c, qtq.At(r, c))
					}
				}
			}
		}
	}
}

// TestLanczosInvariant checks early stop on an invariant subspace: a start
// vector in the span of 3 eigenvectors gives a 3×3 T, exact quadrature.
func TestLanczosInvariant(t *testing.T) {
	n := 12
	d := mat.NewSymDense(n, nil)
	for i := range n {
		d.SetSym(i, i, float64(i+1))
	}
	z := make([]float64, n)
	z[2], z[5], z[9] = 1, -2, 0.5
	runs, err := lanczos(context.Background(), symOp(d), z, 1, n, n, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs[0].alpha) != 3 {
		t.Fatalf("%d steps, want 3", len(runs[0].alpha))
	}
	theta, w, _ := runs[0].nodes()
	got, want := 0.0, 1/3.0+4/6.0+0.25/10
	for i := range theta {
		got += w[i] / theta[i]
	}
	if math.Abs(got-want) > 1e-13 {
		t.Errorf("zᵀA⁻¹z = %.15g, want %.15g", got, want)
	}
}

// TestSLQFullSpectrum checks that a probe run of nK steps makes log det
// exact (standard error 0), and the data term exact, on a random SPD K₀.
func TestSLQFullSpectrum(t *testing.T) {
	const n = 15
	k0 := randomSPD(rand.New(rand.NewPCG(3, 4)), n)
	var eig mat.EigenSym
	eig.Factorize(k0, true)
	lam := eig.Values(nil)
	var vec mat.Dense
	eig.VectorsTo(&vec)
	r := make([]float64, n)
	for i := range r {
		r[i] = math.Sin(float64(i))
	}
	var c mat.VecDense
	c.MulVec(vec.T(), mat.NewVecDense(n, r))
	q, err := newSLQ(context.Background(), symOp(k0), r, 4, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range [][2]float64{{1e-3, 1}, {0.5, 0.1}} {
		noise, scale := h[0], h[1]
		wantLD, wantQ := 0.0, 0.0
		for i, l := range lam {
			wantLD += math.Log(scale*l + noise)
			wantQ += c.AtVec(i) * c.AtVec(i) / (scale*l + noise)
		}
		ld, se := q.logdet(noise, scale)
		if se != 0 || math.Abs(ld-wantLD) > 1e-10*math.Abs(wantLD) {
			t.Errorf("σ²=%g s=%g: log det %.15g ± %g, want %.15g exactly", noise, scale, ld, se, wantLD)
		}
		if got := q.quad(noise, scale); math.Abs(got-wantQ) > 1e-10*wantQ {
			t.Errorf("σ²=%g s=%g: rᵀA⁻¹r %.15g, want %.15g", noise, scale, got, wantQ)
		}
	}
}
