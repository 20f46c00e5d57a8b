package autodiff

import (
	"fmt"
	"math"
)

// Engine evaluates a graph in precision T and differentiates it with
// respect to a chosen subset of its parameters and to its inputs.
type Engine[T Float] struct {
	g      *Graph
	kern   []Kernel[T]
	fixed  []*Tensor[T] // params and consts by value id, nil otherwise
	active []int        // value ids of the parameters being differentiated
	isAct  []bool       // by value id
}

// NewEngine builds the kernels of every node of g. All parameters are active.
func NewEngine[T Float](g *Graph) (*Engine[T], error) {
	e := &Engine[T]{g: g, kern: make([]Kernel[T], len(g.Nodes)), fixed: make([]*Tensor[T], len(g.Values))}
	var unsupported []string
	for i, n := range g.Nodes {
		k, err := newKernel[T](n)
		if err != nil {
			unsupported = append(unsupported, err.Error())
			continue
		}
		e.kern[i] = k
	}
	if len(unsupported) > 0 {
		return nil, fmt.Errorf("%d node(s) cannot run: %v", len(unsupported), unsupported)
	}
	for id, v := range g.Values {
		if v.Kind == Param || v.Kind == Const {
			t := New[T](v.Shape...)
			for j, x := range v.Data {
				t.Data[j] = T(x)
			}
			e.fixed[id] = t
		}
	}
	e.SetActive(g.Params)
	return e, nil
}

// Graph returns the engine's graph.
func (e *Engine[T]) Graph() *Graph { return e.g }

// SetActive chooses the parameters (value ids) that JVP and VJP act on.
func (e *Engine[T]) SetActive(params []int) {
	e.active = append([]int(nil), params...)
	e.isAct = make([]bool, len(e.g.Values))
	for _, id := range params {
		e.isAct[id] = true
	}
}

// Active returns the value ids of the active parameters, in order.
func (e *Engine[T]) Active() []int { return e.active }

// ActiveSize is p, the number of active parameter elements.
func (e *Engine[T]) ActiveSize() int {
	n := 0
	for _, id := range e.active {
		n += len(e.fixed[id].Data)
	}
	return n
}

// Param returns the current value of parameter id.
func (e *Engine[T]) Param(id int) *Tensor[T] { return e.fixed[id] }

// Tape holds every value of one forward sweep, for the JVP and VJP sweeps
// that follow it.
type Tape[T Float] struct {
	vals []*Tensor[T]
	e    *Engine[T]
}

// Forward evaluates the graph on one batch. inputs follow g.Inputs.
func (e *Engine[T]) Forward(inputs ...*Tensor[T]) (*Tape[T], error) {
	g := e.g
	if len(inputs) != len(g.Inputs) {
		return nil, fmt.Errorf("model has %d input(s), got %d", len(g.Inputs), len(inputs))
	}
	vals := make([]*Tensor[T], len(g.Values))
	copy(vals, e.fixed)
	for i, id := range g.Inputs {
		vals[id] = inputs[i]
	}
	for i, n := range g.Nodes {
		in := gather(vals, n.In)
		out, err := e.kern[i].Forward(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Describe(), err)
		}
		if len(out) < len(n.Out) {
			return nil, fmt.Errorf("%s: produced %d outputs, graph uses %d", n.Describe(), len(out), len(n.Out))
		}
		for j, id := range n.Out {
			if id >= 0 {
				vals[id] = out[j]
			}
		}
	}
	return &Tape[T]{vals: vals, e: e}, nil
}

// Outputs returns the graph outputs of the sweep.
func (t *Tape[T]) Outputs() []*Tensor[T] { return gather(t.vals, t.e.g.Outputs) }

// Value returns the value with id in this sweep.
func (t *Tape[T]) Value(id int) *Tensor[T] { return t.vals[id] }

func gather[T Float](vals []*Tensor[T], ids []int) []*Tensor[T] {
	out := make([]*Tensor[T], len(ids))
	for i, id := range ids {
		if id >= 0 {
			out[i] = vals[id]
		}
	}
	return out
}

// JVP pushes r tangent directions forward: for each graph output y,
// ẏ = Σ_p ∂y/∂θ_p·θ̇_p + Σ_i ∂y/∂x_i·ẋ_i. params[j] is the block [r, shape]
// of the j-th active parameter (nil for zero); inputs[i] that of the i-th
// input (nil for zero, or a nil slice for none). The result has one block
// [r, output shape] per graph output, nil where the output does not depend
// on any nonzero tangent.
func (e *Engine[T]) JVP(t *Tape[T], r int, params, inputs []*Tensor[T]) ([]*Tensor[T], error) {
	g := e.g
	tan := make([]*Tensor[T], len(g.Values))
	for j, id := range e.active {
		if j < len(params) && params[j] != nil {
			if err := checkBlock(params[j], r, t.vals[id].Shape, g.Values[id].Name); err != nil {
				return nil, err
			}
			tan[id] = params[j]
		}
	}
	for i, id := range g.Inputs {
		if i < len(inputs) && inputs[i] != nil {
			if err := checkBlock(inputs[i], r, t.vals[id].Shape, g.Values[id].Name); err != nil {
				return nil, err
			}
			tan[id] = inputs[i]
		}
	}
	for i, n := range g.Nodes {
		spec := registry[n.OpType]
		tin := make([]*Tensor[T], len(n.In))
		any := false
		for j, id := range n.In {
			if id >= 0 && tan[id] != nil && spec.IsDiff(j) {
				tin[j] = tan[id]
				any = true
			}
		}
		if !any {
			continue
		}
		tout := e.kern[i].JVP(gather(t.vals, n.In), gather(t.vals, n.Out), tin, r)
		for j, id := range n.Out {
			if id >= 0 && j < len(tout) {
				tan[id] = tout[j]
			}
		}
	}
	return gather(tan, g.Outputs), nil
}

// VJP pulls r cotangent blocks back from the graph outputs: for each active
// parameter θ_p, θ̄_p = Σ_y (∂y/∂θ_p)ᵀ·ȳ summed over the batch, and for each
// input x̄_i = Σ_y (∂y/∂x_i)ᵀ·ȳ. gout[k] is the block [r, shape] of output
// k (nil for zero). Parameter blocks that receive nothing are zero tensors.
func (e *Engine[T]) VJP(t *Tape[T], r int, gout []*Tensor[T]) (params, inputs []*Tensor[T], err error) {
	cot, err := e.VJPValues(t, r, gout)
	if err != nil {
		return nil, nil, err
	}
	params = make([]*Tensor[T], len(e.active))
	for j, id := range e.active {
		params[j] = cot[id]
		if params[j] == nil {
			params[j] = New[T](BlockShape(r, t.vals[id].Shape)...)
		}
	}
	return params, gather(cot, e.g.Inputs), nil
}

// VJPValues is VJP returning the cotangent block of every value of the
// graph by value id (nil where zero or not needed): the per-layer
// cotangents that structured kernels are built from.
func (e *Engine[T]) VJPValues(t *Tape[T], r int, gout []*Tensor[T]) ([]*Tensor[T], error) {
	g := e.g
	cot := make([]*Tensor[T], len(g.Values))
	for k, id := range g.Outputs {
		if k < len(gout) && gout[k] != nil {
			if err := checkBlock(gout[k], r, t.vals[id].Shape, g.Values[id].Name); err != nil {
				return nil, err
			}
			cot[id] = accumulate(cot[id], gout[k])
		}
	}
	need := e.needsCotangent()
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		gos := gather(cot, n.Out)
		any := false
		for _, c := range gos {
			any = any || c != nil
		}
		if !any {
			continue
		}
		spec := registry[n.OpType]
		wanted := false
		for j, id := range n.In {
			wanted = wanted || (id >= 0 && need[id] && spec.IsDiff(j))
		}
		if !wanted {
			continue
		}
		gin := e.kern[i].VJP(gather(t.vals, n.In), gather(t.vals, n.Out), gos, r)
		for j, id := range n.In {
			if id >= 0 && j < len(gin) && gin[j] != nil && need[id] && spec.IsDiff(j) {
				cot[id] = accumulate(cot[id], gin[j])
			}
		}
	}
	return cot, nil
}

// needsCotangent marks the values whose cotangent reaches an active
// parameter or an input: those on a path from one of them.
func (e *Engine[T]) needsCotangent() []bool {
	g := e.g
	need := make([]bool, len(g.Values))
	for _, id := range e.active {
		need[id] = true
	}
	for _, id := range g.Inputs {
		need[id] = true
	}
	for _, n := range g.Nodes {
		spec := registry[n.OpType]
		dep := false
		for j, id := range n.In {
			dep = dep || (id >= 0 && need[id] && spec.IsDiff(j))
		}
		if dep {
			for _, id := range n.Out {
				if id >= 0 {
					need[id] = true
				}
			}
		}
	}
	return need
}

// accumulate returns acc + x, reusing acc's storage when it has any.
func accumulate[T Float](acc, x *Tensor[T]) *Tensor[T] {
	if acc == nil {
		return x.Clone()
	}
	for i, v := range x.Data {
		acc.Data[i] += v
	}
	return acc
}

func checkBlock[T Float](b *Tensor[T], r int, shape []int, name string) error {
	if !SameShape(b.Shape, BlockShape(r, shape)) {
		return fmt.Errorf("tangent block for %q has shape %v, want %v", name, b.Shape, BlockShape(r, shape))
	}
	for _, v := range b.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tangent block for %q holds NaN or Inf", name)
		}
	}
	return nil
}
