package autodiff

import (
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// Elementwise ops: y_k = f(x_k) for the unary ones, y_k = f(a_k', b_k'')
// under numpy broadcasting for the binary ones.
//
// Every elementwise op has a diagonal Jacobian (per operand, after
// broadcasting), so all rules reduce to one shape:
//
//	JVP:  ẏ[d,k] = Σ_i c_i[k]·ẋ_i[d, idx_i(k)]      c_i = ∂y/∂x_i at element k
//	VJP:  x̄_i[d, j] = Σ_{k: idx_i(k)=j} c_i[k]·ȳ[d,k]  (broadcasting's adjoint is a sum)
//
// for each direction d of a block of r. blockMulAdd is that one loop, in
// its gather (JVP) and scatter (VJP) forms; each op supplies only f and
// its partial derivatives. Elementwise functions are evaluated in float64
// and rounded to T, except the float32 forms of Relu, Exp, Tanh, Sigmoid,
// Erf, Elu and Selu: those use the vectorized float32 kernels of package simd
// (within 3 ulp of the exact values, their derivatives likewise), and the
// float32 diagonal rules multiply with simd.SmulBlocks.
//
// At points where f is not differentiable the rules follow PyTorch:
// Relu'(0) = 0, Abs'(0) = 0, LeakyRelu'(0) = α, Elu'(0) = α, HardSigmoid'
// is α only strictly inside (0, 1), and Clip passes the gradient for
// min <= x <= max.

// blockMulAdd accumulates, for each of the r blocks (the leading axis of
// the flat slices dst and src) and each element k of the broadcast shape,
//
//	gather  (scatter=false): dst[d, k]      += c_k·src[d, idx[k]]
//	scatter (scatter=true):  dst[d, idx[k]] += c_k·src[d, k]
//
// where c_k is coef[k], or cc when coef is nil, and idx nil is the identity.
// The r axis is never broadcast. The scatter form is the adjoint of the
// gather form.
func blockMulAdd[T Float](dst, src []T, idx []int, coef []T, cc T, r int, scatter bool) {
	if r == 0 {
		return
	}
	nd, ns := len(dst)/r, len(src)/r // per-direction sizes
	for d := 0; d < r; d++ {
		dd, sd := dst[d*nd:(d+1)*nd], src[d*ns:(d+1)*ns]
		switch {
		case idx == nil && coef == nil:
			for k := range dd {
				dd[k] += cc * sd[k]
			}
		case idx == nil:
			for k, c := range coef {
				dd[k] += c * sd[k]
			}
		case scatter:
			for k, j := range idx {
				c := cc
				if coef != nil {
					c = coef[k]
				}
				dd[j] += c * sd[k]
			}
		default:
			for k, j := range idx {
				c := cc
				if coef != nil {
					c = coef[k]
				}
				dd[k] += c * sd[j]
			}
		}
	}
}

// checkElemInputs returns an error unless the first n inputs are present.
func checkElemInputs[T Float](in []*Tensor[T], n int) error {
	if len(in) < n {
		return fmt.Errorf("want %d inputs, got %d", n, len(in))
	}
	for i := 0; i < n; i++ {
		if in[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Unary ops.

// unaryOp is an elementwise function with its derivative, and optionally
// its float32 kernels.
type unaryOp struct {
	f   func(x float64) float64
	df  func(x, y float64) float64 // dy/dx from x and y = f(x)
	f32 *unary32
}

// unary32 are the float32 kernels (package simd) of a unary op: f sets
// dst = f(x) and diag returns the Jacobian's diagonal f'(x) from x and
// y = f(x), written into dst (len(x) elements, arbitrary contents), or y
// itself. Relu's rule is simd.SreluMul instead.
type unary32 struct {
	f    func(dst, x []float32)
	diag func(dst, x, y []float32) []float32
}

// mapUnary returns y = f(x).
func mapUnary[T Float](x *Tensor[T], f func(float64) float64) *Tensor[T] {
	y := New[T](x.Shape...)
	for k, v := range x.Data {
		y.Data[k] = T(f(float64(v)))
	}
	return y
}

// diagRule returns the block f'(x)·t (t a tangent or a cotangent block of
// r directions: the Jacobian is diagonal, hence its own transpose), or nil
// for a zero block.
func diagRule[T Float](x, y, t *Tensor[T], r int, df func(x, y float64) float64) *Tensor[T] {
	if t == nil {
		return nil
	}
	c := make([]T, len(x.Data))
	for k, v := range x.Data {
		c[k] = T(df(float64(v), float64(y.Data[k])))
	}
	return diagApply(c, t, r, newZero[T])
}

// diagApply returns the block c·t, c the diagonal of the Jacobian; the
// float32 product overwrites a block from alloc.
func diagApply[T Float](c []T, t *Tensor[T], r int, alloc func(...int) *Tensor[T]) *Tensor[T] {
	if c32, ok := any(c).([]float32); ok && len(t.Data) == r*len(c) {
		out := alloc(t.Shape...)
		simd.SmulBlocks(any(out.Data).([]float32), c32, any(t.Data).([]float32))
		return out
	}
	out := New[T](t.Shape...)
	blockMulAdd(out.Data, t.Data, nil, c, 0, r, false)
	return out
}

// elemUnary is the kernel of a unary elementwise op. In float32 the ops
// with simd kernels (vec) use them; Relu, the commonest, also skips the
// float64 function values in float64.
type elemUnary[T Float] struct {
	op   unaryOp
	relu bool
	vec  *unary32 // op.f32 when T is float32
}

func (k *elemUnary[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	return k.forwardAlloc(in, newZero[T])
}

// forwardAlloc is Forward with the float32 vector kernels' y from alloc,
// which they overwrite.
func (k *elemUnary[T]) forwardAlloc(in []*Tensor[T], alloc func(...int) *Tensor[T]) ([]*Tensor[T], error) {
	if err := checkElemInputs(in, 1); err != nil {
		return nil, err
	}
	if k.vec != nil {
		y := alloc(in[0].Shape...)
		k.vec.f(any(y.Data).([]float32), any(in[0].Data).([]float32))
		return []*Tensor[T]{y}, nil
	}
	if k.relu {
		y := New[T](in[0].Shape...)
		for i, v := range in[0].Data {
			if !(v < 0) { // NaN and −0 pass, as max(x, 0) above
				y.Data[i] = v
			}
		}
		return []*Tensor[T]{y}, nil
	}
	return []*Tensor[T]{mapUnary(in[0], k.op.f)}, nil
}

// rule returns f'(x)·t for a tangent or cotangent block t. Relu's is
// t·[x > 0] taken as a mask: 0, not 0·t, where t is Inf or NaN (PyTorch's
// threshold_backward), in both precisions.
//
// alloc provides the result where the rule overwrites all of it (the
// float32 vector kernels).
func (k *elemUnary[T]) rule(x, y, t *Tensor[T], r int, alloc func(...int) *Tensor[T]) *Tensor[T] {
	switch {
	case t == nil:
		return nil
	case k.relu:
		if k.vec != nil && len(t.Data) == r*len(x.Data) {
			out := alloc(t.Shape...)
			simd.SreluMul(any(out.Data).([]float32), any(x.Data).([]float32), any(t.Data).([]float32))
			return out
		}
		out := New[T](t.Shape...)
		n := len(x.Data)
		for d := 0; d < r; d++ {
			od, td := out.Data[d*n:(d+1)*n], t.Data[d*n:(d+1)*n]
			for i, v := range x.Data {
				if v > 0 {
					od[i] = td[i]
				}
			}
		}
		return out
	case k.vec != nil && k.vec.diag != nil:
		// The diagonal is scratch: it lives only until c·t is formed.
		buf := getScratch[float32](len(x.Data))
		defer putScratch(buf)
		c := k.vec.diag(*buf, any(x.Data).([]float32), any(y.Data).([]float32))
		return diagApply(any(c).([]T), t, r, alloc)
	}
	return diagRule(x, y, t, r, k.op.df)
}

// JVP: ẏ = f'(x)·ẋ.
func (k *elemUnary[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	return k.jvpAlloc(in, out, tin, r, newZero[T])
}

// VJP: x̄ = f'(x)·ȳ.
func (k *elemUnary[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return k.vjpAlloc(in, out, gout, r, nil, newZero[T])
}

// VJPNeeded is VJP; its result is fresh, so the engine keeps it uncopied.
func (k *elemUnary[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	return k.VJP(in, out, gout, r)
}

func (k *elemUnary[T]) jvpAlloc(in, out, tin []*Tensor[T], r int, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	return []*Tensor[T]{k.rule(in[0], out[0], tin[0], r, alloc)}
}

func (k *elemUnary[T]) vjpAlloc(in, out, gout []*Tensor[T], r int, need []bool, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	return []*Tensor[T]{k.rule(in[0], out[0], gout[0], r, alloc)}
}

// newUnary returns the generic kernel constructor of a unary op whose
// function is built from the node's attributes by mk.
func newUnary[T Float](mk func(n *Node) (unaryOp, error)) func(n *Node) (*elemUnary[T], error) {
	return func(n *Node) (*elemUnary[T], error) {
		op, err := mk(n)
		if err != nil {
			return nil, err
		}
		k := &elemUnary[T]{op: op, relu: n.OpType == "Relu"}
		if _, ok := any(T(0)).(float32); ok {
			k.vec = op.f32
		}
		return k, nil
	}
}

// constUnary wraps an op without attributes.
func constUnary(op unaryOp) func(*Node) (unaryOp, error) {
	return func(*Node) (unaryOp, error) { return op, nil }
}

func sigmoidF(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

const (
	geluSqrt2       = math.Sqrt2
	geluSqrt2OverPi = 0.7978845608028654 // √(2/π)
	geluInvSqrt2Pi  = 0.3989422804014327 // 1/√(2π)
	erfDerivScale   = 1.1283791670955126 // 2/√π
)

// unaryOps are the unary elementwise ops by ONNX type.
var unaryOps = map[string]func(n *Node) (unaryOp, error){
	// Neg: y = −x; dy = −dx.
	"Neg": constUnary(unaryOp{
		f:  func(x float64) float64 { return -x },
		df: func(x, y float64) float64 { return -1 },
	}),
	// Sqrt: y = √x; dy = dx / (2y).
	"Sqrt": constUnary(unaryOp{
		f:  math.Sqrt,
		df: func(x, y float64) float64 { return 0.5 / y },
	}),
	// Exp: y = eˣ; dy = y·dx.
	"Exp": constUnary(unaryOp{
		f:   math.Exp,
		df:  func(x, y float64) float64 { return y },
		f32: &unary32{f: simd.Sexp, diag: func(_, x, y []float32) []float32 { return y }},
	}),
	// Log: y = ln x; dy = dx / x.
	"Log": constUnary(unaryOp{
		f:  math.Log,
		df: func(x, y float64) float64 { return 1 / x },
	}),
	// Abs: y = |x|; dy = sign(x)·dx, sign(0) = 0.
	"Abs": constUnary(unaryOp{
		f: math.Abs,
		df: func(x, y float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		},
	}),
	// Relu: y = max(x, 0); dy = [x > 0]·dx.
	"Relu": constUnary(unaryOp{
		f: func(x float64) float64 {
			if x < 0 {
				return 0
			}
			return x
		},
		df:  func(x, y float64) float64 { return indicator(x > 0) },
		f32: &unary32{f: simd.Srelu},
	}),
	// Sigmoid: y = 1/(1+e⁻ˣ); dy = y(1−y)·dx.
	"Sigmoid": constUnary(unaryOp{
		f:  sigmoidF,
		df: func(x, y float64) float64 { return y * (1 - y) },
		// In float32, y(1−y) = e/(1+e)², e = e^−|x|: no cancellation for y near 1.
		f32: &unary32{f: simd.Ssigmoid, diag: func(c, x, y []float32) []float32 {
			simd.SsigmoidDeriv(c, x)
			return c
		}},
	}),
	// Tanh: y = tanh x; dy = (1−y²)·dx.
	"Tanh": constUnary(unaryOp{
		f:  math.Tanh,
		df: func(x, y float64) float64 { return 1 - y*y },
		// In float32, 1−y² = 4e/(1+e)², e = e^−2|x|: no cancellation for |y| near 1.
		f32: &unary32{f: simd.Stanh, diag: func(c, x, y []float32) []float32 {
			simd.StanhDeriv(c, x)
			return c
		}},
	}),
	// Softplus: y = ln(1+eˣ); dy = σ(x)·dx.
	"Softplus": constUnary(unaryOp{
		f:  func(x float64) float64 { return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) },
		df: func(x, y float64) float64 { return sigmoidF(x) },
	}),
	// Erf: y = erf x; dy = (2/√π)·e^(−x²)·dx.
	"Erf": constUnary(unaryOp{
		f:  math.Erf,
		df: func(x, y float64) float64 { return erfDerivScale * math.Exp(-x*x) },
		f32: &unary32{f: simd.Serf, diag: func(c, x, y []float32) []float32 {
			for i, v := range x {
				c[i] = -(v * v)
			}
			simd.Sexp(c, c)
			for i, e := range c {
				c[i] = erfDerivScale * e
			}
			return c
		}},
	}),
	// LeakyRelu: y = x for x ≥ 0, αx otherwise (α = 0.01); dy = [x > 0 ? 1 : α]·dx.
	"LeakyRelu": func(n *Node) (unaryOp, error) {
		alpha := n.Attrs.Float("alpha", 0.01)
		return unaryOp{
			f: func(x float64) float64 {
				if x < 0 {
					return alpha * x
				}
				return x
			},
			df: func(x, y float64) float64 {
				if x > 0 {
					return 1
				}
				return alpha
			},
		}, nil
	},
	// Elu: y = x for x ≥ 0, α(eˣ−1) otherwise (α = 1); dy = [x > 0 ? 1 : αeˣ]·dx.
	"Elu": func(n *Node) (unaryOp, error) {
		alpha := n.Attrs.Float("alpha", 1)
		return unaryOp{f: eluF(alpha, 1), df: eluDF(alpha, 1), f32: elu32(alpha, 1)}, nil
	},
	// Selu: y = γx for x > 0, γα(eˣ−1) otherwise (α ≈ 1.6733, γ ≈ 1.0507);
	// dy = γ[x > 0 ? 1 : αeˣ]·dx.
	"Selu": func(n *Node) (unaryOp, error) {
		alpha := n.Attrs.Float("alpha", 1.67326319217681884765625)
		gamma := n.Attrs.Float("gamma", 1.05070102214813232421875)
		return unaryOp{f: eluF(alpha, gamma), df: eluDF(alpha, gamma), f32: elu32(alpha, gamma)}, nil
	},
	// HardSigmoid: y = max(0, min(1, αx+β)) (α = 0.2, β = 0.5);
	// dy = α[0 < αx+β < 1]·dx.
	"HardSigmoid": func(n *Node) (unaryOp, error) {
		alpha := n.Attrs.Float("alpha", 0.2)
		beta := n.Attrs.Float("beta", 0.5)
		return unaryOp{
			f: func(x float64) float64 { return max(0, min(1, alpha*x+beta)) },
			df: func(x, y float64) float64 {
				if v := alpha*x + beta; v > 0 && v < 1 {
					return alpha
				}
				return 0
			},
		}, nil
	},
	// Gelu (opset 20): y = x·Φ(x), dy = (Φ(x) + x·φ(x))·dx; with
	// approximate="tanh", y = ½x(1+t), t = tanh(√(2/π)(x+0.044715x³)),
	// dy = (½(1+t) + ½x(1−t²)·√(2/π)(1+3·0.044715x²))·dx.
	"Gelu": func(n *Node) (unaryOp, error) {
		switch a := n.Attrs.String("approximate", "none"); a {
		case "none":
			return unaryOp{
				f: func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/geluSqrt2)) },
				df: func(x, y float64) float64 {
					return 0.5*(1+math.Erf(x/geluSqrt2)) + x*geluInvSqrt2Pi*math.Exp(-0.5*x*x)
				},
			}, nil
		case "tanh":
			const c = 0.044715
			return unaryOp{
				f: func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(geluSqrt2OverPi*(x+c*x*x*x))) },
				df: func(x, y float64) float64 {
					t := math.Tanh(geluSqrt2OverPi * (x + c*x*x*x))
					return 0.5*(1+t) + 0.5*x*(1-t*t)*geluSqrt2OverPi*(1+3*c*x*x)
				},
			}, nil
		default:
			return unaryOp{}, fmt.Errorf("Gelu: unknown approximate %q", a)
		}
	},
}

// indicator is 1 when b holds, 0 otherwise.
func indicator(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// eluF is γ·(x > 0 ? x : α(eˣ−1)), Elu for γ = 1 and Selu otherwise.
func eluF(alpha, gamma float64) func(float64) float64 {
	return func(x float64) float64 {
		if x > 0 {
			return gamma * x
		}
		return gamma * alpha * math.Expm1(x)
	}
}

// eluDF is eluF's derivative, γ·(x > 0 ? 1 : αeˣ).
func eluDF(alpha, gamma float64) func(x, y float64) float64 {
	return func(x, y float64) float64 {
		if x > 0 {
			return gamma
		}
		return gamma * alpha * math.Exp(x)
	}
}

// elu32 are eluF and eluDF in float32: simd.SElu and simd.SEluDeriv with
// a = γα and s = γ.
func elu32(alpha, gamma float64) *unary32 {
	a, s := float32(gamma*alpha), float32(gamma)
	return &unary32{
		f: func(dst, x []float32) { simd.SElu(dst, x, a, s) },
		diag: func(c, x, y []float32) []float32 {
			simd.SEluDeriv(c, x, a, s)
			return c
		},
	}
}

// ---------------------------------------------------------------------------
// Clip.

// clipKernel is the kernel of Clip: y = min(max(x, lo), hi); dy = [lo ≤ x ≤ hi]·dx
// (PyTorch's convention at the bounds; when lo > hi, y = hi and dy = 0).
// lo and hi are attributes before opset 11 and optional scalar inputs
// since; an omitted bound is unbounded. They are not differentiated.
type clipKernel[T Float] struct {
	attrs  bool // bounds come from attributes (opset < 11)
	lo, hi float64
}

func newClip[T Float](n *Node) (*clipKernel[T], error) {
	k := &clipKernel[T]{attrs: n.Opset < 11, lo: math.Inf(-1), hi: math.Inf(1)}
	if k.attrs {
		k.lo = n.Attrs.Float("min", k.lo)
		k.hi = n.Attrs.Float("max", k.hi)
	}
	return k, nil
}

// op returns the clipping function for the bounds in in.
func (k *clipKernel[T]) op(in []*Tensor[T]) (unaryOp, error) {
	lo, hi := k.lo, k.hi
	if !k.attrs {
		for i, b := range []*float64{&lo, &hi} {
			if i+1 >= len(in) || in[i+1] == nil {
				continue
			}
			if in[i+1].Len() != 1 {
				return unaryOp{}, fmt.Errorf("Clip: bound %d has shape %v, want a scalar", i+1, in[i+1].Shape)
			}
			*b = float64(in[i+1].Data[0])
		}
	}
	return unaryOp{
		f:  func(x float64) float64 { return min(max(x, lo), hi) },
		df: func(x, y float64) float64 { return indicator(lo <= x && x <= hi) },
	}, nil
}

func (k *clipKernel[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if err := checkElemInputs(in, 1); err != nil {
		return nil, err
	}
	op, err := k.op(in)
	if err != nil {
		return nil, err
	}
	return []*Tensor[T]{mapUnary(in[0], op.f)}, nil
}

// JVP: ẏ = [lo ≤ x ≤ hi]·ẋ.
func (k *clipKernel[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	op, _ := k.op(in) // Forward has validated the bounds
	return []*Tensor[T]{diagRule(in[0], out[0], tin[0], r, op.df)}
}

// VJP: x̄ = [lo ≤ x ≤ hi]·ȳ.
func (k *clipKernel[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	op, _ := k.op(in)
	return []*Tensor[T]{diagRule(in[0], out[0], gout[0], r, op.df)}
}

// ---------------------------------------------------------------------------
// Binary ops.

// binaryOp is an elementwise function of two operands with its partial
// derivatives: d[i](a, b, y) = ∂y/∂x_i, or the constant c[i] when d[i] is nil.
type binaryOp struct {
	f func(a, b float64) float64
	d [2]func(a, b, y float64) float64
	c [2]float64
}

// elemBinary is the kernel of a broadcasting binary elementwise op.
type elemBinary[T Float] struct {
	limited
	op binaryOp
}

// indices returns the broadcast map of each operand to the output shape
// (nil where the shapes are equal).
func (k *elemBinary[T]) indices(in []*Tensor[T], y []int) [2][]int {
	return [2][]int{BroadcastIndex(in[0].Shape, y), BroadcastIndex(in[1].Shape, y)}
}

func (k *elemBinary[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if err := checkElemInputs(in, 2); err != nil {
		return nil, err
	}
	shape, err := BroadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	if err := k.checkOut(shape); err != nil {
		return nil, err
	}
	idx := k.indices(in, shape)
	y := New[T](shape...)
	a, b := in[0].Data, in[1].Data
	for e := range y.Data {
		y.Data[e] = T(k.op.f(float64(a[bcastAt(idx[0], e)]), float64(b[bcastAt(idx[1], e)])))
	}
	return []*Tensor[T]{y}, nil
}

// bcastAt is idx[e], or e for the identity map.
func bcastAt(idx []int, e int) int {
	if idx == nil {
		return e
	}
	return idx[e]
}

// partial returns the coefficients c_k = ∂y_k/∂x_i over the output, or nil
// and the constant when the partial is constant.
func (k *elemBinary[T]) partial(i int, in []*Tensor[T], y *Tensor[T], idx [2][]int) ([]T, T) {
	d := k.op.d[i]
	if d == nil {
		return nil, T(k.op.c[i])
	}
	a, b := in[0].Data, in[1].Data
	c := make([]T, len(y.Data))
	for e, v := range y.Data {
		c[e] = T(d(float64(a[bcastAt(idx[0], e)]), float64(b[bcastAt(idx[1], e)]), float64(v)))
	}
	return c, 0
}

// JVP: ẏ[d,k] = Σ_i ∂y/∂x_i[k]·ẋ_i[d, idx_i(k)], each operand's block
// broadcast per direction.
func (k *elemBinary[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil && (len(tin) < 2 || tin[1] == nil) {
		return []*Tensor[T]{nil}
	}
	y := out[0]
	idx := k.indices(in, y.Shape)
	res := New[T](BlockShape(r, y.Shape)...)
	for i := 0; i < 2 && i < len(tin); i++ {
		if tin[i] != nil {
			c, cc := k.partial(i, in, y, idx)
			blockMulAdd(res.Data, tin[i].Data, idx[i], c, cc, r, false)
		}
	}
	return []*Tensor[T]{res}
}

// VJP: x̄_i = SumTo(∂y/∂x_i·ȳ, shape of x_i), per direction.
func (k *elemBinary[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return k.VJPNeeded(in, out, gout, r, nil)
}

// VJPNeeded is VJP for the wanted operands only (a constant operand, such
// as the 0.5 of a GELU, needs no cotangent).
func (k *elemBinary[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	g := gout[0]
	if g == nil {
		return []*Tensor[T]{nil, nil}
	}
	y := out[0]
	idx := k.indices(in, y.Shape)
	res := make([]*Tensor[T], 2)
	for i := range res {
		if !wants(need, i) {
			continue
		}
		c, cc := k.partial(i, in, y, idx)
		res[i] = New[T](BlockShape(r, in[i].Shape)...)
		blockMulAdd(res[i].Data, g.Data, idx[i], c, cc, r, true)
	}
	return res
}

// newBinary returns the generic kernel constructor of a binary op.
func newBinary[T Float](op binaryOp) func(n *Node) (*elemBinary[T], error) {
	return func(n *Node) (*elemBinary[T], error) {
		if n.Attrs.Has("broadcast") || n.Attrs.Has("axis") {
			return nil, fmt.Errorf("%s: legacy broadcast/axis attributes (opset < 7) are not supported", n.OpType)
		}
		node := op // a copy: op is shared by every node of this type
		if n.IntOut && n.OpType == "Div" {
			// Integer division truncates toward zero; it has no derivative
			// (integer values carry no tangents).
			node.f = func(a, b float64) float64 { return math.Trunc(a / b) }
		}
		return &elemBinary[T]{op: node}, nil
	}
}

// binaryOps are the binary elementwise ops by ONNX type.
var binaryOps = map[string]binaryOp{
	// Add: y = a + b; dy = da + db.
	"Add": {f: func(a, b float64) float64 { return a + b }, c: [2]float64{1, 1}},
	// Sub: y = a − b; dy = da − db.
	"Sub": {f: func(a, b float64) float64 { return a - b }, c: [2]float64{1, -1}},
	// Mul: y = a·b; dy = b·da + a·db.
	"Mul": {
		f: func(a, b float64) float64 { return a * b },
		d: [2]func(a, b, y float64) float64{
			func(a, b, y float64) float64 { return b },
			func(a, b, y float64) float64 { return a },
		},
	},
	// Div: y = a/b; dy = da/b − y·db/b.
	"Div": {
		f: func(a, b float64) float64 { return a / b },
		d: [2]func(a, b, y float64) float64{
			func(a, b, y float64) float64 { return 1 / b },
			func(a, b, y float64) float64 { return -y / b },
		},
	},
	// Pow: y = aᵇ; dy = b·aᵇ⁻¹·da + y·ln(a)·db, with PyTorch's zeros:
	// the first term is 0 when b = 0, the second when a = 0 and b ≥ 0.
	"Pow": {
		f: math.Pow,
		d: [2]func(a, b, y float64) float64{
			func(a, b, y float64) float64 {
				if b == 0 {
					return 0
				}
				return b * math.Pow(a, b-1)
			},
			func(a, b, y float64) float64 {
				if a == 0 && b >= 0 {
					return 0
				}
				return y * math.Log(a)
			},
		},
	},
}

func init() {
	for name, mk := range unaryOps {
		Register(OpSpec{Type: name, Diff: []int{0}}, newUnary[float32](mk), newUnary[float64](mk))
	}
	for name, op := range binaryOps {
		// A Pow exponent is differentiable but not a parameter: a learned
		// exponent is rare, and its derivative y·ln(a) is NaN for a < 0.
		params := []int{0, 1}
		if name == "Pow" {
			params = []int{0}
		}
		Register(OpSpec{Type: name, Diff: []int{0, 1}, Params: params, Elementwise: true}, newBinary[float32](op), newBinary[float64](op))
	}
	Register(OpSpec{Type: "Clip", Diff: []int{0}}, newClip[float32], newClip[float64])
}
