package simd

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/floats"
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
// [j0, j1), the diagonal block is factored by substitution, the panel
// right of it becomes U_jj⁻ᵀ·A_panel (trsmUpperT, mostly GEMM), and the
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
		if !potf2(j1-j0, a[j0*lda+j0:], lda) {
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

// potf2 factors the n×n block by the unblocked algorithm, row by row:
// u_jj = √(a_jj − Σ_k u_kj²) has already had the sums subtracted by the
// rows above, and row j right of the diagonal is divided by u_jj and
// removed from the rows below.
func potf2(n int, a []float64, lda int) bool {
	for j := 0; j < n; j++ {
		d := a[j*lda+j]
		if !(d > 0) || math.IsInf(d, 0) {
			return false
		}
		d = math.Sqrt(d)
		a[j*lda+j] = d
		row := a[j*lda+j+1 : j*lda+n]
		for k := range row {
			row[k] /= d
		}
		for i, u := range row { // row j+1+i loses u·row from its diagonal on
			floats.AddScaled(a[(j+1+i)*lda+j+1+i:(j+1+i)*lda+n], -u, row[i:])
		}
	}
	return true
}

// trsmUpperT solves Uᵀ·X = B in place of B (n×m, leading dimension ldb)
// for the n×n upper-triangular U: the first half of the unknowns by
// recursion, their contribution removed from the second half by one GEMM,
// then the second half; forward substitution below trsmLeaf rows.
func trsmUpperT(n, m int, u []float64, ldu int, b []float64, ldb int) {
	if n <= trsmLeaf {
		for k := 0; k < n; k++ {
			bk := b[k*ldb : k*ldb+m]
			d := u[k*ldu+k]
			for j := range bk {
				bk[j] /= d
			}
			for i := k + 1; i < n; i++ {
				w := u[k*ldu+i]
				if w == 0 {
					continue
				}
				floats.AddScaled(b[i*ldb:i*ldb+m], -w, bk)
			}
		}
		return
	}
	h := n / 2
	trsmUpperT(h, m, u, ldu, b, ldb)
	// B₂ −= U₁₂ᵀ·X₁, U₁₂ = U[0:h, h:n].
	dgemmFast(true, false, n-h, m, h, -1, u[h:], ldu, b, ldb, 1, b[h*ldb:], ldb)
	trsmUpperT(n-h, m, u[h*ldu+h:], ldu, b[h*ldb:], ldb)
}
