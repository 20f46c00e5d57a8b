package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkMaps times every map kernel under every implementation, and the
// float64 math loop it replaces in autodiff (impl "math64"), on 4096
// elements (in cache) and 512×2000 (a hidden layer of a batch of 512).
// Bytes are those read and written.
func BenchmarkMaps(b *testing.B) {
	naive := map[string]func(dst, x []float32){
		"relu": func(dst, x []float32) {
			for i, v := range x {
				if !(v < 0) {
					dst[i] = v
				}
			}
		},
		"exp":     func(dst, x []float32) { math64(dst, x, math.Exp) },
		"tanh":    func(dst, x []float32) { math64(dst, x, math.Tanh) },
		"erf":     func(dst, x []float32) { math64(dst, x, math.Erf) },
		"sigmoid": func(dst, x []float32) { math64(dst, x, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }) },
		"elu": func(dst, x []float32) {
			math64(dst, x, func(v float64) float64 {
				if v > 0 {
					return v
				}
				return math.Expm1(v)
			})
		},
	}
	for _, n := range []int{4096, 512 * 2000} {
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(4 * rng.NormFloat64())
		}
		dst := make([]float32, n)
		t := make([]float32, n)
		copy(t, x)
		for _, c := range mapCases() {
			if c.name == "selu" || c.name == "seluDeriv" {
				continue
			}
			for _, name := range append(implNames(), "math64") {
				if name == "math64" && naive[c.name] == nil {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/n=%d", c.name, name, n), func(b *testing.B) {
					run := c.run
					if name == "math64" {
						run = naive[c.name]
					} else {
						defer setImpl(name)()
					}
					b.SetBytes(int64(8 * n))
					for b.Loop() {
						run(dst, x)
					}
					b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n), "ns/elem")
				})
			}
		}
		for _, c := range blockCases {
			for _, name := range implNames() {
				b.Run(fmt.Sprintf("%s/%s/n=%d", c.name, name, n), func(b *testing.B) {
					defer setImpl(name)()
					b.SetBytes(int64(12 * n))
					for b.Loop() {
						c.run(dst, x, t)
					}
					b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(n), "ns/elem")
				})
			}
		}
	}
}

// math64 is the float64 loop of autodiff's mapUnary.
func math64(dst, x []float32, f func(float64) float64) {
	for i, v := range x {
		dst[i] = float32(f(float64(v)))
	}
}
