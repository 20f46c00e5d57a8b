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
	transA  bool // A is stored k×m, as the input of a VJP's weight gradient
	transB  bool // B is stored n×k, as ONNX Gemm's weights with transB=1
}

func benchShapes() []benchShape {
	var s []benchShape
	for _, n := range []int{64, 128, 256, 512, 1024, 2048} {
		s = append(s, benchShape{name: fmt.Sprintf("n=%d", n), m: n, n: n, k: n})
	}
	// 512×512 times 512×16 and 512×64.
	s = append(s, benchShape{name: "512x512x16", m: 512, n: 16, k: 512}, benchShape{name: "512x512x64", m: 512, n: 64, k: 512})
	// The dense layers of bench/models/mlp784.onnx at batch 256 (M×K by
	// K×N with B transposed), of an MLP 784-512-512-10 with plain weights
	// (MatMul, Gemm transB=0), and the weight gradients Gᵀ·X of its VJP
	// (A transposed).
	s = append(s, benchShape{name: "256x784x512tB", m: 256, n: 512, k: 784, transB: true}, benchShape{name: "256x512x512tB", m: 256, n: 512, k: 512, transB: true},
		benchShape{name: "256x784x512", m: 256, n: 512, k: 784},
		benchShape{name: "512x256x784tA", m: 512, n: 784, k: 256, transA: true}, benchShape{name: "512x256x512tA", m: 512, n: 512, k: 256, transA: true})
	return s
}

func benchGemm(b *testing.B, sh benchShape, f func(a, bb, c []float32)) {
	rng := rand.New(rand.NewPCG(1, 1))
	a := make([]float32, sh.m*sh.k) // m×k, or k×m if transA
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
							tA, lda, tB, ldb := blas.NoTrans, sh.k, blas.NoTrans, sh.n
							if sh.transA {
								tA, lda = blas.Trans, sh.m
							}
							if sh.transB {
								tB, ldb = blas.Trans, sh.k
							}
							gonum.Implementation{}.Sgemm(tA, tB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
						})
						return
					}
					defer setImpl(name)()
					SetThreads(threads)
					benchGemm(b, sh, func(a, bb, c []float32) {
						lda, ldb := sh.k, sh.n
						if sh.transA {
							lda = sh.m
						}
						if sh.transB {
							ldb = sh.k
						}
						Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, a, lda, bb, ldb, 0, c, sh.n)
					})
				})
			}
		}
	}
}

// coldSources returns enough matrices of n values that reading them in turn
// reads from L3 or memory, not from a core's L2, as a product's packing of
// its operands usually does. They are written, so that their pages are not
// all the one shared zero page.
func coldSources(n int) [][]float32 {
	src := make([][]float32, max(2, (16<<20)/(4*n)))
	for i := range src {
		src[i] = make([]float32, n)
		for j := range src[i] {
			src[i][j] = float32(j)
		}
	}
	return src
}

// BenchmarkPackB times packing one kc×nc block of B, plain and transposed,
// under every implementation, in GB/s of packed output, the source cold
// (coldSources).
func BenchmarkPackB(b *testing.B) {
	for _, name := range implNames() {
		for _, trans := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/trans=%v", name, trans), func(b *testing.B) {
				defer setImpl(name)()
				kern := pickKernel(active.sgemm, 512, 512)
				kc, nc := 384, 480
				ld := nc
				if trans {
					ld = kc
				}
				src := coldSources(kc * nc)
				bp := make([]float32, roundUp(nc, kern.nr)*kc)
				b.SetBytes(int64(4 * kc * nc))
				cpu0 := cpuNs()
				for i := 0; b.Loop(); i++ {
					packB(kern, trans, kc, nc, src[i%len(src)], ld, 0, 0, bp)
				}
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(float64(4*kc*nc)*float64(b.N)/cpu, "cpuGB/s")
				}
			})
		}
	}
}

// BenchmarkPackA times packing one mc×kc block of A, plain and transposed,
// with alpha 1, under every implementation, in GB/s of packed output, the
// source cold (coldSources).
func BenchmarkPackA(b *testing.B) {
	for _, name := range implNames() {
		for _, trans := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/trans=%v", name, trans), func(b *testing.B) {
				defer setImpl(name)()
				kern := pickKernel(active.sgemm, 512, 512)
				mc, kc := roundUp(144, kern.mr), 256
				// The dW = Xᵀ·G products of a VJP: op(A) = Xᵀ with X a
				// 256×784 batch (lda 784).
				ld := 784
				src := coldSources(256 * ld)
				ap := make([]float32, mc*kc)
				b.SetBytes(int64(4 * mc * kc))
				cpu0 := cpuNs()
				for i := 0; b.Loop(); i++ {
					packA(kern, trans, mc, kc, 1, src[i%len(src)], ld, 0, 0, ap)
				}
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(float64(4*mc*kc)*float64(b.N)/cpu, "cpuGB/s")
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

// vecSink keeps the results of the vector benchmarks alive.
var vecSink float32

// benchVec runs f(x, y) under every implementation on vectors of the
// lengths of fvp's row operations, reporting ns per element; bytes are
// those of x and y read (Saxpy also writes y).
func benchVec(b *testing.B, f func(x, y []float32)) {
	for _, n := range []int{16, 512, 2000} {
		rng := rand.New(rand.NewPCG(3, 4))
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = rng.Float32()-0.5, rng.Float32()-0.5
		}
		for _, name := range implNames() {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				defer setImpl(name)()
				b.SetBytes(int64(8 * n))
				for b.Loop() {
					f(x, y)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n), "ns/elem")
			})
		}
	}
}

// BenchmarkSdot times Sdot(x, y) = Σ x[i]·y[i].
func BenchmarkSdot(b *testing.B) {
	benchVec(b, func(x, y []float32) { vecSink += Sdot(x, y) })
}

// BenchmarkSaxpy times Saxpy: y += alpha·x, with alpha small enough that y
// stays of order one over the benchmark's calls.
func BenchmarkSaxpy(b *testing.B) {
	benchVec(b, func(x, y []float32) { Saxpy(1e-9, x, y) })
}

// benchConv runs f under every implementation at the lengths of fvp's
// conversions, n = 1000 (in L1) and 800000 (beyond L2), with bytes the
// bytes moved per element (read and written).
func benchConv(b *testing.B, bytes int, f func(n int) func()) {
	for _, n := range []int{1000, 800000} {
		run := f(n)
		for _, name := range implNames() {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				defer setImpl(name)()
				b.SetBytes(int64(bytes * n))
				for b.Loop() {
					run()
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n), "ns/elem")
			})
		}
	}
}

// BenchmarkF64To32 times F64To32: 8 bytes read and 4 written per element.
func BenchmarkF64To32(b *testing.B) {
	benchConv(b, 12, func(n int) func() {
		rng := rand.New(rand.NewPCG(5, 6))
		dst, src := make([]float32, n), make([]float64, n)
		for i := range src {
			src[i] = rng.NormFloat64()
		}
		return func() { F64To32(dst, src) }
	})
}

// BenchmarkAddF32To64 times AddF32To64: 4 + 8 bytes read and 8 written per
// element, with src small enough that dst stays of order one over the
// benchmark's calls.
func BenchmarkAddF32To64(b *testing.B) {
	benchConv(b, 20, func(n int) func() {
		rng := rand.New(rand.NewPCG(5, 7))
		dst, src := make([]float64, n), make([]float32, n)
		for i := range src {
			dst[i], src[i] = rng.NormFloat64(), float32(rng.NormFloat64()*1e-9)
		}
		return func() { AddF32To64(dst, src) }
	})
}
