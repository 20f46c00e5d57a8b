package onnximport

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

func encAttrInts(name string, v ...int64) []byte {
	var b []byte
	b = fString(b, fAttrName, name)
	for _, x := range v {
		b = fVarint(b, fAttrInts, uint64(x))
	}
	return fVarint(b, fAttrType, attrInts)
}

// Models whose intermediate tensors (while folding constants or inferring
// shapes) claim far more elements than the limits are rejected before
// anything is allocated, naming the node.
func TestComputedTensorLimits(t *testing.T) {
	in := [][]byte{encValue("x", Float, "N", 2)}
	out := [][]byte{encValue("y", Float, "N", 2)}
	one := encTensor("c", Float, []int64{1}, []float64{1})
	// A chain of folded Expands, each under MaxElements, together over MaxBytes.
	var chain graphParts
	chain.inits = [][]byte{one, encTensor("s", Int64, []int64{1}, []float64{1 << 15})}
	prev := "c"
	for i := range 20 {
		e := fmt.Sprintf("e%d", i)
		chain.nodes = append(chain.nodes, encNode(fmt.Sprintf("expand%d", i), "Expand", []string{prev, "s"}, []string{e}))
		prev = e
	}
	chain.nodes = append(chain.nodes, encNode("sum", "ReduceSum", []string{prev}, []string{"r"}, encAttrInt("keepdims", 0)),
		encNode("add", "Add", []string{"x", "r"}, []string{"y"}))
	chain.inputs, chain.outputs = in, out

	cases := []struct {
		name  string
		model graphParts
		opts  *Options
		want  []string
	}{
		{"expand folded", graphParts{
			nodes: [][]byte{
				encNode("big", "Expand", []string{"c", "shape"}, []string{"e"}),
				encNode("add", "Add", []string{"x", "e"}, []string{"y"}),
			},
			inits: [][]byte{one, encTensor("shape", Int64, []int64{2}, []float64{1 << 30, 1 << 30})},
		}, nil, []string{`"big"`, "Expand", "[1073741824 1073741824]", "exceed the limit of 268435456 elements"}},
		{"expand of the input", graphParts{
			nodes: [][]byte{encNode("big", "Expand", []string{"x", "shape"}, []string{"y"})},
			inits: [][]byte{encTensor("shape", Int64, []int64{3}, []float64{1 << 40, 1 << 40, 2})},
		}, nil, []string{`"big"`, "shape inference", "exceed the limit"}},
		{"pad", graphParts{
			nodes: [][]byte{encNode("wide", "Pad", []string{"x", "pads"}, []string{"y"})},
			inits: [][]byte{encTensor("pads", Int64, []int64{4}, []float64{0, 1 << 40, 0, 1 << 40})},
		}, nil, []string{`"wide"`, "Pad", "exceed the limit"}},
		{"matmul outer product", graphParts{
			nodes: [][]byte{
				encNode("outer", "MatMul", []string{"a", "b"}, []string{"m"}),
				encNode("sum", "ReduceSum", []string{"m"}, []string{"r"}, encAttrInt("keepdims", 0)),
				encNode("add", "Add", []string{"x", "r"}, []string{"y"}),
			},
			inits: [][]byte{
				encTensor("a", Float, []int64{4096, 1}, make([]float64, 4096)),
				encTensor("b", Float, []int64{1, 4096}, make([]float64, 4096)),
			},
		}, &Options{MaxElements: 1 << 20}, []string{`"outer"`, "MatMul", "[4096 4096]", "exceed the limit of 1048576 elements"}},
		{"conv transpose strides", graphParts{
			nodes: [][]byte{
				encNode("r", "Reshape", []string{"x", "s4"}, []string{"x4"}),
				encNode("up", "ConvTranspose", []string{"x4", "w"}, []string{"u"}, encAttrInts("strides", 1<<30, 1<<30)),
				encNode("flat", "Flatten", []string{"u"}, []string{"y"}),
			},
			inits: [][]byte{
				encTensor("s4", Int64, []int64{4}, []float64{0, 1, 1, 2}),
				encTensor("w", Float, []int64{1, 1, 2, 2}, []float64{1, 1, 1, 1}),
			},
		}, nil, []string{`"up"`, "ConvTranspose", "exceed the limit"}},
		{"folded total", chain, &Options{MaxElements: 1 << 16, MaxBytes: 1 << 20}, []string{"Expand", "exceed the limit of 1048576 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.model.inputs == nil {
				c.model.inputs, c.model.outputs = in, out
			}
			data := encModel(13, c.model.enc())
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(data, c.opts)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
				t.Errorf("Decode allocated %d MiB before rejecting the model", mb)
			}
		})
	}
}

// Within the limits the same shapes still import and run.
func TestComputedTensorWithinLimits(t *testing.T) {
	m := encModel(13, graphParts{
		nodes:   [][]byte{encNode("wide", "Pad", []string{"x", "pads"}, []string{"y"})},
		inits:   [][]byte{encTensor("pads", Int64, []int64{4}, []float64{0, 1, 0, 2})},
		inputs:  [][]byte{encValue("x", Float, "N", 2)},
		outputs: [][]byte{encValue("y", Float, "N", 5)},
	}.enc())
	g := mustDecode(t, m, nil)
	for _, n := range g.Nodes {
		if n.MaxElements != 0 {
			t.Errorf("%s keeps the import limit %d", n.Describe(), n.MaxElements)
		}
	}
	y := forward64(t, g, autodiff.FromData([]float64{1, 2}, 1, 2))[0]
	if fmt.Sprint(y.Data) != "[0 1 2 0 0]" {
		t.Errorf("padded %v", y.Data)
	}
}
