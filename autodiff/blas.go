package autodiff

// gemm computes C = α·op(A)·op(B) + β·C in the row-major BLAS convention:
// op(A) is m×k (A is m×k, or k×m when transA), op(B) is k×n, C is m×n.
// When β is zero, C is overwritten (NaN in C does not propagate).
func gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
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
