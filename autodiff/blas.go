package autodiff

import (
	"github.com/onnx-adapt/onnx-adapt/simd"
)

// gemm computes C = α·op(A)·op(B) + β·C in the row-major BLAS convention:
// op(A) is m×k (A is m×k, or k×m when transA), op(B) is k×n, C is m×n.
// When β is zero, C is overwritten (NaN in C does not propagate). Both
// precisions run on the simd kernels (assembly where the CPU allows):
// Sgemm for float32, Dgemm for float64, the precision of checks and of a
// few cancelling products.
func gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch a := any(a).(type) {
	case []float32:
		simd.Sgemm(transA, transB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
		return
	case []float64:
		if m == 0 || n == 0 || k == 0 {
			break // degenerate leading dimensions: the reference loop handles them
		}
		simd.Dgemm(transA, transB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
		return
	}
	gemmReference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmReference is the reference loop behind gemm, for element types
// derived from float32 or float64.
func gemmReference[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	gemmGeneric(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc)
}

// gemmGeneric accumulates C += α·op(A)·op(B), the reference loop.
func gemmGeneric[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	at := func(i, l int) T {
		if transA {
			return a[l*lda+i]
		}
		return a[i*lda+l]
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for l := 0; l < k; l++ {
			s := alpha * at(i, l)
			if transB {
				for j := range row {
					row[j] += s * b[j*ldb+l]
				}
			} else {
				brow := b[l*ldb : l*ldb+n]
				for j, bv := range brow {
					row[j] += s * bv
				}
			}
		}
	}
}
