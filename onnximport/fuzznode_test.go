package onnximport

import (
	"fmt"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// nodeCase says how FuzzNode builds a one-node model of an op: how many
// extra float initializers it takes after the data input, the int64
// tensor inputs after those, its integer-list and integer attributes.
type nodeCase struct {
	op          string
	floats      int
	int64Inputs int
	ints, int1  []string
	// fit, when set, gives the float initializers shapes that fit the
	// data input's dimensions x (batch excluded), perturbed by a byte, so
	// that the fuzzer reaches the kernels of ops whose checks random
	// shapes rarely pass; used for three draws in four.
	fit func(b *byteStream, x []int64) [][]int64
}

// channels is x's channel count (1 for a rank-0 x).
func channels(x []int64) int64 {
	if len(x) == 0 {
		return 1
	}
	return x[0]
}

// convWeight is [M, C/group, k…] for a convolution of x, with group 1.
func convWeight(b *byteStream, x []int64) [][]int64 {
	w := []int64{int64(1 + b.next()%3), channels(x)}
	for range max(len(x)-1, 0) {
		w = append(w, int64(1+b.next()%3))
	}
	return [][]int64{w, {w[0]}}
}

// perChannel is n vectors of x's channel count.
func perChannel(n int) func(b *byteStream, x []int64) [][]int64 {
	return func(b *byteStream, x []int64) [][]int64 {
		out := make([][]int64, n)
		for i := range out {
			out[i] = []int64{channels(x)}
		}
		return out
	}
}

var nodeCases = []nodeCase{
	{op: "Relu"}, {op: "Tanh"}, {op: "Sigmoid"}, {op: "Exp"}, {op: "Log"}, {op: "Erf"},
	{op: "Elu"}, {op: "Selu"}, {op: "Shape"}, {op: "GlobalAveragePool"}, {op: "GlobalMaxPool"},
	{op: "Abs"}, {op: "Gelu"}, {op: "HardSigmoid"}, {op: "Identity"}, {op: "LeakyRelu"}, {op: "Neg"},
	{op: "Softplus"}, {op: "Sqrt"}, {op: "Dropout"},
	{op: "Add", floats: 1}, {op: "Sub", floats: 1}, {op: "Pow", floats: 1},
	{op: "Flatten", int1: []string{"axis"}},
	{op: "Transpose", ints: []string{"perm"}},
	{op: "Squeeze", int64Inputs: 1, ints: []string{"axes"}},
	{op: "Unsqueeze", int64Inputs: 1, ints: []string{"axes"}},
	{op: "Gather", int64Inputs: 1, int1: []string{"axis"}},
	{op: "Pad", int64Inputs: 1},
	{op: "Slice", int64Inputs: 4},
	{op: "Split", int64Inputs: 1, int1: []string{"axis"}},
	{op: "Softmax", int1: []string{"axis"}}, {op: "LogSoftmax", int1: []string{"axis"}},
	{op: "Cast", int1: []string{"to"}},
	{op: "Mul", floats: 1}, {op: "Div", floats: 1}, {op: "MatMul", floats: 1},
	{op: "Gemm", floats: 2, int1: []string{"transA", "transB"}, fit: func(b *byteStream, x []int64) [][]int64 {
		out := int64(1 + b.next()%4)
		return [][]int64{{channels(x), out}, {out}}
	}},
	{op: "Conv", floats: 2, ints: []string{"kernel_shape", "strides", "pads", "dilations"}, int1: []string{"group"}, fit: convWeight},
	{op: "ConvTranspose", floats: 2, ints: []string{"kernel_shape", "strides", "pads", "dilations", "output_padding"}, int1: []string{"group"}, fit: func(b *byteStream, x []int64) [][]int64 {
		w := convWeight(b, x)
		w[0][0], w[0][1] = w[0][1], w[0][0] // [C, M/group, k…]
		w[1][0] = w[0][1]
		return w
	}},
	{op: "MaxPool", ints: []string{"kernel_shape", "strides", "pads", "dilations"}, int1: []string{"ceil_mode", "storage_order"}},
	{op: "AveragePool", ints: []string{"kernel_shape", "strides", "pads"}, int1: []string{"ceil_mode", "count_include_pad"}},
	{op: "BatchNormalization", floats: 4, fit: perChannel(4)},
	{op: "InstanceNormalization", floats: 2, fit: perChannel(2)},
	{op: "LayerNormalization", floats: 2, int1: []string{"axis"}, fit: func(b *byteStream, x []int64) [][]int64 {
		if len(x) == 0 {
			return [][]int64{{1}, {1}}
		}
		last := []int64{x[len(x)-1]}
		return [][]int64{last, last}
	}},
	{op: "Reshape", int64Inputs: 1, int1: []string{"allowzero"}},
	{op: "Expand", int64Inputs: 1},
	{op: "Concat", floats: 1, int1: []string{"axis"}, fit: func(b *byteStream, x []int64) [][]int64 {
		return [][]int64{append([]int64{2}, x...)}
	}},
	{op: "ReduceMean", ints: []string{"axes"}, int1: []string{"keepdims"}},
	{op: "ReduceSum", int64Inputs: 1, int1: []string{"keepdims", "noop_with_empty_axes"}},
	{op: "Clip", floats: 2, fit: func(b *byteStream, x []int64) [][]int64 { return [][]int64{{}, {}} }},
}

// byteStream hands out the fuzzer's bytes; past the end it gives zeros.
type byteStream []byte

func (b *byteStream) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

// shape draws a rank below maxRank+1 and dimensions 1…4 (0 with
// allowZero and a byte of 255).
func (b *byteStream) shape(maxRank int) []int64 {
	dims := make([]int64, b.next()%(maxRank+1))
	for i := range dims {
		dims[i] = int64(1 + b.next()%4)
	}
	return dims
}

// ints draws up to 4 small integers, negative ones included.
func (b *byteStream) ints() []int64 {
	v := make([]int64, b.next()%5)
	for i := range v {
		v[i] = int64(int8(b.next())) % 6
	}
	return v
}

// FuzzNode builds one-node models of every supported op with shapes,
// attributes and initializers drawn from the fuzzer's bytes (negative and
// out-of-range values included) and checks that importing and running
// them (see sweep) returns an error or a result, never a panic. Byte
// mutations of whole protobufs (FuzzRun) rarely reach such attribute
// values.
func FuzzNode(f *testing.F) {
	for i := range nodeCases {
		f.Add(uint8(i), []byte{1, 3, 2, 3, 3, 3, 2, 2, 1, 1, 3, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0})
	}
	opts := &Options{MaxElements: 1 << 12, MaxBytes: 1 << 16}
	f.Fuzz(func(t *testing.T, op uint8, data []byte) {
		g, err := Decode(buildNode(op, data), opts)
		if err != nil {
			return
		}
		within(t, "the sweeps", func() { sweep(t, g) })
	})
}

// buildNode encodes the one-node model of nodeCases[op mod their count]
// drawn from data.
func buildNode(op uint8, data []byte) []byte {
	c := nodeCases[int(op)%len(nodeCases)]
	b := byteStream(data)
	opset := []int64{11, 13, 17, 18, 20}[b.next()%5]
	x := b.shape(3)
	xdims := []any{"N"}
	for _, d := range x {
		xdims = append(xdims, int(d))
	}
	in := []string{"x"}
	var inits [][]byte
	var fitted [][]int64
	if c.fit != nil && b.next()%4 != 0 {
		fitted = c.fit(&b, x)
	}
	for i := range c.floats {
		name := fmt.Sprintf("w%d", i)
		var dims []int64
		if fitted != nil {
			dims = fitted[i]
		} else {
			dims = b.shape(4)
		}
		size := 1
		for _, d := range dims {
			size *= int(d)
		}
		vals := make([]float64, size)
		for j := range vals {
			vals[j] = float64(int8(b.next())) / 16
		}
		inits = append(inits, encTensor(name, Float, dims, vals))
		in = append(in, name)
	}
	for i := range c.int64Inputs {
		name := fmt.Sprintf("s%d", i)
		v := b.ints()
		vals := make([]float64, len(v))
		for j, e := range v {
			vals[j] = float64(e)
		}
		inits = append(inits, encTensor(name, Int64, []int64{int64(len(v))}, vals))
		in = append(in, name)
	}
	var attrs [][]byte
	for _, a := range c.ints {
		if b.next()%2 == 1 {
			attrs = append(attrs, encAttrInts(a, b.ints()...))
		}
	}
	for _, a := range c.int1 {
		if b.next()%2 == 1 {
			attrs = append(attrs, encAttrInt(a, int64(int8(b.next()))%8))
		}
	}
	return encModel(opset, graphParts{
		nodes:   [][]byte{encNode("n", c.op, in, []string{"y"}, attrs...)},
		inits:   inits,
		inputs:  [][]byte{encValue("x", Float, xdims...)},
		outputs: [][]byte{encValue("y", Float)},
	}.enc())
}

// Every registered op but Constant (which has no input to fuzz) has a case.
func TestNodeCasesCoverOps(t *testing.T) {
	have := map[string]bool{}
	for _, c := range nodeCases {
		have[c.op] = true
	}
	for _, op := range autodiff.Ops() {
		if op != "Constant" && !have[op] {
			t.Errorf("FuzzNode has no case for %s", op)
		}
	}
}
