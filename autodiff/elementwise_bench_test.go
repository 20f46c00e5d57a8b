package autodiff

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkUnary32 times the float32 forward and rule (one direction) of
// the unary ops with simd kernels on a 256×2000 activation, against the
// float64-math path they replace ("math": mapUnary and diagRule, the code
// float64 still runs).
func BenchmarkUnary32(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := New[float32](256, 2000)
	t := New[float32](1, 256, 2000)
	for i := range x.Data {
		x.Data[i] = float32(2 * rng.NormFloat64())
		t.Data[i] = float32(rng.NormFloat64())
	}
	for _, op := range []string{"Relu", "Elu", "Tanh", "Sigmoid", "Exp", "Erf"} {
		k, err := newUnary[float32](unaryOps[op])(&Node{OpType: op, Opset: 17})
		if err != nil {
			b.Fatal(err)
		}
		y, _ := k.Forward([]*Tensor[float32]{x})
		for _, path := range []string{"simd", "math"} {
			b.Run(op+"/forward/"+path, func(b *testing.B) {
				b.SetBytes(int64(8 * len(x.Data)))
				for b.Loop() {
					if path == "simd" {
						k.Forward([]*Tensor[float32]{x})
					} else {
						mapUnary(x, k.op.f)
					}
				}
			})
			b.Run(op+"/rule/"+path, func(b *testing.B) {
				b.SetBytes(int64(12 * len(x.Data)))
				for b.Loop() {
					if path == "simd" {
						k.rule(x, y[0], t, 1, newZero[float32])
					} else {
						diagRule(x, y[0], t, 1, k.op.df)
					}
				}
			})
		}
	}
}
