package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Gen says how a test input is made.
type Gen int

const (
	Normal   Gen = iota // standard normal
	Positive            // uniform in [0.5, 2]
	AwayZero            // ±uniform in [0.3, 2], away from kinks at 0
	Unit                // uniform in (-0.9, 0.9), inside (-1, 1)
)

// in is one input of a test case: random (Shape, Gen), fixed values
// (Const, for shapes, axes and indices, never differentiated), or omitted.
type in struct {
	Shape []int
	Gen   Gen
	Const []float64
	Omit  bool
}

// ruleCase is one test of an op: attributes, inputs and output count.
type ruleCase struct {
	Name   string
	Attrs  Attrs
	Inputs []in
	NumOut int   // default 1
	Opset  int64 // default 17
}

var ruleCases = map[string][]ruleCase{}

// addCases registers test cases for an op; call it from an init function
// in the op family's test file.
func addCases(op string, cases ...ruleCase) { ruleCases[op] = append(ruleCases[op], cases...) }

// Attribute helpers for test tables.
func aInt(v int64) Attr         { return Attr{Kind: AttrInt, I: v} }
func aFloat(v float64) Attr     { return Attr{Kind: AttrFloat, F: v} }
func aStr(v string) Attr        { return Attr{Kind: AttrString, S: v} }
func aInts(v ...int64) Attr     { return Attr{Kind: AttrInts, Ints: v} }
func aFloats(v ...float64) Attr { return Attr{Kind: AttrFloats, Floats: v} }

func (c ruleCase) node(op string) *Node {
	n := &Node{Name: c.Name, OpType: op, Attrs: c.Attrs, Opset: c.Opset}
	if n.Opset == 0 {
		n.Opset = 17
	}
	if n.Attrs == nil {
		n.Attrs = Attrs{}
	}
	for i, x := range c.Inputs {
		if x.Omit {
			n.In = append(n.In, -1)
		} else {
			n.In = append(n.In, i)
		}
	}
	nout := max(c.NumOut, 1)
	for j := 0; j < nout; j++ {
		n.Out = append(n.Out, len(c.Inputs)+j)
	}
	return n
}

func (c ruleCase) inputs(rng *rand.Rand) []*Tensor[float64] {
	xs := make([]*Tensor[float64], len(c.Inputs))
	for i, x := range c.Inputs {
		switch {
		case x.Omit:
		case x.Const != nil:
			shape := x.Shape
			if shape == nil {
				shape = []int{len(x.Const)}
			}
			xs[i] = FromData(append([]float64(nil), x.Const...), shape...)
		default:
			t := New[float64](x.Shape...)
			for j := range t.Data {
				t.Data[j] = draw(rng, x.Gen)
			}
			xs[i] = t
		}
	}
	return xs
}

func draw(rng *rand.Rand, g Gen) float64 {
	switch g {
	case Positive:
		return 0.5 + 1.5*rng.Float64()
	case AwayZero:
		v := 0.3 + 1.7*rng.Float64()
		if rng.IntN(2) == 0 {
			v = -v
		}
		return v
	case Unit:
		return 1.8*rng.Float64() - 0.9
	}
	return rng.NormFloat64()
}

func randomBlock(rng *rand.Rand, r int, shape []int) *Tensor[float64] {
	t := New[float64](BlockShape(r, shape)...)
	for j := range t.Data {
		t.Data[j] = rng.NormFloat64()
	}
	return t
}

// slice returns direction d of a block.
func slice(b *Tensor[float64], d int) []float64 {
	n := len(b.Data) / b.Shape[0]
	return b.Data[d*n : (d+1)*n]
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// TestEveryOpHasRuleCases fails for any registered op without a test spec.
func TestEveryOpHasRuleCases(t *testing.T) {
	for _, op := range Ops() {
		if len(ruleCases[op]) == 0 {
			t.Errorf("op %s has no rule test cases", op)
		}
	}
	for op := range ruleCases {
		if Lookup(op) == nil {
			t.Errorf("test cases for unregistered op %s", op)
		}
	}
}

// TestRules checks every op of the registry, in float64: the JVP against
// central finite differences, the adjoint identity ⟨u, VJP(w)⟩ = ⟨JVP(u), w⟩,
// a block of directions against single ones, and float32 against float64.
func TestRules(t *testing.T) {
	for _, op := range Ops() {
		for ci, c := range ruleCases[op] {
			t.Run(fmt.Sprintf("%s/%d_%s", op, ci, c.Name), func(t *testing.T) {
				checkRule(t, op, c)
			})
		}
	}
}

func checkRule(t *testing.T, op string, c ruleCase) {
	spec := Lookup(op)
	n := c.node(op)
	k, err := NewKernel[float64](n)
	if err != nil {
		t.Fatalf("kernel: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(c.Inputs))))
	x := c.inputs(rng)
	y, err := k.Forward(x)
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	const r = 3
	// Random tangents on the differentiable, random (non-constant) inputs.
	u := make([]*Tensor[float64], len(x))
	for i, xi := range x {
		if xi != nil && spec.IsDiff(i) && c.Inputs[i].Const == nil {
			u[i] = randomBlock(rng, r, xi.Shape)
		}
	}
	yd := k.JVP(x, y, u, r)

	// JVP against central differences, direction by direction.
	const h = 1e-6
	for d := 0; d < r; d++ {
		xp, xm := shift(x, u, d, h), shift(x, u, d, -h)
		yp, err1 := k.Forward(xp)
		ym, err2 := k.Forward(xm)
		if err1 != nil || err2 != nil {
			t.Fatalf("forward at shifted inputs: %v %v", err1, err2)
		}
		for j := range y {
			fd := make([]float64, len(y[j].Data))
			for e := range fd {
				fd[e] = (yp[j].Data[e] - ym[j].Data[e]) / (2 * h)
			}
			var got []float64
			if j < len(yd) && yd[j] != nil {
				got = slice(yd[j], d)
			} else {
				got = make([]float64, len(fd))
			}
			if e := relErr(got, fd); e > 1e-6 {
				t.Errorf("output %d direction %d: JVP vs central differences: relative error %.3g", j, d, e)
			}
		}
	}

	// Adjoint identity with random cotangents on every output.
	w := make([]*Tensor[float64], len(y))
	for j := range y {
		w[j] = randomBlock(rng, r, y[j].Shape)
	}
	xb := k.VJP(x, y, w, r)
	for d := 0; d < r; d++ {
		lhs, rhs, scale := 0.0, 0.0, 0.0
		for i := range u {
			if u[i] != nil && i < len(xb) && xb[i] != nil {
				lhs += dot(slice(u[i], d), slice(xb[i], d))
				scale += norm(slice(u[i], d)) * norm(slice(xb[i], d))
			}
		}
		for j := range y {
			if j < len(yd) && yd[j] != nil {
				rhs += dot(slice(yd[j], d), slice(w[j], d))
				scale += norm(slice(yd[j], d)) * norm(slice(w[j], d))
			}
		}
		if math.Abs(lhs-rhs) > 1e-10*math.Max(scale, 1e-300) {
			t.Errorf("direction %d: adjoint identity ⟨u,VJP(w)⟩=%.15g, ⟨JVP(u),w⟩=%.15g", d, lhs, rhs)
		}
	}

	// A block of r directions equals r single-direction sweeps.
	for d := 0; d < r; d++ {
		ud := make([]*Tensor[float64], len(u))
		for i := range u {
			if u[i] != nil {
				ud[i] = FromData(append([]float64(nil), slice(u[i], d)...), BlockShape(1, x[i].Shape)...)
			}
		}
		y1 := k.JVP(x, y, ud, 1)
		for j := range y {
			var a, b []float64
			if j < len(yd) && yd[j] != nil {
				a = slice(yd[j], d)
			}
			if j < len(y1) && y1[j] != nil {
				b = y1[j].Data
			}
			if (a == nil) != (b == nil) || (a != nil && relErr(a, b) > 1e-12) {
				t.Errorf("output %d direction %d: block JVP differs from single JVP", j, d)
			}
		}
	}

	// float32 forward and JVP agree with float64.
	k32, err := NewKernel[float32](n)
	if err != nil {
		t.Fatalf("float32 kernel: %v", err)
	}
	x32 := make([]*Tensor[float32], len(x))
	u32 := make([]*Tensor[float32], len(u))
	for i := range x {
		x32[i] = Convert[float32](x[i])
		u32[i] = Convert[float32](u[i])
	}
	y32, err := k32.Forward(x32)
	if err != nil {
		t.Fatalf("float32 forward: %v", err)
	}
	yd32 := k32.JVP(x32, y32, u32, r)
	for j := range y {
		if e := relErr(Convert[float64](y32[j]).Data, y[j].Data); e > 1e-4 {
			t.Errorf("output %d: float32 forward differs from float64 by %.3g", j, e)
		}
		if j < len(yd) && yd[j] != nil {
			if j >= len(yd32) || yd32[j] == nil {
				t.Errorf("output %d: float32 JVP is zero, float64 is not", j)
			} else if e := relErr(Convert[float64](yd32[j]).Data, yd[j].Data); e > 1e-4 {
				t.Errorf("output %d: float32 JVP differs from float64 by %.3g", j, e)
			}
		}
	}
}

// shift returns x + h·u_d for direction d of the tangent blocks u.
func shift(x, u []*Tensor[float64], d int, h float64) []*Tensor[float64] {
	out := make([]*Tensor[float64], len(x))
	for i := range x {
		if x[i] == nil || u[i] == nil {
			out[i] = x[i]
			continue
		}
		c := x[i].Clone()
		for e, v := range slice(u[i], d) {
			c.Data[e] += h * v
		}
		out[i] = c
	}
	return out
}

// relErr is ‖a − b‖ / max(‖b‖, 1e-12·len), an error relative to the reference b.
func relErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	num := 0.0
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
	}
	den := math.Max(norm(b), 1e-9)
	return math.Sqrt(num) / den
}
