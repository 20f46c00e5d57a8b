package simd

import (
	"fmt"
	"math"
)

// Sdot returns Σ x[i]·y[i] over i < len(x). It panics if len(y) < len(x).
func Sdot(x, y []float32) float32 {
	if len(y) < len(x) {
		panic(fmt.Sprintf("simd.Sdot: len(y)=%d < len(x)=%d", len(y), len(x)))
	}
	return active.dot(x, y)
}

// Saxpy computes y[i] += alpha·x[i] for i < len(x). It panics if
// len(y) < len(x).
func Saxpy(alpha float32, x, y []float32) {
	if len(y) < len(x) {
		panic(fmt.Sprintf("simd.Saxpy: len(y)=%d < len(x)=%d", len(y), len(x)))
	}
	active.axpy(alpha, x, y)
}

// F64To32 computes dst[i] = float32(src[i]) for i < len(dst): each value
// rounded to the nearest float32, ties to even, as Go's conversion does
// (|src[i]| beyond the largest float32 gives ±Inf, tiny values float32
// subnormals or ±0, NaN stays NaN). It panics if len(src) < len(dst).
func F64To32(dst []float32, src []float64) {
	if len(src) < len(dst) {
		panic(fmt.Sprintf("simd.F64To32: len(src)=%d < len(dst)=%d", len(src), len(dst)))
	}
	active.f64To32(dst, src)
}

// AddF32To64 computes dst[i] += float64(src[i]) for i < len(dst): the
// widening is exact, so each element is rounded once, by the float64 sum.
// It panics if len(src) < len(dst).
func AddF32To64(dst []float64, src []float32) {
	if len(src) < len(dst) {
		panic(fmt.Sprintf("simd.AddF32To64: len(src)=%d < len(dst)=%d", len(src), len(dst)))
	}
	active.addF32To64(dst, src)
}

// Sscal computes x[i] *= alpha for every i.
func Sscal(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// Ssum returns Σ x[i], summed left to right in float32.
func Ssum(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// Smax returns max x[i], or -Inf for an empty x. A NaN in x gives NaN.
func Smax(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
			if v != v {
				return v
			}
		}
	}
	return m
}
