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
	transB  bool // B is stored n×k, as ONNX Gemm's weights with transB=1
}

func benchShapes() []benchShape {
	var s []benchShape
	for _, n := range []int{64, 128, 256, 512, 1024, 2048} {
		s = append(s, benchShape{fmt.Sprintf("n=%d", n), n, n, n, false})
	}
	// 512×512 times 512×16 and 512×64.
	s = append(s, benchShape{"512x512x16", 512, 16, 512, false}, benchShape{"512x512x64", 512, 64, 512, false})
	// The dense layers of bench/models/mlp784.onnx at batch 256 (M×K by
	// K×N with B transposed).
	s = append(s, benchShape{"256x784x512tB", 256, 512, 784, true}, benchShape{"256x512x512tB", 256, 512, 512, true})
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
	b.ResetTimer()
	cpu0 := cpuNs()
	for b.Loop() {
		f(a, bb, c)
	}
	flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// GFLOP per CPU-second of all threads together: for one thread, the
	// speed with the other jobs of a shared machine taken out.
	if cpu := cpuNs() - cpu0; cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu, "cpuGFLOP/s")
	}
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
							tB, ldb := blas.NoTrans, sh.n
							if sh.transB {
								tB, ldb = blas.Trans, sh.k
							}
							gonum.Implementation{}.Sgemm(blas.NoTrans, tB, sh.m, sh.n, sh.k, 1, a, sh.k, bb, ldb, 0, c, sh.n)
						})
						return
					}
					defer setImpl(name)()
					SetThreads(threads)
					benchGemm(b, sh, func(a, bb, c []float32) {
						ldb := sh.n
						if sh.transB {
							ldb = sh.k
						}
						Sgemm(false, sh.transB, sh.m, sh.n, sh.k, 1, a, sh.k, bb, ldb, 0, c, sh.n)
					})
				})
			}
		}
	}
}

// BenchmarkPackB times packing one kc×nc block of B, plain and transposed,
// under every implementation, in GB/s of packed output.
func BenchmarkPackB(b *testing.B) {
	for _, name := range implNames() {
		for _, trans := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/trans=%v", name, trans), func(b *testing.B) {
				defer setImpl(name)()
				kern := pickKernel(active.sgemm, 512, 512)
				kc, nc := 384, 480
				src := make([]float32, kc*nc)
				ld := nc
				if trans {
					ld = kc
				}
				bp := make([]float32, roundUp(nc, kern.nr)*kc)
				b.SetBytes(int64(4 * kc * nc))
				cpu0 := cpuNs()
				for b.Loop() {
					packB(kern, trans, kc, nc, src, ld, 0, 0, bp)
				}
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(float64(4*kc*nc)*float64(b.N)/cpu, "cpuGB/s")
				}
			})
		}
	}
}

// BenchmarkSgemmKernel times each micro-kernel alone on one packed A and B
// micro-panel of asmKC steps that stay in L1, accumulating into a C tile,
// in GFLOP per CPU-second: the kernel's ceiling, without packing or cache
// misses.
func BenchmarkSgemmKernel(b *testing.B) {
	for _, im := range impls {
		for _, kern := range im.sgemm {
			b.Run(fmt.Sprintf("%s/%dx%d", im.name, kern.mr, kern.nr), func(b *testing.B) {
				k := 384
				ap := make([]float32, k*kern.mr)
				bp := make([]float32, k*kern.nr)
				c := make([]float32, kern.mr*kern.nr)
				cpu0 := cpuNs()
				for b.Loop() {
					kern.fn(k, ap, bp, c, kern.nr, false)
				}
				flops := 2 * float64(kern.mr*kern.nr*k) * float64(b.N)
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu, "cpuGFLOP/s")
				}
			})
		}
	}
}
