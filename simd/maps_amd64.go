//go:build !purego

package simd

//go:generate go run -C _asm . -set maps -out ../maps_amd64.s

// The map kernels of maps.go in assembly, one vector per step: each
// handles n elements, n a multiple of the vector width (16 lanes on
// AVX-512, 8 on AVX2), and computes bitwise the twin's results.

//go:noescape
func reluAVX512(n int, dst, x *float32)

//go:noescape
func reluMulAVX512(n int, dst, x, t *float32)

//go:noescape
func mulAVX512(n int, dst, c, t *float32)

//go:noescape
func expAVX512(n int, dst, x *float32)

//go:noescape
func tanhAVX512(n int, dst, x *float32)

//go:noescape
func sigmoidAVX512(n int, dst, x *float32)

//go:noescape
func erfAVX512(n int, dst, x *float32)

//go:noescape
func eluAVX512(n int, dst, x *float32, a, s float32)

//go:noescape
func eluDerivAVX512(n int, dst, x *float32, a, s float32)

//go:noescape
func logisticAVX512(n int, dst, x *float32, a, s float32)

//go:noescape
func reluAVX2(n int, dst, x *float32)

//go:noescape
func reluMulAVX2(n int, dst, x, t *float32)

//go:noescape
func mulAVX2(n int, dst, c, t *float32)

//go:noescape
func expAVX2(n int, dst, x *float32)

//go:noescape
func tanhAVX2(n int, dst, x *float32)

//go:noescape
func sigmoidAVX2(n int, dst, x *float32)

//go:noescape
func erfAVX2(n int, dst, x *float32)

//go:noescape
func eluAVX2(n int, dst, x *float32, a, s float32)

//go:noescape
func eluDerivAVX2(n int, dst, x *float32, a, s float32)

//go:noescape
func logisticAVX2(n int, dst, x *float32, a, s float32)

// The vector kernels of vec.go: dot<ISA>(x, y) = Σ x[i]·y[i] and
// axpy<ISA>(alpha, x, y): y[i] += alpha·x[i], for i < len(x). They handle
// every length themselves (masked or scalar tails) and trust len(y) >=
// len(x), which Sdot and Saxpy check. Dot sums in another order than
// dotGeneric, with fused multiply-adds; axpy is bitwise axpyGeneric.

//go:noescape
func dotAVX512(x, y []float32) float32

//go:noescape
func axpyAVX512(alpha float32, x, y []float32)

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func axpyAVX2(alpha float32, x, y []float32)

// The conversion kernels of vec.go: f64To32<ISA>(dst, src): dst[i] =
// float32(src[i]) and addF32To64<ISA>(dst, src): dst[i] += float64(src[i]),
// for i < len(dst). They handle every length themselves (masked or scalar
// tails), trust len(src) >= len(dst), which F64To32 and AddF32To64 check,
// and are bitwise their twins f64To32Generic and addF32To64Generic.

//go:noescape
func f64To32AVX512(dst []float32, src []float64)

//go:noescape
func addF32To64AVX512(dst []float64, src []float32)

//go:noescape
func f64To32AVX2(dst []float32, src []float64)

//go:noescape
func addF32To64AVX2(dst []float64, src []float32)

// unaryAsm runs kernel on the whole vectors of x and the twin on the rest.
func unaryAsm(lanes int, kernel func(n int, dst, x *float32), twin func(dst, x []float32)) func(dst, x []float32) {
	return func(dst, x []float32) {
		m := len(x) &^ (lanes - 1)
		if m > 0 {
			_ = dst[m-1] // the kernel trusts its bounds
			kernel(m, &dst[0], &x[0])
		}
		if m < len(x) {
			twin(dst[m:len(x)], x[m:])
		}
	}
}

// binaryAsm is unaryAsm for the kernels of two inputs, x and t.
func binaryAsm(lanes int, kernel func(n int, dst, x, t *float32), twin func(dst, x, t []float32)) func(dst, x, t []float32) {
	return func(dst, x, t []float32) {
		m := len(x) &^ (lanes - 1)
		if m > 0 {
			_ = t[m-1]
			kernel(m, &dst[0], &x[0], &t[0])
		}
		if m < len(x) {
			twin(dst[m:len(x)], x[m:], t[m:])
		}
	}
}

// paramAsm is unaryAsm for the kernels of parameters a and s.
func paramAsm(lanes int, kernel func(n int, dst, x *float32, a, s float32), twin func(dst, x []float32, a, s float32)) func(dst, x []float32, a, s float32) {
	return func(dst, x []float32, a, s float32) {
		m := len(x) &^ (lanes - 1)
		if m > 0 {
			_ = dst[m-1] // the kernel trusts its bounds
			kernel(m, &dst[0], &x[0], a, s)
		}
		if m < len(x) {
			twin(dst[m:len(x)], x[m:], a, s)
		}
	}
}

func init() {
	avx512Impl.maps = mapKernels{
		relu:     unaryAsm(16, reluAVX512, reluGeneric),
		reluMul:  binaryAsm(16, reluMulAVX512, reluMulGeneric),
		mul:      binaryAsm(16, mulAVX512, mulGeneric),
		exp:      unaryAsm(16, expAVX512, expGeneric),
		tanh:     unaryAsm(16, tanhAVX512, tanhGeneric),
		sigmoid:  unaryAsm(16, sigmoidAVX512, sigmoidGeneric),
		erf:      unaryAsm(16, erfAVX512, erfGeneric),
		elu:      paramAsm(16, eluAVX512, eluGeneric),
		eluDeriv: paramAsm(16, eluDerivAVX512, eluDerivGeneric),
		logistic: paramAsm(16, logisticAVX512, logisticGeneric),
	}
	avx2Impl.maps = mapKernels{
		relu:     unaryAsm(8, reluAVX2, reluGeneric),
		reluMul:  binaryAsm(8, reluMulAVX2, reluMulGeneric),
		mul:      binaryAsm(8, mulAVX2, mulGeneric),
		exp:      unaryAsm(8, expAVX2, expGeneric),
		tanh:     unaryAsm(8, tanhAVX2, tanhGeneric),
		sigmoid:  unaryAsm(8, sigmoidAVX2, sigmoidGeneric),
		erf:      unaryAsm(8, erfAVX2, erfGeneric),
		elu:      paramAsm(8, eluAVX2, eluGeneric),
		eluDeriv: paramAsm(8, eluDerivAVX2, eluDerivGeneric),
		logistic: paramAsm(8, logisticAVX2, logisticGeneric),
	}
}
