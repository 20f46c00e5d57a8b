//go:build !amd64 || purego

package simd

// archImpls lists the assembly implementations: none in this build.
func archImpls() []*implementation { return nil }
