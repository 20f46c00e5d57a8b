package simd

import (
	"gonum.org/v1/gonum/blas"
	lapack "gonum.org/v1/gonum/lapack/gonum"
)

// potrfBlock is the width of the column blocks Dpotrf factors at a time.
const potrfBlock = 96

// trsmLeaf is the order at which trsmUpperT stops halving and substitutes.
const trsmLeaf = 16

// Dpotrf overwrites the upper triangle of the symmetric positive definite
// n×n matrix a (row-major, leading dimension lda) with U, A = UᵀU, and
// reports whether A was numerically positive definite (false: a pivot
// U_jj² ≤ 0 or NaN; a is then partly overwritten). The strict lower
// triangle is not referenced.
//
// It is right-looking and blocked: for each block of potrfBlock rows
// [j0, j1), the diagonal block is factored unblocked (gonum's Dpotf2),
// the panel right of it becomes U_jj⁻ᵀ·A_panel (trsmUpperT, mostly GEMM), and the
// trailing matrix loses PᵀP (Dsyrk, one GEMM per row block). LAPACK's
// (and gonum's) dpotrf is left-looking: its GEMM per block multiplies a
// panel of only nb rows and packs the whole matrix above it each time;
// here each panel is packed once per step and used for all trailing rows.
// Every entry of U is the same sum as in the unblocked algorithm, in
// another order.
func Dpotrf(n int, a []float64, lda int) bool {
	if n == 0 {
		return true
	}
	if n < 0 || lda < n || len(a) < (n-1)*lda+n {
		panic("simd: Dpotrf: bad dimensions")
	}
	impl := BLAS64{}
	for j0 := 0; j0 < n; j0 += potrfBlock {
		j1 := min(n, j0+potrfBlock)
		if !(lapack.Implementation{}).Dpotf2(blas.Upper, j1-j0, a[j0*lda+j0:], lda) {
			return false
		}
		if j1 == n {
			break
		}
		trsmUpperT(j1-j0, n-j1, a[j0*lda+j0:], lda, a[j0*lda+j1:], lda)
		impl.Dsyrk(blas.Upper, blas.Trans, n-j1, j1-j0, -1, a[j0*lda+j1:], lda, 1, a[j1*lda+j1:], lda)
	}
	return true
}

// trsmUpperT solves Uᵀ·X = B in place of B (n×m, leading dimension ldb)
// for the n×n upper-triangular U: the first half of the unknowns by
// recursion, their contribution removed from the second half by one GEMM,
// then the second half; gonum's Dtrsm (substitution) below trsmLeaf rows.
func trsmUpperT(n, m int, u []float64, ldu int, b []float64, ldb int) {
	if n <= trsmLeaf {
		BLAS64{}.Dtrsm(blas.Left, blas.Upper, blas.Trans, blas.NonUnit, n, m, 1, u, ldu, b, ldb)
		return
	}
	h := n / 2
	trsmUpperT(h, m, u, ldu, b, ldb)
	// B₂ −= U₁₂ᵀ·X₁, U₁₂ = U[0:h, h:n].
	dgemmFast(true, false, n-h, m, h, -1, u[h:], ldu, b, ldb, 1, b[h*ldb:], ldb)
	trsmUpperT(n-h, m, u[h*ldu+h:], ldu, b[h*ldb:], ldb)
}
