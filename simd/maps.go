package simd

import (
	"fmt"
	"math"
)

// Elementwise maps in float32. Each kernel has a pure-Go twin (the *Generic
// functions below, the reference of its doc comment) and assembly that
// evaluates the same float32 operations in the same order without fused
// multiply-adds, so every implementation gives bitwise the same results
// (NaN payloads aside).
//
// The transcendental kernels reduce x = n·ln2 + r, |r| ≲ ln2/2, with ln2
// split in a 9-bit head (n·ln2Hi is exact) and a tail, and evaluate a
// degree-7 minimax polynomial for eʳ (the Cephes expf coefficients). Their
// errors against the exact result, measured in maps_test.go (subnormal
// results, overflow to ±Inf and x near 0 included): Sexp 0.95 ulp, eˣ−1
// in SElu 0.85 ulp, Stanh 1.24 ulp, Ssigmoid 2.22 ulp, Serf 1.13 ulp,
// SsigmoidDeriv 3.81 ulp, StanhDeriv 3.52 ulp.

// mapKernels are the elementwise kernels of one implementation. Each
// handles len(x) elements (len(dst) and len(t) are at least that) and
// trusts its arguments: the exported functions check them.
type mapKernels struct {
	relu     func(dst, x []float32)
	reluMul  func(dst, x, t []float32)
	mul      func(dst, c, t []float32)
	exp      func(dst, x []float32)
	tanh     func(dst, x []float32)
	sigmoid  func(dst, x []float32)
	erf      func(dst, x []float32)
	elu      func(dst, x []float32, a, s float32)
	eluDeriv func(dst, x []float32, a, s float32)
	logistic func(dst, x []float32, a, s float32) // s·e/(1+e)², e = e^(−a|x|)
}

var mapsGeneric = mapKernels{
	relu:     reluGeneric,
	reluMul:  reluMulGeneric,
	mul:      mulGeneric,
	exp:      expGeneric,
	tanh:     tanhGeneric,
	sigmoid:  sigmoidGeneric,
	erf:      erfGeneric,
	elu:      eluGeneric,
	eluDeriv: eluDerivGeneric,
	logistic: logisticGeneric,
}

func init() { genericImpl.maps = mapsGeneric }

// checkMap panics unless dst can hold len(x) elements.
func checkMap(fn string, dst, x []float32) {
	if len(dst) < len(x) {
		panic(fmt.Sprintf("simd.%s: len(dst)=%d < len(x)=%d", fn, len(dst), len(x)))
	}
}

// Srelu sets dst[i] = x[i] if !(x[i] < 0), else 0, for i < len(x): NaN
// and −0 pass unchanged. dst may be x itself but must not otherwise
// overlap it. It panics if len(dst) < len(x).
func Srelu(dst, x []float32) { checkMap("Srelu", dst, x); active.maps.relu(dst, x) }

// Sexp sets dst[i] = eˣ⁽ⁱ⁾ for i < len(x), within 1 ulp; it overflows to
// +Inf and underflows through the subnormals to 0. dst may be x itself but
// must not otherwise overlap it. It panics if len(dst) < len(x).
func Sexp(dst, x []float32) { checkMap("Sexp", dst, x); active.maps.exp(dst, x) }

// Stanh sets dst[i] = tanh x[i] for i < len(x), within 1.5 ulp (relative
// error near 0 included). dst may be x itself but must not otherwise
// overlap it. It panics if len(dst) < len(x).
func Stanh(dst, x []float32) { checkMap("Stanh", dst, x); active.maps.tanh(dst, x) }

// Ssigmoid sets dst[i] = 1/(1+e^(−x[i])) for i < len(x), within 2.5 ulp
// (relative error of the tiny values for x ≪ 0 included). dst may be x
// itself but must not otherwise overlap it. It panics if len(dst) < len(x).
func Ssigmoid(dst, x []float32) { checkMap("Ssigmoid", dst, x); active.maps.sigmoid(dst, x) }

// Serf sets dst[i] = erf x[i] for i < len(x), within 1.5 ulp (relative
// error near 0 included). dst may be x itself but must not otherwise
// overlap it. It panics if len(dst) < len(x).
func Serf(dst, x []float32) { checkMap("Serf", dst, x); active.maps.erf(dst, x) }

// SElu sets dst[i] = s·x[i] if x[i] > 0, else a·(e^x[i] − 1), for
// i < len(x): ELU for s = 1, a = α, and SELU for s = γ, a = γα. e^x − 1 is
// within 1 ulp, relative error near 0 included. dst may be x itself but
// must not otherwise overlap it. It panics if len(dst) < len(x).
func SElu(dst, x []float32, a, s float32) {
	checkMap("SElu", dst, x)
	active.maps.elu(dst, x, a, s)
}

// SEluDeriv sets dst[i] = s if x[i] > 0, else a·e^x[i], for i < len(x):
// the derivative of SElu. It panics if len(dst) < len(x).
func SEluDeriv(dst, x []float32, a, s float32) {
	checkMap("SEluDeriv", dst, x)
	active.maps.eluDeriv(dst, x, a, s)
}

// SsigmoidDeriv sets dst[i] = σ'(x[i]) = e/(1+e)², e = e^−|x[i]|, for
// i < len(x): the sigmoid's derivative, within 4 ulp (relative error
// < 6e-7) where it is tiny too
// (y(1−y) from a rounded y = σ(x) is not). dst may be x itself but must not
// otherwise overlap it. It panics if len(dst) < len(x).
func SsigmoidDeriv(dst, x []float32) {
	checkMap("SsigmoidDeriv", dst, x)
	active.maps.logistic(dst, x, 1, 1)
}

// StanhDeriv sets dst[i] = 1 − tanh² x[i] = 4e/(1+e)², e = e^−2|x[i]|, for
// i < len(x), within 4 ulp (relative error < 6e-7) where it is tiny too. dst may be x itself but
// must not otherwise overlap it. It panics if len(dst) < len(x).
func StanhDeriv(dst, x []float32) {
	checkMap("StanhDeriv", dst, x)
	active.maps.logistic(dst, x, 2, 4)
}

// checkBlocks panics unless t is whole blocks of len(x) and dst holds t.
func checkBlocks(fn string, dst, x, t []float32) {
	if (len(x) == 0 && len(t) != 0) || (len(x) != 0 && len(t)%len(x) != 0) || len(dst) < len(t) {
		panic(fmt.Sprintf("simd.%s: len(t)=%d is not a multiple of len(x)=%d or exceeds len(dst)=%d", fn, len(t), len(x), len(dst)))
	}
}

// SreluMul multiplies every block of t by the ReLU derivative [x > 0]:
// for each block b of n = len(x) elements and k < n,
//
//	dst[b·n+k] = t[b·n+k] if x[k] > 0, else 0
//
// (0, not 0·t, where t is Inf or NaN, as PyTorch's threshold_backward).
// dst may be t itself but must not otherwise overlap t or x. It panics
// unless len(t) is a multiple of len(x) and len(dst) >= len(t).
func SreluMul(dst, x, t []float32) {
	checkBlocks("SreluMul", dst, x, t)
	for b := 0; b < len(t); b += len(x) {
		active.maps.reluMul(dst[b:], x, t[b:])
	}
}

// SmulBlocks multiplies every block of t by c: for each block b of
// n = len(c) elements and k < n, dst[b·n+k] = c[k]·t[b·n+k]. dst may be t
// itself but must not otherwise overlap t or c. It panics unless len(t) is
// a multiple of len(c) and len(dst) >= len(t).
func SmulBlocks(dst, c, t []float32) {
	checkBlocks("SmulBlocks", dst, c, t)
	for b := 0; b < len(t); b += len(c) {
		active.maps.mul(dst[b:], c, t[b:])
	}
}

// ---------------------------------------------------------------------------
// The pure-Go twins. Every product that feeds a sum is converted to float32
// explicitly, which forbids the compiler to fuse them (the Go spec), so
// these are the exact operations of the assembly.

// Constants of the kernels; simd/_asm/maps.go repeats them bit for bit.
const (
	expLo      float32 = -104 // e^−104 < 2⁻¹⁵⁰: rounds to 0
	expHi      float32 = 89   // e^89 > MaxFloat32: rounds to +Inf
	expm1Lo    float32 = -30  // e^−30 − 1 rounds to −1
	log2e      float32 = 1.44269504088896341
	roundMagic float32 = 12582912 // 1.5·2²³: t + roundMagic rounds t to an integer
	ln2Hi      float32 = 0.693359375
	ln2Lo      float32 = -2.12194440e-4
	expP0      float32 = 1.9875691500e-4
	expP1      float32 = 1.3981999507e-3
	expP2      float32 = 8.3334519073e-3
	expP3      float32 = 4.1665795894e-2
	expP4      float32 = 1.6666665459e-1
	expP5      float32 = 5.0000001201e-1
	tanhSmall  float32 = 0.625 // |x| above: 1 − 2/(e^2|x| + 1); below: the odd polynomial
	tanhP0     float32 = -5.70498872745e-3
	tanhP1     float32 = 2.06390887954e-2
	tanhP2     float32 = -5.37397155531e-2
	tanhP3     float32 = 1.33314422036e-1
	tanhP4     float32 = -3.33332819422e-1
	// erf: x + x·P(x²) for |x| < 1; 1 − e^(−b²)·Q(1/b), b = min(|x|, 4),
	// otherwise (erf 4 rounds to 1). P and Q are least-squares fits on
	// Chebyshev nodes, P to erf(x)/x − 1 on [0, 1], Q to erfc(b)·e^(b²) as a
	// polynomial in 1/b on [1/4, 1] (relative error 1.1e-7).
	erfSplit float32 = 1
	erfMax   float32 = 4
	erfP0    float32 = 1.2837916613e-01
	erfP1    float32 = -3.7612625957e-01
	erfP2    float32 = 1.1283597350e-01
	erfP3    float32 = -2.6854328811e-02
	erfP4    float32 = 5.1893121563e-03
	erfP5    float32 = -8.0188550055e-04
	erfP6    float32 = 7.8824974480e-05
	erfQ0    float32 = 2.6352709392e-04
	erfQ1    float32 = 5.5914390087e-01
	erfQ2    float32 = 4.1355110705e-02
	erfQ3    float32 = -4.6925136447e-01
	erfQ4    float32 = 4.9155047536e-01
	erfQ5    float32 = -2.3427069187e-01
	erfQ6    float32 = 1.7212811857e-02
	erfQ7    float32 = 3.1655542552e-02
	erfQ8    float32 = -1.0075770319e-02
	signBit          = 1 << 31
)

// x86max is a > b ? a : b, the x86 MAXPS: b when either is NaN.
func x86max(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// x86min is a < b ? a : b, the x86 MINPS: b when either is NaN.
func x86min(a, b float32) float32 {
	if a < b {
		return a
	}
	return b
}

// pow2 is 2ⁿ for −126 <= n <= 127, built from its exponent bits.
func pow2(n int32) float32 { return math.Float32frombits(uint32(n+127) << 23) }

// reduce returns n (as float32 nf and int32 n) and r with x = n·ln2 + r,
// |r| ≲ ln2/2, for expLo <= x <= expHi: n is the integer nearest the
// float32 product x·log2(e).
func reduce(x float32) (nf, r float32, n int32) {
	t := float32(x*log2e) + roundMagic
	nf = t - roundMagic
	n = int32(math.Float32bits(t) - math.Float32bits(roundMagic))
	r = x - float32(nf*ln2Hi)
	r -= float32(nf * ln2Lo)
	return nf, r, n
}

// expm1Reduced is eʳ − 1 = r + r²·P(r), P the Cephes expf polynomial.
func expm1Reduced(r float32) float32 {
	p := expP0
	p = float32(p*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	return float32(p*float32(r*r)) + r
}

// exp32 is eˣ: x is clamped to [expLo, expHi] (NaN passes) and the result
// scaled by 2ⁿ in two steps, 2^⌊n/2⌋ then the rest, so that a subnormal
// result is rounded once.
func exp32(x float32) float32 {
	x = x86min(expHi, x86max(expLo, x))
	_, r, n := reduce(x)
	y := expm1Reduced(r) + 1
	n1 := n >> 1
	return float32(y*pow2(n1)) * pow2(n-n1)
}

// expm1Neg is eˣ − 1 for x <= 0 (NaN passes) as 2ⁿ·(eʳ−1) + (2ⁿ−1): both
// terms exact but the last sum when n = 0, so the relative error holds near
// 0. x > 0 is evaluated as 0.
func expm1Neg(x float32) float32 {
	x = x86max(expm1Lo, x86min(0, x))
	_, r, n := reduce(x)
	u := expm1Reduced(r)
	s := pow2(n)
	return float32(s*u) + (s - 1)
}

// tanh32 is tanh x: for |x| > tanhSmall, sign(x)·(1 − 2/(e^2|x| + 1));
// otherwise x + x³·P(x²) with the Cephes tanhf polynomial.
func tanh32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ signBit)
	if a > tanhSmall {
		e := exp32(a + a)
		big := 1 - 2/(e+1)
		return math.Float32frombits(math.Float32bits(big) | math.Float32bits(x)&signBit)
	}
	z := float32(x * x)
	p := tanhP0
	p = float32(p*z) + tanhP1
	p = float32(p*z) + tanhP2
	p = float32(p*z) + tanhP3
	p = float32(p*z) + tanhP4
	return float32(float32(p*z)*x) + x
}

// erf32 is erf x: x + x·P(x²) for |x| < erfSplit, else
// sign(x)·(1 − e^(−b²)·Q(1/b)) with b = min(|x|, erfMax).
func erf32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ signBit)
	if a >= erfSplit {
		b := x86min(erfMax, a)
		s := 1 / b
		q := erfQ8
		for _, c := range [...]float32{erfQ7, erfQ6, erfQ5, erfQ4, erfQ3, erfQ2, erfQ1, erfQ0} {
			q = float32(q*s) + c
		}
		e := exp32(-float32(b * b))
		big := 1 - float32(e*q)
		return math.Float32frombits(math.Float32bits(big) | math.Float32bits(x)&signBit)
	}
	z := float32(x * x)
	p := erfP6
	for _, c := range [...]float32{erfP5, erfP4, erfP3, erfP2, erfP1, erfP0} {
		p = float32(p*z) + c
	}
	return float32(x*p) + x
}

// sigmoid32 is 1/(1+e⁻ˣ) for x >= 0 and eˣ/(1+eˣ) otherwise, with
// e = e^−|x| computed once.
func sigmoid32(x float32) float32 {
	e := exp32(math.Float32frombits(math.Float32bits(x) | signBit))
	num := e
	if x >= 0 {
		num = 1
	}
	return num / (1 + e)
}

// logistic32 is s·e/(1+e)² with e = e^(−a|x|), for a > 0.
func logistic32(x, a, s float32) float32 {
	ax := math.Float32frombits(math.Float32bits(x) &^ signBit)
	e := exp32(-float32(a * ax))
	d := 1 + e
	return float32(s*e) / float32(d*d)
}

// logisticGeneric is for i, v := range x { dst[i] = logistic32(v, a, s) }.
func logisticGeneric(dst, x []float32, a, s float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = logistic32(v, a, s)
	}
}

// reluGeneric is for i, v := range x { dst[i] = x86max(0, v) }, i.e. v
// unless v < 0.
func reluGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = x86max(0, v)
	}
}

// reluMulGeneric is for i, v := range x { dst[i] = v > 0 ? t[i] : 0 }.
func reluMulGeneric(dst, x, t []float32) {
	dst, t = dst[:len(x)], t[:len(x)]
	for i, v := range x {
		if v > 0 {
			dst[i] = t[i]
		} else {
			dst[i] = 0
		}
	}
}

// mulGeneric is for i, v := range c { dst[i] = v * t[i] }.
func mulGeneric(dst, c, t []float32) {
	dst, t = dst[:len(c)], t[:len(c)]
	for i, v := range c {
		dst[i] = v * t[i]
	}
}

// expGeneric is for i, v := range x { dst[i] = exp32(v) }.
func expGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = exp32(v)
	}
}

// tanhGeneric is for i, v := range x { dst[i] = tanh32(v) }.
func tanhGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = tanh32(v)
	}
}

// sigmoidGeneric is for i, v := range x { dst[i] = sigmoid32(v) }.
func sigmoidGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = sigmoid32(v)
	}
}

// erfGeneric is for i, v := range x { dst[i] = erf32(v) }.
func erfGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = erf32(v)
	}
}

// eluGeneric is for i, v := range x { dst[i] = v > 0 ? s·v : a·expm1Neg(v) }.
func eluGeneric(dst, x []float32, a, s float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		if v > 0 {
			dst[i] = s * v
		} else {
			dst[i] = a * expm1Neg(v)
		}
	}
}

// eluDerivGeneric is for i, v := range x { dst[i] = v > 0 ? s : a·exp32(v) }.
func eluDerivGeneric(dst, x []float32, a, s float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		if v > 0 {
			dst[i] = s
		} else {
			dst[i] = a * exp32(v)
		}
	}
}
