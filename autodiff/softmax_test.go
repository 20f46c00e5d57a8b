package autodiff

import (
	"math"
	"testing"
)

func init() {
	x := []in{{Shape: []int{3, 4, 5}}}
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		addCases(op,
			ruleCase{Name: "axis_0", Attrs: Attrs{"axis": aInt(0)}, Inputs: x, Opset: 13},
			ruleCase{Name: "axis_1", Attrs: Attrs{"axis": aInt(1)}, Inputs: x, Opset: 13},
			ruleCase{Name: "axis_2", Attrs: Attrs{"axis": aInt(2)}, Inputs: x, Opset: 13},
			ruleCase{Name: "default_axis", Inputs: x, Opset: 13},
			ruleCase{Name: "negative_axis", Attrs: Attrs{"axis": aInt(-2)}, Inputs: x, Opset: 13},
			ruleCase{Name: "example", Inputs: []in{{Shape: []int{1, 3}}}, Opset: 13},
			ruleCase{Name: "vector", Inputs: []in{{Shape: []int{6}}}, Opset: 22},
			// Before opset 13: coerced to 2-D at axis, default 1.
			ruleCase{Name: "coerced_default_axis", Inputs: x, Opset: 11},
			ruleCase{Name: "coerced_axis_0", Attrs: Attrs{"axis": aInt(0)}, Inputs: x, Opset: 11},
			ruleCase{Name: "coerced_axis_2", Attrs: Attrs{"axis": aInt(2)}, Inputs: x, Opset: 7},
			ruleCase{Name: "coerced_negative_axis", Attrs: Attrs{"axis": aInt(-2)}, Inputs: x, Opset: 11},
		)
	}
}

func softmaxRun(t *testing.T, op string, opset int64, attrs Attrs, x *Tensor[float64]) *Tensor[float64] {
	t.Helper()
	k, err := NewKernel[float64](&Node{OpType: op, Opset: opset, Attrs: attrs, In: []int{0}, Out: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	y, err := k.Forward([]*Tensor[float64]{x})
	if err != nil {
		t.Fatal(err)
	}
	return y[0]
}

func TestSoftmaxForward(t *testing.T) {
	x := FromData([]float64{-1, 0, 1}, 1, 3)
	e := []float64{math.Exp(-1), 1, math.E}
	s := e[0] + e[1] + e[2]
	want := []float64{e[0] / s, e[1] / s, e[2] / s}
	if y := softmaxRun(t, "Softmax", 13, Attrs{}, x); relErr(y.Data, want) > 1e-14 {
		t.Errorf("Softmax: %v, want %v", y.Data, want)
	}
	for i := range want {
		want[i] = math.Log(want[i])
	}
	if y := softmaxRun(t, "LogSoftmax", 13, Attrs{}, x); relErr(y.Data, want) > 1e-14 {
		t.Errorf("LogSoftmax: %v, want %v", y.Data, want)
	}
	// Large numbers do not overflow.
	big := FromData([]float64{10000, 10001, 10002, 10003}, 1, 4)
	y := softmaxRun(t, "Softmax", 13, Attrs{}, big)
	ly := softmaxRun(t, "LogSoftmax", 13, Attrs{}, big)
	for i, v := range []float64{0.0320586, 0.08714432, 0.23688284, 0.64391428} {
		if math.Abs(y.Data[i]-v) > 1e-7 || math.Abs(ly.Data[i]-math.Log(v)) > 1e-6 {
			t.Errorf("large numbers: %v %v", y.Data, ly.Data)
		}
	}
	// Opset 11 normalizes over the flattened block from axis 1.
	x3 := FromData([]float64{0, 0, 0, 0, 1, 1, 1, 1}, 2, 2, 2)
	y = softmaxRun(t, "Softmax", 11, Attrs{}, x3)
	for _, v := range y.Data {
		if math.Abs(v-0.25) > 1e-15 {
			t.Fatalf("opset 11: %v", y.Data)
		}
	}
	// Opset 13 along the last axis only.
	y = softmaxRun(t, "Softmax", 13, Attrs{"axis": aInt(1)}, x3)
	for _, v := range y.Data {
		if math.Abs(v-0.5) > 1e-15 {
			t.Fatalf("opset 13 axis 1: %v", y.Data)
		}
	}
}

func TestSoftmaxBadAxis(t *testing.T) {
	for _, c := range []struct {
		opset int64
		axis  int64
	}{{13, 3}, {13, -4}, {11, 4}, {11, -4}} {
		k, _ := NewKernel[float64](&Node{OpType: "Softmax", Opset: c.opset, Attrs: Attrs{"axis": aInt(c.axis)}, In: []int{0}, Out: []int{1}})
		if _, err := k.Forward([]*Tensor[float64]{New[float64](2, 3, 4)}); err == nil {
			t.Errorf("opset %d axis %d: no error", c.opset, c.axis)
		}
	}
}
