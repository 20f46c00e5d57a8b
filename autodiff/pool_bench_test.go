package autodiff

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkMaxPoolFwd times MaxPool 2×2, stride 2, on the digits CNN's
// first activations at batch 256 ([256, 8, 8, 8], float32).
func BenchmarkMaxPoolFwd(b *testing.B) {
	n := &Node{OpType: "MaxPool", Attrs: Attrs{"kernel_shape": {Kind: AttrInts, Ints: []int64{2, 2}}, "strides": {Kind: AttrInts, Ints: []int64{2, 2}}}}
	k, err := newMaxPool[float32](n)
	if err != nil {
		b.Fatal(err)
	}
	x := New[float32](256, 8, 8, 8)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for b.Loop() {
		k.Forward([]*Tensor[float32]{x})
	}
}
