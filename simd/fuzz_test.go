package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sgemmAll runs the same product under every implementation and returns the
// results by implementation name.
func sgemmAll(g gemmCase, seed uint64) map[string][]float32 {
	out := map[string][]float32{}
	for _, name := range implNames() {
		rng := rand.New(rand.NewPCG(seed, 0))
		ra, ca, rb, cb := g.dims()
		a := matrix(rng, ra, ca, g.lda, g.offA)
		b := matrix(rng, rb, cb, g.ldb, g.offB)
		c := matrix(rng, g.m, g.n, g.ldc, g.offC)
		func() {
			defer setImpl(name)()
			Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a[g.offA:], g.lda, b[g.offB:], g.ldb, g.beta, c[g.offC:], g.ldc)
		}()
		out[name] = c
	}
	return out
}

// assembly paths share the cache blocking and sum every element with the same
// chain of fused multiply-adds, so they must agree bitwise.
func checkAsmAgree(t *testing.T, g gemmCase, res map[string][]float32) {
	t.Helper()
	var ref []float32
	var refName string
	for _, name := range implNames() {
		if name == "generic" {
			continue
		}
		if ref == nil {
			ref, refName = res[name], name
			continue
		}
		for i, v := range res[name] {
			if math.Float32bits(v) != math.Float32bits(ref[i]) {
				t.Fatalf("%v: %s gives c[%d]=%v, %s gives %v", g, name, i, v, refName, ref[i])
			}
		}
	}
}

func TestSgemmPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for it := 0; it < 60; it++ {
		tr := transCombos[it%4]
		g := randCase(rng, tr[0], tr[1], rng.IntN(120), rng.IntN(120), rng.IntN(800))
		checkAsmAgree(t, g, sgemmAll(g, uint64(it)))
	}
}

// FuzzSgemm pits every implementation against the float64 reference (within
// the bound of gemmCase.check) and the assembly paths against each other
// (bitwise).
func FuzzSgemm(f *testing.F) {
	f.Add(uint64(1), uint8(7), uint8(9), uint8(11), uint8(0))
	f.Add(uint64(2), uint8(33), uint8(49), uint8(200), uint8(15))
	f.Add(uint64(3), uint8(0), uint8(5), uint8(3), uint8(6))
	f.Fuzz(func(t *testing.T, seed uint64, m, n, k, flags uint8) {
		rng := rand.New(rand.NewPCG(seed, 1))
		g := randCase(rng, flags&1 != 0, flags&2 != 0, int(m), int(n), int(k)*int(1+flags>>6))
		checkAsmAgree(t, g, sgemmAll(g, seed))
		forEachImpl(t, func(t *testing.T) { g.check(t, rand.New(rand.NewPCG(seed, 2))) })
	})
}
