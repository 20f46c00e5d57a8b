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
	return Dense{
		Act: act, Opset: 17,
		Name: func(kind string, l int) string {
			switch kind {
			case "weight":
				return name("w", l)
			case "bias":
				return name("b", l)
			case "act":
				return name(strings.ToLower(act), l)
			}
			return name("gemm", l)
		},
		Init: func(l, in, out int) (w, b []float64) {
			w, b = make([]float64, in*out), make([]float64, out)
			for i := range w {
				w[i] = rng.NormFloat64() / float64(in)
			}
			for i := range b {
				b[i] = 0.1 * rng.NormFloat64()
			}
			return w, b
		},
	}.Build(sizes...)
}

// Dense describes an MLP graph: Gemm layers (weights [in, out], bias
// [out]) with the unary activation op Act between them.
type Dense struct {
	Act      string
	Opset    int64
	Producer string
	// Name names layer l's values: kind is "weight", "bias", "gemm" (the
	// layer's output) or "act" (the activation's output).
	Name func(kind string, l int) string
	// Init returns layer l's weights (in·out, row-major) and bias (out),
	// called for l = 1, 2, … in order.
	Init func(l, in, out int) (w, b []float64)
}

// Build returns the graph with layer widths sizes (sizes[0] inputs,
// sizes[len-1] outputs).
func (d Dense) Build(sizes ...int) *autodiff.Graph {
	g := &autodiff.Graph{Opset: d.Opset, Producer: d.Producer}
	add := func(v autodiff.Value) int {
		g.Values = append(g.Values, v)
		return len(g.Values) - 1
	}
	node := func(op, nm string, in []int, out int) {
		g.Nodes = append(g.Nodes, &autodiff.Node{Name: nm, OpType: op, Opset: d.Opset, In: in, Out: []int{out}, Attrs: autodiff.Attrs{}})
	}
	x := add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: []int{autodiff.Batch, sizes[0]}})
	g.Inputs = []int{x}
	cur := x
	for l := 1; l < len(sizes); l++ {
		in, out := sizes[l-1], sizes[l]
		w, b := d.Init(l, in, out)
		wid := add(autodiff.Value{Name: d.Name("weight", l), Kind: autodiff.Param, Shape: []int{in, out}, Data: w})
		bid := add(autodiff.Value{Name: d.Name("bias", l), Kind: autodiff.Param, Shape: []int{out}, Data: b})
		g.Params = append(g.Params, wid, bid)
		y := add(autodiff.Value{Name: d.Name("gemm", l), Shape: []int{autodiff.Batch, out}})
		node("Gemm", d.Name("gemm", l), []int{cur, wid, bid}, y)
		cur = y
		if l < len(sizes)-1 {
			h := add(autodiff.Value{Name: d.Name("act", l), Shape: []int{autodiff.Batch, out}})
			node(d.Act, d.Name("act", l), []int{cur}, h)
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
