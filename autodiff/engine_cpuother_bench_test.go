//go:build !unix

package autodiff_test

// cpuNs is unavailable here: the benchmarks report wall time only.
func cpuNs() float64 { return 0 }
