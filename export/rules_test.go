package export

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// net builds a tiny graph for one op: input x, h = x + p0 (p0 a parameter
// of x's shape without the batch axis, so h carries a tangent), then the
// op under test on h and further parameters and constants.
type net struct {
	g   *autodiff.Graph
	rng *rand.Rand
	h   int
}

func newNet(opset int64, xshape []int, seed uint64) *net {
	n := &net{g: &autodiff.Graph{Opset: opset}, rng: rand.New(rand.NewPCG(seed, 3))}
	x := n.add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: append([]int{autodiff.Batch}, xshape...)})
	n.g.Inputs = []int{x}
	p0 := n.param("p0", xshape, 0.3)
	h := n.add(autodiff.Value{Name: "h"})
	n.node("Add", nil, []int{x, p0}, h)
	n.h = h
	return n
}

func (n *net) add(v autodiff.Value) int {
	n.g.Values = append(n.g.Values, v)
	return len(n.g.Values) - 1
}

// param adds a parameter of N(0, scale²) elements.
func (n *net) param(name string, shape []int, scale float64) int {
	d := make([]float64, autodiff.Size(shape))
	for i := range d {
		d[i] = float64(float32(scale * n.rng.NormFloat64()))
	}
	id := n.add(autodiff.Value{Name: name, Kind: autodiff.Param, Shape: shape, Data: d})
	n.g.Params = append(n.g.Params, id)
	return id
}

// konst adds a constant (ints when isInt).
func (n *net) konst(name string, shape []int, data []float64, isInt bool) int {
	return n.add(autodiff.Value{Name: name, Kind: autodiff.Const, Shape: shape, Data: data, Int: isInt})
}

func (n *net) ints(name string, v ...int) int {
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = float64(x)
	}
	return n.konst(name, []int{len(v)}, d, true)
}

func (n *net) scalar(name string, v float64) int { return n.konst(name, []int{}, []float64{v}, false) }

// node adds a node; out are new values (created by the caller).
func (n *net) node(op string, attrs autodiff.Attrs, in []int, out ...int) {
	if attrs == nil {
		attrs = autodiff.Attrs{}
	}
	n.g.Nodes = append(n.g.Nodes, &autodiff.Node{Name: fmt.Sprintf("n%d_%s", len(n.g.Nodes), op), OpType: op, Opset: n.g.Opset, In: in, Out: out, Attrs: attrs})
}

// op adds a one-output node and makes its output the graph output.
func (n *net) op(op string, attrs autodiff.Attrs, in ...int) int {
	y := n.add(autodiff.Value{Name: fmt.Sprintf("y%d", len(n.g.Values))})
	n.node(op, attrs, in, y)
	n.g.Outputs = []int{y}
	return y
}

func ai(v int64) autodiff.Attr     { return autodiff.Attr{Kind: autodiff.AttrInt, I: v} }
func af(v float64) autodiff.Attr   { return autodiff.Attr{Kind: autodiff.AttrFloat, F: v} }
func as(v string) autodiff.Attr    { return autodiff.Attr{Kind: autodiff.AttrString, S: v} }
func ais(v ...int64) autodiff.Attr { return autodiff.Attr{Kind: autodiff.AttrInts, Ints: v} }

// ruleCase is one op test: build adds the op to a net and returns it.
type ruleCase struct {
	name   string
	opset  int64
	xshape []int
	// input draws x's elements; nil means N(0, 1).
	input func(rng *rand.Rand) float64
	build func(n *net)
}

var ruleCases = []ruleCase{
	{name: "Relu", xshape: []int{2, 3}, input: ties, build: unaryCase("Relu", nil)},
	{name: "LeakyRelu", xshape: []int{5}, input: ties, build: unaryCase("LeakyRelu", autodiff.Attrs{"alpha": af(0.2)})},
	{name: "Elu", xshape: []int{5}, input: ties, build: unaryCase("Elu", autodiff.Attrs{"alpha": af(0.7)})},
	{name: "Selu", xshape: []int{5}, build: unaryCase("Selu", nil)},
	{name: "Abs", xshape: []int{5}, input: ties, build: unaryCase("Abs", nil)},
	{name: "Neg", xshape: []int{5}, build: unaryCase("Neg", nil)},
	{name: "Sigmoid", xshape: []int{5}, build: unaryCase("Sigmoid", nil)},
	{name: "Tanh", xshape: []int{5}, build: unaryCase("Tanh", nil)},
	{name: "Exp", xshape: []int{5}, build: unaryCase("Exp", nil)},
	{name: "Log", xshape: []int{5}, input: positive, build: unaryCase("Log", nil)},
	{name: "Sqrt", xshape: []int{5}, input: positive, build: unaryCase("Sqrt", nil)},
	{name: "Softplus", xshape: []int{5}, build: unaryCase("Softplus", nil)},
	{name: "Erf", xshape: []int{5}, build: unaryCase("Erf", nil)},
	{name: "HardSigmoid", xshape: []int{7}, input: wide, build: unaryCase("HardSigmoid", autodiff.Attrs{"alpha": af(0.3)})},
	{name: "Gelu", opset: 20, xshape: []int{5}, build: unaryCase("Gelu", nil)},
	{name: "GeluTanh", opset: 20, xshape: []int{5}, build: unaryCase("Gelu", autodiff.Attrs{"approximate": as("tanh")})},
	{name: "Clip", xshape: []int{7}, input: wide, build: func(n *net) {
		n.op("Clip", nil, n.h, n.scalar("lo", -0.5), n.scalar("hi", 0.8))
	}},
	{name: "ClipMaxOnly", xshape: []int{7}, input: wide, build: func(n *net) {
		n.op("Clip", nil, n.h, -1, n.scalar("hi", 0.8))
	}},
	{name: "ClipOpset6", opset: 6, xshape: []int{7}, input: wide, build: func(n *net) {
		n.op("Clip", autodiff.Attrs{"min": af(-0.5), "max": af(0.8)}, n.h)
	}},
	{name: "AddBroadcastParam", xshape: []int{2, 3}, build: func(n *net) {
		n.op("Add", nil, n.g.Inputs[0], n.param("b", []int{3}, 1))
	}},
	{name: "SubBroadcastParam", xshape: []int{2, 3}, build: func(n *net) {
		n.op("Sub", nil, n.g.Inputs[0], n.param("b", []int{1, 3}, 1))
	}},
	{name: "Sub", xshape: []int{2, 3}, build: func(n *net) { n.op("Sub", nil, n.h, n.param("b", []int{3}, 1)) }},
	{name: "Mul", xshape: []int{2, 3}, build: func(n *net) { n.op("Mul", nil, n.h, n.param("b", []int{2, 1}, 1)) }},
	{name: "MulSelf", xshape: []int{4}, build: func(n *net) { n.op("Mul", nil, n.h, n.h) }},
	{name: "Div", xshape: []int{2, 3}, build: func(n *net) {
		n.op("Div", nil, n.h, n.op("Add", nil, n.param("b", []int{3}, 0.1), n.scalar("two", 2)))
	}},
	{name: "Pow", xshape: []int{3}, input: positive, build: func(n *net) {
		n.op("Pow", nil, n.h, n.konst("e", []int{3}, []float64{0, 2, 3.5}, false))
	}},
	{name: "PowScalar", xshape: []int{3}, build: func(n *net) { n.op("Pow", nil, n.h, n.scalar("e", 3)) }},
	{name: "Gemm", xshape: []int{4}, build: func(n *net) {
		n.op("Gemm", autodiff.Attrs{"alpha": af(0.7), "beta": af(1.3), "transB": ai(1)}, n.h, n.param("w", []int{3, 4}, 0.5), n.param("c", []int{3}, 1))
	}},
	{name: "GemmTransA", xshape: []int{4}, build: func(n *net) {
		// A' = hᵀ·... : Gemm(W, h) with transA on a parameter A.
		t := n.op("Transpose", autodiff.Attrs{"perm": ais(1, 0)}, n.h)
		n.op("Gemm", autodiff.Attrs{"transA": ai(1)}, n.param("a", []int{4, 2}, 0.5), t, n.param("c", []int{1, 1}, 1))
	}},
	{name: "GemmOnlyC", xshape: []int{4}, build: func(n *net) {
		g := n.op("Gemm", autodiff.Attrs{"beta": af(0.5)}, n.g.Inputs[0], n.konst("w", []int{4, 3}, make([]float64, 12), false), n.param("c", []int{3}, 1))
		n.g.Outputs = []int{g}
	}},
	{name: "MatMul", xshape: []int{2, 4}, build: func(n *net) { n.op("MatMul", nil, n.h, n.param("w", []int{4, 3}, 0.5)) }},
	{name: "MatMulLeft", xshape: []int{4, 2}, build: func(n *net) { n.op("MatMul", nil, n.param("w", []int{3, 4}, 0.5), n.h) }},
	{name: "Conv", xshape: []int{2, 5, 5}, build: func(n *net) {
		n.op("Conv", autodiff.Attrs{"kernel_shape": ais(3, 3), "pads": ais(1, 0, 1, 1), "strides": ais(2, 1)},
			n.h, n.param("w", []int{4, 2, 3, 3}, 0.3), n.param("b", []int{4}, 1))
	}},
	{name: "ConvGroupNoBias", xshape: []int{4, 5, 5}, build: func(n *net) {
		n.op("Conv", autodiff.Attrs{"kernel_shape": ais(3, 3), "group": ai(2), "dilations": ais(2, 1)}, n.h, n.param("w", []int{4, 2, 3, 3}, 0.3))
	}},
	{name: "ConvBiasOnly", xshape: []int{2, 4, 4}, build: func(n *net) {
		n.op("Conv", autodiff.Attrs{"kernel_shape": ais(2, 2)}, n.g.Inputs[0], n.konst("w", []int{3, 2, 2, 2}, make([]float64, 24), false), n.param("b", []int{3}, 1))
	}},
	{name: "ConvTranspose", xshape: []int{2, 3, 3}, build: func(n *net) {
		n.op("ConvTranspose", autodiff.Attrs{"kernel_shape": ais(2, 2), "strides": ais(2, 2)}, n.h, n.param("w", []int{2, 3, 2, 2}, 0.3), n.param("b", []int{3}, 1))
	}},
	{name: "BatchNormalization", xshape: []int{3, 2, 2}, build: func(n *net) {
		n.op("BatchNormalization", autodiff.Attrs{"epsilon": af(1e-3)}, n.h, n.param("s", []int{3}, 1), n.param("b", []int{3}, 1),
			n.konst("mean", []int{3}, []float64{0.1, -0.2, 0.3}, false), n.konst("var", []int{3}, []float64{0.5, 1.5, 2}, false))
	}},
	{name: "BatchNormalizationOnlyB", xshape: []int{3, 2}, build: func(n *net) {
		n.op("BatchNormalization", nil, n.g.Inputs[0], n.konst("s", []int{3}, []float64{1, 2, 3}, false), n.param("b", []int{3}, 1),
			n.konst("mean", []int{3}, []float64{0.1, -0.2, 0.3}, false), n.konst("var", []int{3}, []float64{0.5, 1.5, 2}, false))
	}},
	{name: "LayerNormalization", opset: 17, xshape: []int{6}, build: func(n *net) {
		n.op("LayerNormalization", autodiff.Attrs{"epsilon": af(1e-4)}, n.h, n.param("s", []int{6}, 1), n.param("b", []int{6}, 1))
	}},
	{name: "LayerNormalizationAxis1", opset: 18, xshape: []int{2, 3}, build: func(n *net) {
		n.op("LayerNormalization", autodiff.Attrs{"axis": ai(1)}, n.h, n.param("s", []int{2, 3}, 1))
	}},
	{name: "InstanceNormalization", xshape: []int{2, 3, 2}, build: func(n *net) {
		n.op("InstanceNormalization", nil, n.h, n.param("s", []int{2}, 1), n.param("b", []int{2}, 1))
	}},
	{name: "Softmax", xshape: []int{3, 4}, build: func(n *net) { n.op("Softmax", autodiff.Attrs{"axis": ai(1)}, n.h) }},
	{name: "SoftmaxOpset11", opset: 11, xshape: []int{3, 4}, build: func(n *net) { n.op("Softmax", autodiff.Attrs{"axis": ai(1)}, n.h) }},
	{name: "LogSoftmax", xshape: []int{5}, build: func(n *net) { n.op("LogSoftmax", nil, n.h) }},
	{name: "LogSoftmaxOpset11", opset: 11, xshape: []int{2, 3}, build: func(n *net) { n.op("LogSoftmax", autodiff.Attrs{"axis": ai(1)}, n.h) }},
	{name: "MaxPool", xshape: []int{2, 4, 4}, input: ties, build: func(n *net) {
		n.op("MaxPool", autodiff.Attrs{"kernel_shape": ais(2, 2), "strides": ais(2, 2)}, n.h)
	}},
	{name: "MaxPoolPadsOverlap", xshape: []int{1, 5, 4}, input: ties, build: func(n *net) {
		n.op("MaxPool", autodiff.Attrs{"kernel_shape": ais(3, 2), "pads": ais(1, 1, 1, 0)}, n.h)
	}},
	{name: "MaxPoolCeilDilated", xshape: []int{2, 6, 5}, input: ties, build: func(n *net) {
		n.op("MaxPool", autodiff.Attrs{"kernel_shape": ais(2, 2), "strides": ais(2, 2), "dilations": ais(1, 2), "ceil_mode": ai(1)}, n.h)
	}},
	{name: "MaxPoolSame1D", xshape: []int{2, 7}, input: ties, build: func(n *net) {
		n.op("MaxPool", autodiff.Attrs{"kernel_shape": ais(3), "strides": ais(2), "auto_pad": as("SAME_UPPER")}, n.h)
	}},
	{name: "GlobalMaxPool", xshape: []int{3, 2, 3}, input: ties, build: func(n *net) { n.op("GlobalMaxPool", nil, n.h) }},
	{name: "AveragePool", xshape: []int{2, 4, 4}, build: func(n *net) {
		n.op("AveragePool", autodiff.Attrs{"kernel_shape": ais(3, 3), "pads": ais(1, 1, 1, 1), "strides": ais(2, 2)}, n.h)
	}},
	{name: "GlobalAveragePool", xshape: []int{2, 3, 3}, build: func(n *net) { n.op("GlobalAveragePool", nil, n.h) }},
	{name: "ReduceSum", xshape: []int{2, 3}, build: func(n *net) {
		n.op("ReduceSum", autodiff.Attrs{"keepdims": ai(0)}, n.h, n.ints("axes", 2))
	}},
	{name: "ReduceSumOpset11", opset: 11, xshape: []int{2, 3}, build: func(n *net) {
		n.op("ReduceSum", autodiff.Attrs{"axes": ais(1)}, n.h)
	}},
	{name: "ReduceMean", xshape: []int{2, 3}, build: func(n *net) {
		n.op("ReduceMean", autodiff.Attrs{"axes": ais(-1)}, n.h)
	}},
	{name: "ReduceMean18", opset: 18, xshape: []int{2, 3}, build: func(n *net) {
		n.op("ReduceMean", nil, n.h, n.ints("axes", 1))
	}},
	{name: "Flatten", xshape: []int{2, 3}, build: func(n *net) { n.op("Flatten", nil, n.h) }},
	{name: "Reshape", xshape: []int{2, 3}, build: func(n *net) { n.op("Reshape", nil, n.h, n.ints("shape", 0, 3, 2)) }},
	{name: "Squeeze", xshape: []int{1, 3}, build: func(n *net) { n.op("Squeeze", nil, n.h, n.ints("axes", 1)) }},
	{name: "SqueezeOpset11", opset: 11, xshape: []int{1, 3}, build: func(n *net) { n.op("Squeeze", autodiff.Attrs{"axes": ais(1)}, n.h) }},
	{name: "Unsqueeze", xshape: []int{3}, build: func(n *net) { n.op("Unsqueeze", nil, n.h, n.ints("axes", 1)) }},
	{name: "UnsqueezeOpset11", opset: 11, xshape: []int{3}, build: func(n *net) { n.op("Unsqueeze", autodiff.Attrs{"axes": ais(2)}, n.h) }},
	{name: "Transpose", xshape: []int{2, 3}, build: func(n *net) { n.op("Transpose", autodiff.Attrs{"perm": ais(0, 2, 1)}, n.h) }},
	{name: "Split", xshape: []int{5}, build: func(n *net) {
		a := n.add(autodiff.Value{Name: "a"})
		c := n.add(autodiff.Value{Name: "c"})
		n.node("Split", autodiff.Attrs{"axis": ai(1)}, []int{n.h, n.ints("split", 2, 3)}, a, c)
		n.g.Outputs = []int{c}
	}},
	{name: "SplitOpset11", opset: 11, xshape: []int{5}, build: func(n *net) {
		a := n.add(autodiff.Value{Name: "a"})
		c := n.add(autodiff.Value{Name: "c"})
		n.node("Split", autodiff.Attrs{"axis": ai(1), "split": ais(2, 3)}, []int{n.h}, a, c)
		n.g.Outputs = []int{c}
	}},
	{name: "Slice", xshape: []int{6}, build: func(n *net) {
		n.op("Slice", nil, n.h, n.ints("starts", 1), n.ints("ends", 6), n.ints("axes", 1), n.ints("steps", 2))
	}},
	{name: "SliceOpset9", opset: 9, xshape: []int{6}, build: func(n *net) {
		n.op("Slice", autodiff.Attrs{"starts": ais(1), "ends": ais(4), "axes": ais(1)}, n.h)
	}},
	{name: "PadConstant", xshape: []int{2, 3}, build: func(n *net) {
		n.op("Pad", nil, n.h, n.ints("pads", 0, 1, 0, 0, 0, 2), n.scalar("v", 1.5))
	}},
	{name: "PadOpset10", opset: 10, xshape: []int{3}, build: func(n *net) {
		n.op("Pad", autodiff.Attrs{"pads": ais(0, 1, 0, 2), "value": af(2)}, n.h)
	}},
	{name: "Expand", xshape: []int{1, 3}, build: func(n *net) { n.op("Expand", nil, n.h, n.ints("shape", 1, 4, 3)) }},
	{name: "GatherTable", xshape: []int{3}, build: func(n *net) {
		// An embedding table gathered by constant indices, added to h.
		rows := n.op("Gather", nil, n.param("table", []int{4, 3}, 1), n.ints("idx", 2))
		n.op("Add", nil, n.h, rows)
	}},
	{name: "Gather", xshape: []int{4}, build: func(n *net) {
		n.op("Gather", autodiff.Attrs{"axis": ai(1)}, n.h, n.ints("idx", 3, 1))
	}},
	{name: "Concat", xshape: []int{2}, build: func(n *net) {
		x := n.g.Inputs[0]
		n.op("Concat", autodiff.Attrs{"axis": ai(1)}, x, n.h, n.op("Mul", nil, x, n.param("c", []int{2}, 1)))
	}},
	{name: "Cast", xshape: []int{3}, build: func(n *net) { n.op("Cast", autodiff.Attrs{"to": ai(1)}, n.h) }},
	{name: "Identity", xshape: []int{3}, build: func(n *net) { n.op("Identity", nil, n.h) }},
	{name: "Dropout", xshape: []int{3}, build: func(n *net) { n.op("Dropout", nil, n.h) }},
}

func unaryCase(op string, attrs autodiff.Attrs) func(n *net) {
	return func(n *net) { n.op(op, attrs, n.h) }
}

// ties draws small integers (with zeros), so that h = x + p0 with p0 = 0
// has ties and zeros: pooling windows with several maxima, Relu at 0.
func ties(rng *rand.Rand) float64     { return float64(rng.IntN(5) - 2) }
func positive(rng *rand.Rand) float64 { return 1 + rng.Float64() }
func wide(rng *rand.Rand) float64     { return 6 * (rng.Float64() - 0.5) }

// TestRules checks each rule on a one-op graph: the exported model, read
// back by onnximport and run by the float32 engine, against f(x) + J(x)·δ
// from the original graph's float64 engine (its forward and JVP).
func TestRules(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range ruleCases {
		t.Run(c.name, func(t *testing.T) {
			opset := c.opset
			if opset == 0 {
				opset = 13
			}
			n := newNet(opset, c.xshape, 1)
			if c.input != nil {
				// p0 = 0 keeps the ties of the integer inputs in h.
				clear(n.g.Values[n.g.Params[0]].Data)
			}
			c.build(n)
			for _, nd := range n.g.Nodes {
				covered[nd.OpType] = true
			}
			if err := onnximport.InferShapes(n.g); err != nil {
				t.Fatal(err)
			}
			x := autodiff.New[float64](append([]int{3}, c.xshape...)...)
			rng := rand.New(rand.NewPCG(2, 2))
			for i := range x.Data {
				if c.input != nil {
					x.Data[i] = float64(float32(c.input(rng)))
				} else {
					x.Data[i] = float64(float32(rng.NormFloat64()))
				}
			}
			checkExport(t, n.g, x, 4)
		})
	}
	for _, op := range Rules() {
		if !covered[op] {
			t.Errorf("rule %s has no test case", op)
		}
	}
	// Every registry op with a differentiable input needs a rule.
	for _, op := range autodiff.Ops() {
		if len(autodiff.Lookup(op).Diff) > 0 && rules[op] == nil {
			t.Errorf("op %s is differentiable in the registry but has no export rule", op)
		}
	}
}

// checkExport exports g with a random δ for all its parameters and
// compares the exported model's output on x with the reference, within
// tol·max(|f|, |J·δ|) elementwise. It returns the exported bytes.
func checkExport(t *testing.T, g *autodiff.Graph, x *autodiff.Tensor[float64], seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	var delta []float64
	var blocks []*autodiff.Tensor[float64]
	for _, id := range g.Params {
		v := g.Values[id]
		blk := autodiff.New[float64](autodiff.BlockShape(1, v.Shape)...)
		for i := range blk.Data {
			blk.Data[i] = float64(float32(0.5 * rng.NormFloat64()))
		}
		delta = append(delta, blk.Data...)
		blocks = append(blocks, blk)
	}
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	jv, err := e.JVP(tape, 1, blocks, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := tape.Outputs()[0]
	want := append([]float64(nil), f.Data...)
	scale := 0.0
	for i, v := range f.Data {
		scale = max(scale, math.Abs(v))
		if jv[0] != nil {
			want[i] += jv[0].Data[i]
			scale = max(scale, math.Abs(jv[0].Data[i]))
		}
	}
	data, err := meanModel(g, g.Params, delta)
	if err != nil {
		t.Fatal(err)
	}
	dump(t, data, x, want)
	got := runExported(t, data, autodiff.Convert[float32](x))
	if !autodiff.SameShape(got.Shape, f.Shape) {
		t.Fatalf("exported output shape %v, want %v", got.Shape, f.Shape)
	}
	const tol = 2e-6
	worst := 0.0
	for i, w := range want {
		worst = max(worst, math.Abs(float64(got.Data[i])-w)/max(scale, 1e-30))
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("exported mean differs from f + J·δ by %.3g of the scale %.3g (tolerance %g)\n got %v\nwant %v", worst, scale, tol, got.Data, want)
	}
	return data
}

// dump writes the exported model, its input and the reference output
// (<test name>.onnx and .json) to the folder named by $EXPORT_DUMP, for
// testdata/check_onnxruntime.py.
func dump(t *testing.T, data []byte, x *autodiff.Tensor[float64], want []float64) {
	dir := os.Getenv("EXPORT_DUMP")
	if dir == "" {
		return
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(t.Name())
	j, err := json.Marshal(map[string]any{"x": x.Data, "shape": x.Shape, "want": want})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".onnx"), data, 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".json"), j, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// runExported reads the exported model back and runs it forward.
func runExported(t *testing.T, data []byte, x *autodiff.Tensor[float32]) *autodiff.Tensor[float32] {
	t.Helper()
	g, err := onnximport.Decode(data, nil)
	if err != nil {
		t.Fatalf("reading the exported model back: %v", err)
	}
	if len(g.Outputs) != 1 || g.Values[g.Outputs[0]].Name != OutputName {
		t.Fatalf("exported outputs %v, want one named %q", g.Outputs, OutputName)
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatalf("running the exported model: %v", err)
	}
	return tape.Outputs()[0]
}
