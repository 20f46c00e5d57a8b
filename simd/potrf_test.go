package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
)

// spd returns a random n×n symmetric positive definite matrix XᵀX/n + I
// in a row-major array of leading dimension lda, NaN in the strict lower
// triangle (which Dpotrf must not read).
func spd(rng *rand.Rand, n, lda int) []float64 {
	x := make([]float64, n*n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	a := make([]float64, (n-1)*lda+n)
	for i := range a {
		a[i] = math.NaN()
	}
	for i := range n {
		for j := i; j < n; j++ {
			s := 0.0
			for k := range n {
				s += x[k*n+i] * x[k*n+j]
			}
			a[i*lda+j] = s / float64(n)
		}
		a[i*lda+i]++
	}
	return a
}

// Dpotrf gives gonum's (LAPACK's) factor to rounding on sizes around the
// block width and the recursion leaf, with padded rows.
func TestDpotrfMatchesLAPACK(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 15, 16, 17, 95, 96, 97, 191, 300} {
		lda := n + 3
		a := spd(rng, n, lda)
		ref := append([]float64(nil), a...)
		if !Dpotrf(n, a, lda) {
			t.Fatalf("n=%d: not positive definite", n)
		}
		if !(gonum.Implementation{}).Dpotrf(blas.Upper, n, ref, lda) {
			t.Fatalf("n=%d: LAPACK says not positive definite", n)
		}
		worst := 0.0
		for i := range n {
			for j := i; j < n; j++ {
				worst = max(worst, math.Abs(a[i*lda+j]-ref[i*lda+j]))
			}
			for j := 0; j < i; j++ {
				if !math.IsNaN(a[i*lda+j]) {
					t.Fatalf("n=%d: wrote the lower triangle at (%d,%d)", n, i, j)
				}
			}
		}
		if worst > 1e-12 {
			t.Errorf("n=%d: max |U − U_LAPACK| = %g", n, worst)
		}
	}
}

// A matrix that is not positive definite, or holds NaN, is reported.
func TestDpotrfRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 130
	a := spd(rng, n, n)
	a[120*n+120] = -5 // a negative pivot past the first block
	if Dpotrf(n, a, n) {
		t.Error("indefinite matrix factored")
	}
	b := spd(rng, n, n)
	b[3*n+7] = math.NaN()
	if Dpotrf(n, b, n) {
		t.Error("matrix with NaN factored")
	}
}

// BenchmarkDpotrf: this package's right-looking factorization against
// gonum's left-looking one on this package's BLAS, on a diagonally
// dominant symmetric matrix (off-diagonal entries below 1/n, diagonal 2).
func BenchmarkDpotrf(b *testing.B) {
	for _, n := range []int{1434, 4000} {
		rng := rand.New(rand.NewPCG(1, 1))
		a := make([]float64, n*n)
		for i := range n {
			for j := i; j < n; j++ {
				a[i*n+j] = (2*rng.Float64() - 1) / float64(n)
			}
			a[i*n+i] = 2
		}
		work := make([]float64, len(a))
		b.Run(fmt.Sprint("simd/", n), func(b *testing.B) {
			for range b.N {
				copy(work, a)
				Dpotrf(n, work, n)
			}
		})
		b.Run(fmt.Sprint("gonum-on-simd-blas/", n), func(b *testing.B) {
			blas64.Use(BLAS64{})
			impl := gonum.Implementation{}
			for range b.N {
				copy(work, a)
				impl.Dpotrf(blas.Upper, n, work, n)
			}
		})
	}
}
