package autodiff

import (
	"strings"
	"testing"
)

func init() {
	x := func(shape ...int) []in { return []in{{Shape: shape}} }
	k := func(v ...int64) Attr { return aInts(v...) }
	// Attribute combinations of the ONNX node tests, on small inputs.
	shared := []ruleCase{
		{Name: "1d_default", Attrs: Attrs{"kernel_shape": k(2)}, Inputs: x(1, 2, 8)},
		{Name: "2d_default", Attrs: Attrs{"kernel_shape": k(2, 2)}, Inputs: x(1, 2, 5, 5)},
		{Name: "2d_ceil", Attrs: Attrs{"kernel_shape": k(3, 3), "strides": k(2, 2), "ceil_mode": aInt(1)}, Inputs: x(1, 1, 4, 4)},
		{Name: "2d_ceil_output_size_reduce_by_one", Attrs: Attrs{"kernel_shape": k(1, 1), "strides": k(2, 2), "ceil_mode": aInt(1)}, Inputs: x(1, 1, 2, 2)},
		{Name: "2d_dilations", Attrs: Attrs{"kernel_shape": k(2, 2), "strides": k(1, 1), "dilations": k(2, 2)}, Inputs: x(1, 1, 4, 4), Opset: 19},
		{Name: "2d_pads", Attrs: Attrs{"kernel_shape": k(3, 3), "pads": k(2, 2, 2, 2)}, Inputs: x(1, 2, 6, 6)},
		{Name: "2d_precomputed_pads", Attrs: Attrs{"kernel_shape": k(5, 5), "pads": k(2, 2, 2, 2)}, Inputs: x(1, 1, 5, 5)},
		{Name: "2d_asymmetric_pads", Attrs: Attrs{"kernel_shape": k(2, 3), "pads": k(1, 0, 0, 2)}, Inputs: x(2, 1, 4, 5)},
		{Name: "2d_precomputed_same_upper", Attrs: Attrs{"kernel_shape": k(3, 3), "strides": k(2, 2), "auto_pad": aStr("SAME_UPPER")}, Inputs: x(1, 1, 5, 5)},
		{Name: "2d_precomputed_strides", Attrs: Attrs{"kernel_shape": k(2, 2), "strides": k(2, 2)}, Inputs: x(1, 1, 5, 5)},
		{Name: "2d_same_lower", Attrs: Attrs{"kernel_shape": k(2, 2), "auto_pad": aStr("SAME_LOWER")}, Inputs: x(1, 2, 5, 5)},
		{Name: "2d_same_upper", Attrs: Attrs{"kernel_shape": k(2, 2), "auto_pad": aStr("SAME_UPPER")}, Inputs: x(1, 2, 5, 5)},
		{Name: "2d_valid", Attrs: Attrs{"kernel_shape": k(2, 2), "strides": k(2, 1), "auto_pad": aStr("VALID")}, Inputs: x(1, 1, 5, 4)},
		{Name: "2d_strides", Attrs: Attrs{"kernel_shape": k(5, 5), "strides": k(3, 3)}, Inputs: x(1, 1, 8, 8)},
		{Name: "2d_batch", Attrs: Attrs{"kernel_shape": k(2, 2), "strides": k(2, 2)}, Inputs: x(2, 3, 4, 4)},
		{Name: "2d_opset7", Attrs: Attrs{"kernel_shape": k(2, 2), "pads": k(1, 1, 1, 1)}, Inputs: x(1, 2, 3, 3), Opset: 7},
		{Name: "3d_default", Attrs: Attrs{"kernel_shape": k(2, 2, 2)}, Inputs: x(1, 1, 3, 3, 3)},
		{Name: "3d_dilations_ceil", Attrs: Attrs{"kernel_shape": k(2, 2, 2), "strides": k(2, 2, 2), "dilations": k(2, 2, 2), "ceil_mode": aInt(1)}, Inputs: x(1, 1, 6, 6, 5), Opset: 19},
	}
	addCases("MaxPool", shared...)
	addCases("MaxPool",
		ruleCase{Name: "2d_storage_order", Attrs: Attrs{"kernel_shape": k(2, 2), "strides": k(2, 2), "storage_order": aInt(1)}, Inputs: x(1, 1, 5, 5)},
	)
	addCases("AveragePool", shared...)
	for _, c := range []ruleCase{
		{Name: "2d_pads", Attrs: Attrs{"kernel_shape": k(3, 3), "pads": k(2, 2, 2, 2)}, Inputs: x(1, 2, 6, 6)},
		{Name: "2d_precomputed_pads", Attrs: Attrs{"kernel_shape": k(5, 5), "pads": k(2, 2, 2, 2)}, Inputs: x(1, 1, 5, 5)},
		{Name: "2d_ceil_last_window_starts_on_pad", Attrs: Attrs{"kernel_shape": k(3, 3), "strides": k(3, 3), "pads": k(1, 1, 1, 1), "ceil_mode": aInt(1)}, Inputs: x(1, 3, 2, 2)},
		{Name: "2d_ceil_overhang", Attrs: Attrs{"kernel_shape": k(3, 2), "strides": k(2, 2), "pads": k(1, 0, 0, 0), "ceil_mode": aInt(1)}, Inputs: x(1, 1, 5, 5)},
		{Name: "2d_same_upper", Attrs: Attrs{"kernel_shape": k(3, 3), "strides": k(2, 2), "auto_pad": aStr("SAME_UPPER")}, Inputs: x(1, 1, 5, 5)},
		{Name: "3d_dilations_large_ceil_0", Attrs: Attrs{"kernel_shape": k(3, 3, 3), "strides": k(2, 2, 2), "dilations": k(2, 2, 2), "ceil_mode": aInt(0)}, Inputs: x(1, 1, 8, 8, 8), Opset: 19},
		{Name: "3d_dilations_large_ceil_1", Attrs: Attrs{"kernel_shape": k(3, 3, 3), "strides": k(2, 2, 2), "dilations": k(2, 2, 2), "ceil_mode": aInt(1)}, Inputs: x(1, 1, 8, 8, 8), Opset: 19},
	} {
		c.Attrs["count_include_pad"] = aInt(1)
		c.Name += "_count_include_pad"
		addCases("AveragePool", c)
	}
	addCases("AveragePool",
		ruleCase{Name: "3d_dilations_large_ceil_1_exclude_pad", Attrs: Attrs{"kernel_shape": k(3, 3, 3), "strides": k(2, 2, 2), "dilations": k(2, 2, 2), "ceil_mode": aInt(1), "count_include_pad": aInt(0)}, Inputs: x(1, 1, 8, 8, 8), Opset: 19},
	)

	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		addCases(op,
			ruleCase{Name: "2d", Inputs: x(1, 3, 5, 5)},
			ruleCase{Name: "precomputed", Inputs: x(1, 1, 3, 3)},
			ruleCase{Name: "batch", Inputs: x(2, 2, 3, 4)},
			ruleCase{Name: "1d", Inputs: x(2, 3, 4)},
			ruleCase{Name: "3d", Inputs: x(1, 2, 2, 3, 2)},
		)
	}
}

func poolRun(t *testing.T, op string, attrs Attrs, x *Tensor[float64]) *Tensor[float64] {
	t.Helper()
	k, err := NewKernel[float64](&Node{OpType: op, Opset: 22, Attrs: attrs, In: []int{0}, Out: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := k.Forward([]*Tensor[float64]{x})
	if err != nil {
		t.Fatal(err)
	}
	return y[0]
}

func poolIota(shape ...int) *Tensor[float64] {
	x := New[float64](shape...)
	for i := range x.Data {
		x.Data[i] = float64(i + 1)
	}
	return x
}

func TestPoolForward(t *testing.T) {
	x := poolIota(1, 1, 5, 5)
	for _, c := range []struct {
		op    string
		attrs Attrs
		shape []int
		want  []float64
	}{
		{"MaxPool", Attrs{"kernel_shape": aInts(2, 2), "strides": aInts(2, 2)}, []int{1, 1, 2, 2}, []float64{7, 9, 17, 19}},
		{"MaxPool", Attrs{"kernel_shape": aInts(3, 3), "strides": aInts(2, 2), "auto_pad": aStr("SAME_UPPER")}, []int{1, 1, 3, 3},
			[]float64{7, 9, 10, 17, 19, 20, 22, 24, 25}},
		{"AveragePool", Attrs{"kernel_shape": aInts(3, 3), "strides": aInts(2, 2), "auto_pad": aStr("SAME_UPPER")}, []int{1, 1, 3, 3},
			[]float64{4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22}},
		{"AveragePool", Attrs{"kernel_shape": aInts(5, 5), "pads": aInts(2, 2, 2, 2)}, []int{1, 1, 5, 5},
			[]float64{7, 7.5, 8, 8.5, 9, 9.5, 10, 10.5, 11, 11.5, 12, 12.5, 13, 13.5, 14, 14.5, 15, 15.5, 16, 16.5, 17, 17.5, 18, 18.5, 19}},
		{"AveragePool", Attrs{"kernel_shape": aInts(5, 5), "pads": aInts(2, 2, 2, 2), "count_include_pad": aInt(1)}, []int{1, 1, 5, 5},
			[]float64{2.52, 3.6, 4.8, 4.08, 3.24, 4.56, 6.4, 8.4, 7.04, 5.52, 7.2, 10, 13, 10.8, 8.4, 6.96, 9.6, 12.4, 10.24, 7.92, 6.12, 8.4, 10.8, 8.88, 6.84}},
		{"GlobalMaxPool", Attrs{}, []int{1, 1, 1, 1}, []float64{25}},
		{"GlobalAveragePool", Attrs{}, []int{1, 1, 1, 1}, []float64{13}},
	} {
		y := poolRun(t, c.op, c.attrs, x)
		if !SameShape(y.Shape, c.shape) || relErr(y.Data, c.want) > 1e-14 {
			t.Errorf("%s %v: got %v %v, want %v %v", c.op, c.attrs, y.Shape, y.Data, c.shape, c.want)
		}
	}
}

// MaxPool routes the gradient to the first of tied maxima, as PyTorch.
func TestMaxPoolFirstMaximum(t *testing.T) {
	k, err := NewKernel[float64](&Node{OpType: "MaxPool", Opset: 22, Attrs: Attrs{"kernel_shape": aInts(2, 2)}, In: []int{0}, Out: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	x := FromData([]float64{1, 3, 3, 3}, 1, 1, 2, 2)
	y, _ := k.Forward([]*Tensor[float64]{x})
	g := k.VJP([]*Tensor[float64]{x}, y, []*Tensor[float64]{FromData([]float64{1}, 1, 1, 1, 1, 1)}, 1)
	if want := []float64{0, 1, 0, 0}; relErr(g[0].Data, want) != 0 {
		t.Errorf("gradient %v, want %v", g[0].Data, want)
	}
}

func TestPoolErrors(t *testing.T) {
	n := &Node{OpType: "MaxPool", Opset: 22, Attrs: Attrs{"kernel_shape": aInts(2, 2)}, In: []int{0}, Out: []int{1, 2}}
	if _, err := NewKernel[float64](n); err == nil || !strings.Contains(err.Error(), "Indices") {
		t.Errorf("MaxPool with Indices: %v", err)
	}
	for _, attrs := range []Attrs{
		{},
		{"kernel_shape": aInts(2, 2), "strides": aInts(1)},
		{"kernel_shape": aInts(2, 2), "pads": aInts(1, 1)},
		{"kernel_shape": aInts(2, 2), "auto_pad": aStr("SAME")},
		{"kernel_shape": aInts(0, 2)},
	} {
		if _, err := NewKernel[float64](&Node{OpType: "AveragePool", Opset: 22, Attrs: attrs, In: []int{0}, Out: []int{1}}); err == nil {
			t.Errorf("AveragePool %v: no error", attrs)
		}
	}
	k, _ := NewKernel[float64](&Node{OpType: "MaxPool", Opset: 22, Attrs: Attrs{"kernel_shape": aInts(4, 4)}, In: []int{0}, Out: []int{1}})
	for _, shape := range [][]int{{1, 1, 3, 3}, {1, 4, 4}} {
		if _, err := k.Forward([]*Tensor[float64]{New[float64](shape...)}); err == nil {
			t.Errorf("MaxPool 4×4 on %v: no error", shape)
		}
	}
}
