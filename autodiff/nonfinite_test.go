package autodiff

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// y = Log(x·w): a zero in x makes Log produce −Inf from finite inputs, a
// NaN in w is the parameter's.
func TestNonFinite(t *testing.T) {
	g := &Graph{Values: []Value{
		{Name: "x", Kind: Input, Shape: []int{Batch, 2}},
		{Name: "w", Kind: Param, Shape: []int{2}, Data: []float64{1, 1}},
		{Name: "h", Shape: []int{Batch, 2}},
		{Name: "y", Shape: []int{Batch, 2}},
	}, Inputs: []int{0}, Params: []int{1}, Outputs: []int{3}}
	g.Nodes = []*Node{
		{Name: "scale", OpType: "Mul", Opset: 13, In: []int{0, 1}, Out: []int{2}},
		{Name: "log", OpType: "Log", Opset: 13, In: []int{2}, Out: []int{3}},
	}
	run := func(x []float32) error {
		t.Helper()
		e, err := NewEngine[float32](g)
		if err != nil {
			t.Fatal(err)
		}
		tape, err := e.Forward(FromData(x, len(x)/2, 2))
		if err != nil {
			t.Fatal(err)
		}
		return tape.NonFinite()
	}
	if err := run([]float32{1, 2, 3, 4}); err != nil {
		t.Errorf("finite sweep: %v", err)
	}
	var nf *NonFiniteError
	err := run([]float32{1, 2, 0, 4})
	if !errors.As(err, &nf) || nf.Node == "" || nf.Row != 1 || !strings.Contains(err.Error(), `node "log" (Log) produced -Inf in "y" (row 2)`) {
		t.Errorf("log of zero: %v", err)
	}
	err = run([]float32{1, 2, float32(math.Inf(1)), 4})
	if !errors.As(err, &nf) || nf.Kind != Input || !strings.Contains(err.Error(), `input "x" holds +Inf (row 2)`) {
		t.Errorf("infinite input: %v", err)
	}
	g.Values[1].Data[1] = math.NaN()
	err = run([]float32{1, 2, 3, 4})
	if !errors.As(err, &nf) || nf.Kind != Param || !strings.Contains(err.Error(), `parameter "w" holds NaN at element 1`) {
		t.Errorf("NaN weight: %v", err)
	}
	if err := CheckParams(g); err == nil || !strings.Contains(err.Error(), `"w" holds NaN at element 1`) {
		t.Errorf("CheckParams: %v", err)
	}
}

// A shape that claims more elements than the limit, or overflows, is an
// error before anything is allocated.
func TestCheckSize(t *testing.T) {
	if n, err := CheckSize([]int{3, 4}, 12); n != 12 || err != nil {
		t.Errorf("3×4: %d, %v", n, err)
	}
	if n, err := CheckSize([]int{1 << 40, 0}, 1); n != 0 || err != nil {
		t.Errorf("empty: %d, %v", n, err)
	}
	for _, s := range [][]int{{3, 5}, {1 << 32, 1 << 32, 4}, {-1, 2}} {
		if _, err := CheckSize(s, 12); err == nil {
			t.Errorf("%v accepted", s)
		}
	}
	n := &Node{Name: "e", OpType: "Expand", Opset: 13, MaxElements: 100}
	k, err := NewKernel[float32](n)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Forward([]*Tensor[float32]{Scalar[float32](1), FromData([]float32{1000, 1000}, 2)})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != 100 {
		t.Errorf("Expand to 1000×1000 under a limit of 100: %v", err)
	}
}
