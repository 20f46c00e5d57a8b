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
