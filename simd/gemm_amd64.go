//go:build !purego

package simd

import "github.com/klauspost/cpuid/v2"

//go:generate go run -C _asm . -set gemm -out ../gemm_amd64.s

// The micro-kernels, named by register tile and instruction set; see
// gemmKernel for their contract.

//go:noescape
func sgemmKernel8x48AVX512(k int, a, b, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmKernel12x32AVX512(k int, a, b, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmKernel16x16AVX512(k int, a, b, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmKernel4x24AVX2(k int, a, b, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, overwrite bool)

//go:noescape
func sgemmKernel12x8AVX2(k int, a, b, c *float32, ldc int, overwrite bool)

// packA4x8AVX packs 4 rows of A: for r < 4, p < 8n: dst[p*mr+r] = alpha * a[r*lda+p].
//
//go:noescape
func packA4x8AVX(n int, a *float32, lda int, dst *float32, mr int, alpha float32)

func pack4AVX(n int, a []float32, lda int, dst []float32, mr int, alpha float32) {
	_ = a[3*lda+8*n-1]
	_ = dst[(8*n-1)*mr+3]
	packA4x8AVX(n, &a[0], lda, &dst[0], mr, alpha)
}

// Cache blocking shared by the kernels of one instruction set. kc is the same
// for all of them, so every kernel sums each element of C in the same order
// and they all give bitwise the same results.
const (
	asmKC = 384
	asmNC = 3072
)

// The AVX2 kernels: 6×16 first, winning ties, as in BLIS and OpenBLAS for
// Haswell: its B micro-panel (kc·16 floats, 24 KB) and A micro-panel (9 KB)
// share a 48 KB L1, where the 36 KB B panel of 4×24 all but fills it.
var avx2Impl = implementation{
	name: "avx2",
	sgemm: []gemmKernel[float32]{
		{mr: 6, nr: 16, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
		{mr: 4, nr: 24, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel4x24AVX2(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
		{mr: 12, nr: 8, speed: 0.85, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel12x8AVX2(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
	},
	dot:  dotAVX2,
	axpy: axpyAVX2,

	f64To32:    f64To32AVX2,
	addF32To64: addF32To64AVX2,
}

var avx512Impl = implementation{
	name: "avx512",
	sgemm: []gemmKernel[float32]{
		{mr: 8, nr: 48, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel8x48AVX512(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
		{mr: 12, nr: 32, speed: 0.85, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel12x32AVX512(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
		{mr: 16, nr: 16, speed: 0.6, kc: asmKC, mc: 144, nc: asmNC, pack4: pack4AVX, fn: func(k int, a, b, c []float32, ldc int, overwrite bool) {
			sgemmKernel16x16AVX512(k, &a[0], &b[0], &c[0], ldc, overwrite)
		}},
	},
	dot:  dotAVX512,
	axpy: axpyAVX512,

	f64To32:    f64To32AVX512,
	addF32To64: addF32To64AVX512,
}

// archImpls lists the assembly implementations the CPU supports, slowest first.
func archImpls() []*implementation {
	var s []*implementation
	if cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		s = append(s, &avx2Impl)
		if cpuid.CPU.Supports(cpuid.AVX512F) {
			s = append(s, &avx512Impl)
		}
	}
	return s
}
