package autodiff

import (
	"math"
	"testing"
)

func init() {
	// Unary ops without attributes: a matrix, a scalar and a rank-3 tensor.
	for op, g := range map[string]Gen{
		"Neg": Normal, "Sqrt": Positive, "Exp": Normal, "Log": Positive, "Abs": AwayZero,
		"Relu": AwayZero, "Sigmoid": Normal, "Tanh": Normal, "Softplus": Normal, "Erf": Normal,
	} {
		addCases(op,
			ruleCase{Name: "2x3", Inputs: []in{{Shape: []int{2, 3}, Gen: g}}},
			ruleCase{Name: "scalar", Inputs: []in{{Shape: []int{}, Gen: g}}},
			ruleCase{Name: "3x4x5", Inputs: []in{{Shape: []int{3, 4, 5}, Gen: g}}},
		)
	}
	addCases("Sigmoid", ruleCase{Name: "wide", Inputs: []in{{Shape: []int{40}, Gen: Normal}}})

	addCases("LeakyRelu",
		ruleCase{Name: "default", Inputs: []in{{Shape: []int{3, 4, 5}, Gen: AwayZero}}},
		ruleCase{Name: "alpha0.1", Attrs: Attrs{"alpha": aFloat(0.1)}, Inputs: []in{{Shape: []int{2, 3}, Gen: AwayZero}}},
	)
	addCases("Elu",
		ruleCase{Name: "default", Inputs: []in{{Shape: []int{3, 4, 5}, Gen: AwayZero}}},
		ruleCase{Name: "alpha2", Attrs: Attrs{"alpha": aFloat(2)}, Inputs: []in{{Shape: []int{2, 3}, Gen: AwayZero}}},
	)
	addCases("Selu",
		ruleCase{Name: "default", Inputs: []in{{Shape: []int{3, 4, 5}, Gen: AwayZero}}},
		ruleCase{Name: "alpha2_gamma3", Attrs: Attrs{"alpha": aFloat(2), "gamma": aFloat(3)}, Inputs: []in{{Shape: []int{2, 3}, Gen: AwayZero}}},
	)
	addCases("HardSigmoid",
		// Defaults: kinks at ±2.5, AwayZero stays inside (−2, 2).
		ruleCase{Name: "default", Inputs: []in{{Shape: []int{3, 4, 5}, Gen: AwayZero}}},
		// Slope on (0.25, 0.75), saturated above: inputs in [0.5, 2] cover both.
		ruleCase{Name: "alpha2_beta-0.5", Attrs: Attrs{"alpha": aFloat(2), "beta": aFloat(-0.5)}, Inputs: []in{{Shape: []int{4, 5}, Gen: Positive}}},
		ruleCase{Name: "alpha0.5_beta0.6", Attrs: Attrs{"alpha": aFloat(0.5), "beta": aFloat(0.6)}, Inputs: []in{{Shape: []int{2, 3}, Gen: Unit}}},
	)
	addCases("Gelu",
		ruleCase{Name: "default", Opset: 20, Inputs: []in{{Shape: []int{3, 4, 5}, Gen: Normal}}},
		ruleCase{Name: "none", Opset: 20, Attrs: Attrs{"approximate": aStr("none")}, Inputs: []in{{Shape: []int{2, 3}, Gen: Normal}}},
		ruleCase{Name: "tanh", Opset: 20, Attrs: Attrs{"approximate": aStr("tanh")}, Inputs: []in{{Shape: []int{3, 4, 5}, Gen: Normal}}},
	)

	scalar := func(v float64) in { return in{Shape: []int{}, Const: []float64{v}} }
	x := in{Shape: []int{3, 4, 5}, Gen: Normal}
	addCases("Clip",
		ruleCase{Name: "both", Opset: 11, Inputs: []in{x, scalar(-0.5), scalar(0.5)}},
		ruleCase{Name: "min_only", Opset: 13, Inputs: []in{x, scalar(-0.3)}},
		ruleCase{Name: "min_only_max_omitted", Opset: 13, Inputs: []in{x, scalar(0.2), {Omit: true}}},
		ruleCase{Name: "max_only", Opset: 12, Inputs: []in{x, {Omit: true}, scalar(0.4)}},
		ruleCase{Name: "unbounded", Opset: 13, Inputs: []in{x}},
		ruleCase{Name: "min_gt_max", Opset: 13, Inputs: []in{x, scalar(1), scalar(-1)}},
		ruleCase{Name: "bound_shape1", Opset: 13, Inputs: []in{x, {Shape: []int{1}, Const: []float64{-1}}, {Shape: []int{1}, Const: []float64{1}}}},
		ruleCase{Name: "attrs_both", Opset: 7, Attrs: Attrs{"min": aFloat(-0.5), "max": aFloat(0.5)}, Inputs: []in{x}},
		ruleCase{Name: "attrs_min", Opset: 7, Attrs: Attrs{"min": aFloat(0.1)}, Inputs: []in{x}},
		ruleCase{Name: "attrs_max", Opset: 6, Attrs: Attrs{"max": aFloat(-0.1)}, Inputs: []in{x}},
		ruleCase{Name: "attrs_none", Opset: 7, Inputs: []in{x}},
	)

	// Binary ops: equal shapes, numpy broadcasting both ways, scalars.
	shapes := []struct {
		name string
		a, b []int
	}{
		{"2x3+2x3", []int{2, 3}, []int{2, 3}},
		{"2x3+3", []int{2, 3}, []int{3}},
		{"3+2x3", []int{3}, []int{2, 3}},
		{"2x1x4+3x1", []int{2, 1, 4}, []int{3, 1}},
		{"3x4x5+5", []int{3, 4, 5}, []int{5}},
		{"2x3+scalar", []int{2, 3}, []int{}},
		{"scalar+2x3", []int{}, []int{2, 3}},
		{"scalar+scalar", []int{}, []int{}},
		{"1+2x3", []int{1}, []int{2, 3}},
		{"2x3x1x1+1x3x4x1", []int{2, 3, 1, 1}, []int{1, 3, 4, 1}},
	}
	for op, g := range map[string][2]Gen{
		"Add": {Normal, Normal}, "Sub": {Normal, Normal}, "Mul": {Normal, Normal},
		"Div": {Normal, AwayZero}, "Pow": {Positive, Normal},
	} {
		for _, s := range shapes {
			addCases(op, ruleCase{Name: s.name, Inputs: []in{{Shape: s.a, Gen: g[0]}, {Shape: s.b, Gen: g[1]}}})
		}
		addCases(op, ruleCase{Name: "opset7", Opset: 7, Inputs: []in{{Shape: []int{2, 3}, Gen: g[0]}, {Shape: []int{3}, Gen: g[1]}}})
	}
	// Constant operands: only the other one is differentiated (x², x³ of
	// any sign, a constant numerator).
	addCases("Pow",
		ruleCase{Name: "square", Inputs: []in{{Shape: []int{3, 4}, Gen: Normal}, scalar(2)}},
		ruleCase{Name: "cube_vec", Inputs: []in{{Shape: []int{2, 3}, Gen: Normal}, {Shape: []int{3}, Const: []float64{3, 1, 0}}}},
	)
	addCases("Div", ruleCase{Name: "const_numerator", Inputs: []in{scalar(1), {Shape: []int{2, 3}, Gen: AwayZero}}})
	addCases("Mul", ruleCase{Name: "same_input_shape_const", Inputs: []in{{Shape: []int{2, 3}, Gen: Normal}, scalar(0.5)}})
}

// runOp runs op's forward in float64 on the given inputs.
func runOp(t *testing.T, op string, opset int64, attrs Attrs, xs ...*Tensor[float64]) (Kernel[float64], []*Tensor[float64]) {
	t.Helper()
	if attrs == nil {
		attrs = Attrs{}
	}
	n := &Node{OpType: op, Opset: opset, Attrs: attrs, Out: []int{len(xs)}}
	for i, x := range xs {
		if x == nil {
			n.In = append(n.In, -1)
		} else {
			n.In = append(n.In, i)
		}
	}
	k, err := NewKernel[float64](n)
	if err != nil {
		t.Fatalf("%s kernel: %v", op, err)
	}
	y, err := k.Forward(xs)
	if err != nil {
		t.Fatalf("%s forward: %v", op, err)
	}
	return k, y
}

func wantClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Errorf("%s: got %v, want %v", what, got, want)
			return
		}
	}
}

func TestElementwiseForward(t *testing.T) {
	v := func(shape []int, data ...float64) *Tensor[float64] { return FromData(data, shape...) }
	s := func(x float64) *Tensor[float64] { return Scalar(x) }
	cases := []struct {
		op    string
		opset int64
		attrs Attrs
		in    []*Tensor[float64]
		shape []int
		want  []float64
	}{
		{"Add", 17, nil, []*Tensor[float64]{v([]int{2, 1}, 1, 2), v([]int{3}, 10, 20, 30)}, []int{2, 3}, []float64{11, 21, 31, 12, 22, 32}},
		{"Sub", 17, nil, []*Tensor[float64]{v([]int{3}, 10, 20, 30), v([]int{2, 1}, 1, 2)}, []int{2, 3}, []float64{9, 19, 29, 8, 18, 28}},
		{"Mul", 17, nil, []*Tensor[float64]{s(2), v([]int{2}, 3, -4)}, []int{2}, []float64{6, -8}},
		{"Div", 17, nil, []*Tensor[float64]{v([]int{2}, 3, 4), v([]int{2}, 1, 2)}, []int{2}, []float64{3, 2}},
		{"Pow", 17, nil, []*Tensor[float64]{v([]int{3}, 1, 2, 3), s(2)}, []int{3}, []float64{1, 4, 9}},
		{"Pow", 17, nil, []*Tensor[float64]{v([]int{3}, 1, 2, 3), v([]int{3}, 4, 5, 6)}, []int{3}, []float64{1, 32, 729}},
		{"Neg", 17, nil, []*Tensor[float64]{v([]int{2}, -4, 2)}, []int{2}, []float64{4, -2}},
		{"Abs", 17, nil, []*Tensor[float64]{v([]int{3}, -4, 0, 2)}, []int{3}, []float64{4, 0, 2}},
		{"Relu", 17, nil, []*Tensor[float64]{v([]int{3}, -1, 0, 2)}, []int{3}, []float64{0, 0, 2}},
		{"LeakyRelu", 17, Attrs{"alpha": aFloat(0.1)}, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-0.1, 0, 1}},
		{"LeakyRelu", 17, nil, []*Tensor[float64]{v([]int{2}, -1, 1)}, []int{2}, []float64{-0.01, 1}},
		{"Elu", 17, Attrs{"alpha": aFloat(2)}, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-1.2642411176571153, 0, 1}},
		{"Selu", 17, nil, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-1.1113307378125625, 0, 1.0507010221481323}},
		{"Selu", 17, Attrs{"alpha": aFloat(2), "gamma": aFloat(3)}, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-3.7927234, 0, 3}},
		{"HardSigmoid", 17, nil, []*Tensor[float64]{v([]int{3}, -3, 0, 3)}, []int{3}, []float64{0, 0.5, 1}},
		{"HardSigmoid", 17, Attrs{"alpha": aFloat(0.5), "beta": aFloat(0.6)}, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{0.1, 0.6, 1}},
		{"Sigmoid", 17, nil, []*Tensor[float64]{v([]int{3}, -1, 0, 1000)}, []int{3}, []float64{0.2689414213699951, 0.5, 1}},
		{"Softplus", 17, nil, []*Tensor[float64]{v([]int{3}, -1, 0, 1000)}, []int{3}, []float64{0.31326168751822286, math.Ln2, 1000}},
		{"Erf", 17, nil, []*Tensor[float64]{v([]int{2}, 0, 1)}, []int{2}, []float64{0, 0.8427007929497149}},
		{"Gelu", 20, nil, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-0.15865525393145707, 0, 0.8413447460685429}},
		{"Gelu", 20, Attrs{"approximate": aStr("tanh")}, []*Tensor[float64]{v([]int{3}, -1, 0, 1)}, []int{3}, []float64{-0.15880800939172324, 0, 0.8411919906082768}},
		{"Clip", 13, nil, []*Tensor[float64]{v([]int{3}, -2, 0, 2), s(-1), s(1)}, []int{3}, []float64{-1, 0, 1}},
		{"Clip", 13, nil, []*Tensor[float64]{v([]int{3}, -2, 0, 2), nil, s(1)}, []int{3}, []float64{-2, 0, 1}},
		{"Clip", 13, nil, []*Tensor[float64]{v([]int{3}, -2, 0, 2), s(-1)}, []int{3}, []float64{-1, 0, 2}},
		{"Clip", 13, nil, []*Tensor[float64]{v([]int{3}, -2, 0, 2), s(1), s(0.5)}, []int{3}, []float64{0.5, 0.5, 0.5}},
		{"Clip", 7, Attrs{"min": aFloat(-1), "max": aFloat(1)}, []*Tensor[float64]{v([]int{3}, -2, 0, 2)}, []int{3}, []float64{-1, 0, 1}},
		{"Clip", 7, Attrs{"max": aFloat(1)}, []*Tensor[float64]{v([]int{3}, -2, 0, 2)}, []int{3}, []float64{-2, 0, 1}},
	}
	for _, c := range cases {
		_, y := runOp(t, c.op, c.opset, c.attrs, c.in...)
		if !SameShape(y[0].Shape, c.shape) {
			t.Errorf("%s %v: shape %v, want %v", c.op, c.attrs, y[0].Shape, c.shape)
		}
		wantClose(t, c.op, y[0].Data, c.want, 1e-7)
	}
}

// TestElementwiseKinks checks the PyTorch conventions at points where the
// derivative is not defined.
func TestElementwiseKinks(t *testing.T) {
	cases := []struct {
		op    string
		opset int64
		attrs Attrs
		in    []*Tensor[float64]
		want  []float64 // dy/dx, elementwise
	}{
		{"Relu", 17, nil, []*Tensor[float64]{FromData([]float64{-1, 0, 1}, 3)}, []float64{0, 0, 1}},
		{"Abs", 17, nil, []*Tensor[float64]{FromData([]float64{-1, 0, 1}, 3)}, []float64{-1, 0, 1}},
		{"LeakyRelu", 17, Attrs{"alpha": aFloat(0.1)}, []*Tensor[float64]{FromData([]float64{-1, 0, 1}, 3)}, []float64{0.1, 0.1, 1}},
		{"Elu", 17, Attrs{"alpha": aFloat(2)}, []*Tensor[float64]{FromData([]float64{0}, 1)}, []float64{2}},
		{"HardSigmoid", 17, nil, []*Tensor[float64]{FromData([]float64{-2.5, 0, 2.5, 3}, 4)}, []float64{0, 0.2, 0, 0}},
		{"Clip", 13, nil, []*Tensor[float64]{FromData([]float64{-2, -1, 0, 1, 2}, 5), Scalar(-1.0), Scalar(1.0)}, []float64{0, 1, 1, 1, 0}},
		{"Clip", 13, nil, []*Tensor[float64]{FromData([]float64{-2, 0, 2}, 3), Scalar(1.0), Scalar(0.5)}, []float64{0, 0, 0}},
		{"Pow", 17, nil, []*Tensor[float64]{FromData([]float64{0, 0, 2}, 3), FromData([]float64{0, 2, 0}, 3)}, []float64{0, 0, 0}},
	}
	for _, c := range cases {
		k, y := runOp(t, c.op, c.opset, c.attrs, c.in...)
		n := len(c.want)
		ones := New[float64](1, n)
		for i := range ones.Data {
			ones.Data[i] = 1
		}
		tin := make([]*Tensor[float64], len(c.in))
		tin[0] = ones
		jvp := k.JVP(c.in, y, tin, 1)
		wantClose(t, c.op+" JVP", jvp[0].Data, c.want, 1e-12)
		vjp := k.VJP(c.in, y, []*Tensor[float64]{ones}, 1)
		wantClose(t, c.op+" VJP", vjp[0].Data, c.want, 1e-12)
	}
	// Pow's exponent: ∂(aᵇ)/∂b = 0 at a = 0, b ≥ 0.
	a, b := FromData([]float64{0, 0, 2}, 3), FromData([]float64{0, 2, 3}, 3)
	k, y := runOp(t, "Pow", 17, nil, a, b)
	ones := FromData([]float64{1, 1, 1}, 1, 3)
	jvp := k.JVP([]*Tensor[float64]{a, b}, y, []*Tensor[float64]{nil, ones}, 1)
	wantClose(t, "Pow exponent JVP", jvp[0].Data, []float64{0, 0, 8 * math.Ln2}, 1e-12)
}

func TestElementwiseErrors(t *testing.T) {
	build := func(op string, opset int64, attrs Attrs, nin int) (Kernel[float64], error) {
		n := &Node{OpType: op, Opset: opset, Attrs: attrs, Out: []int{nin}}
		for i := 0; i < nin; i++ {
			n.In = append(n.In, i)
		}
		return NewKernel[float64](n)
	}
	if _, err := build("Gelu", 20, Attrs{"approximate": aStr("sigmoid")}, 1); err == nil {
		t.Error("Gelu with an unknown approximation: no error")
	}
	if _, err := build("Add", 6, Attrs{"broadcast": aInt(1)}, 2); err == nil {
		t.Error("Add with the legacy broadcast attribute: no error")
	}
	k, err := build("Add", 17, Attrs{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Forward([]*Tensor[float64]{New[float64](2, 3), New[float64](4)}); err == nil {
		t.Error("Add of [2,3] and [4]: no error")
	}
	if _, err := k.Forward([]*Tensor[float64]{New[float64](2, 3)}); err == nil {
		t.Error("Add with one input: no error")
	}
	if _, err := k.Forward([]*Tensor[float64]{New[float64](2, 3), nil}); err == nil {
		t.Error("Add with a nil input: no error")
	}
	k, err = build("Clip", 13, Attrs{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Forward([]*Tensor[float64]{New[float64](3), New[float64](2), nil}); err == nil {
		t.Error("Clip with a non-scalar min: no error")
	}
	k, err = build("Relu", 17, Attrs{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Forward(nil); err == nil {
		t.Error("Relu without input: no error")
	}
}

// TestElementwiseInputsUntouched checks that the rules leave their inputs as they were.
func TestElementwiseInputsUntouched(t *testing.T) {
	a := FromData([]float64{1, -2, 3, -4, 5, -6}, 2, 3)
	b := FromData([]float64{0.5, 2, -3}, 3)
	k, y := runOp(t, "Mul", 17, nil, a, b)
	ta := FromData([]float64{1, 2, 3, 4, 5, 6}, 1, 2, 3)
	tb := FromData([]float64{7, 8, 9}, 1, 3)
	g := FromData([]float64{1, 1, 1, 1, 1, 1}, 1, 2, 3)
	keep := [](*Tensor[float64]){a.Clone(), b.Clone(), ta.Clone(), tb.Clone(), g.Clone(), y[0].Clone()}
	k.JVP([]*Tensor[float64]{a, b}, y, []*Tensor[float64]{ta, tb}, 1)
	xb := k.VJP([]*Tensor[float64]{a, b}, y, []*Tensor[float64]{g}, 1)
	for i, x := range []*Tensor[float64]{a, b, ta, tb, g, y[0]} {
		wantClose(t, "input", x.Data, keep[i].Data, 0)
	}
	// b̄ = Σ over rows of a·ȳ.
	wantClose(t, "Mul VJP of the broadcast operand", xb[1].Data, []float64{-3, 3, -3}, 1e-12)
	if !SameShape(xb[1].Shape, []int{1, 3}) {
		t.Errorf("Mul VJP shape %v, want [1 3]", xb[1].Shape)
	}
}
