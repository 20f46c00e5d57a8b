package simd

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// BLAS64 is gonum's pure-Go float64 BLAS with the level-3 routines that
// dominate blocked LAPACK factorizations (Dgemm, and Dsyrk on top of it) on
// this package's blocked GEMM and its assembly micro-kernels. Every other
// routine is gonum's. The results agree with gonum's to rounding: sums are
// evaluated in another order, with fused multiply-adds where the CPU has
// them, and do not depend on the number of threads (SetThreads).
type BLAS64 struct {
	gonum.Implementation
}

var _ blas.Float64 = BLAS64{}

// UseForGonum makes BLAS64 the float64 BLAS of gonum's blas64, lapack64 and
// mat packages, for instance mat.Cholesky.Factorize, whose blocked Dpotrf
// spends nearly all of its n³/3 multiply-adds in Dgemm.
func UseForGonum() { blas64.Use(BLAS64{}) }

// dgemmFast is Dgemm on the active implementation's float64 micro-kernels.
func dgemmFast(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm("Dgemm", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	gemmDriver(dgemmKernels(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm computes C = alpha·op(A)·op(B) + beta·C, row-major, with op(X) = X for
// blas.NoTrans and Xᵀ for blas.Trans or blas.ConjTrans, as gonum's Dgemm (and
// the package's Dgemm with transX = tX != blas.NoTrans).
func (impl BLAS64) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m <= 0 || n <= 0 || !validTrans(tA) || !validTrans(tB) {
		// Gonum's argument checks and quick return.
		impl.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	dgemmFast(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func validTrans(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

// syrkBlock is the height of the row blocks Dsyrk splits C into.
const syrkBlock = 192

// Dsyrk computes the triangle ul of C = alpha·op(A)·op(A)ᵀ + beta·C, where
// op(A) = A (n×k) for blas.NoTrans and Aᵀ (A k×n) otherwise, leaving the
// other triangle alone. Row block [i0, i1) of op(A), X, contributes the
// rectangle of C right of its diagonal block for blas.Upper (left of it for
// blas.Lower), X·Yᵀ with Y the rows of op(A) past i1 (before i0), as one
// GEMM into C; and its diagonal block X·Xᵀ as one GEMM into a scratch
// tile, of which the triangle is added to C: each element is
// beta·c + alpha·Σ x·y either way.
func (impl BLAS64) Dsyrk(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n <= 0 || k <= 0 || alpha == 0 || (ul != blas.Upper && ul != blas.Lower) || !validTrans(tA) {
		impl.Implementation.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	trans := tA != blas.NoTrans
	// Gonum's checks of the leading dimensions and lengths.
	if trans {
		checkGemm("Dsyrk", true, false, n, n, k, len(a), lda, len(a), lda, len(c), ldc)
	} else {
		checkGemm("Dsyrk", false, true, n, n, k, len(a), lda, len(a), lda, len(c), ldc)
	}
	// rows returns op(A)[i0:], as a GEMM operand: rows of a, or columns
	// when transposed.
	rows := func(i0 int) []float64 {
		if trans {
			return a[i0:]
		}
		return a[i0*lda:]
	}
	kerns, threads := dgemmKernels(), Threads()
	bs := min(syrkBlock, n)
	buf := getBuf[float64](bs * bs)
	defer putBuf(buf)
	for i0 := 0; i0 < n; i0 += bs {
		i1 := min(n, i0+bs)
		h := i1 - i0
		if ul == blas.Upper && i1 < n {
			gemmDriver(kerns, threads, trans, !trans, h, n-i1, k, alpha, rows(i0), lda, rows(i1), lda, beta, c[i0*ldc+i1:], ldc)
		}
		if ul == blas.Lower && i0 > 0 {
			gemmDriver(kerns, threads, trans, !trans, h, i0, k, alpha, rows(i0), lda, rows(0), lda, beta, c[i0*ldc:], ldc)
		}
		tile := (*buf)[:h*h]
		gemmDriver(kerns, threads, trans, !trans, h, h, k, alpha, rows(i0), lda, rows(i0), lda, 0, tile, h)
		for i := 0; i < h; i++ {
			lo, hi := i, h // upper: columns i..h-1 of the block's row i
			if ul == blas.Lower {
				lo, hi = 0, i+1
			}
			row := c[(i0+i)*ldc+i0+lo : (i0+i)*ldc+i0+hi]
			src := tile[i*h+lo : i*h+hi]
			switch beta {
			case 0:
				copy(row, src)
			case 1:
				for j, v := range src {
					row[j] += v
				}
			default:
				for j, v := range src {
					row[j] = beta*row[j] + v
				}
			}
		}
	}
}
