package autodiff

import "testing"

// TestIntegerDivTruncates checks that Div on integer-typed values
// truncates toward zero, and that building such a node leaves float Div
// nodes built afterwards exact.
func TestIntegerDivTruncates(t *testing.T) {
	run := func(intOut bool) []float64 {
		n := &Node{OpType: "Div", Opset: 17, In: []int{0, 1}, Out: []int{2}, Attrs: Attrs{}, IntOut: intOut}
		k, err := NewKernel[float64](n)
		if err != nil {
			t.Fatal(err)
		}
		y, err := k.Forward([]*Tensor[float64]{FromData([]float64{-3, 7, 5}, 3), FromData([]float64{2, 2, -2}, 3)})
		if err != nil {
			t.Fatal(err)
		}
		return y[0].Data
	}
	if got := run(true); got[0] != -1 || got[1] != 3 || got[2] != -2 {
		t.Errorf("integer Div gave %v, want [-1 3 -2]", got)
	}
	if got := run(false); got[0] != -1.5 || got[1] != 3.5 || got[2] != -2.5 {
		t.Errorf("float Div after an integer one gave %v, want [-1.5 3.5 -2.5]", got)
	}
}
