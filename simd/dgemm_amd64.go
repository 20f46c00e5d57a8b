//go:build !purego

package simd

//go:generate go run -C _asm . -set dgemm -out ../dgemm_amd64.s

// The float64 micro-kernels, named by register tile and instruction set; see
// gemmKernel for their contract and genDKernel in _asm/dgemm.go for the
// code.

//go:noescape
func dgemmKernel8x24AVX512(k int, a, b, c *float64, ldc int, overwrite bool)

//go:noescape
func dgemmKernel12x16AVX512(k int, a, b, c *float64, ldc int, overwrite bool)

//go:noescape
func dgemmKernel16x8AVX512(k int, a, b, c *float64, ldc int, overwrite bool)

//go:noescape
func dgemmKernel4x12AVX2(k int, a, b, c *float64, ldc int, overwrite bool)

//go:noescape
func dgemmKernel6x8AVX2(k int, a, b, c *float64, ldc int, overwrite bool)

//go:noescape
func dgemmKernel12x4AVX2(k int, a, b, c *float64, ldc int, overwrite bool)

// Cache blocking of the float64 kernels. kc is the same for all of them, so
// every kernel of an instruction set sums each element of C in the same
// order and they all give bitwise the same results. A kc×nr B micro-panel
// (kc·24 doubles, 48 KB at most) is read from L1 and L2 by every A
// micro-panel of an mc×kc A block (mc·kc doubles, 384 KB) held in L2.
const (
	dgemmKC = 256
	dgemmMC = 192
	dgemmNC = 3072
)

// dgemmKernelAsm wraps an assembly kernel as a gemmKernel's fn, checking the
// bounds it trusts: k steps of mr and of nr values, and the mr×nr C tile.
func dgemmKernelAsm(mr, nr int, fn func(k int, a, b, c *float64, ldc int, overwrite bool)) func(k int, a, b, c []float64, ldc int, overwrite bool) {
	return func(k int, a, b, c []float64, ldc int, overwrite bool) {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		fn(k, &a[0], &b[0], &c[0], ldc, overwrite)
	}
}

// dgemmAVX512 and dgemmAVX2 list the kernels of each instruction set, the
// first winning pickKernel's ties, with speeds relative to it as in the
// float32 tables.
var (
	dgemmAVX512 = []gemmKernel[float64]{
		{mr: 8, nr: 24, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(8, 24, dgemmKernel8x24AVX512)},
		{mr: 12, nr: 16, speed: 0.85, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(12, 16, dgemmKernel12x16AVX512)},
		{mr: 16, nr: 8, speed: 0.6, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(16, 8, dgemmKernel16x8AVX512)},
	}
	dgemmAVX2 = []gemmKernel[float64]{
		{mr: 6, nr: 8, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(6, 8, dgemmKernel6x8AVX2)},
		{mr: 4, nr: 12, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(4, 12, dgemmKernel4x12AVX2)},
		{mr: 12, nr: 4, speed: 0.85, kc: dgemmKC, mc: dgemmMC, nc: dgemmNC, fn: dgemmKernelAsm(12, 4, dgemmKernel12x4AVX2)},
	}
)

// dgemmKernels returns the float64 kernels of the active implementation.
func dgemmKernels() []gemmKernel[float64] {
	switch active.name {
	case "avx512":
		return dgemmAVX512
	case "avx2":
		return dgemmAVX2
	}
	return dgemmGeneric
}
