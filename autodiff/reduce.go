package autodiff

import (
	"errors"
	"fmt"
)

// This file holds the reductions: ReduceSum and ReduceMean, and the
// reduction geometry that GlobalAveragePool and GlobalMaxPool share.

func init() {
	Register(OpSpec{Type: "ReduceSum", Diff: []int{0}}, newReduceSum[float32], newReduceSum[float64])
	Register(OpSpec{Type: "ReduceMean", Diff: []int{0}}, newReduceMean[float32], newReduceMean[float64])
}

// reduction describes a reduction of a tensor over a set of its axes.
type reduction struct {
	in    []int // input shape
	kept  []int // input shape with the reduced axes set to 1
	out   []int // output shape: kept, or without the reduced axes
	count int   // input elements reduced into each output element
}

// newReduction returns the geometry of reducing shape over axes (negative
// axes count from the end; none means every axis).
func newReduction(shape, axes []int, keepdims bool) (reduction, error) {
	rank := len(shape)
	red := make([]bool, rank)
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		if a < -rank || a >= rank {
			return reduction{}, fmt.Errorf("axis %d out of range for rank %d", a, rank)
		}
		if a < 0 {
			a += rank
		}
		if red[a] {
			return reduction{}, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		red[a] = true
	}
	rd := reduction{in: append([]int(nil), shape...), kept: make([]int, rank), out: []int{}, count: 1}
	for i, d := range shape {
		switch {
		case !red[i]:
			rd.kept[i] = d
			rd.out = append(rd.out, d)
		case keepdims:
			rd.kept[i] = 1
			rd.out = append(rd.out, 1)
			rd.count *= d
		default:
			rd.kept[i] = 1
			rd.count *= d
		}
	}
	return rd, nil
}

// reduceSum returns scale·Σ x over the reduced axes. x has shape
// lead ++ rd.in (lead is [] for values, [r] for blocks); the result has
// shape lead ++ rd.out and never shares x's storage.
//
//	y[j] = scale·Σ_{k ↦ j} x[k]
func reduceSum[T Float](rd reduction, x *Tensor[T], lead []int, scale T) *Tensor[T] {
	s := SumTo(x, append(append([]int(nil), lead...), rd.kept...))
	if s == x {
		s = x.Clone()
	}
	if scale != 1 {
		for i := range s.Data {
			s.Data[i] *= scale
		}
	}
	return s.Reshape(append(append([]int(nil), lead...), rd.out...)...)
}

// reduceSpread is the adjoint of reduceSum: it copies scale·y (shape
// lead ++ rd.out) to every element reduced into it (shape lead ++ rd.in).
//
//	x̄[k] = scale·ȳ[j(k)]
func reduceSpread[T Float](rd reduction, y *Tensor[T], lead []int, scale T) *Tensor[T] {
	kept := y.Reshape(append(append([]int(nil), lead...), rd.kept...)...)
	x := Broadcast(kept, append(append([]int(nil), lead...), rd.in...))
	if x == kept {
		x = y.Clone().Reshape(kept.Shape...)
	}
	if scale != 1 {
		for i := range x.Data {
			x.Data[i] *= scale
		}
	}
	return x
}

// reduceArgmax returns, for each output element of rd, the flat index in x
// (shape rd.in) of the first maximum among the elements reduced into it.
func reduceArgmax[T Float](rd reduction, x *Tensor[T]) []int {
	idx := BroadcastIndex(rd.kept, rd.in)
	arg := make([]int, Size(rd.kept))
	if idx == nil {
		for j := range arg {
			arg[j] = j
		}
		return arg
	}
	for j := range arg {
		arg[j] = -1
	}
	for k, j := range idx {
		if a := arg[j]; a < 0 || x.Data[k] > x.Data[a] {
			arg[j] = k
		}
	}
	return arg
}

// gatherBlock returns the block [r, len(arg)] with out[b, j] = t[b, arg[j]],
// t being a block of r directions of n elements each.
func gatherBlock[T Float](t *Tensor[T], arg []int, r, n int, shape []int) *Tensor[T] {
	out := New[T](BlockShape(r, shape)...)
	m := len(arg)
	for b := 0; b < r; b++ {
		src, dst := t.Data[b*n:(b+1)*n], out.Data[b*m:(b+1)*m]
		for j, a := range arg {
			if a >= 0 {
				dst[j] = src[a]
			}
		}
	}
	return out
}

// scatterBlock is the adjoint of gatherBlock: out[b, arg[j]] += g[b, j].
func scatterBlock[T Float](g *Tensor[T], arg []int, r, n int, shape []int) *Tensor[T] {
	out := New[T](BlockShape(r, shape)...)
	m := len(arg)
	for b := 0; b < r; b++ {
		src, dst := g.Data[b*m:(b+1)*m], out.Data[b*n:(b+1)*n]
		for j, a := range arg {
			if a >= 0 {
				dst[a] += src[j]
			}
		}
	}
	return out
}

// reduceAxes says which axes an op reduces: an attribute, the optional
// second input, or every axis from a fixed one on (global pooling).
type reduceAxes struct {
	attr      []int // axes from the attribute
	fromInput bool  // axes come from input 1 (ReduceSum since 13, ReduceMean since 18)
	fromAxis  int   // > 0: reduce every axis from this one on
	keep      bool  // keepdims
	noop      bool  // noop_with_empty_axes: empty axes leave the input as is
}

// geometry returns the reduction for the inputs; identity = true (with a
// reduction over no axis) when the op leaves its input unchanged.
// input holds the axes of the optional second input (nil when omitted).
func (ra *reduceAxes) geometry(input, shape []int) (rd reduction, identity bool, err error) {
	axes := ra.attr
	if ra.fromInput {
		axes = input
	}
	if ra.fromAxis > 0 {
		if len(shape) < ra.fromAxis {
			return reduction{}, false, fmt.Errorf("input of rank %d, want at least %d", len(shape), ra.fromAxis)
		}
		axes = nil
		for a := ra.fromAxis; a < len(shape); a++ {
			axes = append(axes, a)
		}
	}
	if len(axes) == 0 && (ra.noop || ra.fromAxis > 0) {
		return reduction{in: shape, kept: shape, out: shape, count: 1}, true, nil
	}
	rd, err = newReduction(shape, axes, ra.keep)
	return rd, false, err
}

func newReduceAxes(n *Node, inputSince int64) reduceAxes {
	ra := reduceAxes{keep: n.Attrs.Int("keepdims", 1) != 0, noop: n.Attrs.Int("noop_with_empty_axes", 0) != 0}
	if n.Opset >= inputSince {
		ra.fromInput = true
	} else {
		ra.attr = n.Attrs.Ints("axes")
		ra.noop = false
	}
	return ra
}

// reduceOp is ReduceSum (mean = false) and ReduceMean (mean = true), and
// GlobalAveragePool (mean over every axis from 2 on, kept):
//
//	y = c·Σ_A x,  ẏ = c·Σ_A ẋ,  x̄ = c·broadcast(ȳ),  c = 1 or 1/|A|
type reduceOp[T Float] struct {
	reduceAxes
	mean bool
}

// ReduceSum: axes an attribute before opset 13, the optional second input since.
func newReduceSum[T Float](n *Node) (*reduceOp[T], error) {
	return &reduceOp[T]{reduceAxes: newReduceAxes(n, 13)}, nil
}

// ReduceMean: axes an attribute before opset 18, the optional second input since.
func newReduceMean[T Float](n *Node) (*reduceOp[T], error) {
	return &reduceOp[T]{reduceAxes: newReduceAxes(n, 18), mean: true}, nil
}

func (k *reduceOp[T]) setup(in []*Tensor[T]) (rd reduction, identity bool, scale T, err error) {
	if len(in) == 0 || in[0] == nil {
		return rd, false, 0, errors.New("missing input")
	}
	var axes []int
	if len(in) > 1 && in[1] != nil {
		axes = in[1].Ints()
	}
	rd, identity, err = k.geometry(axes, in[0].Shape)
	scale = 1
	if k.mean && !identity {
		scale = 1 / T(rd.count)
	}
	return rd, identity, scale, err
}

func (k *reduceOp[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	rd, identity, scale, err := k.setup(in)
	if err != nil {
		return nil, err
	}
	if identity {
		return []*Tensor[T]{in[0].Clone()}, nil
	}
	return []*Tensor[T]{reduceSum(rd, in[0], nil, scale)}, nil
}

func (k *reduceOp[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil {
		return []*Tensor[T]{nil}
	}
	rd, identity, scale, _ := k.setup(in)
	if identity {
		return []*Tensor[T]{tin[0].Clone()}
	}
	return []*Tensor[T]{reduceSum(rd, tin[0], []int{r}, scale)}
}

func (k *reduceOp[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	if gout[0] == nil {
		return []*Tensor[T]{nil}
	}
	rd, identity, scale, _ := k.setup(in)
	if identity {
		return []*Tensor[T]{gout[0].Clone()}
	}
	return []*Tensor[T]{reduceSpread(rd, gout[0], []int{r}, scale)}
}
