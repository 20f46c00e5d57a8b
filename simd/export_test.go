package simd

import "testing"

// forEachImpl runs f as a subtest under every implementation this machine
// supports.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, name := range implNames() {
		t.Run(name, func(t *testing.T) {
			defer setImpl(name)()
			f(t)
		})
	}
}

// setBlocking shrinks the active GEMM cache blocking so that small tests
// cross every block boundary; it returns a function restoring it.
func setBlocking(kc, mc, nc int) (restore func()) {
	ks := active.sgemm
	old := append([]gemmKernel[float32](nil), ks...)
	for i := range ks {
		ks[i].kc, ks[i].mc, ks[i].nc = kc, roundUp(mc, ks[i].mr), roundUp(nc, ks[i].nr)
	}
	return func() { copy(ks, old) }
}

// setMinThreadWork lowers the threshold for extra goroutines.
func setMinThreadWork(w int) (restore func()) {
	old := minThreadWork
	minThreadWork = w
	return func() { minThreadWork = old }
}
