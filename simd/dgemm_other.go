//go:build !amd64 || purego

package simd

// dgemmKernels returns the float64 kernels: the generic one in this build.
func dgemmKernels() []gemmKernel[float64] { return dgemmGeneric }
