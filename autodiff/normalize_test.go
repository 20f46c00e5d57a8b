package autodiff

import (
	"math"
	"strings"
	"testing"
)

func init() {
	bn := func(shape []int) []in {
		c := []int{shape[1]}
		return []in{{Shape: shape}, {Shape: c}, {Shape: c}, {Shape: c}, {Shape: c, Gen: Positive}}
	}
	addCases("BatchNormalization",
		ruleCase{Name: "example", Inputs: bn([]int{2, 3, 4, 5}), Opset: 15},
		ruleCase{Name: "epsilon", Attrs: Attrs{"epsilon": aFloat(1e-2)}, Inputs: bn([]int{2, 3, 4, 5}), Opset: 15},
		ruleCase{Name: "rank2", Inputs: bn([]int{4, 3}), Opset: 14},
		ruleCase{Name: "rank3_momentum", Attrs: Attrs{"momentum": aFloat(0.8)}, Inputs: bn([]int{2, 3, 4}), Opset: 9},
		ruleCase{Name: "opset7_spatial", Attrs: Attrs{"spatial": aInt(1)}, Inputs: bn([]int{2, 2, 3, 3}), Opset: 7},
		ruleCase{Name: "training_mode_0", Attrs: Attrs{"training_mode": aInt(0)}, Inputs: bn([]int{1, 2, 2, 2, 3}), Opset: 15},
	)

	ln := func(x, w []int, bias bool) []in {
		ins := []in{{Shape: x}, {Shape: w}}
		if bias {
			ins = append(ins, in{Shape: w})
		}
		return ins
	}
	type lnCase struct {
		name string
		x    []int
		axis int64
		eps  float64
	}
	for _, c := range []lnCase{
		{"2d_axis0", []int{3, 4}, 0, 0}, {"2d_axis1", []int{3, 4}, 1, 0},
		{"2d_axis_negative_1", []int{3, 4}, -1, 0}, {"2d_axis_negative_2", []int{3, 4}, -2, 0},
		{"3d_axis0_epsilon", []int{2, 3, 5}, 0, 0.1}, {"3d_axis1_epsilon", []int{2, 3, 5}, 1, 0.1},
		{"3d_axis2_epsilon", []int{2, 3, 5}, 2, 0.1}, {"3d_axis_negative_1_epsilon", []int{2, 3, 5}, -1, 0.1},
		{"3d_axis_negative_2_epsilon", []int{2, 3, 5}, -2, 0.1}, {"3d_axis_negative_3_epsilon", []int{2, 3, 5}, -3, 0.1},
		{"4d_axis0", []int{2, 3, 4, 5}, 0, 0}, {"4d_axis1", []int{2, 3, 4, 5}, 1, 0},
		{"4d_axis2", []int{2, 3, 4, 5}, 2, 0}, {"4d_axis3", []int{2, 3, 4, 5}, 3, 0},
		{"4d_axis_negative_1", []int{2, 3, 4, 5}, -1, 0}, {"4d_axis_negative_2", []int{2, 3, 4, 5}, -2, 0},
		{"4d_axis_negative_3", []int{2, 3, 4, 5}, -3, 0}, {"4d_axis_negative_4", []int{2, 3, 4, 5}, -4, 0},
	} {
		a := int(c.axis)
		if a < 0 {
			a += len(c.x)
		}
		attrs := Attrs{"axis": aInt(c.axis)}
		if c.eps != 0 {
			attrs["epsilon"] = aFloat(c.eps)
		}
		addCases("LayerNormalization", ruleCase{Name: c.name, Attrs: attrs, Inputs: ln(c.x, c.x[a:], true), NumOut: 3})
	}
	addCases("LayerNormalization",
		ruleCase{Name: "default_axis", Inputs: ln([]int{2, 3, 4, 5}, []int{5}, true), NumOut: 3},
		ruleCase{Name: "one_output", Inputs: ln([]int{4, 6}, []int{6}, true)},
		ruleCase{Name: "two_outputs", Attrs: Attrs{"axis": aInt(1)}, Inputs: ln([]int{2, 3, 4}, []int{3, 4}, true), NumOut: 2},
		ruleCase{Name: "no_bias", Inputs: ln([]int{3, 5}, []int{5}, false)},
		ruleCase{Name: "omitted_bias", Attrs: Attrs{"axis": aInt(-2)}, Inputs: []in{{Shape: []int{2, 3, 4}}, {Shape: []int{3, 4}}, {Omit: true}}, NumOut: 3},
		ruleCase{Name: "broadcast_scale", Attrs: Attrs{"axis": aInt(-2)}, Inputs: []in{{Shape: []int{2, 3, 4}}, {Shape: []int{1, 4}}, {Shape: []int{3, 1}}}},
		ruleCase{Name: "stash_type", Attrs: Attrs{"stash_type": aInt(1)}, Inputs: ln([]int{2, 7}, []int{7}, true), Opset: 22},
	)

	inorm := func(x []int) []in { c := []int{x[1]}; return []in{{Shape: x}, {Shape: c}, {Shape: c}} }
	addCases("InstanceNormalization",
		ruleCase{Name: "example", Inputs: inorm([]int{1, 2, 1, 3}), Opset: 6},
		ruleCase{Name: "epsilon", Attrs: Attrs{"epsilon": aFloat(1e-2)}, Inputs: inorm([]int{2, 3, 4, 5}), Opset: 22},
		ruleCase{Name: "1d", Inputs: inorm([]int{2, 2, 6})},
		ruleCase{Name: "3d", Inputs: inorm([]int{1, 2, 2, 3, 2})},
	)
}

func normRun(t *testing.T, op string, attrs Attrs, nout int, ins ...*Tensor[float64]) []*Tensor[float64] {
	t.Helper()
	n := &Node{OpType: op, Opset: 17, Attrs: attrs}
	for i := range ins {
		n.In = append(n.In, i)
	}
	for j := 0; j < nout; j++ {
		n.Out = append(n.Out, len(ins)+j)
	}
	k, err := NewKernel[float64](n)
	if err != nil {
		t.Fatal(err)
	}
	y, err := k.Forward(ins)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func TestBatchNormForward(t *testing.T) {
	x := FromData([]float64{-1, 0, 1, 2, 3, 4}, 1, 2, 1, 3)
	y := normRun(t, "BatchNormalization", Attrs{}, 1, x, FromData([]float64{1, 1.5}, 2), FromData([]float64{0, 1}, 2),
		FromData([]float64{0, 3}, 2), FromData([]float64{1, 1.5}, 2))
	s0, s1 := 1/math.Sqrt(1+1e-5), 1.5/math.Sqrt(1.5+1e-5)
	want := []float64{-s0, 0, s0, 1 - s1, 1, 1 + s1}
	if relErr(y[0].Data, want) > 1e-14 {
		t.Errorf("got %v, want %v", y[0].Data, want)
	}
}

func TestLayerNormForward(t *testing.T) {
	x := FromData([]float64{1, 2, 3, 4, 6, 8}, 2, 3)
	y := normRun(t, "LayerNormalization", Attrs{"epsilon": aFloat(0)}, 3, x, FromData([]float64{1, 2, 3}, 3), FromData([]float64{0, 0, 1}, 3))
	r := math.Sqrt(1.5)
	want := []float64{-r, 0, 3*r + 1, -r, 0, 3*r + 1}
	if relErr(y[0].Data, want) > 1e-14 {
		t.Errorf("Y %v, want %v", y[0].Data, want)
	}
	if !SameShape(y[1].Shape, []int{2, 1}) || relErr(y[1].Data, []float64{2, 6}) > 1e-15 {
		t.Errorf("Mean %v %v", y[1].Shape, y[1].Data)
	}
	if relErr(y[2].Data, []float64{math.Sqrt(1.5), math.Sqrt(1.5) / 2}) > 1e-14 {
		t.Errorf("InvStdDev %v", y[2].Data)
	}
}

func TestInstanceNormForward(t *testing.T) {
	x := FromData([]float64{-1, 0, 1, 2, 3, 4}, 1, 2, 1, 3)
	y := normRun(t, "InstanceNormalization", Attrs{}, 1, x, FromData([]float64{1, 1.5}, 2), FromData([]float64{0, 1}, 2))
	// Reference values of the ONNX node test test_instancenorm_example.
	want := []float64{-1.2247356176, 0, 1.2247356176, -0.8371034861, 1, 2.8371033669}
	if relErr(y[0].Data, want) > 1e-6 {
		t.Errorf("got %v, want %v", y[0].Data, want)
	}
}

func TestNormalizeUnsupported(t *testing.T) {
	for _, c := range []struct {
		op    string
		opset int64
		attrs Attrs
		nout  int
		msg   string
	}{
		{"BatchNormalization", 15, Attrs{"training_mode": aInt(1)}, 1, "training mode"},
		{"BatchNormalization", 15, Attrs{}, 3, "training mode"},
		{"BatchNormalization", 7, Attrs{"spatial": aInt(0)}, 1, "spatial=0"},
		{"LayerNormalization", 17, Attrs{}, 4, "outputs"},
	} {
		n := &Node{OpType: c.op, Opset: c.opset, Attrs: c.attrs, In: []int{0, 1, 2, 3, 4}}
		for j := 0; j < c.nout; j++ {
			n.Out = append(n.Out, 5+j)
		}
		if _, err := NewKernel[float64](n); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %v: error %v, want one about %q", c.op, c.attrs, err, c.msg)
		}
	}
	k, _ := NewKernel[float64](&Node{OpType: "BatchNormalization", Opset: 15, Attrs: Attrs{}, In: []int{0, 1, 2, 3, 4}, Out: []int{5}})
	c := New[float64](3)
	if _, err := k.Forward([]*Tensor[float64]{New[float64](2, 4, 5), c, c, c, c}); err == nil {
		t.Error("BatchNormalization: channel mismatch accepted")
	}
}
