//go:build !purego

package simd

//go:generate go run -C _asm . -set pool -out ../pool_amd64.s

// The kernels of pool.go in assembly; see simd/_asm/pool.go.

//go:noescape
func affineAVX512(n int, dst, x *float32, a, b float32)

//go:noescape
func affineAVX2(n int, dst, x *float32, a, b float32)

//go:noescape
func affineRowsAVX512(rows, n, ldd, ldx int, dst, x, a, b *float32)

// affineRowsAsm runs affineRowsAVX512 on checked arguments.
func affineRowsAsm(dst, x, a, b []float32, n, ldd, ldx int) {
	affineRowsAVX512(len(a), n, ldd, ldx, &dst[0], &x[0], &a[0], &b[0])
}

//go:noescape
func maxPool2AVX512(rows, w int, dst, x *float32)

// maxPool2Asm runs maxPool2AVX512 on all the row pairs of x.
func maxPool2Asm(dst, x []float32, w int) {
	rows := len(x) / (2 * w)
	_ = dst[rows*(w/2)-1] // the kernel trusts its bounds
	maxPool2AVX512(rows, w, &dst[0], &x[0])
}

func init() {
	avx512Impl.pool = poolKernels{affine: paramAsm(16, affineAVX512, affineGeneric), affineRows: affineRowsAsm, maxPool2: maxPool2Asm, maxPool2Fast: true}
	affine2 := paramAsm(8, affineAVX2, affineGeneric)
	avx2Impl.pool = poolKernels{affine: affine2, affineRows: rowsOf(affine2), maxPool2: maxPool2Generic}
}
