package export

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// A rule emits the tangent subgraph of one node: from the node's inputs,
// outputs and input tangents (ruleArgs) it returns the names of its
// outputs' tangents ("" for zero). Every tangent has the shape of its
// value; rules whose result would be broadcast-smaller expand it.
type rule func(b *builder, a *ruleArgs) ([]string, error)

var rules = map[string]rule{}

func init() {
	for op, df := range unaryRules {
		rules[op] = unary(df)
	}
	for _, op := range []string{"Identity", "Dropout"} {
		rules[op] = alias
	}
	for _, op := range []string{"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Split",
		"Slice", "Expand", "Gather", "ReduceSum", "ReduceMean", "AveragePool", "GlobalAveragePool"} {
		rules[op] = sameOp
	}
	rules["Cast"] = castRule
	rules["Pad"] = padRule
	rules["Concat"] = concatRule
	rules["Add"] = addRule
	rules["Sub"] = addRule
	rules["Mul"] = mulRule
	rules["Div"] = divRule
	rules["Pow"] = powRule
	rules["Clip"] = clipRule
	rules["Gemm"] = gemmRule
	rules["MatMul"] = matMulRule
	rules["Conv"] = convRule
	rules["ConvTranspose"] = convRule
	rules["BatchNormalization"] = batchNormRule
	rules["LayerNormalization"] = normRule
	rules["InstanceNormalization"] = normRule
	rules["Softmax"] = softmaxRule
	rules["LogSoftmax"] = softmaxRule
	rules["MaxPool"] = maxPoolRule
	rules["GlobalMaxPool"] = maxPoolRule
}

// Rules returns the op types that have an export rule.
func Rules() []string {
	out := make([]string, 0, len(rules))
	for op := range rules {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------------------
// Helpers.

// sum returns the sum of the nonempty terms ("" when there are none).
func (b *builder) sum(terms ...string) string {
	acc := ""
	for _, t := range terms {
		switch {
		case t == "":
		case acc == "":
			acc = t
		default:
			acc = b.op("Add", nil, acc, t)
		}
	}
	return acc
}

// expandTo broadcasts tangent t (of shape ts) to the shape of value y (ys)
// unless the static shapes show it already has it.
func (b *builder) expandTo(t string, ts, ys []int, y string) string {
	if t == "" || staticSame(ts, ys) {
		return t
	}
	return b.op("Expand", nil, t, b.op("Shape", nil, y))
}

// staticSame reports whether two static shapes are known and equal (the
// batch dimension equals itself).
func staticSame(a, c []int) bool {
	if a == nil || c == nil || len(a) != len(c) {
		return false
	}
	for i := range a {
		if a[i] != c[i] || (a[i] < 0 && a[i] != autodiff.Batch) {
			return false
		}
	}
	return true
}

// zerosLike returns exact zeros of x's shape.
func (b *builder) zerosLike(x string) string {
	return b.op("Expand", nil, b.scalar(0), b.op("Shape", nil, x))
}

// stepScale is 2¹²⁷: two saturating stages of x·2¹²⁷ lift the smallest
// positive float32 (2⁻¹⁴⁹) past 1.
const stepScale = 0x1p127

// step returns [x > 0] as 0/1 floats, built from ops every runtime (and
// this project's importer) has: Clip(Clip(x·2¹²⁷, 0, 1)·2¹²⁷, 0, 1). It is
// exact for every float32 x (subnormals included, unless the runtime
// flushes them to zero); Greater and Where would need comparison ops the
// importer does not read.
func (b *builder) step(x string) string {
	c, zero, one := b.scalar(stepScale), b.scalar(0), b.scalar(1)
	s := b.op("Clip", nil, b.op("Mul", nil, x, c), zero, one)
	return b.op("Clip", nil, b.op("Mul", nil, s, c), zero, one)
}

// oneMinus returns 1 − x.
func (b *builder) oneMinus(x string) string { return b.op("Sub", nil, b.scalar(1), x) }

// mulC returns x·c for a constant c.
func (b *builder) mulC(x string, c float64) string { return b.op("Mul", nil, x, b.scalar(c)) }

// normAxis returns axis in [0, rank).
func normAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// reduce emits op (ReduceSum or ReduceMean) over axes with keepdims=1, in
// the exported opset's form (axes an input for ReduceSum from 13 and
// ReduceMean from 18).
func (b *builder) reduce(op, x string, axes []int) string {
	since := int64(13)
	if op == "ReduceMean" {
		since = 18
	}
	if b.opset >= since {
		return b.op(op, []attrProto{aInt("keepdims", 1)}, x, b.ints(axes...))
	}
	return b.op(op, []attrProto{aInts("axes", axes...), aInt("keepdims", 1)}, x)
}

// ---------------------------------------------------------------------------
// Linear ops: the tangent goes through the same op.

// alias: Identity and Dropout (inference) pass the tangent on.
func alias(b *builder, a *ruleArgs) ([]string, error) { return []string{a.dx[0]}, nil }

// sameOp applies the node's op to the tangent of input 0 with the same
// other inputs and attributes: every op here is linear in input 0.
func sameOp(b *builder, a *ruleArgs) ([]string, error) {
	in := append([]string{a.dx[0]}, a.in[1:]...)
	outs := make([]string, len(a.out))
	for i, o := range a.out {
		if o != "" {
			outs[i] = b.fresh(o + "__d")
		} else {
			outs[i] = b.fresh(b.ctx + "__jvp_unused")
		}
	}
	b.emit(a.n.OpType, in, a.attrs, outs...)
	return outs, nil
}

// castRule: a cast to a float type passes the tangent; integers carry none.
func castRule(b *builder, a *ruleArgs) ([]string, error) {
	switch a.n.Attrs.Int("to", typeFloat) {
	case 1, 10, 11, 16: // FLOAT, FLOAT16, DOUBLE, BFLOAT16
		return sameOp(b, a)
	}
	return []string{""}, nil
}

// padRule: Pad is linear in the data when the constant pad value is
// replaced by zero (edge and reflect modes copy input elements).
func padRule(b *builder, a *ruleArgs) ([]string, error) {
	in := []string{a.dx[0], a.in[1]}
	if len(a.in) > 3 && a.in[3] != "" {
		in = append(in, "", a.in[3])
	}
	out := b.fresh(a.out[0] + "__d")
	b.emit("Pad", in, a.attrs, out)
	return []string{out}, nil
}

// concatRule concatenates the tangents, zeros standing in for inputs
// without one.
func concatRule(b *builder, a *ruleArgs) ([]string, error) {
	in := make([]string, len(a.in))
	for i := range a.in {
		in[i] = a.dx[i]
		if in[i] == "" {
			in[i] = b.zerosLike(a.in[i])
		}
	}
	out := b.fresh(a.out[0] + "__d")
	b.emit("Concat", in, a.attrs, out)
	return []string{out}, nil
}

// ---------------------------------------------------------------------------
// Elementwise ops.

// unaryRules give each unary op's derivative f'(x) as a subgraph of x and
// y = f(x); the tangent is dY = f'(x)·dX.
var unaryRules = map[string]func(b *builder, n *autodiff.Node, x, y string) string{
	// Relu: [x > 0].
	"Relu": func(b *builder, n *autodiff.Node, x, y string) string { return b.step(x) },
	// LeakyRelu: α + (1 − α)·[x > 0].
	"LeakyRelu": func(b *builder, n *autodiff.Node, x, y string) string {
		alpha := n.Attrs.Float("alpha", 0.01)
		return b.op("Add", nil, b.scalar(alpha), b.mulC(b.step(x), 1-alpha))
	},
	// Elu: [x > 0] + [x ≤ 0]·αeˣ, with αeˣ = y + α there.
	"Elu": func(b *builder, n *autodiff.Node, x, y string) string {
		alpha := n.Attrs.Float("alpha", 1)
		s := b.step(x)
		return b.op("Add", nil, s, b.op("Mul", nil, b.oneMinus(s), b.op("Add", nil, y, b.scalar(alpha))))
	},
	// Selu: γ[x > 0] + [x ≤ 0]·γαeˣ, with γαeˣ = y + γα there.
	"Selu": func(b *builder, n *autodiff.Node, x, y string) string {
		alpha := n.Attrs.Float("alpha", 1.67326319217681884765625)
		gamma := n.Attrs.Float("gamma", 1.05070102214813232421875)
		s := b.step(x)
		return b.op("Add", nil, b.mulC(s, gamma), b.op("Mul", nil, b.oneMinus(s), b.op("Add", nil, y, b.scalar(gamma*alpha))))
	},
	// Abs: [x > 0] − [x < 0].
	"Abs": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.op("Sub", nil, b.step(x), b.step(b.op("Neg", nil, x)))
	},
	// Neg: −1.
	"Neg": func(b *builder, n *autodiff.Node, x, y string) string { return b.scalar(-1) },
	// Sigmoid: y(1 − y).
	"Sigmoid": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.op("Mul", nil, y, b.oneMinus(y))
	},
	// Tanh: 1 − y².
	"Tanh": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.oneMinus(b.op("Mul", nil, y, y))
	},
	// Exp: y.
	"Exp": func(b *builder, n *autodiff.Node, x, y string) string { return y },
	// Log: 1/x.
	"Log": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.op("Div", nil, b.scalar(1), x)
	},
	// Sqrt: 1/(2y).
	"Sqrt": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.op("Div", nil, b.scalar(0.5), y)
	},
	// Softplus: σ(x).
	"Softplus": func(b *builder, n *autodiff.Node, x, y string) string { return b.op("Sigmoid", nil, x) },
	// Erf: (2/√π)·exp(−x²).
	"Erf": func(b *builder, n *autodiff.Node, x, y string) string {
		return b.mulC(b.op("Exp", nil, b.op("Neg", nil, b.op("Mul", nil, x, x))), 2/math.Sqrt(math.Pi))
	},
	// HardSigmoid: α·[0 < y < 1].
	"HardSigmoid": func(b *builder, n *autodiff.Node, x, y string) string {
		alpha := n.Attrs.Float("alpha", 0.2)
		return b.mulC(b.op("Mul", nil, b.step(y), b.step(b.oneMinus(y))), alpha)
	},
	// Gelu: Φ(x) + x·φ(x); with approximate="tanh", ½(1+t) + ½x(1−t²)·√(2/π)(1+3c·x²),
	// t = tanh(√(2/π)(x + c·x³)), c = 0.044715.
	"Gelu": func(b *builder, n *autodiff.Node, x, y string) string {
		if n.Attrs.String("approximate", "none") == "tanh" {
			const c = 0.044715
			k := math.Sqrt(2 / math.Pi)
			x2 := b.op("Mul", nil, x, x)
			inner := b.mulC(b.op("Add", nil, x, b.mulC(b.op("Mul", nil, x2, x), c)), k)
			t := b.op("Tanh", nil, inner)
			half := b.mulC(b.op("Add", nil, b.scalar(1), t), 0.5)
			slope := b.mulC(b.op("Add", nil, b.scalar(1), b.mulC(x2, 3*c)), k)
			return b.op("Add", nil, half, b.op("Mul", nil, b.mulC(x, 0.5), b.op("Mul", nil, b.oneMinus(b.op("Mul", nil, t, t)), slope)))
		}
		cdf := b.mulC(b.op("Add", nil, b.scalar(1), b.op("Erf", nil, b.mulC(x, 1/math.Sqrt2))), 0.5)
		pdf := b.mulC(b.op("Exp", nil, b.mulC(b.op("Mul", nil, x, x), -0.5)), 1/math.Sqrt(2*math.Pi))
		return b.op("Add", nil, cdf, b.op("Mul", nil, x, pdf))
	},
}

func unary(df func(b *builder, n *autodiff.Node, x, y string) string) rule {
	return func(b *builder, a *ruleArgs) ([]string, error) {
		if a.n.OpType == "Neg" {
			return []string{b.op("Neg", nil, a.dx[0])}, nil
		}
		return []string{b.op("Mul", nil, a.dx[0], df(b, a.n, a.in[0], a.out[0]))}, nil
	}
}

// clipRule: dY = [lo ≤ x ≤ hi]·dX, each bound given as an input (the
// opset-11 form), [lo ≤ x] = 1 − [lo − x > 0].
func clipRule(b *builder, a *ruleArgs) ([]string, error) {
	x := a.in[0]
	mask := ""
	if len(a.in) > 1 && a.in[1] != "" {
		mask = b.oneMinus(b.step(b.op("Sub", nil, a.in[1], x)))
	}
	if len(a.in) > 2 && a.in[2] != "" {
		hi := b.oneMinus(b.step(b.op("Sub", nil, x, a.in[2])))
		if mask == "" {
			mask = hi
		} else {
			mask = b.op("Mul", nil, mask, hi)
		}
	}
	if mask == "" {
		return []string{a.dx[0]}, nil
	}
	return []string{b.op("Mul", nil, a.dx[0], mask)}, nil
}

// addRule: Add dY = dA + dB, Sub dY = dA − dB, broadcast to Y's shape.
func addRule(b *builder, a *ruleArgs) ([]string, error) {
	da, db := a.dx[0], a.dx[1]
	ys := a.outShape(b, 0)
	switch {
	case da != "" && db != "":
		return []string{b.op(a.n.OpType, nil, da, db)}, nil
	case da != "":
		return []string{b.expandTo(da, a.inShape(b, 0), ys, a.out[0])}, nil
	default:
		if a.n.OpType == "Sub" {
			db = b.op("Neg", nil, db)
		}
		return []string{b.expandTo(db, a.inShape(b, 1), ys, a.out[0])}, nil
	}
}

// mulRule: dY = dA·B + A·dB.
func mulRule(b *builder, a *ruleArgs) ([]string, error) {
	var t1, t2 string
	if a.dx[0] != "" {
		t1 = b.op("Mul", nil, a.dx[0], a.in[1])
	}
	if a.dx[1] != "" {
		t2 = b.op("Mul", nil, a.in[0], a.dx[1])
	}
	return []string{b.sum(t1, t2)}, nil
}

// divRule: dY = dA/B − Y·dB/B.
func divRule(b *builder, a *ruleArgs) ([]string, error) {
	if a.n.IntOut {
		return []string{""}, nil
	}
	var t1, t2 string
	if a.dx[0] != "" {
		t1 = b.op("Div", nil, a.dx[0], a.in[1])
	}
	if a.dx[1] != "" {
		t2 = b.op("Div", nil, b.op("Mul", nil, a.out[0], a.dx[1]), a.in[1])
	}
	switch {
	case t1 == "":
		return []string{b.op("Neg", nil, t2)}, nil
	case t2 == "":
		return []string{t1}, nil
	}
	return []string{b.op("Sub", nil, t1, t2)}, nil
}

// powRule: dY = b·a^(b−1)·dA for an exponent without a tangent, 0 where
// b = 0 (written as b·a¹ there when b is a constant, so that a = 0 gives 0
// as in the engine).
func powRule(b *builder, a *ruleArgs) ([]string, error) {
	if a.dx[1] != "" {
		return nil, errors.New("Pow with an exponent that depends on the adapted parameters has no export rule")
	}
	exp := a.in[1]
	var bm1 string
	if data := b.constData(a.n.In[1]); data != nil {
		allZero := true
		d := make([]float64, len(data))
		for i, v := range data {
			d[i] = v - 1
			if v == 0 {
				d[i] = 1
			} else {
				allZero = false
			}
		}
		if allZero {
			return []string{""}, nil
		}
		bm1 = b.tensor(b.shape(a.n.In[1]), d)
	} else {
		bm1 = b.op("Sub", nil, exp, b.scalar(1))
	}
	c := b.op("Mul", nil, exp, b.op("Pow", nil, a.in[0], bm1))
	return []string{b.op("Mul", nil, a.dx[0], c)}, nil
}

// ---------------------------------------------------------------------------
// Products.

// gemmRule: Y = α·A'·B' + β·C, dY = α·dA'·B' + α·A'·dB' + β·dC, written as
// Gemm(dA, B, dC) + Gemm(A, dB) with the node's attributes (β·dC rides on
// the first Gemm, broadcast as C is).
func gemmRule(b *builder, a *ruleArgs) ([]string, error) {
	da, db := a.dx[0], a.dx[1]
	dc := ""
	if len(a.dx) > 2 {
		dc = a.dx[2]
	}
	attrs := func(withC bool) []attrProto {
		var at []attrProto
		for _, name := range []string{"alpha", "transA", "transB"} {
			if v, ok := a.n.Attrs[name]; ok {
				if v.Kind == autodiff.AttrFloat {
					at = append(at, aFloat(name, v.F))
				} else {
					at = append(at, aInt(name, v.I))
				}
			}
		}
		if withC && a.n.Attrs.Has("beta") {
			at = append(at, aFloat("beta", a.n.Attrs.Float("beta", 1)))
		}
		return at
	}
	var terms []string
	for _, t := range [][2]string{{da, a.in[1]}, {a.in[0], db}} {
		if t[0] == "" || t[1] == "" {
			continue
		}
		in := []string{t[0], t[1]}
		if dc != "" {
			in = append(in, dc)
		}
		terms = append(terms, b.op("Gemm", attrs(dc != ""), in...))
		dc = ""
	}
	if dc != "" {
		t := dc
		if beta := a.n.Attrs.Float("beta", 1); beta != 1 {
			t = b.mulC(t, beta)
		}
		terms = append(terms, b.expandTo(t, a.inShape(b, 2), a.outShape(b, 0), a.out[0]))
	}
	return []string{b.sum(terms...)}, nil
}

// matMulRule: dY = dA·B + A·dB.
func matMulRule(b *builder, a *ruleArgs) ([]string, error) {
	var t1, t2 string
	if a.dx[0] != "" {
		t1 = b.op("MatMul", nil, a.dx[0], a.in[1])
	}
	if a.dx[1] != "" {
		t2 = b.op("MatMul", nil, a.in[0], a.dx[1])
	}
	return []string{b.sum(t1, t2)}, nil
}

// convRule (Conv, ConvTranspose): bilinear in (X, W) plus the bias,
// dY = conv(dX, W, dB) + conv(X, dW): the bias tangent rides on the first
// term; alone it is dB reshaped to [C, 1, ...] and broadcast.
func convRule(b *builder, a *ruleArgs) ([]string, error) {
	dX, dW := a.dx[0], a.dx[1]
	dB := ""
	if len(a.dx) > 2 {
		dB = a.dx[2]
	}
	attrs := a.attrs
	var terms []string
	if dX != "" {
		in := []string{dX, a.in[1]}
		if dB != "" {
			in = append(in, dB)
			dB = ""
		}
		terms = append(terms, b.op(a.n.OpType, attrs, in...))
	}
	if dW != "" {
		in := []string{a.in[0], dW}
		if dB != "" {
			in = append(in, dB)
			dB = ""
		}
		terms = append(terms, b.op(a.n.OpType, attrs, in...))
	}
	if dB != "" {
		ys := a.outShape(b, 0)
		if len(ys) < 2 {
			return nil, errors.New("unknown output rank")
		}
		shape := []int{-1}
		for range ys[2:] {
			shape = append(shape, 1)
		}
		terms = append(terms, b.expandTo(b.op("Reshape", nil, dB, b.ints(shape...)), nil, ys, a.out[0]))
	}
	return []string{b.sum(terms...)}, nil
}

// ---------------------------------------------------------------------------
// Normalization.

// batchNormRule (inference): Y = s·(X − μ)/√(σ²+ε) + B with constant
// statistics; dY = BN(dX; s, 0, 0, σ²) + BN(X; ds, dB, μ, σ²), zeros
// standing in for missing tangents.
func batchNormRule(b *builder, a *ruleArgs) ([]string, error) {
	var eps []attrProto
	if a.n.Attrs.Has("epsilon") {
		eps = []attrProto{aFloat("epsilon", a.n.Attrs.Float("epsilon", 1e-5))}
	}
	cs := a.inShape(b, 1)
	if len(cs) != 1 || cs[0] < 0 {
		return nil, errors.New("unknown channel count")
	}
	zeros := b.tensor(cs, make([]float64, cs[0]))
	var terms []string
	if a.dx[0] != "" {
		terms = append(terms, b.op("BatchNormalization", eps, a.dx[0], a.in[1], zeros, zeros, a.in[4]))
	}
	if a.dx[1] != "" || a.dx[2] != "" {
		ds, dB := a.dx[1], a.dx[2]
		if ds == "" {
			ds = zeros
		}
		if dB == "" {
			dB = zeros
		}
		terms = append(terms, b.op("BatchNormalization", eps, a.in[0], ds, dB, a.in[3], a.in[4]))
	}
	return []string{b.sum(terms...)}, nil
}

// normRule (LayerNormalization over the axes from axis on,
// InstanceNormalization over the spatial axes, per channel):
//
//	x̂ = (x − μ)·r,  r = 1/√(var + ε),  y = s·x̂ + B
//	dx̂ = r·(dx − mean(dx) − x̂·mean(dx·x̂)),  dY = s·dx̂ + ds·x̂ + dB
//
// with the means over the normalized axes; InstanceNormalization's s, ds
// and dB are reshaped to [C, 1, ...].
func normRule(b *builder, a *ruleArgs) ([]string, error) {
	xs := a.inShape(b, 0)
	rank := len(xs)
	if rank == 0 {
		return nil, errors.New("unknown input rank")
	}
	if len(a.out) > 1 {
		for _, o := range a.n.Out[1:] {
			if o >= 0 {
				return nil, errors.New("the Mean and InvStdDev outputs have no export rule")
			}
		}
	}
	var axes []int
	perChannel := a.n.OpType == "InstanceNormalization"
	if perChannel {
		for i := 2; i < rank; i++ {
			axes = append(axes, i)
		}
	} else {
		axis, err := normAxis(int(a.n.Attrs.Int("axis", -1)), rank)
		if err != nil {
			return nil, err
		}
		for i := axis; i < rank; i++ {
			axes = append(axes, i)
		}
	}
	eps := a.n.Attrs.Float("epsilon", 1e-5)
	chan1 := func(v string) string {
		if !perChannel || v == "" {
			return v
		}
		shape := []int{-1}
		for i := 2; i < rank; i++ {
			shape = append(shape, 1)
		}
		return b.op("Reshape", nil, v, b.ints(shape...))
	}
	x := a.in[0]
	mu := b.reduce("ReduceMean", x, axes)
	d := b.op("Sub", nil, x, mu)
	v := b.reduce("ReduceMean", b.op("Mul", nil, d, d), axes)
	r := b.op("Div", nil, b.scalar(1), b.op("Sqrt", nil, b.op("Add", nil, v, b.scalar(float32Round(eps)))))
	xh := b.op("Mul", nil, d, r)
	var terms []string
	if dx := a.dx[0]; dx != "" {
		m1 := b.reduce("ReduceMean", dx, axes)
		m2 := b.reduce("ReduceMean", b.op("Mul", nil, dx, xh), axes)
		dxh := b.op("Mul", nil, r, b.op("Sub", nil, b.op("Sub", nil, dx, m1), b.op("Mul", nil, xh, m2)))
		terms = append(terms, b.op("Mul", nil, dxh, chan1(a.in[1])))
	}
	if len(a.dx) > 1 && a.dx[1] != "" {
		terms = append(terms, b.op("Mul", nil, xh, chan1(a.dx[1])))
	}
	if len(a.dx) > 2 && a.dx[2] != "" {
		db := chan1(a.dx[2])
		if len(terms) == 0 {
			db = b.expandTo(db, nil, a.outShape(b, 0), a.out[0])
		}
		terms = append(terms, db)
	}
	return []string{b.sum(terms...)}, nil
}

// float32Round rounds an attribute to the float32 the model stores.
func float32Round(v float64) float64 { return float64(float32(v)) }

// softmaxRule: Softmax dY = Y⊙(dX − Σ Y⊙dX), LogSoftmax dY = dX − Σ e^Y⊙dX,
// the sums over the softmax axes (the one axis from opset 13, the axes
// from axis on before, where the input is coerced to 2-D), kept.
func softmaxRule(b *builder, a *ruleArgs) ([]string, error) {
	rank := len(a.inShape(b, 0))
	if rank == 0 {
		return nil, errors.New("unknown input rank")
	}
	var axes []int
	if a.n.Opset >= 13 {
		axis, err := normAxis(int(a.n.Attrs.Int("axis", -1)), rank)
		if err != nil {
			return nil, err
		}
		axes = []int{axis}
	} else {
		axis, err := normAxis(int(a.n.Attrs.Int("axis", 1)), rank)
		if err != nil {
			return nil, err
		}
		for i := axis; i < rank; i++ {
			axes = append(axes, i)
		}
	}
	dx, y := a.dx[0], a.out[0]
	if a.n.OpType == "LogSoftmax" {
		p := b.op("Exp", nil, y)
		return []string{b.op("Sub", nil, dx, b.reduce("ReduceSum", b.op("Mul", nil, p, dx), axes))}, nil
	}
	s := b.reduce("ReduceSum", b.op("Mul", nil, y, dx), axes)
	return []string{b.op("Mul", nil, y, b.op("Sub", nil, dx, s))}, nil
}

// ---------------------------------------------------------------------------
// Max pooling.

// maxPoolRule routes the tangent through each window's first maximum, as
// the engine does, with ops the importer reads (no Indices output, no
// GatherElements):
//
//  1. P, dP: the windows' taps of X and dX as channels, [N·C, K, O...]: a
//     Conv of the planes with K one-hot kernels (GlobalMaxPool: a Reshape).
//  2. e = V⊙[P ≥ Y] = V⊙(1 − step(Y − P)): the taps equal to the maximum,
//     V masking taps in the padding (a constant).
//  3. z = e⊙(K − t) and its maximum m over t (a MaxPool over the tap
//     axis): sel = [z = m] = 1 − Clip(m − z, 0, 1) is one-hot at the first
//     maximum.
//  4. dY = Σ_t sel⊙dP, reshaped to Y's shape.
func maxPoolRule(b *builder, a *ruleArgs) ([]string, error) {
	xs, ys := a.inShape(b, 0), a.outShape(b, 0)
	if len(xs) < 3 || len(ys) != len(xs) {
		return nil, errors.New("unknown input or output rank")
	}
	sp, osp := xs[2:], ys[2:]
	for i := range sp {
		if sp[i] < 0 || osp[i] < 0 || xs[1] < 0 {
			return nil, fmt.Errorf("needs static channel and spatial sizes, input %s", autodiff.ShapeString(xs))
		}
	}
	x, dx, y := a.in[0], a.dx[0], a.out[0]
	var p, dp, v string
	var k int
	var out []int // output spatial shape of the tap tensors
	if a.n.OpType == "GlobalMaxPool" {
		k = autodiff.Size(sp)
		out = []int{1}
		shape := b.ints(-1, k, 1)
		p, dp = b.op("Reshape", nil, x, shape), b.op("Reshape", nil, dx, shape)
	} else {
		g, err := poolGeometry(a.n, sp, osp)
		if err != nil {
			return nil, err
		}
		k, out = g.k, osp
		planes := b.ints(append([]int{-1, 1}, sp...)...)
		w := b.tensor(append([]int{k, 1}, g.kernel...), g.oneHot())
		attrs := []attrProto{aInts("kernel_shape", g.kernel...), aInts("strides", g.strides...),
			aInts("dilations", g.dilations...), aInts("pads", g.pads...)}
		p = b.op("Conv", attrs, b.op("Reshape", nil, x, planes), w)
		dp = b.op("Conv", attrs, b.op("Reshape", nil, dx, planes), w)
		if valid, all := g.valid(); !all {
			v = b.tensor(append([]int{1, k}, osp...), valid)
		}
	}
	yr := b.op("Reshape", nil, y, b.ints(append([]int{-1, 1}, out...)...))
	e := b.oneMinus(b.step(b.op("Sub", nil, yr, p)))
	if v != "" {
		e = b.op("Mul", nil, e, v)
	}
	rank := make([]float64, k)
	for t := range rank {
		rank[t] = float64(k - t)
	}
	rshape := []int{1, k}
	for range out {
		rshape = append(rshape, 1)
	}
	z := b.op("Mul", nil, e, b.tensor(rshape, rank))
	no := autodiff.Size(out)
	zr := b.op("Reshape", nil, z, b.ints(-1, 1, k, no))
	m := b.op("MaxPool", []attrProto{aInts("kernel_shape", k, 1)}, zr)
	m = b.op("Reshape", nil, m, b.ints(append([]int{-1, 1}, out...)...))
	sel := b.oneMinus(b.op("Clip", nil, b.op("Sub", nil, m, z), b.scalar(0), b.scalar(1)))
	dy := b.op("ReduceSum", []attrProto{aInt("keepdims", 0)}, b.op("Mul", nil, sel, dp), b.ints(1))
	return []string{b.op("Reshape", nil, dy, b.ints(append([]int{-1, xs[1]}, osp...)...))}, nil
}

// pool is the window geometry of a MaxPool node as explicit Conv
// attributes.
type pool struct {
	kernel, strides, dilations []int
	pads                       []int // begins, then ends
	in, out                    []int // spatial shapes
	k                          int
}

// poolGeometry resolves auto_pad and ceil_mode into explicit pads whose
// floor-mode output is exactly the node's output shape osp.
func poolGeometry(n *autodiff.Node, sp, osp []int) (*pool, error) {
	d := len(sp)
	fill := func(v []int, def int, size int) []int {
		if v == nil {
			v = make([]int, size)
			for i := range v {
				v[i] = def
			}
		}
		return v
	}
	g := &pool{
		kernel:    n.Attrs.Ints("kernel_shape"),
		strides:   fill(n.Attrs.Ints("strides"), 1, d),
		dilations: fill(n.Attrs.Ints("dilations"), 1, d),
		in:        sp, out: osp,
	}
	pads := fill(n.Attrs.Ints("pads"), 0, 2*d)
	if len(g.kernel) != d || len(g.strides) != d || len(g.dilations) != d || len(pads) != 2*d {
		return nil, errors.New("window attributes do not match the input rank")
	}
	g.k = autodiff.Size(g.kernel)
	g.pads = make([]int, 2*d)
	autoPad := n.Attrs.String("auto_pad", "NOTSET")
	for i := 0; i < d; i++ {
		eff := (g.kernel[i]-1)*g.dilations[i] + 1
		var begin int
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			total := max((osp[i]-1)*g.strides[i]+eff-sp[i], 0)
			begin = total / 2
			if autoPad == "SAME_LOWER" {
				begin = total - total/2
			}
		case "VALID":
		default:
			begin = pads[i]
		}
		g.pads[i] = begin
		g.pads[d+i] = max(0, (osp[i]-1)*g.strides[i]+eff-sp[i]-begin)
	}
	return g, nil
}

// oneHot returns the K kernels [K, 1, kernel...] picking each tap.
func (g *pool) oneHot() []float64 {
	w := make([]float64, g.k*g.k)
	for t := 0; t < g.k; t++ {
		w[t*g.k+t] = 1
	}
	return w
}

// valid returns V [1, K, out...]: 1 where tap t of window o lies inside
// the input, and whether every tap does.
func (g *pool) valid() ([]float64, bool) {
	d := len(g.in)
	no := autodiff.Size(g.out)
	v := make([]float64, g.k*no)
	all := true
	kStr, oStr := autodiff.Strides(g.kernel), autodiff.Strides(g.out)
	for t := 0; t < g.k; t++ {
		for o := 0; o < no; o++ {
			inside := true
			for i := 0; i < d; i++ {
				c := (o/oStr[i]%g.out[i])*g.strides[i] - g.pads[i] + (t/kStr[i]%g.kernel[i])*g.dilations[i]
				if c < 0 || c >= g.in[i] {
					inside = false
				}
			}
			if inside {
				v[t*no+o] = 1
			} else {
				all = false
			}
		}
	}
	return v, all
}
