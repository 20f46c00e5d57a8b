//go:build !purego

package simd

import "strconv"

// The assembly that the kernel literals of gemm_amd64.go do not name, given
// to them at init: the direct twins of the micro-kernels, which read A in
// place, row i at a[i*lda:], instead of from a packed panel, and B with any
// row stride (see genKernel in _asm/gemm.go), the row packers of a plain B
// and a transposed A, and the 16×16 transposing packer of the AVX-512
// kernels.

//go:noescape
func sgemmDirect8x48AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmDirect12x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmDirect16x16AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmDirect4x24AVX2(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmDirect6x16AVX2(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmDirect12x8AVX2(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)

// packT16x16AVX512 transposes 16 rows of b: for r < 16, p < 16n:
// dst[p*ld+r] = b[r*ldb+p].
//
//go:noescape
func packT16x16AVX512(n int, b *float32, ldb int, dst *float32, ld int)

func packT16AVX512(n int, b []float32, ldb int, dst []float32, ld int) {
	_ = b[15*ldb+16*n-1]
	_ = dst[(16*n-1)*ld+15]
	packT16x16AVX512(n, &b[0], ldb, &dst[0], ld)
}

// The row packers (genRows in _asm/pack.go): for q < panels, p < rows,
// j < W, packRows<W>AVX sets dst[q*pstride+p*W+j] = src[p*ld+q*W+j] and
// packRowsScale<W>AVX sets it to alpha * src[p*ld+q*W+j]. Both need
// rows, panels >= 1.

//go:noescape
func packRows8AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)

//go:noescape
func packRows16AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)

//go:noescape
func packRows24AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)

//go:noescape
func packRows32AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)

//go:noescape
func packRows48AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)

//go:noescape
func packRowsScale4AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)

//go:noescape
func packRowsScale6AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)

//go:noescape
func packRowsScale8AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)

//go:noescape
func packRowsScale12AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)

//go:noescape
func packRowsScale16AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)

// rowsPackers and rowsScalers map a row width to its packer.
var (
	rowsPackers = map[int]func(rows, panels int, src *float32, ld int, dst *float32, pstride int){
		8: packRows8AVX, 16: packRows16AVX, 24: packRows24AVX, 32: packRows32AVX, 48: packRows48AVX,
	}
	rowsScalers = map[int]func(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32){
		4: packRowsScale4AVX, 6: packRowsScale6AVX, 8: packRowsScale8AVX, 12: packRowsScale12AVX, 16: packRowsScale16AVX,
	}
)

// rowsB and rowsA wrap the packers for width w as gemmKernel's rowsB and
// rowsA (pstride rows·w), checking the bounds the assembly trusts: rows
// rows of panels·w values at stride ld in src, panels·rows·w values in dst.
func rowsB(w int) func(rows, panels int, src []float32, ld int, dst []float32) {
	fn := rowsPackers[w]
	if fn == nil {
		panic("simd: no row packer for width " + strconv.Itoa(w))
	}
	return func(rows, panels int, src []float32, ld int, dst []float32) {
		if rows <= 0 || panels <= 0 {
			return
		}
		_ = src[(rows-1)*ld+panels*w-1]
		_ = dst[panels*rows*w-1]
		fn(rows, panels, &src[0], ld, &dst[0], rows*w)
	}
}

func rowsA(w int) func(rows, panels int, src []float32, ld int, dst []float32, alpha float32) {
	fn := rowsScalers[w]
	if fn == nil {
		panic("simd: no scaling row packer for width " + strconv.Itoa(w))
	}
	return func(rows, panels int, src []float32, ld int, dst []float32, alpha float32) {
		if rows <= 0 || panels <= 0 {
			return
		}
		_ = src[(rows-1)*ld+panels*w-1]
		_ = dst[panels*rows*w-1]
		fn(rows, panels, &src[0], ld, &dst[0], rows*w, alpha)
	}
}

// directKernels maps each assembly micro-kernel, by instruction set and
// register tile, to its direct twin.
var directKernels = map[string]map[[2]int]func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool){
	"avx512": {{8, 48}: sgemmDirect8x48AVX512, {12, 32}: sgemmDirect12x32AVX512, {16, 16}: sgemmDirect16x16AVX512},
	"avx2":   {{4, 24}: sgemmDirect4x24AVX2, {6, 16}: sgemmDirect6x16AVX2, {12, 8}: sgemmDirect12x8AVX2},
}

// init gives each assembly kernel its direct twin, whose wrapper checks the
// bounds the kernel trusts (mr rows of k values at stride lda, k rows of nr
// at stride ldb), its row packers, and the AVX-512 kernels the 16-row
// packer.
func init() {
	for i := range avx512Impl.sgemm {
		avx512Impl.sgemm[i].pack16 = packT16AVX512
	}
	for _, im := range []*implementation{&avx2Impl, &avx512Impl} {
		for i := range im.sgemm {
			kern := &im.sgemm[i]
			fn := directKernels[im.name][[2]int{kern.mr, kern.nr}]
			if fn == nil {
				panic("simd: no direct kernel for " + im.name)
			}
			mr, nr := kern.mr, kern.nr
			kern.rowsB, kern.rowsA = rowsB(nr), rowsA(mr)
			kern.direct = func(k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, overwrite bool) {
				_ = a[(mr-1)*lda+k-1]
				_ = b[(k-1)*ldb+nr-1]
				_ = c[(mr-1)*ldc+nr-1]
				fn(k, &a[0], lda, &b[0], ldb, &c[0], ldc, overwrite)
			}
		}
	}
}
