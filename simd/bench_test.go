package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

type benchShape struct {
	name    string
	m, n, k int
}

func benchShapes() []benchShape {
	var s []benchShape
	for _, n := range []int{64, 128, 256, 512, 1024, 2048} {
		s = append(s, benchShape{fmt.Sprintf("n=%d", n), n, n, n})
	}
	// 512×512 times 512×16 and 512×64.
	s = append(s, benchShape{"512x512x16", 512, 16, 512}, benchShape{"512x512x64", 512, 64, 512})
	return s
}

func benchGemm(b *testing.B, sh benchShape, f func(a, bb, c []float32)) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := make([]float32, sh.m*sh.k)
	bb := make([]float32, sh.k*sh.n)
	c := make([]float32, sh.m*sh.n)
	for i := range a {
		a[i] = rng.Float32()
	}
	for i := range bb {
		bb[i] = rng.Float32()
	}
	for b.Loop() {
		f(a, bb, c)
	}
	flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm times C = A·B for every implementation and gonum, on one
// thread unless the name says threads=2.
func BenchmarkSgemm(b *testing.B) {
	defer SetThreads(0)
	for _, name := range append(implNames(), "gonum") {
		for _, threads := range []int{1, 2} {
			for _, sh := range benchShapes() {
				sub := name + "/" + sh.name
				if threads > 1 {
					if name == "gonum" || name == "generic" {
						continue
					}
					sub += fmt.Sprintf("/threads=%d", threads)
				}
				b.Run(sub, func(b *testing.B) {
					if name == "gonum" {
						benchGemm(b, sh, func(a, bb, c []float32) {
							gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, sh.m, sh.n, sh.k, 1, a, sh.k, bb, sh.n, 0, c, sh.n)
						})
						return
					}
					defer setImpl(name)()
					SetThreads(threads)
					benchGemm(b, sh, func(a, bb, c []float32) {
						Sgemm(false, false, sh.m, sh.n, sh.k, 1, a, sh.k, bb, sh.n, 0, c, sh.n)
					})
				})
			}
		}
	}
}
