package simd

import "fmt"

// implementation is one dispatch table: every kernel of one instruction set.
type implementation struct {
	name  string
	sgemm []gemmKernel[float32]
	dot   func(x, y []float32) float32
	axpy  func(alpha float32, x, y []float32)
	// f64To32 and addF32To64 are F64To32 and AddF32To64 of vec.go, given
	// len(src) >= len(dst).
	f64To32    func(dst []float32, src []float64)
	addF32To64 func(dst []float64, src []float32)
	maps       mapKernels  // elementwise maps (maps.go), set by init
	pool       poolKernels // affine rows and 2×2 max pooling (pool.go), set by init
}

// impls lists the implementations this machine supports, slowest first;
// the last one is active after init.
var impls = append([]*implementation{&genericImpl}, archImpls()...)

var active = impls[len(impls)-1]

// Impl names the implementation in use: "generic", "avx2" or "avx512".
func Impl() string { return active.name }

// Impls lists the implementations this machine supports, slowest first.
func Impls() []string { return implNames() }

// SetImpl makes the named implementation (one of Impls) the active one, for
// benchmarks and debugging. It must not be called while kernels run.
func SetImpl(name string) error {
	for _, im := range impls {
		if im.name == name {
			active = im
			return nil
		}
	}
	return fmt.Errorf("simd: implementation %q not supported here (have %v)", name, implNames())
}

// implNames lists the implementations this machine supports.
func implNames() []string {
	var s []string
	for _, im := range impls {
		s = append(s, im.name)
	}
	return s
}

// setImpl forces the named implementation (a test and benchmark hook) and
// returns a function restoring the previous one. It is not safe to call
// while kernels run.
func setImpl(name string) (restore func()) {
	prev := active
	if err := SetImpl(name); err != nil {
		panic(err)
	}
	return func() { active = prev }
}
