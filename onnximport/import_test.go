package onnximport

import (
	"errors"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

func mustDecode(t *testing.T, data []byte, opts *Options) *autodiff.Graph {
	t.Helper()
	g, err := Decode(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func forward64(t *testing.T, g *autodiff.Graph, xs ...*autodiff.Tensor[float64]) []*autodiff.Tensor[float64] {
	t.Helper()
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	tape, err := e.Forward(xs...)
	if err != nil {
		t.Fatal(err)
	}
	return tape.Outputs()
}

// Mul(x, x) must keep both inputs: onnx-go sends two edges between the same
// pair of nodes, which a gonum simple graph would collapse into one.
func TestMulSameInput(t *testing.T) {
	m := encModel(13, graphParts{
		nodes:   [][]byte{encNode("sq", "Mul", []string{"x", "x"}, []string{"y"})},
		inputs:  [][]byte{encValue("x", Float, "N", 3)},
		outputs: [][]byte{encValue("y", Float, "N", 3)},
	}.enc())
	g := mustDecode(t, m, nil)
	n := g.Nodes[0]
	x := g.ValueID("x")
	if len(n.In) != 2 || n.In[0] != x || n.In[1] != x {
		t.Fatalf("Mul inputs %v, want [%d %d]", n.In, x, x)
	}
	if s := autodiff.ShapeString(g.Values[g.Outputs[0]].Shape); s != "[N,3]" {
		t.Errorf("output shape %s, want [N,3]", s)
	}
	y := forward64(t, g, autodiff.FromData([]float64{1, -2, 3, 4, 5, -6}, 2, 3))[0]
	for i, want := range []float64{1, 4, 9, 16, 25, 36} {
		if y.Data[i] != want {
			t.Fatalf("y = %v", y.Data)
		}
	}
}

// An omitted optional input ("") becomes -1; a later one keeps its slot.
func TestOmittedOptionalInput(t *testing.T) {
	m := encModel(13, graphParts{
		nodes:   [][]byte{encNode("clip", "Clip", []string{"x", "", "hi"}, []string{"y"})},
		inits:   [][]byte{encTensor("hi", Float, nil, []float64{0.5})},
		inputs:  [][]byte{encValue("x", Float, "N", 2)},
		outputs: [][]byte{encValue("y", Float, "N", 2)},
	}.enc())
	g := mustDecode(t, m, nil)
	n := g.Nodes[0]
	if len(n.In) != 3 || n.In[1] != -1 || g.Values[n.In[2]].Name != "hi" {
		t.Fatalf("Clip inputs %v", n.In)
	}
	if g.Values[n.In[2]].Kind != autodiff.Const {
		t.Errorf("Clip max is %s, want const", g.Values[n.In[2]].Kind)
	}
	y := forward64(t, g, autodiff.FromData([]float64{-3, 3}, 1, 2))[0]
	if y.Data[0] != -3 || y.Data[1] != 0.5 {
		t.Errorf("y = %v, want [-3 0.5]", y.Data)
	}
}

// Nodes out of order are sorted; initializers listed as inputs (old IR) are
// not inputs; Gemm's weights are parameters, a scalar Mul constant is not;
// Constant nodes and nodes of constants fold; unused values are dropped.
func TestGraphPasses(t *testing.T) {
	m := encModel(13, graphParts{
		nodes: [][]byte{
			encNode("relu", "Relu", []string{"h2"}, []string{"y"}),
			encNode("scale", "Mul", []string{"h", "s2"}, []string{"h2"}),
			encNode("gemm", "Gemm", []string{"x", "W", "b"}, []string{"h"}, encAttrInt("transB", 1)),
			encNode("two", "Constant", nil, []string{"two"}, encAttrTensor("value", encTensor("", Float, nil, []float64{2}))),
			encNode("s2", "Mul", []string{"s", "two"}, []string{"s2"}),
		},
		inits: [][]byte{
			encTensor("W", Float, []int64{2, 3}, []float64{1, 0, 0, 0, 1, 0}),
			encTensor("b", Float, []int64{2}, []float64{0.5, -0.5}),
			encTensor("s", Float, nil, []float64{1.5}),
		},
		inputs:  [][]byte{encValue("x", Float, "batch", 3), encValue("W", Float, 2, 3), encValue("b", Float, 2)},
		outputs: [][]byte{encValue("y", Float, "batch", 2)},
	}.enc())
	g := mustDecode(t, m, nil)
	if len(g.Inputs) != 1 || g.Values[g.Inputs[0]].Name != "x" {
		t.Fatalf("inputs %v, want [x]", g.Inputs)
	}
	var order []string
	for _, n := range g.Nodes {
		order = append(order, n.Name)
	}
	if got := strings.Join(order, ","); got != "gemm,scale,relu" {
		t.Errorf("nodes %s, want gemm,scale,relu (s2 folded)", got)
	}
	var params []string
	for _, id := range g.Params {
		params = append(params, g.Values[id].Name)
	}
	if got := strings.Join(params, ","); got != "W,b" {
		t.Errorf("params %s, want W,b", got)
	}
	s2 := g.ValueID("s2")
	if s2 < 0 || g.Values[s2].Kind != autodiff.Const || g.Values[s2].Data[0] != 3 {
		t.Errorf("s2 not folded to the constant 3: %+v", g.Values[s2])
	}
	if g.ValueID("two") >= 0 || g.ValueID("s") >= 0 {
		t.Errorf("inputs of folded nodes kept")
	}
	for _, v := range g.Values {
		if v.Shape == nil {
			t.Errorf("value %q has no shape", v.Name)
		}
	}
	y := forward64(t, g, autodiff.FromData([]float64{1, 2, 3, -1, -1, 0}, 2, 3))[0]
	want := []float64{4.5, 4.5, 0, 0}
	for i := range want {
		if y.Data[i] != want[i] {
			t.Fatalf("y = %v, want %v", y.Data, want)
		}
	}
}

// A model with unsupported ops fails with one error naming each of them.
func TestUnsupportedOps(t *testing.T) {
	m := encModel(17, graphParts{
		nodes: [][]byte{
			encNode("a", "FancyOp", []string{"x"}, []string{"h"}),
			encNode("b", "Relu", []string{"h"}, []string{"h2"}),
			encNode("c", "OtherOp", []string{"h2"}, []string{"y"}),
		},
		inputs:  [][]byte{encValue("x", Float, "N", 2)},
		outputs: [][]byte{encValue("y", Float, "N", 2)},
	}.enc())
	_, err := Decode(m, nil)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v, want *UnsupportedError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"a": FancyOp (domain ai.onnx, opset 17)`, `"c": OtherOp`, "supported ops: ", "Relu"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if len(ue.Nodes) != 2 {
		t.Errorf("%d unsupported nodes reported, want 2", len(ue.Nodes))
	}
}

func TestDecodeErrors(t *testing.T) {
	relu := func(inits ...[]byte) []byte {
		return encModel(13, graphParts{
			nodes:   [][]byte{encNode("r", "Add", []string{"x", "w"}, []string{"y"})},
			inits:   inits,
			inputs:  [][]byte{encValue("x", Float, "N", 2)},
			outputs: [][]byte{encValue("y", Float, "N", 2)},
		}.enc())
	}
	cases := []struct {
		name string
		data []byte
		opts *Options
		want string
	}{
		{"float16", relu(encTensor("w", Float16, []int64{2}, []float64{1, 1})), nil, `initializer "w": data type FLOAT16 is not supported`},
		{"limit", relu(encTensor("w", Float, []int64{2}, []float64{1, 1})), &Options{MaxElements: 1}, `initializer "w" of shape [2] exceeds the limit of 1 elements`},
		{"bytes", relu(encTensor("w", Float, []int64{2}, []float64{1, 1})), &Options{MaxBytes: 8}, "exceeds the limit of 8 bytes"},
		{"short", relu(encTensor("w", Float, []int64{3}, []float64{1, 1})), nil, `raw_data holds 2 elements, want 3`},
		{"missing", relu(), nil, `input "w" is not produced`},
		{"garbage", []byte{0x0a, 0xff, 0xff}, nil, "malformed model"},
		{"empty", nil, nil, "no ai.onnx opset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// The pinned batch of a Reshape is unpinned only where the data input's
// leading dimension is the batch.
func TestUnpinBatch(t *testing.T) {
	m := encModel(13, graphParts{
		nodes: [][]byte{
			encNode("flat", "Reshape", []string{"x", "shape"}, []string{"y"}),
		},
		inits:   [][]byte{encTensor("shape", Int64, []int64{2}, []float64{1, 6})},
		inputs:  [][]byte{encValue("x", Float, 1, 2, 3)},
		outputs: [][]byte{encValue("y", Float, 1, 6)},
	}.enc())
	g := mustDecode(t, m, nil)
	if s := autodiff.ShapeString(g.Values[g.Outputs[0]].Shape); s != "[N,6]" {
		t.Errorf("output shape %s, want [N,6]", s)
	}
	y := forward64(t, g, autodiff.New[float64](4, 2, 3))[0]
	if !autodiff.SameShape(y.Shape, []int{4, 6}) {
		t.Errorf("batch of 4 gives %v", y.Shape)
	}
	// Not batched: left alone.
	g = mustDecode(t, m, &Options{NotBatched: true})
	if s := autodiff.ShapeString(g.Values[g.Outputs[0]].Shape); s != "[1,6]" {
		t.Errorf("not batched: output shape %s, want [1,6]", s)
	}
}
