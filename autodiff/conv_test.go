package autodiff

import "testing"

func init() {
	t := func(d ...int) in { return in{Shape: d} }
	ints := aInts
	addCases("Conv",
		ruleCase{Name: "basic_no_pad", Inputs: []in{t(1, 1, 5, 5), t(1, 1, 3, 3)}},
		ruleCase{Name: "basic_pad_bias", Attrs: Attrs{"kernel_shape": ints(3, 3), "pads": ints(1, 1, 1, 1)},
			Inputs: []in{t(2, 2, 4, 4), t(3, 2, 3, 3), t(3)}},
		ruleCase{Name: "strides2_pads", Attrs: Attrs{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)},
			Inputs: []in{t(1, 2, 5, 6), t(2, 2, 3, 3), t(2)}},
		ruleCase{Name: "strides2_no_pad", Attrs: Attrs{"strides": ints(2, 2)},
			Inputs: []in{t(2, 1, 7, 5), t(2, 1, 3, 3)}},
		ruleCase{Name: "strides_asymmetric_pads", Attrs: Attrs{"strides": ints(2, 2), "pads": ints(1, 0, 1, 0), "kernel_shape": ints(3, 3)},
			Inputs: []in{t(1, 1, 7, 5), t(1, 1, 3, 3)}},
		ruleCase{Name: "dilations2", Attrs: Attrs{"dilations": ints(2, 2), "pads": ints(2, 1, 0, 1)},
			Inputs: []in{t(1, 2, 6, 6), t(2, 2, 3, 2), t(2)}},
		ruleCase{Name: "group2", Attrs: Attrs{"group": aInt(2), "pads": ints(1, 1, 1, 1)},
			Inputs: []in{t(2, 4, 4, 4), t(4, 2, 3, 3), t(4)}},
		ruleCase{Name: "depthwise", Attrs: Attrs{"group": aInt(3), "strides": ints(1, 2), "pads": ints(1, 1, 1, 1)},
			Inputs: []in{t(2, 3, 5, 5), t(3, 1, 3, 3), t(3)}},
		ruleCase{Name: "depthwise_multiplier", Attrs: Attrs{"group": aInt(2)},
			Inputs: []in{t(1, 2, 4, 5), t(4, 1, 2, 2)}},
		ruleCase{Name: "same_upper", Attrs: Attrs{"auto_pad": aStr("SAME_UPPER"), "strides": ints(2, 2)},
			Inputs: []in{t(1, 2, 6, 5), t(2, 2, 4, 3), t(2)}},
		ruleCase{Name: "same_lower", Attrs: Attrs{"auto_pad": aStr("SAME_LOWER"), "strides": ints(2, 2), "kernel_shape": ints(3, 3)},
			Inputs: []in{t(1, 1, 5, 5), t(2, 1, 3, 3)}},
		ruleCase{Name: "same_upper_dilated", Attrs: Attrs{"auto_pad": aStr("SAME_UPPER"), "dilations": ints(2, 1)},
			Inputs: []in{t(1, 1, 5, 4), t(1, 1, 2, 2)}},
		ruleCase{Name: "valid", Attrs: Attrs{"auto_pad": aStr("VALID"), "strides": ints(2, 1)},
			Inputs: []in{t(2, 2, 6, 5), t(2, 2, 3, 2), t(2)}},
		ruleCase{Name: "pointwise_1x1", Inputs: []in{t(2, 3, 3, 4), t(4, 3, 1, 1), t(4)}},
		ruleCase{Name: "pointwise_1x1_group", Attrs: Attrs{"group": aInt(2)}, Inputs: []in{t(2, 4, 3, 3), t(2, 2, 1, 1)}},
		ruleCase{Name: "1d", Attrs: Attrs{"pads": ints(1, 2), "strides": ints(2)},
			Inputs: []in{t(2, 2, 9), t(3, 2, 3), t(3)}},
		ruleCase{Name: "1d_dilated_group", Attrs: Attrs{"group": aInt(2), "dilations": ints(2)},
			Inputs: []in{t(1, 4, 10), t(2, 2, 3)}},
		ruleCase{Name: "1d_same_lower", Attrs: Attrs{"auto_pad": aStr("SAME_LOWER")},
			Inputs: []in{t(1, 2, 7), t(2, 2, 4)}},
		ruleCase{Name: "3d", Attrs: Attrs{"pads": ints(1, 0, 1, 0, 1, 0), "strides": ints(1, 2, 1)},
			Inputs: []in{t(1, 2, 3, 4, 3), t(2, 2, 2, 2, 2), t(2)}},
		ruleCase{Name: "bias_omitted", Attrs: Attrs{"pads": ints(1, 1, 1, 1)}, Inputs: []in{t(1, 2, 3, 3), t(2, 2, 3, 3), {Omit: true}}},
		ruleCase{Name: "opset1", Opset: 1, Attrs: Attrs{"pads": ints(0, 1, 0, 1)}, Inputs: []in{t(1, 1, 4, 4), t(2, 1, 3, 3), t(2)}},
		ruleCase{Name: "opset22", Opset: 22, Attrs: Attrs{"strides": ints(2, 2)}, Inputs: []in{t(1, 2, 5, 5), t(2, 2, 3, 3), t(2)}},
	)
	addCases("ConvTranspose",
		ruleCase{Name: "basic", Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3)}},
		ruleCase{Name: "bias", Inputs: []in{t(2, 2, 3, 3), t(2, 3, 2, 2), t(3)}},
		ruleCase{Name: "strides2", Attrs: Attrs{"strides": ints(2, 2)}, Inputs: []in{t(1, 2, 3, 3), t(2, 2, 3, 3), t(2)}},
		ruleCase{Name: "pads_strides", Attrs: Attrs{"strides": ints(3, 2), "pads": ints(1, 2, 1, 2)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3)}},
		ruleCase{Name: "output_padding", Attrs: Attrs{"strides": ints(3, 2), "output_padding": ints(1, 1)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3), t(2)}},
		ruleCase{Name: "output_shape", Attrs: Attrs{"strides": ints(3, 2), "output_shape": ints(10, 8)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3)}},
		ruleCase{Name: "output_shape_full", Attrs: Attrs{"strides": ints(2, 2), "output_shape": ints(1, 2, 6, 7)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 2, 3)}},
		ruleCase{Name: "kernel_shape", Attrs: Attrs{"strides": ints(3, 2), "output_shape": ints(10, 8), "kernel_shape": ints(3, 3), "output_padding": ints(1, 1)},
			Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3)}},
		ruleCase{Name: "dilations", Attrs: Attrs{"dilations": ints(2, 2)}, Inputs: []in{t(1, 1, 3, 3), t(1, 1, 2, 2)}},
		ruleCase{Name: "group2", Attrs: Attrs{"group": aInt(2)}, Inputs: []in{t(1, 2, 3, 3), t(2, 2, 3, 3), t(4)}},
		ruleCase{Name: "group2_strides_pads", Attrs: Attrs{"group": aInt(2), "strides": ints(2, 2), "pads": ints(1, 0, 0, 1)},
			Inputs: []in{t(2, 4, 2, 3), t(4, 1, 3, 3), t(2)}},
		ruleCase{Name: "autopad_same_upper", Attrs: Attrs{"auto_pad": aStr("SAME_UPPER"), "strides": ints(2, 2)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3)}},
		ruleCase{Name: "autopad_same_lower", Attrs: Attrs{"auto_pad": aStr("SAME_LOWER"), "strides": ints(2, 2)}, Inputs: []in{t(1, 1, 3, 3), t(1, 2, 3, 3), t(2)}},
		ruleCase{Name: "valid", Attrs: Attrs{"auto_pad": aStr("VALID"), "strides": ints(2, 1)}, Inputs: []in{t(1, 2, 2, 3), t(2, 1, 2, 2)}},
		ruleCase{Name: "pointwise_1x1", Inputs: []in{t(2, 3, 2, 3), t(3, 2, 1, 1), t(2)}},
		ruleCase{Name: "1d", Attrs: Attrs{"strides": ints(2), "pads": ints(1, 0)}, Inputs: []in{t(1, 2, 4), t(2, 3, 3), t(3)}},
		ruleCase{Name: "3d", Inputs: []in{t(1, 1, 2, 3, 2), t(1, 2, 2, 2, 2)}},
		ruleCase{Name: "opset1", Opset: 1, Attrs: Attrs{"strides": ints(2, 2)}, Inputs: []in{t(1, 1, 2, 2), t(1, 1, 2, 2), t(1)}},
	)
}

func TestConvForward(t *testing.T) {
	// test_basic_conv_with_padding: X = 0..24 as 5×5, W = ones 3×3, pads 1.
	x := New[float64](1, 1, 5, 5)
	for i := range x.Data {
		x.Data[i] = float64(i)
	}
	w := New[float64](1, 1, 3, 3)
	for i := range w.Data {
		w.Data[i] = 1
	}
	y := gcRun(t, "Conv", Attrs{"kernel_shape": aInts(3, 3), "pads": aInts(1, 1, 1, 1)}, 11, x, w)
	gcWant(t, y, []int{1, 1, 5, 5}, []float64{
		12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84})
	y = gcRun(t, "Conv", Attrs{"kernel_shape": aInts(3, 3), "pads": aInts(0, 0, 0, 0)}, 11, x, w)
	gcWant(t, y, []int{1, 1, 3, 3}, []float64{54, 63, 72, 99, 108, 117, 144, 153, 162})
	// test_conv_with_strides_and_asymmetric_padding: X 7×5, strides 2, pads [1,0,1,0].
	x7 := New[float64](1, 1, 7, 5)
	for i := range x7.Data {
		x7.Data[i] = float64(i)
	}
	y = gcRun(t, "Conv", Attrs{"kernel_shape": aInts(3, 3), "pads": aInts(1, 0, 1, 0), "strides": aInts(2, 2)}, 11, x7, w)
	gcWant(t, y, []int{1, 1, 4, 2}, []float64{21, 33, 99, 117, 189, 207, 171, 183})
	// test_conv_with_autopad_same: SAME_LOWER, strides 2 on 5×5: 3×3.
	y = gcRun(t, "Conv", Attrs{"auto_pad": aStr("SAME_LOWER"), "kernel_shape": aInts(3, 3), "strides": aInts(2, 2)}, 11, x, w)
	gcWant(t, y, []int{1, 1, 3, 3}, []float64{12, 27, 24, 63, 108, 81, 72, 117, 84})
	// bias and groups: two channels, each its own 1×1 scale.
	x2 := FromData([]float64{1, 2, 3, 4}, 1, 2, 2, 1)
	w2 := FromData([]float64{10, 100}, 2, 1, 1, 1)
	b2 := FromData([]float64{1, -1}, 2)
	y = gcRun(t, "Conv", Attrs{"group": aInt(2)}, 11, x2, w2, b2)
	gcWant(t, y, []int{1, 2, 2, 1}, []float64{11, 21, 299, 399})
}

func TestConvTransposeForward(t *testing.T) {
	// test_convtranspose: X = 0..8 as 3×3, W = ones [1,2,3,3]: a 5×5 output per channel.
	x := New[float64](1, 1, 3, 3)
	for i := range x.Data {
		x.Data[i] = float64(i)
	}
	w := New[float64](1, 2, 3, 3)
	for i := range w.Data {
		w.Data[i] = 1
	}
	ch := []float64{
		0, 1, 3, 3, 2,
		3, 8, 15, 12, 7,
		9, 21, 36, 27, 15,
		9, 20, 33, 24, 13,
		6, 13, 21, 15, 8}
	y := gcRun(t, "ConvTranspose", nil, 11, x, w)
	gcWant(t, y, []int{1, 2, 5, 5}, append(append([]float64(nil), ch...), ch...))
	// 1-D: test_convtranspose_1d, X = 0..2, W = ones [1,2,3].
	x1 := FromData([]float64{0, 1, 2}, 1, 1, 3)
	w1 := FromData([]float64{1, 1, 1, 1, 1, 1}, 1, 2, 3)
	y = gcRun(t, "ConvTranspose", nil, 11, x1, w1)
	gcWant(t, y, []int{1, 2, 5}, []float64{0, 1, 3, 3, 2, 0, 1, 3, 3, 2})
	// test_convtranspose_output_shape: output_shape beyond the natural size
	// adds positions at the end that nothing reaches.
	full := gcRun(t, "ConvTranspose", Attrs{"strides": aInts(3, 2)}, 11, x, w) // [1,2,9,7]
	big := gcRun(t, "ConvTranspose", Attrs{"strides": aInts(3, 2), "output_shape": aInts(10, 8)}, 11, x, w)
	for c := 0; c < 2; c++ {
		for i := 0; i < 10; i++ {
			for j := 0; j < 8; j++ {
				want := 0.0
				if i < 9 && j < 7 {
					want = full.Data[(c*9+i)*7+j]
				}
				if got := big.Data[(c*10+i)*8+j]; got != want {
					t.Fatalf("output_shape: [%d,%d,%d] = %g, want %g", c, i, j, got, want)
				}
			}
		}
	}
	// Shapes of test_convtranspose_pads / _pad / _output_shape / _kernel_shape:
	for _, c := range []struct {
		attrs Attrs
		want  []int
	}{
		{Attrs{"strides": aInts(3, 2), "pads": aInts(1, 2, 1, 2)}, []int{1, 2, 7, 3}},
		{Attrs{"strides": aInts(3, 2), "output_padding": aInts(1, 1)}, []int{1, 2, 10, 8}},
		{Attrs{"strides": aInts(3, 2), "output_shape": aInts(10, 8)}, []int{1, 2, 10, 8}},
		{Attrs{"strides": aInts(3, 2), "output_shape": aInts(10, 8), "kernel_shape": aInts(3, 3), "output_padding": aInts(1, 1)}, []int{1, 2, 10, 8}},
		{Attrs{"strides": aInts(2, 2), "auto_pad": aStr("SAME_UPPER")}, []int{1, 2, 6, 6}},
		{Attrs{"dilations": aInts(2, 2)}, []int{1, 2, 7, 7}},
	} {
		y := gcRun(t, "ConvTranspose", c.attrs, 11, x, w)
		if !SameShape(y.Shape, c.want) {
			t.Errorf("%v: shape %v, want %v", c.attrs, y.Shape, c.want)
		}
	}
}

func TestConvShapeErrors(t *testing.T) {
	bad := []struct {
		op    string
		attrs Attrs
		x, w  []int
	}{
		{"Conv", nil, []int{1, 3, 5, 5}, []int{2, 2, 3, 3}},                     // channels
		{"Conv", Attrs{"group": aInt(2)}, []int{1, 4, 5, 5}, []int{3, 2, 3, 3}}, // M not divisible
		{"Conv", nil, []int{1, 1, 2, 2}, []int{1, 1, 3, 3}},                     // too small
		{"Conv", Attrs{"kernel_shape": aInts(2, 2)}, []int{1, 1, 5, 5}, []int{1, 1, 3, 3}},
		{"Conv", Attrs{"pads": aInts(1, 1)}, []int{1, 1, 5, 5}, []int{1, 1, 3, 3}},
		{"Conv", nil, []int{5, 5}, []int{3, 3}},
		{"ConvTranspose", nil, []int{1, 2, 3, 3}, []int{1, 2, 3, 3}},
		{"ConvTranspose", Attrs{"output_padding": aInts(2, 0)}, []int{1, 1, 3, 3}, []int{1, 1, 3, 3}},
	}
	for _, c := range bad {
		n := &Node{OpType: c.op, Attrs: c.attrs, In: []int{0, 1}, Out: []int{2}}
		if n.Attrs == nil {
			n.Attrs = Attrs{}
		}
		k, err := NewKernel[float64](n)
		if err != nil {
			continue
		}
		if _, err := k.Forward([]*Tensor[float64]{New[float64](c.x...), New[float64](c.w...)}); err == nil {
			t.Errorf("%s %v x %v w %v: no error", c.op, c.attrs, c.x, c.w)
		}
	}
	n := &Node{OpType: "Conv", Attrs: Attrs{"auto_pad": aStr("SAME")}, In: []int{0, 1}, Out: []int{2}}
	if _, err := NewKernel[float64](n); err == nil {
		t.Error("auto_pad SAME accepted")
	}
}
