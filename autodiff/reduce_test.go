package autodiff

import "testing"

func init() {
	x := in{Shape: []int{3, 2, 2}}
	axes := func(a ...float64) in { return in{Const: a, Shape: []int{len(a)}} }
	for _, op := range []string{"ReduceSum", "ReduceMean"} {
		since := int64(13)
		if op == "ReduceMean" {
			since = 18
		}
		addCases(op,
			ruleCase{Name: "keepdims", Attrs: Attrs{"keepdims": aInt(1)}, Inputs: []in{x, axes(1)}, Opset: since},
			ruleCase{Name: "do_not_keepdims", Attrs: Attrs{"keepdims": aInt(0)}, Inputs: []in{x, axes(1)}, Opset: since},
			ruleCase{Name: "negative_axes", Inputs: []in{x, axes(-2)}, Opset: since},
			ruleCase{Name: "default_axes_empty", Inputs: []in{x, axes()}, Opset: since},
			ruleCase{Name: "default_axes_omitted", Attrs: Attrs{"keepdims": aInt(0)}, Inputs: []in{x, {Omit: true}}, Opset: since},
			ruleCase{Name: "empty_axes_noop", Attrs: Attrs{"noop_with_empty_axes": aInt(1)}, Inputs: []in{x, axes()}, Opset: since},
			ruleCase{Name: "two_axes", Attrs: Attrs{"keepdims": aInt(0)}, Inputs: []in{{Shape: []int{2, 3, 4, 2}}, axes(0, -2)}, Opset: 22},
			ruleCase{Name: "attr_axes", Attrs: Attrs{"axes": aInts(0, 2), "keepdims": aInt(1)}, Inputs: []in{x}, Opset: since - 2},
			ruleCase{Name: "attr_default_axes", Attrs: Attrs{"keepdims": aInt(0)}, Inputs: []in{x}, Opset: 11},
		)
	}
	addCases("ReduceSum",
		ruleCase{Name: "empty_set", Inputs: []in{{Shape: []int{2, 0, 4}}, axes(1)}, Opset: 13},
		ruleCase{Name: "empty_set_non_reduced_axis_zero", Inputs: []in{{Shape: []int{2, 0, 4}}, axes(2)}, Opset: 13},
	)
}

func TestReduceForward(t *testing.T) {
	x := FromData([]float64{5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2}, 3, 2, 2)
	for _, c := range []struct {
		op    string
		opset int64
		attrs Attrs
		axes  []float64
		shape []int
		want  []float64
	}{
		{"ReduceMean", 18, Attrs{}, []float64{1}, []int{3, 1, 2}, []float64{12.5, 1.5, 35, 1.5, 57.5, 1.5}},
		{"ReduceMean", 18, Attrs{"keepdims": aInt(0)}, []float64{}, []int{}, []float64{18.25}},
		{"ReduceSum", 13, Attrs{"keepdims": aInt(0)}, []float64{-2}, []int{3, 2}, []float64{25, 3, 70, 3, 115, 3}},
		{"ReduceSum", 13, Attrs{"noop_with_empty_axes": aInt(1)}, []float64{}, []int{3, 2, 2}, x.Data},
		{"ReduceSum", 13, Attrs{}, nil, []int{1, 1, 1}, []float64{219}},
		{"ReduceSum", 11, Attrs{"axes": aInts(0, 2), "keepdims": aInt(0)}, nil, []int{2}, []float64{93, 126}},
	} {
		n := &Node{OpType: c.op, Opset: c.opset, Attrs: c.attrs, In: []int{0, 1}, Out: []int{2}}
		ins := []*Tensor[float64]{x, nil}
		if c.axes != nil {
			ins[1] = FromData(c.axes, len(c.axes))
		}
		k, err := NewKernel[float64](n)
		if err != nil {
			t.Fatal(err)
		}
		y, err := k.Forward(ins)
		if err != nil {
			t.Fatalf("%s %v: %v", c.op, c.axes, err)
		}
		if !SameShape(y[0].Shape, c.shape) || relErr(y[0].Data, c.want) > 1e-12 {
			t.Errorf("%s %v %v: got %v %v, want %v %v", c.op, c.attrs, c.axes, y[0].Shape, y[0].Data, c.shape, c.want)
		}
	}
}

func TestReduceBadAxes(t *testing.T) {
	x := New[float64](2, 3)
	for _, axes := range [][]float64{{2}, {-3}, {1, -1}} {
		k, _ := NewKernel[float64](&Node{OpType: "ReduceSum", Opset: 13, In: []int{0, 1}, Out: []int{2}, Attrs: Attrs{}})
		if _, err := k.Forward([]*Tensor[float64]{x, FromData(axes, len(axes))}); err == nil {
			t.Errorf("axes %v: no error", axes)
		}
	}
}
