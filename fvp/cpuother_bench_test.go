//go:build !unix

package fvp_test

// cpuNs is 0 where getrusage is unavailable: the benchmarks then report
// wall time only.
func cpuNs() float64 { return 0 }
