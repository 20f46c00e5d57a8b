// Package testnet builds small graphs by hand for tests of the packages
// above the engine, without ONNX files.
package testnet

import (
	"math/rand/v2"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// MLP returns a tanh MLP with layer widths sizes (sizes[0] inputs,
// sizes[len-1] outputs): Gemm, Tanh, ..., Gemm, with weights drawn from
// N(0, 1/fan-in) by seed.
func MLP(seed uint64, sizes ...int) *autodiff.Graph { return MLPAct(seed, "Tanh", sizes...) }

// ReLUMLP is MLP with Relu activations.
func ReLUMLP(seed uint64, sizes ...int) *autodiff.Graph { return MLPAct(seed, "Relu", sizes...) }

// MLPAct is MLP with the unary activation op act (an ONNX op type such as
// "Tanh" or "Relu") between the Gemm layers.
func MLPAct(seed uint64, act string, sizes ...int) *autodiff.Graph {
	rng := rand.New(rand.NewPCG(seed, 7))
	g := &autodiff.Graph{Opset: 17}
	add := func(v autodiff.Value) int {
		g.Values = append(g.Values, v)
		return len(g.Values) - 1
	}
	x := add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: []int{autodiff.Batch, sizes[0]}})
	g.Inputs = []int{x}
	cur := x
	for l := 1; l < len(sizes); l++ {
		in, out := sizes[l-1], sizes[l]
		w := make([]float64, in*out)
		for i := range w {
			w[i] = rng.NormFloat64() / float64(in)
		}
		b := make([]float64, out)
		for i := range b {
			b[i] = 0.1 * rng.NormFloat64()
		}
		wid := add(autodiff.Value{Name: name("w", l), Kind: autodiff.Param, Shape: []int{in, out}, Data: w})
		bid := add(autodiff.Value{Name: name("b", l), Kind: autodiff.Param, Shape: []int{out}, Data: b})
		g.Params = append(g.Params, wid, bid)
		y := add(autodiff.Value{Name: name("gemm", l), Shape: []int{autodiff.Batch, out}})
		g.Nodes = append(g.Nodes, &autodiff.Node{Name: name("gemm", l), OpType: "Gemm", Opset: 17, In: []int{cur, wid, bid}, Out: []int{y}, Attrs: autodiff.Attrs{}})
		cur = y
		if l < len(sizes)-1 {
			h := add(autodiff.Value{Name: name(strings.ToLower(act), l), Shape: []int{autodiff.Batch, out}})
			g.Nodes = append(g.Nodes, &autodiff.Node{Name: name(strings.ToLower(act), l), OpType: act, Opset: 17, In: []int{cur}, Out: []int{h}, Attrs: autodiff.Attrs{}})
			cur = h
		}
	}
	g.Outputs = []int{cur}
	return g
}

func name(prefix string, l int) string {
	return prefix + string(rune('0'+l))
}

// Inputs returns n rows of d standard-normal features.
func Inputs(seed uint64, n, d int) *autodiff.Tensor[float32] {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := autodiff.New[float32](n, d)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}
