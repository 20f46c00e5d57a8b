package simd

var genericImpl = implementation{
	name:  "generic",
	sgemm: []gemmKernel[float32]{{mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, fn: gemmKernelGeneric[float32]}},
	dot:   dotGeneric,
	axpy:  axpyGeneric,

	f64To32:    f64To32Generic,
	addF32To64: addF32To64Generic,
}

var dgemmGeneric = []gemmKernel[float64]{{mr: 4, nr: 4, kc: 256, mc: 64, nc: 1024, fn: gemmKernelGeneric[float64]}}

// gemmKernelGeneric is the 4×4 micro-kernel in Go:
//
//	for p := 0; p < k; p++ { for i, j < 4: acc[i][j] += a[p*4+i] * b[p*4+j] }
//	c[i*ldc+j] = acc[i][j] if overwrite, else c[i*ldc+j] += acc[i][j]
func gemmKernelGeneric[T float](k int, a, b, c []T, ldc int, overwrite bool) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 T
	a = a[:4*k]
	b = b[:4*k]
	for p := 0; p < len(a); p += 4 {
		ap := a[p : p+4 : p+4]
		bp := b[p : p+4 : p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [4][4]T{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i := range acc {
		row := c[i*ldc : i*ldc+4 : i*ldc+4]
		if overwrite {
			copy(row, acc[i][:])
			continue
		}
		for j := range row {
			row[j] += acc[i][j]
		}
	}
}

// dotGeneric is the reference Sdot: s = Σ x[i]·y[i], summed in order.
func dotGeneric(x, y []float32) float32 {
	var s float32
	y = y[:len(x)]
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// axpyGeneric is the reference Saxpy: for i, v := range x { y[i] += alpha * v },
// the product rounded before the sum (the conversion keeps the compiler
// from fusing them, as the assembly kernels do not).
func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += float32(alpha * v)
	}
}

// f64To32Generic is the reference F64To32: dst[i] = float32(src[i]) for
// i < len(dst), rounded to nearest even.
func f64To32Generic(dst []float32, src []float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = float32(v)
	}
}

// addF32To64Generic is the reference AddF32To64: dst[i] += float64(src[i])
// for i < len(dst), the widening exact and the sum rounded once. Go 1.26
// compiles the sum as float64(src[i]) + dst[i] (ADDSD into the widened
// value), so of two NaNs src's is kept; the assembly kernels do the same.
func addF32To64Generic(dst []float64, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += float64(v)
	}
}
