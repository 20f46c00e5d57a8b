package autodiff

import (
	"fmt"
	"slices"
)

// Engine evaluates a graph in precision T and differentiates it with
// respect to a chosen subset of its parameters and to its inputs. It keeps
// the blocks that its JVP and VJP sweeps leave dead for the sweeps that
// follow (at most bufCacheMax elements; see Release).
type Engine[T Float] struct {
	g      *Graph
	kern   []Kernel[T]
	fixed  []*Tensor[T] // params and consts by value id, nil otherwise
	active []int        // value ids of the parameters being differentiated
	isAct  []bool       // by value id
	bufs   bufCache[T]  // sweep buffers, reused across sweeps
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
	vals  []*Tensor[T]
	e     *Engine[T]
	owned []*[]T // the engine's buffers that the values live on
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
	a := &sweepAlloc[T]{c: &e.bufs}
	for i, n := range g.Nodes {
		in := gather(vals, n.In)
		var out []*Tensor[T]
		var err error
		if fk, ok := e.kern[i].(forwardAllocKernel[T]); ok {
			out, err = fk.forwardAlloc(in, a.alloc)
		} else {
			out, err = e.kern[i].Forward(in)
		}
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
	return &Tape[T]{vals: vals, e: e, owned: a.owned}, nil
}

// forwardAllocKernel is implemented by kernels whose Forward results can
// live on the engine's buffers: forwardAlloc is Forward with every result
// drawn from alloc (arbitrary contents, which it overwrites entirely).
type forwardAllocKernel[T Float] interface {
	forwardAlloc(in []*Tensor[T], alloc func(shape ...int) *Tensor[T]) ([]*Tensor[T], error)
}

// Release gives the buffers of the tape's values back to the engine, whose
// later sweeps reuse them instead of allocating (and zeroing) fresh
// memory. The caller must be done with the tape: no JVP or VJP on it
// afterwards, and no further use of its values or outputs, nor of tensors
// sharing their data. The tape is emptied; releasing it again does nothing.
func (t *Tape[T]) Release() {
	c := &t.e.bufs
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range t.owned {
		c.put(p)
	}
	t.owned, t.vals = nil, nil
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
	a := &sweepAlloc[T]{c: &e.bufs}
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
		var tout []*Tensor[T]
		if ak, ok := e.kern[i].(allocKernel[T]); ok {
			tout = ak.jvpAlloc(gather(t.vals, n.In), gather(t.vals, n.Out), tin, r, a.alloc)
		} else {
			tout = e.kern[i].JVP(gather(t.vals, n.In), gather(t.vals, n.Out), tin, r)
		}
		for j, id := range n.Out {
			if id >= 0 && j < len(tout) {
				tan[id] = tout[j]
			}
		}
	}
	outs := gather(tan, g.Outputs)
	a.finish(outs)
	return outs, nil
}

// allocKernel is implemented by kernels whose JVP and VJP results can live
// on the engine's sweep buffers. alloc returns a tensor with arbitrary
// contents; a kernel draws on it only for results it overwrites entirely.
// jvpAlloc is JVP and vjpAlloc is VJPNeeded (NeedKernel's contract) with
// their results so allocated.
type allocKernel[T Float] interface {
	jvpAlloc(in, out, tin []*Tensor[T], r int, alloc func(shape ...int) *Tensor[T]) []*Tensor[T]
	vjpAlloc(in, out, gout []*Tensor[T], r int, need []bool, alloc func(shape ...int) *Tensor[T]) []*Tensor[T]
}

// newZero is the allocator of the kernels' plain JVP and VJP: fresh zero
// tensors.
func newZero[T Float](shape ...int) *Tensor[T] { return New[T](shape...) }

// VJP pulls r cotangent blocks back from the graph outputs: for each active
// parameter θ_p, θ̄_p = Σ_y (∂y/∂θ_p)ᵀ·ȳ summed over the batch, and for each
// input x̄_i = Σ_y (∂y/∂x_i)ᵀ·ȳ. gout[k] is the block [r, shape] of output
// k (nil for zero). Parameter blocks that receive nothing are zero tensors.
func (e *Engine[T]) VJP(t *Tape[T], r int, gout []*Tensor[T]) (params, inputs []*Tensor[T], err error) {
	a := &sweepAlloc[T]{c: &e.bufs}
	cot, err := e.vjpValues(t, r, gout, true, a)
	if err != nil {
		return nil, nil, err
	}
	params, inputs = e.paramBlocks(t, r, cot), gather(cot, e.g.Inputs)
	a.finish(append(slices.Clone(params), inputs...))
	return params, inputs, nil
}

// VJPParams is VJP without the input cotangents, the products with Jᵀ: it
// skips the work that only reaches the inputs (the input cotangent of a
// first dense or conv layer costs as much as its forward pass).
func (e *Engine[T]) VJPParams(t *Tape[T], r int, gout []*Tensor[T]) ([]*Tensor[T], error) {
	a := &sweepAlloc[T]{c: &e.bufs}
	cot, err := e.vjpValues(t, r, gout, false, a)
	if err != nil {
		return nil, err
	}
	params := e.paramBlocks(t, r, cot)
	a.finish(params)
	return params, nil
}

// paramBlocks returns the cotangent block of each active parameter, zero
// blocks where cot holds nil.
func (e *Engine[T]) paramBlocks(t *Tape[T], r int, cot []*Tensor[T]) []*Tensor[T] {
	params := make([]*Tensor[T], len(e.active))
	for j, id := range e.active {
		params[j] = cot[id]
		if params[j] == nil {
			params[j] = New[T](BlockShape(r, t.vals[id].Shape)...)
		}
	}
	return params
}

// VJPValues is VJP returning the cotangent block of every value of the
// graph by value id (nil where zero or not needed): the per-layer
// cotangents that structured kernels are built from.
func (e *Engine[T]) VJPValues(t *Tape[T], r int, gout []*Tensor[T]) ([]*Tensor[T], error) {
	return e.vjpValues(t, r, gout, true, nil)
}

// ParamVJPValues is VJPValues without the cotangents that reach only the
// inputs (as VJPParams is to VJP).
func (e *Engine[T]) ParamVJPValues(t *Tape[T], r int, gout []*Tensor[T]) ([]*Tensor[T], error) {
	return e.vjpValues(t, r, gout, false, nil)
}

// NeedKernel is an optional interface of a Kernel. The engine calls
// VJPNeeded instead of VJP when a kernel implements it:
//
//   - need[j] reports whether the cotangent of input slot j is wanted; the
//     kernel may skip the others (their results are ignored, nil is best);
//     a nil need means every slot;
//   - every non-nil result is a freshly allocated tensor, distinct from the
//     others and sharing no storage with in, out or gout, which the engine
//     may keep and add into without copying it.
type NeedKernel[T Float] interface {
	VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T]
}

// wants reports whether slot j is wanted by a need mask (nil: every slot).
func wants(need []bool, j int) bool { return need == nil || (j < len(need) && need[j]) }

// vjpValues pulls the cotangents back to every value that needs one. With
// a, the blocks of allocKernels (and the engine's copies) live on its
// sweep buffers, and the caller finishes a; without, all are fresh.
func (e *Engine[T]) vjpValues(t *Tape[T], r int, gout []*Tensor[T], inputs bool, a *sweepAlloc[T]) ([]*Tensor[T], error) {
	g := e.g
	cot := make([]*Tensor[T], len(g.Values))
	alloc := newZero[T]
	if a != nil {
		alloc = a.alloc
	}
	// add sums x into cot[id]. The engine adds into the tensors it holds,
	// so x is copied unless fresh (a NeedKernel's result, which nothing
	// else references).
	add := func(id int, x *Tensor[T], fresh bool) {
		switch {
		case cot[id] != nil:
			addInto(cot[id].Data, x.Data)
		case fresh:
			cot[id] = x
		default:
			c := alloc(x.Shape...)
			copy(c.Data, x.Data)
			cot[id] = c
		}
	}
	for k, id := range g.Outputs {
		if k < len(gout) && gout[k] != nil {
			if err := checkBlock(gout[k], r, t.vals[id].Shape, g.Values[id].Name); err != nil {
				return nil, err
			}
			add(id, gout[k], false)
		}
	}
	need := e.needsCotangent(inputs)
	var slots []bool
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
		slots = slots[:0]
		wanted := false
		for j, id := range n.In {
			w := id >= 0 && need[id] && spec.IsDiff(j)
			slots = append(slots, w)
			wanted = wanted || w
		}
		if !wanted {
			continue
		}
		var gin []*Tensor[T]
		nk, fresh := e.kern[i].(NeedKernel[T])
		ak, isAlloc := e.kern[i].(allocKernel[T])
		switch {
		case isAlloc:
			gin, fresh = ak.vjpAlloc(gather(t.vals, n.In), gather(t.vals, n.Out), gos, r, slots, alloc), true
		case fresh:
			gin = nk.VJPNeeded(gather(t.vals, n.In), gather(t.vals, n.Out), gos, r, slots)
		default:
			gin = e.kern[i].VJP(gather(t.vals, n.In), gather(t.vals, n.Out), gos, r)
		}
		for j, id := range n.In {
			if j < len(gin) && gin[j] != nil && slots[j] {
				add(id, gin[j], fresh)
			}
		}
	}
	return cot, nil
}

// needsCotangent marks the values whose cotangent reaches an active
// parameter, or an input when inputs is set: those on a path from one of
// them.
func (e *Engine[T]) needsCotangent(inputs bool) []bool {
	g := e.g
	need := make([]bool, len(g.Values))
	for _, id := range e.active {
		need[id] = true
	}
	if inputs {
		for _, id := range g.Inputs {
			need[id] = true
		}
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

// addInto adds x into acc elementwise.
func addInto[T Float](acc, x []T) {
	x = x[:len(acc)]
	for i, v := range x {
		acc[i] += v
	}
}

func checkBlock[T Float](b *Tensor[T], r int, shape []int, name string) error {
	if !SameShape(b.Shape, BlockShape(r, shape)) {
		return fmt.Errorf("tangent block for %q has shape %v, want %v", name, b.Shape, BlockShape(r, shape))
	}
	if !allFinite(b.Data) {
		return fmt.Errorf("tangent block for %q holds NaN or Inf", name)
	}
	return nil
}

// allFinite reports whether x holds no NaN or Inf: v·0 is 0 for finite v
// and NaN otherwise, and a NaN sticks in a sum.
func allFinite[T Float](x []T) bool {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * 0
		s1 += x[i+1] * 0
		s2 += x[i+2] * 0
		s3 += x[i+3] * 0
	}
	for ; i < len(x); i++ {
		s0 += x[i] * 0
	}
	s := s0 + s1 + s2 + s3
	return s == 0
}
