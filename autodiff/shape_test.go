package autodiff

import (
	"math"
	"strings"
	"testing"
)

// shapeInts is a constant (non-differentiated) integer input.
func shapeInts(v ...float64) in { return in{Const: v} }

// shapeI64Max and shapeI64Min are ONNX's INT64_MAX and INT64_MIN, "to the end".
const (
	shapeI64Max = 9.223372036854775807e18
	shapeI64Min = -9.223372036854775808e18
)

func init() {
	x2345 := in{Shape: []int{2, 3, 4, 5}}
	var flat []ruleCase
	flat = append(flat, ruleCase{Name: "default_axis", Inputs: []in{x2345}})
	for _, ax := range []int64{0, 1, 2, 3, 4, -1, -2, -3, -4} {
		flat = append(flat, ruleCase{Name: "axis", Attrs: Attrs{"axis": aInt(ax)}, Inputs: []in{x2345}})
	}
	flat = append(flat, ruleCase{Name: "opset9", Opset: 9, Attrs: Attrs{"axis": aInt(2)}, Inputs: []in{x2345}})
	addCases("Flatten", flat...)

	x234 := in{Shape: []int{2, 3, 4}}
	var rs []ruleCase
	for _, s := range [][]float64{{4, 2, 3}, {2, 4, 3}, {2, 12}, {2, 3, 2, 2}, {24}, {2, -1, 2}, {-1, 2, 3, 4}, {2, 0, 4, 1}, {2, 0, 1, -1}, {0, 0, 4}} {
		rs = append(rs, ruleCase{Name: "shape", Inputs: []in{x234, shapeInts(s...)}})
	}
	rs = append(rs,
		ruleCase{Name: "allowzero_reordered", Opset: 14, Attrs: Attrs{"allowzero": aInt(1)}, Inputs: []in{{Shape: []int{0, 3, 4}}, shapeInts(3, 4, 0)}},
		ruleCase{Name: "allowzero_no_zero", Opset: 14, Attrs: Attrs{"allowzero": aInt(1)}, Inputs: []in{x234, shapeInts(6, -1)}},
		ruleCase{Name: "opset7", Opset: 7, Inputs: []in{x234, shapeInts(3, 8)}},
	)
	addCases("Reshape", rs...)

	var tr []ruleCase
	tr = append(tr, ruleCase{Name: "default", Inputs: []in{x234}})
	for _, p := range [][]int64{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		tr = append(tr, ruleCase{Name: "perm", Attrs: Attrs{"perm": aInts(p...)}, Inputs: []in{x234}})
	}
	tr = append(tr, ruleCase{Name: "4d", Attrs: Attrs{"perm": aInts(0, 2, 3, 1)}, Inputs: []in{x2345}})
	addCases("Transpose", tr...)

	cat := func(name string, axis int64, shapes ...[]int) ruleCase {
		c := ruleCase{Name: name, Attrs: Attrs{"axis": aInt(axis)}}
		for _, s := range shapes {
			c.Inputs = append(c.Inputs, in{Shape: s})
		}
		return c
	}
	addCases("Concat",
		cat("1d_axis_0", 0, []int{2}, []int{2}),
		cat("1d_axis_-1", -1, []int{2}, []int{3}),
		cat("2d_axis_0", 0, []int{2, 2}, []int{1, 2}),
		cat("2d_axis_1", 1, []int{2, 2}, []int{2, 3}),
		cat("2d_axis_-1", -1, []int{2, 2}, []int{2, 2}),
		cat("2d_axis_-2", -2, []int{2, 2}, []int{3, 2}),
		cat("3d_axis_0", 0, []int{2, 2, 2}, []int{1, 2, 2}, []int{2, 2, 2}),
		cat("3d_axis_1", 1, []int{2, 2, 2}, []int{2, 3, 2}),
		cat("3d_axis_2", 2, []int{2, 2, 2}, []int{2, 2, 1}, []int{2, 2, 3}),
		cat("3d_axis_-1", -1, []int{2, 2, 2}, []int{2, 2, 2}),
		cat("3d_axis_-2", -2, []int{2, 1, 2}, []int{2, 2, 2}),
		cat("3d_axis_-3", -3, []int{2, 2, 2}, []int{2, 2, 2}),
		cat("empty_part", 1, []int{2, 0, 3}, []int{2, 2, 3}),
		cat("single", 0, []int{3, 2}),
	)

	x6 := in{Shape: []int{6}}
	x26 := in{Shape: []int{2, 6}}
	addCases("Split",
		ruleCase{Name: "equal_parts_1d_opset13", Opset: 13, Attrs: Attrs{"axis": aInt(0)}, Inputs: []in{x6}, NumOut: 3},
		ruleCase{Name: "equal_parts_1d_opset18", Opset: 18, Attrs: Attrs{"axis": aInt(0), "num_outputs": aInt(3)}, Inputs: []in{x6}, NumOut: 3},
		ruleCase{Name: "equal_parts_2d", Opset: 11, Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{x26}, NumOut: 2},
		ruleCase{Name: "equal_parts_2d_opset13", Opset: 13, Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{x26}, NumOut: 2},
		ruleCase{Name: "equal_parts_default_axis", Opset: 13, Inputs: []in{x6}, NumOut: 3},
		ruleCase{Name: "variable_parts_1d_opset13", Opset: 13, Attrs: Attrs{"axis": aInt(0)}, Inputs: []in{x6, shapeInts(2, 4)}, NumOut: 2},
		ruleCase{Name: "variable_parts_2d_opset18", Opset: 18, Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{x26, shapeInts(2, 4)}, NumOut: 2},
		ruleCase{Name: "variable_parts_default_axis", Opset: 13, Inputs: []in{x6, shapeInts(2, 4)}, NumOut: 2},
		ruleCase{Name: "split_attr_opset11", Opset: 11, Attrs: Attrs{"axis": aInt(-1), "split": aInts(1, 3, 2)}, Inputs: []in{x26}, NumOut: 3},
		ruleCase{Name: "omitted_split_input", Opset: 13, Attrs: Attrs{"axis": aInt(0)}, Inputs: []in{{Shape: []int{4, 3}}, {Omit: true}}, NumOut: 2},
		ruleCase{Name: "1d_uneven_opset18", Opset: 18, Attrs: Attrs{"num_outputs": aInt(4)}, Inputs: []in{{Shape: []int{7}}}, NumOut: 4},
		ruleCase{Name: "2d_uneven_opset18", Opset: 18, Attrs: Attrs{"axis": aInt(1), "num_outputs": aInt(3)}, Inputs: []in{{Shape: []int{2, 8}}}, NumOut: 3},
		ruleCase{Name: "zero_size_splits", Opset: 13, Inputs: []in{{Shape: []int{0}}, shapeInts(0, 0, 0)}, NumOut: 3},
		ruleCase{Name: "zero_part", Opset: 13, Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{x26, shapeInts(2, 0, 4)}, NumOut: 3},
	)

	x20 := in{Shape: []int{20, 10, 5}}
	x654 := in{Shape: []int{6, 5, 4}}
	addCases("Slice",
		ruleCase{Name: "slice", Inputs: []in{x20, shapeInts(0, 0), shapeInts(3, 10), shapeInts(0, 1), shapeInts(1, 1)}},
		ruleCase{Name: "default_axes", Inputs: []in{x654, shapeInts(0, 0, 3), shapeInts(5, 4, 4)}},
		ruleCase{Name: "default_steps", Inputs: []in{x654, shapeInts(0, 0, 3), shapeInts(5, 4, 4), shapeInts(0, 1, 2)}},
		ruleCase{Name: "end_out_of_bounds", Inputs: []in{x654, shapeInts(1), shapeInts(1000), shapeInts(1), shapeInts(1)}},
		ruleCase{Name: "start_out_of_bounds", Inputs: []in{x654, shapeInts(1000), shapeInts(1000), shapeInts(1), shapeInts(1)}},
		ruleCase{Name: "neg", Inputs: []in{x654, shapeInts(0), shapeInts(-1), shapeInts(1), shapeInts(1)}},
		ruleCase{Name: "neg_steps", Inputs: []in{x20, shapeInts(20, 10, 4), shapeInts(0, 0, 1), shapeInts(0, 1, 2), shapeInts(-1, -3, -2)}},
		ruleCase{Name: "neg_steps_small", Inputs: []in{x654, shapeInts(-1, 4), shapeInts(shapeI64Min, 0), shapeInts(0, -1), shapeInts(-2, -3)}},
		ruleCase{Name: "negative_axes", Inputs: []in{x654, shapeInts(0, 0, 3), shapeInts(5, 4, 4), shapeInts(0, -2, -1)}},
		ruleCase{Name: "int64_max_end_step2", Inputs: []in{x654, shapeInts(1, -3), shapeInts(shapeI64Max, shapeI64Max), shapeInts(0, 2), shapeInts(2, 1)}},
		ruleCase{Name: "omitted_axes", Inputs: []in{x654, shapeInts(1), shapeInts(3), {Omit: true}, shapeInts(1)}},
		ruleCase{Name: "opset9_attrs", Opset: 9, Attrs: Attrs{"starts": aInts(1, 0), "ends": aInts(1000, -1), "axes": aInts(0, 2)}, Inputs: []in{x654}},
		ruleCase{Name: "opset9_default_axes", Opset: 9, Attrs: Attrs{"starts": aInts(1), "ends": aInts(3)}, Inputs: []in{x654}},
	)

	addCases("Squeeze",
		ruleCase{Name: "squeeze", Inputs: []in{{Shape: []int{1, 3, 4, 5}}, shapeInts(0)}},
		ruleCase{Name: "negative_axes", Inputs: []in{{Shape: []int{1, 3, 1, 5}}, shapeInts(-2)}},
		ruleCase{Name: "all_unit_axes", Inputs: []in{{Shape: []int{1, 3, 1, 5}}}},
		ruleCase{Name: "opset11_attr", Opset: 11, Attrs: Attrs{"axes": aInts(0, 2)}, Inputs: []in{{Shape: []int{1, 3, 1, 5}}}},
		ruleCase{Name: "to_scalar", Inputs: []in{{Shape: []int{1, 1}}, {Omit: true}}},
	)

	x345 := in{Shape: []int{3, 4, 5}}
	var us []ruleCase
	for _, ax := range [][]float64{{0}, {1}, {2}, {3}, {-2}, {1, 4}, {2, 4, 5}, {5, 4, 2}} {
		us = append(us, ruleCase{Name: "axes", Inputs: []in{x345, shapeInts(ax...)}})
	}
	us = append(us,
		ruleCase{Name: "opset11_attr", Opset: 11, Attrs: Attrs{"axes": aInts(0, -1)}, Inputs: []in{x345}},
		ruleCase{Name: "scalar", Inputs: []in{{Shape: []int{}}, shapeInts(0)}},
	)
	addCases("Unsqueeze", us...)

	addCases("Identity",
		ruleCase{Name: "2d", Inputs: []in{{Shape: []int{2, 3}}}},
		ruleCase{Name: "4d", Inputs: []in{x2345}},
	)

	addCases("Dropout",
		ruleCase{Name: "default", Opset: 12, Inputs: []in{x345}},
		ruleCase{Name: "default_mask", Opset: 12, Inputs: []in{x345}, NumOut: 2},
		ruleCase{Name: "default_ratio", Opset: 12, Inputs: []in{x345, {Const: []float64{0.1}, Shape: []int{}}}},
		ruleCase{Name: "default_mask_ratio", Opset: 13, Inputs: []in{x345, {Const: []float64{0.1}, Shape: []int{}}}, NumOut: 2},
		ruleCase{Name: "training_mode_false", Opset: 13, Inputs: []in{x345, {Omit: true}, {Const: []float64{0}, Shape: []int{}}}, NumOut: 2},
		ruleCase{Name: "training_ratio_zero", Opset: 13, Inputs: []in{x345, {Const: []float64{0}, Shape: []int{}}, {Const: []float64{1}, Shape: []int{}}}, NumOut: 2},
		ruleCase{Name: "default_old", Opset: 7, Inputs: []in{x345}},
		ruleCase{Name: "random_old", Opset: 7, Attrs: Attrs{"ratio": aFloat(0.2)}, Inputs: []in{x345}, NumOut: 2},
	)

	x1345 := in{Shape: []int{1, 3, 4, 5}}
	addCases("Pad",
		ruleCase{Name: "constant_pad", Opset: 11, Inputs: []in{x1345, shapeInts(0, 0, 1, 3, 0, 0, 2, 4), {Const: []float64{1.2}, Shape: []int{}}}},
		ruleCase{Name: "constant_pad_axes", Opset: 18, Inputs: []in{x1345, shapeInts(0, 3, 0, 4), {Const: []float64{1.2}, Shape: []int{}}, shapeInts(1, 3)}},
		ruleCase{Name: "constant_pad_negative_axes", Opset: 18, Inputs: []in{x1345, shapeInts(0, 3, 0, 4), {Const: []float64{1.2}, Shape: []int{}}, shapeInts(-3, -1)}},
		ruleCase{Name: "omitted_value", Opset: 13, Inputs: []in{{Shape: []int{2, 3}}, shapeInts(1, 0, 0, 2), {Omit: true}}},
		ruleCase{Name: "negative_pads_crop", Opset: 13, Inputs: []in{{Shape: []int{4, 5}}, shapeInts(-1, 2, 1, -3)}},
		ruleCase{Name: "crop_to_empty", Opset: 13, Inputs: []in{{Shape: []int{2, 3}}, shapeInts(0, -3, 0, 0)}},
		ruleCase{Name: "opset7_attrs", Opset: 7, Attrs: Attrs{"pads": aInts(1, 1, 0, 2), "value": aFloat(-0.5), "mode": aStr("constant")}, Inputs: []in{{Shape: []int{2, 3}}}},
	)

	addCases("Constant",
		ruleCase{Name: "value", Attrs: Attrs{"value": {Kind: AttrTensor, Tensor: &Value{Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4, 5, 6}}}}},
		ruleCase{Name: "value_float", Attrs: Attrs{"value_float": aFloat(1.5)}},
		ruleCase{Name: "value_floats", Attrs: Attrs{"value_floats": aFloats(1.5, -2)}},
		ruleCase{Name: "value_int", Attrs: Attrs{"value_int": aInt(7)}},
		ruleCase{Name: "value_ints", Attrs: Attrs{"value_ints": aInts(3, -1, 4)}},
	)

	var sh []ruleCase
	sh = append(sh, ruleCase{Name: "shape", Inputs: []in{x345}})
	for _, se := range [][2]int64{{1, math.MaxInt64}, {0, 1}, {0, -1}, {-1, math.MaxInt64}, {1, 2}, {1, -1}, {-10, math.MaxInt64}, {0, 10}, {3, 1}} {
		sh = append(sh, ruleCase{Name: "start_end", Opset: 15, Attrs: Attrs{"start": aInt(se[0]), "end": aInt(se[1])}, Inputs: []in{x345}})
	}
	addCases("Shape", sh...)

	addCases("Gather",
		ruleCase{Name: "gather_0", Inputs: []in{{Shape: []int{5, 4, 3, 2}}, shapeInts(0, 1, 3)}},
		ruleCase{Name: "gather_1", Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{{Shape: []int{5, 4, 3, 2}}, shapeInts(0, 1, 3)}},
		ruleCase{Name: "2d_indices", Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{{Shape: []int{3, 3}}, {Const: []float64{0, 2}, Shape: []int{1, 2}}}},
		ruleCase{Name: "negative_indices", Inputs: []in{{Shape: []int{10}}, shapeInts(0, -9, -10)}},
		ruleCase{Name: "axis_1_negative_repeated", Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{{Shape: []int{2, 4, 3}}, {Const: []float64{-1, 1, -1, 0}, Shape: []int{2, 2}}}},
		ruleCase{Name: "axis_-1", Attrs: Attrs{"axis": aInt(-1)}, Inputs: []in{{Shape: []int{2, 4, 3}}, shapeInts(2, 2, 0)}},
		ruleCase{Name: "scalar_index", Attrs: Attrs{"axis": aInt(1)}, Inputs: []in{{Shape: []int{2, 4, 3}}, {Const: []float64{-2}, Shape: []int{}}}},
		ruleCase{Name: "embedding", Inputs: []in{{Shape: []int{6, 4}}, {Const: []float64{5, 0, 0, 3, 1, 5}, Shape: []int{2, 3}}}},
	)

	x34 := in{Shape: []int{3, 4}, Gen: AwayZero}
	var cs []ruleCase
	for _, to := range []int64{onnxFloat, onnxDouble, onnxInt64, onnxInt32, onnxInt8, onnxBool, onnxInt4} {
		cs = append(cs, ruleCase{Name: "to", Attrs: Attrs{"to": aInt(to)}, Inputs: []in{x34}})
	}
	cs = append(cs, ruleCase{Name: "opset19_saturate", Opset: 19, Attrs: Attrs{"to": aInt(onnxFloat), "saturate": aInt(1)}, Inputs: []in{x34}})
	addCases("Cast", cs...)

	addCases("Expand",
		ruleCase{Name: "dim_changed", Inputs: []in{{Shape: []int{3, 1}}, shapeInts(2, 1, 6)}},
		ruleCase{Name: "dim_unchanged", Inputs: []in{{Shape: []int{3, 1}}, shapeInts(3, 4)}},
		ruleCase{Name: "shorter_shape", Inputs: []in{{Shape: []int{2, 3}}, shapeInts(3)}},
		ruleCase{Name: "ones_shape", Inputs: []in{{Shape: []int{2, 1, 3}}, shapeInts(1, 1)}},
		ruleCase{Name: "middle_axis", Inputs: []in{{Shape: []int{2, 1, 3}}, shapeInts(4, 2, 5, 3)}},
		ruleCase{Name: "scalar", Inputs: []in{{Shape: []int{}}, shapeInts(2, 3)}},
	)
}

// shapeRun builds op's float64 kernel and runs its forward.
func shapeRun(op string, opset int64, attrs Attrs, nout int, inputs ...*Tensor[float64]) ([]*Tensor[float64], error) {
	n := &Node{Name: "t", OpType: op, Opset: opset, Attrs: attrs}
	if n.Attrs == nil {
		n.Attrs = Attrs{}
	}
	for i, x := range inputs {
		if x == nil {
			n.In = append(n.In, -1)
		} else {
			n.In = append(n.In, i)
		}
	}
	for j := 0; j < nout; j++ {
		n.Out = append(n.Out, len(inputs)+j)
	}
	k, err := NewKernel[float64](n)
	if err != nil {
		return nil, err
	}
	return k.Forward(inputs)
}

func shapeIota(shape ...int) *Tensor[float64] {
	t := New[float64](shape...)
	for i := range t.Data {
		t.Data[i] = float64(i)
	}
	return t
}

func shapeVec(v ...float64) *Tensor[float64] { return FromData(v, len(v)) }

func shapeExpect(t *testing.T, what string, got *Tensor[float64], shape []int, data []float64) {
	t.Helper()
	if !SameShape(got.Shape, shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape, shape)
		return
	}
	for i := range data {
		if got.Data[i] != data[i] {
			t.Errorf("%s: data %v, want %v", what, got.Data, data)
			return
		}
	}
}

func TestShapeOpsForward(t *testing.T) {
	type fcase struct {
		name   string
		op     string
		opset  int64
		attrs  Attrs
		inputs []*Tensor[float64]
		nout   int
		shapes [][]int
		data   [][]float64
	}
	x23 := shapeIota(2, 3)
	cases := []fcase{
		{"reshape 0 and -1", "Reshape", 17, nil, []*Tensor[float64]{shapeIota(2, 3, 4), shapeVec(2, 0, 1, -1)}, 1,
			[][]int{{2, 3, 1, 4}}, [][]float64{shapeIota(24).Data}},
		{"transpose", "Transpose", 17, nil, []*Tensor[float64]{x23}, 1,
			[][]int{{3, 2}}, [][]float64{{0, 3, 1, 4, 2, 5}}},
		{"slice negative step", "Slice", 13, nil, []*Tensor[float64]{shapeIota(2, 4), shapeVec(1, 3), shapeVec(shapeI64Max, -100), shapeVec(0, 1), shapeVec(1, -2)}, 1,
			[][]int{{1, 2}}, [][]float64{{7, 5}}},
		{"slice neg step clamp", "Slice", 13, nil, []*Tensor[float64]{shapeIota(5), shapeVec(-1), shapeVec(shapeI64Min), shapeVec(0), shapeVec(-2)}, 1,
			[][]int{{3}}, [][]float64{{4, 2, 0}}},
		{"slice empty", "Slice", 13, nil, []*Tensor[float64]{shapeIota(5), shapeVec(3), shapeVec(1)}, 1,
			[][]int{{0}}, [][]float64{{}}},
		{"split uneven", "Split", 18, Attrs{"num_outputs": aInt(3)}, []*Tensor[float64]{shapeIota(5)}, 3,
			[][]int{{2}, {2}, {1}}, [][]float64{{0, 1}, {2, 3}, {4}}},
		{"split sizes", "Split", 13, Attrs{"axis": aInt(1)}, []*Tensor[float64]{x23, shapeVec(1, 2)}, 2,
			[][]int{{2, 1}, {2, 2}}, [][]float64{{0, 3}, {1, 2, 4, 5}}},
		{"concat", "Concat", 13, Attrs{"axis": aInt(-1)}, []*Tensor[float64]{x23, FromData([]float64{9, 8}, 2, 1)}, 1,
			[][]int{{2, 4}}, [][]float64{{0, 1, 2, 9, 3, 4, 5, 8}}},
		{"pad", "Pad", 13, nil, []*Tensor[float64]{x23, shapeVec(1, 0, 0, 1), Scalar(7.0)}, 1,
			[][]int{{3, 4}}, [][]float64{{7, 7, 7, 7, 0, 1, 2, 7, 3, 4, 5, 7}}},
		{"pad crop", "Pad", 13, nil, []*Tensor[float64]{x23, shapeVec(0, -1, 0, 1)}, 1,
			[][]int{{2, 3}}, [][]float64{{1, 2, 0, 4, 5, 0}}},
		{"gather negative", "Gather", 13, Attrs{"axis": aInt(1)}, []*Tensor[float64]{x23, shapeVec(-1, 0, -1)}, 1,
			[][]int{{2, 3}}, [][]float64{{2, 0, 2, 5, 3, 5}}},
		{"expand", "Expand", 13, nil, []*Tensor[float64]{FromData([]float64{1, 2}, 2, 1), shapeVec(2, 3)}, 1,
			[][]int{{2, 3}}, [][]float64{{1, 1, 1, 2, 2, 2}}},
		{"shape slice", "Shape", 15, Attrs{"start": aInt(-2)}, []*Tensor[float64]{shapeIota(2, 3, 4)}, 1,
			[][]int{{2}}, [][]float64{{3, 4}}},
		{"dropout mask", "Dropout", 13, nil, []*Tensor[float64]{x23}, 2,
			[][]int{{2, 3}, {2, 3}}, [][]float64{x23.Data, {1, 1, 1, 1, 1, 1}}},
		{"cast int", "Cast", 13, Attrs{"to": aInt(onnxInt64)}, []*Tensor[float64]{shapeVec(-1.7, 1.7, 2.5, 0)}, 1,
			[][]int{{4}}, [][]float64{{-1, 1, 2, 0}}},
		{"cast int4 wraps", "Cast", 21, Attrs{"to": aInt(onnxInt4)}, []*Tensor[float64]{shapeVec(-9, 8, 2.5, 3.5, 15)}, 1,
			[][]int{{5}}, [][]float64{{7, -8, 2, 4, -1}}},
		{"cast uint8 wraps", "Cast", 13, Attrs{"to": aInt(onnxUint8)}, []*Tensor[float64]{shapeVec(-1.5, 256.7)}, 1,
			[][]int{{2}}, [][]float64{{255, 0}}},
		{"cast bool", "Cast", 13, Attrs{"to": aInt(onnxBool)}, []*Tensor[float64]{shapeVec(-0.1, 0, 3)}, 1,
			[][]int{{3}}, [][]float64{{1, 0, 1}}},
		{"cast float16", "Cast", 13, Attrs{"to": aInt(onnxFloat16)}, []*Tensor[float64]{shapeVec(1+1.0/4096, 1+3.0/2048, 65519, 65520, 1e-8, -3)}, 1,
			[][]int{{6}}, [][]float64{{1, 1 + 4.0/2048, 65504, math.Inf(1), 0, -3}}},
		{"cast bfloat16", "Cast", 13, Attrs{"to": aInt(onnxBfloat16)}, []*Tensor[float64]{shapeVec(1+1.0/256, 1+3.0/256, -2)}, 1,
			[][]int{{3}}, [][]float64{{1, 1 + 4.0/256, -2}}},
		{"unsqueeze unsorted", "Unsqueeze", 13, nil, []*Tensor[float64]{shapeIota(3, 4, 5), shapeVec(5, 4, 2)}, 1,
			[][]int{{3, 4, 1, 5, 1, 1}}, [][]float64{shapeIota(60).Data}},
	}
	for _, c := range cases {
		out, err := shapeRun(c.op, c.opset, c.attrs, c.nout, c.inputs...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for j := range c.shapes {
			shapeExpect(t, c.name, out[j], c.shapes[j], c.data[j])
		}
	}
}

func TestShapeOpsErrors(t *testing.T) {
	x23 := shapeIota(2, 3)
	cases := []struct {
		name   string
		op     string
		attrs  Attrs
		inputs []*Tensor[float64]
		want   string
	}{
		{"reshape size", "Reshape", nil, []*Tensor[float64]{x23, shapeVec(4, 2)}, "reshape"},
		{"reshape two -1", "Reshape", nil, []*Tensor[float64]{x23, shapeVec(-1, -1)}, "-1"},
		{"transpose perm", "Transpose", Attrs{"perm": aInts(0, 0)}, []*Tensor[float64]{x23}, "perm"},
		{"concat shapes", "Concat", Attrs{"axis": aInt(0)}, []*Tensor[float64]{x23, shapeIota(2, 2)}, "shape"},
		{"concat axis", "Concat", Attrs{"axis": aInt(2)}, []*Tensor[float64]{x23, x23}, "axis"},
		{"split sum", "Split", nil, []*Tensor[float64]{x23, shapeVec(1, 2)}, "split"},
		{"slice step 0", "Slice", nil, []*Tensor[float64]{x23, shapeVec(0), shapeVec(1), shapeVec(0), shapeVec(0)}, "step"},
		{"squeeze non-unit", "Squeeze", nil, []*Tensor[float64]{x23, shapeVec(0)}, "squeeze"},
		{"unsqueeze axis", "Unsqueeze", nil, []*Tensor[float64]{x23, shapeVec(3)}, "axis"},
		{"pad reflect", "Pad", Attrs{"mode": aStr("reflect")}, []*Tensor[float64]{x23, shapeVec(1, 1, 1, 1)}, "reflect"},
		{"pad count", "Pad", nil, []*Tensor[float64]{x23, shapeVec(1, 1)}, "pads"},
		{"gather range", "Gather", nil, []*Tensor[float64]{x23, shapeVec(2)}, "out of range"},
		{"gather negative range", "Gather", Attrs{"axis": aInt(1)}, []*Tensor[float64]{x23, shapeVec(-4)}, "out of range"},
		{"expand", "Expand", nil, []*Tensor[float64]{x23, shapeVec(4, 3)}, "broadcast"},
		{"dropout training", "Dropout", nil, []*Tensor[float64]{x23, Scalar(0.5), Scalar(1.0)}, "training"},
		{"cast float8", "Cast", Attrs{"to": aInt(17)}, []*Tensor[float64]{x23}, "not supported"},
		{"constant string", "Constant", Attrs{"value_string": aStr("a")}, nil, "value"},
		{"flatten axis", "Flatten", Attrs{"axis": aInt(3)}, []*Tensor[float64]{x23}, "axis"},
	}
	for _, c := range cases {
		_, err := shapeRun(c.op, 13, c.attrs, 1, c.inputs...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

// TestMoveKernelLeavesInputs checks that the rules copy rather than alias:
// changing an output or a returned block leaves the inputs as they were.
func TestMoveKernelLeavesInputs(t *testing.T) {
	n := &Node{OpType: "Reshape", Opset: 13, In: []int{0, 1}, Out: []int{2}, Attrs: Attrs{}}
	k, err := NewKernel[float64](n)
	if err != nil {
		t.Fatal(err)
	}
	x := shapeIota(2, 3)
	in := []*Tensor[float64]{x, shapeVec(3, 2)}
	y, _ := k.Forward(in)
	dx := shapeIota(2, 2, 3)
	dy := k.JVP(in, y, []*Tensor[float64]{dx, nil}, 2)
	gx := k.VJP(in, y, dy, 2)
	y[0].Data[0], dy[0].Data[0], gx[0].Data[0] = 100, 100, 100
	if x.Data[0] != 0 || dx.Data[0] != 0 {
		t.Errorf("outputs alias inputs")
	}
	if gx[1] != nil {
		t.Errorf("cotangent for the shape input")
	}
}
