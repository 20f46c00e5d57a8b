//go:build !unix

package simd

// cpuNs is not measured here; benchmarks then report no CPU-time metric.
func cpuNs() float64 { return 0 }
