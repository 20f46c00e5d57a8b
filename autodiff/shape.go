package autodiff

import (
	"errors"
	"fmt"
	"math"
)

// Shape ops: Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze,
// Unsqueeze, Identity, Dropout (inference), Pad (constant), Expand, Gather,
// Constant, Shape and Cast.
//
// Every op here but Cast moves elements without arithmetic: each output
// element is a copy of one element of a data input, or a constant. Such an
// op is linear in its data inputs, y = P·x for a 0/1 matrix P (Pad and
// Dropout's mask add a constant), so
//
//	JVP: ẏ = P·ẋ          (move the tangents the same way)
//	VJP: x̄ = Pᵀ·ȳ         (scatter the cotangents back, adding where P
//	                        reads one element twice: Expand, Gather)
//
// An op states P once, as a movePlan computed from the input shapes and its
// non-data inputs (shapes, axes, indices, pads); one kernel, moveKernel,
// runs Forward, JVP and VJP from that plan, block direction by block
// direction. The plan is recomputed in every call: kernels keep nothing.

// moveBox copies an n-d strided box of data input in to output out:
// for every coordinate c < shape,
//
//	out[oOff + Σ c·oStr] = in[iOff + Σ c·iStr].
//
// A stride of 0 in iStr reads one element many times (broadcasting).
type moveBox struct {
	in, out    int
	shape      []int
	iOff, oOff int
	iStr, oStr []int
}

// movePlan is an op's map from its data inputs to its outputs.
type movePlan struct {
	shapes [][]int     // output shapes
	boxes  []moveBox   // disjoint regions of the outputs copied from data inputs
	consts [][]float64 // consts[j] != nil: output j holds these values, zero tangent
	fill   []float64   // forward value of the elements of output j no box covers
}

// add appends a box after dropping its unit axes and merging axes that are
// contiguous in both input and output (a reshape becomes one run). Boxes
// with no element are dropped.
func (p *movePlan) add(in, out int, shape []int, iOff int, iStr []int, oOff int, oStr []int) {
	b := moveBox{in: in, out: out, iOff: iOff, oOff: oOff, shape: []int{}, iStr: []int{}, oStr: []int{}}
	for a, d := range shape {
		switch {
		case d == 0:
			return
		case d == 1:
			continue
		}
		if k := len(b.shape) - 1; k >= 0 && b.iStr[k] == iStr[a]*d && b.oStr[k] == oStr[a]*d {
			b.shape[k] *= d
			b.iStr[k], b.oStr[k] = iStr[a], oStr[a]
			continue
		}
		b.shape = append(b.shape, d)
		b.iStr = append(b.iStr, iStr[a])
		b.oStr = append(b.oStr, oStr[a])
	}
	p.boxes = append(p.boxes, b)
}

// whole adds the box copying all of data input in, in row-major order, to
// output out (the map of Reshape, Flatten, Squeeze, Identity, ...).
func (p *movePlan) whole(in, out, size int) {
	p.add(in, out, []int{size}, 0, []int{1}, 0, []int{1})
}

// view adds the box reading output out (of shape p.shapes[out], contiguous
// from oOff) from data input in at offset iOff with strides iStr.
func (p *movePlan) view(in, out int, iOff int, iStr []int) {
	p.add(in, out, p.shapes[out], iOff, iStr, 0, Strides(p.shapes[out]))
}

// moveRun applies box b once: out[ob+…] = in[ib+…], or, when adjoint,
// in[ib+…] += out[ob+…] (the transpose of the copy).
func moveRun[T Float](b *moveBox, out []T, ob int, in []T, ib int, adjoint bool) {
	io, oo := ib+b.iOff, ob+b.oOff
	last := len(b.shape) - 1
	if last < 0 {
		if adjoint {
			in[io] += out[oo]
		} else {
			out[oo] = in[io]
		}
		return
	}
	n, is, os := b.shape[last], b.iStr[last], b.oStr[last]
	var buf [8]int
	coord := buf[:0]
	if last <= len(buf) {
		coord = buf[:last]
	} else {
		coord = make([]int, last)
	}
	for {
		switch {
		case !adjoint && is == 1 && os == 1:
			copy(out[oo:oo+n], in[io:io+n])
		case !adjoint:
			for t := 0; t < n; t++ {
				out[oo+t*os] = in[io+t*is]
			}
		case is == 1 && os == 1:
			dst := in[io : io+n]
			for t, v := range out[oo : oo+n] {
				dst[t] += v
			}
		default:
			for t := 0; t < n; t++ {
				in[io+t*is] += out[oo+t*os]
			}
		}
		ax := last - 1
		for ; ax >= 0; ax-- {
			coord[ax]++
			io += b.iStr[ax]
			oo += b.oStr[ax]
			if coord[ax] < b.shape[ax] {
				break
			}
			io -= b.iStr[ax] * coord[ax]
			oo -= b.oStr[ax] * coord[ax]
			coord[ax] = 0
		}
		if ax < 0 {
			return
		}
	}
}

// shapeArgs is what a plan may read: the shape of every input, and the
// values of the non-data inputs (shapes, axes, indices, pads).
type shapeArgs struct {
	shapes [][]int
	has    []bool
	vals   []*Tensor[float64] // nil for data inputs and omitted ones
}

// given reports whether input i is present.
func (a *shapeArgs) given(i int) bool { return i < len(a.has) && a.has[i] }

// ints returns the integer values of non-data input i (nil when omitted).
func (a *shapeArgs) ints(i int) []int {
	if !a.given(i) || a.vals[i] == nil {
		return nil
	}
	return a.vals[i].Ints()
}

// moveKernel runs an op given by its plan. data lists the input slots that
// the plan moves (-1: all); the others are read as values.
type moveKernel[T Float] struct {
	limited
	data []int
	plan func(a *shapeArgs) (*movePlan, error)
}

func (k *moveKernel[T]) isData(i int) bool {
	for _, d := range k.data {
		if d == -1 || d == i {
			return true
		}
	}
	return false
}

func (k *moveKernel[T]) makePlan(in []*Tensor[T]) (*movePlan, error) {
	a := &shapeArgs{shapes: make([][]int, len(in)), has: make([]bool, len(in)), vals: make([]*Tensor[float64], len(in))}
	for i, t := range in {
		if t == nil {
			continue
		}
		a.has[i] = true
		a.shapes[i] = t.Shape
		if !k.isData(i) {
			a.vals[i] = Convert[float64](t)
		}
	}
	for i, t := range in {
		if t != nil && k.isData(i) && len(t.Data) != Size(t.Shape) {
			return nil, fmt.Errorf("input %d holds %d elements for shape %v", i, len(t.Data), t.Shape)
		}
	}
	return k.plan(a)
}

// Forward: y_j = P_j·x (+ the plan's constants).
func (k *moveKernel[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	p, err := k.makePlan(in)
	if err != nil {
		return nil, err
	}
	if err := k.checkOut(p.shapes...); err != nil {
		return nil, err
	}
	out := make([]*Tensor[T], len(p.shapes))
	for j, s := range p.shapes {
		out[j] = New[T](s...)
		var c []float64
		if j < len(p.consts) {
			c = p.consts[j]
		}
		for e, v := range c {
			out[j].Data[e] = T(v)
		}
		if j < len(p.fill) && p.fill[j] != 0 {
			for e := range out[j].Data {
				out[j].Data[e] = T(p.fill[j])
			}
		}
	}
	for bi := range p.boxes {
		b := &p.boxes[bi]
		moveRun(b, out[b.out].Data, 0, in[b.in].Data, 0, false)
	}
	return out, nil
}

// JVP: ẏ_j = P_j·ẋ, direction by direction; nil where no moved input has a
// tangent.
func (k *moveKernel[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	return k.sweep(in, tin, r, false)
}

// VJP: x̄_i = Σ_j P_jᵀ·ȳ_j: the cotangents scattered back and summed.
func (k *moveKernel[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return k.sweep(in, gout, r, true)
}

// sweep applies the plan to a block of r directions: forward (from input
// tangents to output tangents) or adjoint (from output cotangents to input
// cotangents). The two differ only in which side is read.
func (k *moveKernel[T]) sweep(in, blocks []*Tensor[T], r int, adjoint bool) []*Tensor[T] {
	p, err := k.makePlan(in)
	if err != nil {
		return nil
	}
	n := len(p.shapes)
	if adjoint {
		n = len(in)
	}
	res := make([]*Tensor[T], n)
	for bi := range p.boxes {
		b := &p.boxes[bi]
		src, dst, dshape := b.in, b.out, p.shapes[b.out]
		if adjoint {
			src, dst, dshape = b.out, b.in, in[b.in].Shape
		}
		if src >= len(blocks) || blocks[src] == nil {
			continue
		}
		if res[dst] == nil {
			res[dst] = New[T](BlockShape(r, dshape)...)
		}
		ni, no := Size(in[b.in].Shape), Size(p.shapes[b.out])
		tin, tout := blocks[src].Data, res[dst].Data
		if adjoint {
			tin, tout = res[dst].Data, blocks[src].Data
		}
		for d := 0; d < r; d++ {
			moveRun(b, tout, d*no, tin, d*ni, adjoint)
		}
	}
	return res
}

// shapeAxis normalizes axis (negative counts from the end) into [0, rank).
func shapeAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// shapeAxes normalizes a list of distinct axes for the given rank.
func shapeAxes(axes []int, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		n, err := shapeAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[n] = true
		out[i] = n
	}
	return out, nil
}

// intsInput reads a list that is an attribute before opset since and input
// slot from then on.
func intsInput(n *Node, a *shapeArgs, name string, slot int, since int64) []int {
	if n.Opset < since {
		return n.Attrs.Ints(name)
	}
	return a.ints(slot)
}

// reshaped is the plan of ops that keep the elements in order and only
// change the shape: y = x with shape out.
func reshaped(in, out []int) (*movePlan, error) {
	if Size(in) != Size(out) {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, Size(in), out)
	}
	p := &movePlan{shapes: [][]int{out}}
	p.whole(0, 0, Size(in))
	return p, nil
}

func needInput(a *shapeArgs, i int, what string) error {
	if !a.given(i) {
		return fmt.Errorf("missing input %d (%s)", i, what)
	}
	return nil
}

func newMove[T Float](data []int, plan func(a *shapeArgs) (*movePlan, error)) *moveKernel[T] {
	return &moveKernel[T]{data: data, plan: plan}
}

// Identity: y = x; ẏ = ẋ; x̄ = ȳ.
func newIdentity[T Float](n *Node) (*moveKernel[T], error) {
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "input"); err != nil {
			return nil, err
		}
		return reshaped(a.shapes[0], a.shapes[0])
	}), nil
}

// Flatten: y = x as a matrix [d₀⋯d_{axis−1}, d_axis⋯d_{r−1}]; ẏ = ẋ reshaped.
func newFlatten[T Float](n *Node) (*moveKernel[T], error) {
	axis := int(n.Attrs.Int("axis", 1))
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "input"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		ax := axis
		if ax < 0 {
			ax += len(s)
		}
		if ax < 0 || ax > len(s) {
			return nil, fmt.Errorf("flatten axis %d out of range for rank %d", axis, len(s))
		}
		return reshaped(s, []int{Size(s[:ax]), Size(s[ax:])})
	}), nil
}

// Reshape: y = x with the shape input (0 copies the input's dimension
// unless allowzero, −1 is inferred); ẏ = ẋ reshaped.
func newReshape[T Float](n *Node) (*moveKernel[T], error) {
	allowZero := n.Attrs.Int("allowzero", 0) != 0
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		want := a.ints(1)
		if !a.given(1) {
			if want = n.Attrs.Ints("shape"); want == nil {
				return nil, errors.New("missing shape input")
			}
		}
		out := make([]int, len(want))
		infer, known := -1, 1
		for i, d := range want {
			switch {
			case d == -1:
				if infer >= 0 {
					return nil, fmt.Errorf("shape %v has more than one -1", want)
				}
				infer = i
				continue
			case d == 0 && !allowZero:
				if i >= len(s) {
					return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", want, i, len(s))
				}
				d = s[i]
			case d < 0:
				return nil, fmt.Errorf("shape %v has a negative dimension", want)
			}
			out[i] = d
			known *= d
		}
		if infer >= 0 {
			if known == 0 || Size(s)%known != 0 {
				return nil, fmt.Errorf("cannot infer -1 in shape %v for input %v", want, s)
			}
			out[infer] = Size(s) / known
		}
		return reshaped(s, out)
	}), nil
}

// Squeeze: y = x without the listed unit axes (all unit axes when none are
// listed); ẏ = ẋ reshaped.
func newSqueeze[T Float](n *Node) (*moveKernel[T], error) {
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		list := intsInput(n, a, "axes", 1, 13)
		drop := make([]bool, len(s))
		if list == nil {
			for i, d := range s {
				drop[i] = d == 1
			}
		} else {
			axes, err := shapeAxes(list, len(s))
			if err != nil {
				return nil, err
			}
			for _, ax := range axes {
				if s[ax] != 1 {
					return nil, fmt.Errorf("cannot squeeze axis %d of size %d", ax, s[ax])
				}
				drop[ax] = true
			}
		}
		out := []int{}
		for i, d := range s {
			if !drop[i] {
				out = append(out, d)
			}
		}
		return reshaped(s, out)
	}), nil
}

// Unsqueeze: y = x with unit axes inserted at the listed positions of the
// output; ẏ = ẋ reshaped.
func newUnsqueeze[T Float](n *Node) (*moveKernel[T], error) {
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		list := intsInput(n, a, "axes", 1, 13)
		if list == nil {
			return nil, errors.New("missing axes")
		}
		rank := len(s) + len(list)
		axes, err := shapeAxes(list, rank)
		if err != nil {
			return nil, err
		}
		unit := make([]bool, rank)
		for _, ax := range axes {
			unit[ax] = true
		}
		out := make([]int, rank)
		next := 0
		for i := range out {
			if unit[i] {
				out[i] = 1
			} else {
				out[i] = s[next]
				next++
			}
		}
		return reshaped(s, out)
	}), nil
}

// Dropout at inference: y = x, and the optional mask output is all ones
// (kept). ẏ = ẋ; the mask has no tangent. A true training_mode is an error
// unless the ratio is 0.
func newDropout[T Float](n *Node) (*moveKernel[T], error) {
	outs := max(len(n.Out), 1)
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		ratioZero := a.given(1) && len(a.vals[1].Data) == 1 && a.vals[1].Data[0] == 0
		if t := a.ints(2); len(t) > 0 && t[0] != 0 && !ratioZero {
			return nil, errors.New("training_mode is true: only inference dropout (or ratio 0) is supported")
		}
		p, err := reshaped(a.shapes[0], a.shapes[0])
		if err != nil || outs < 2 {
			return p, err
		}
		ones := make([]float64, Size(a.shapes[0]))
		for i := range ones {
			ones[i] = 1
		}
		p.shapes = append(p.shapes, a.shapes[0])
		p.consts = [][]float64{nil, ones}
		return p, nil
	}), nil
}

// Transpose: y[c] = x[c∘perm⁻¹], i.e. axis i of y is axis perm[i] of x
// (perm reverses the axes by default); ẏ and x̄ are permuted alike.
func newTranspose[T Float](n *Node) (*moveKernel[T], error) {
	perm := n.Attrs.Ints("perm")
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		pm := perm
		if pm == nil {
			pm = make([]int, len(s))
			for i := range pm {
				pm[i] = len(s) - 1 - i
			}
		}
		if len(pm) != len(s) {
			return nil, fmt.Errorf("perm %v for rank %d", perm, len(s))
		}
		pm, err := shapeAxes(pm, len(s))
		if err != nil {
			return nil, fmt.Errorf("perm %v: %w", perm, err)
		}
		st := Strides(s)
		out, iStr := make([]int, len(s)), make([]int, len(s))
		for i, ax := range pm {
			out[i], iStr[i] = s[ax], st[ax]
		}
		p := &movePlan{shapes: [][]int{out}}
		p.view(0, 0, 0, iStr)
		return p, nil
	}), nil
}

// Concat: y = [x₀, x₁, …] along axis; ẏ = [ẋ₀, ẋ₁, …]; x̄_i is the slab of ȳ
// that x_i fills.
func newConcat[T Float](n *Node) (*moveKernel[T], error) {
	if !n.Attrs.Has("axis") {
		return nil, errors.New("missing axis attribute")
	}
	axis := int(n.Attrs.Int("axis", 0))
	return newMove[T]([]int{-1}, func(a *shapeArgs) (*movePlan, error) {
		if len(a.shapes) == 0 || !a.given(0) {
			return nil, errors.New("no inputs")
		}
		s0 := a.shapes[0]
		ax, err := shapeAxis(axis, len(s0))
		if err != nil {
			return nil, err
		}
		out := append([]int(nil), s0...)
		out[ax] = 0
		for i, s := range a.shapes {
			if !a.given(i) {
				return nil, fmt.Errorf("input %d omitted", i)
			}
			if len(s) != len(s0) {
				return nil, fmt.Errorf("input %d has shape %v, input 0 %v", i, s, s0)
			}
			for d := range s {
				if d != ax && s[d] != s0[d] {
					return nil, fmt.Errorf("input %d has shape %v, input 0 %v (axis %d)", i, s, s0, ax)
				}
			}
			out[ax] += s[ax]
		}
		p := &movePlan{shapes: [][]int{out}}
		oStr := Strides(out)
		at := 0
		for i, s := range a.shapes {
			p.add(i, 0, s, 0, Strides(s), at*oStr[ax], oStr)
			at += s[ax]
		}
		return p, nil
	}), nil
}

// Split: y_j = x[…, o_j : o_j+s_j, …] along axis, with sizes s from the
// split attribute (before opset 13) or input, num_outputs (opset 18:
// ⌈d/n⌉ each, the last smaller), or equal parts; ẏ_j alike; x̄ = [ȳ₀, ȳ₁, …].
func newSplit[T Float](n *Node) (*moveKernel[T], error) {
	axis := int(n.Attrs.Int("axis", 0))
	num := int(n.Attrs.Int("num_outputs", 0))
	outs := max(len(n.Out), 1)
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "input"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		ax, err := shapeAxis(axis, len(s))
		if err != nil {
			return nil, err
		}
		d := s[ax]
		sizes := intsInput(n, a, "split", 1, 13)
		switch {
		case sizes != nil:
		case num > 0:
			c := (d + num - 1) / num
			for j := 0; j < num; j++ {
				sizes = append(sizes, min(c, d-j*c))
			}
		default:
			if d%outs != 0 {
				return nil, fmt.Errorf("cannot split dimension %d into %d equal parts", d, outs)
			}
			for j := 0; j < outs; j++ {
				sizes = append(sizes, d/outs)
			}
		}
		total := 0
		for _, z := range sizes {
			if z < 0 {
				return nil, fmt.Errorf("negative split size in %v", sizes)
			}
			total += z
		}
		if total != d || len(sizes) < len(n.Out) {
			return nil, fmt.Errorf("split sizes %v for dimension %d into %d outputs", sizes, d, len(n.Out))
		}
		p := &movePlan{}
		st := Strides(s)
		at := 0
		for j, z := range sizes {
			part := append([]int(nil), s...)
			part[ax] = z
			p.shapes = append(p.shapes, part)
			p.view(0, j, at*st[ax], st)
			at += z
		}
		return p, nil
	}), nil
}

// Slice: y = x[starts:ends:steps] on the listed axes, clamped as the ONNX
// spec says (negative steps walk backwards); ẏ alike; x̄ is ȳ placed back,
// zero elsewhere.
func newSlice[T Float](n *Node) (*moveKernel[T], error) {
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		var starts, ends, axList, steps []int
		if n.Opset < 10 {
			starts, ends, axList = n.Attrs.Ints("starts"), n.Attrs.Ints("ends"), n.Attrs.Ints("axes")
		} else {
			starts, ends, axList, steps = a.ints(1), a.ints(2), a.ints(3), a.ints(4)
		}
		if starts == nil || ends == nil || len(starts) != len(ends) {
			return nil, fmt.Errorf("starts %v and ends %v", starts, ends)
		}
		if axList == nil {
			for i := range starts {
				axList = append(axList, i)
			}
		}
		if steps == nil {
			steps = make([]int, len(starts))
			for i := range steps {
				steps[i] = 1
			}
		}
		if len(axList) != len(starts) || len(steps) != len(starts) {
			return nil, fmt.Errorf("starts %v, ends %v, axes %v, steps %v differ in length", starts, ends, axList, steps)
		}
		axes, err := shapeAxes(axList, len(s))
		if err != nil {
			return nil, err
		}
		out := append([]int(nil), s...)
		st := Strides(s)
		iStr := append([]int(nil), st...)
		off := 0
		for i, ax := range axes {
			d, step := s[ax], steps[i]
			if step == 0 {
				return nil, errors.New("slice step 0")
			}
			b, e := starts[i], ends[i]
			if b < 0 {
				b += d
			}
			if e < 0 {
				e += d
			}
			var size int
			if step > 0 {
				b, e = min(max(b, 0), d), min(max(e, 0), d)
				size = max(0, (e-b+step-1)/step)
			} else {
				b, e = min(max(b, 0), d-1), min(max(e, -1), d-1)
				size = max(0, (b-e-step-1)/(-step))
			}
			out[ax] = size
			iStr[ax] = st[ax] * step
			if size > 0 {
				off += b * st[ax]
			}
		}
		p := &movePlan{shapes: [][]int{out}}
		p.view(0, 0, off, iStr)
		return p, nil
	}), nil
}

// Pad (constant mode): y = x placed at offset pads_begin inside a tensor
// filled with the constant value (negative pads crop); ẏ = ẋ placed alike,
// zero around it; x̄ is the region of ȳ where x lies.
func newPad[T Float](n *Node) (*moveKernel[T], error) {
	if mode := n.Attrs.String("mode", "constant"); mode != "constant" {
		return nil, fmt.Errorf("pad mode %q is not supported (constant only)", mode)
	}
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		pads := intsInput(n, a, "pads", 1, 11)
		value := n.Attrs.Float("value", 0)
		if n.Opset >= 11 && a.given(2) {
			if len(a.vals[2].Data) != 1 {
				return nil, fmt.Errorf("constant_value has %d elements", len(a.vals[2].Data))
			}
			value = a.vals[2].Data[0]
		}
		axes := make([]int, len(s))
		for i := range axes {
			axes[i] = i
		}
		if n.Opset >= 18 && a.given(3) {
			var err error
			if axes, err = shapeAxes(a.ints(3), len(s)); err != nil {
				return nil, err
			}
		}
		if len(pads) != 2*len(axes) {
			return nil, fmt.Errorf("%d pads for %d axes", len(pads), len(axes))
		}
		out := append([]int(nil), s...)
		lo, hi := make([]int, len(s)), append([]int(nil), s...)
		oOff := 0
		for i, ax := range axes {
			b, e := pads[i], pads[i+len(axes)]
			out[ax] = s[ax] + b + e
			if out[ax] < 0 {
				return nil, fmt.Errorf("pads %v crop axis %d of size %d below zero", pads, ax, s[ax])
			}
			lo[ax], hi[ax] = max(0, -b), min(s[ax], out[ax]-b)
		}
		box := make([]int, len(s))
		iOff := 0
		st, oStr := Strides(s), Strides(out)
		for ax := range s {
			box[ax] = max(0, hi[ax]-lo[ax])
			iOff += lo[ax] * st[ax]
		}
		for i, ax := range axes {
			oOff += (lo[ax] + pads[i]) * oStr[ax]
		}
		p := &movePlan{shapes: [][]int{out}, fill: []float64{value}}
		p.add(0, 0, box, iOff, st, oOff, oStr)
		return p, nil
	}), nil
}

// Expand: y = x broadcast (numpy rules, both ways) with the shape input;
// ẏ = ẋ broadcast; x̄ = ȳ summed over the broadcast axes (SumTo).
func newExpand[T Float](n *Node) (*moveKernel[T], error) {
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "input"); err != nil {
			return nil, err
		}
		if err := needInput(a, 1, "shape"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		out, err := BroadcastShapes(s, a.ints(1))
		if err != nil {
			return nil, err
		}
		for _, d := range out {
			if d < 0 {
				return nil, fmt.Errorf("negative dimension in shape %v", a.ints(1))
			}
		}
		st := Strides(s)
		iStr := make([]int, len(out))
		lead := len(out) - len(s)
		for i, d := range s {
			if d != 1 {
				iStr[lead+i] = st[i]
			}
		}
		p := &movePlan{shapes: [][]int{out}}
		p.view(0, 0, 0, iStr)
		return p, nil
	}), nil
}

// Gather: y[a, i, b] = x[a, idx[i], b] with idx over the indices' shape on
// axis (negative indices count from the end); ẏ alike; x̄ scatter-adds ȳ
// (an index that repeats sums its cotangents).
func newGather[T Float](n *Node) (*moveKernel[T], error) {
	axis := int(n.Attrs.Int("axis", 0))
	return newMove[T]([]int{0}, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		if err := needInput(a, 1, "indices"); err != nil {
			return nil, err
		}
		s, is := a.shapes[0], a.shapes[1]
		ax, err := shapeAxis(axis, len(s))
		if err != nil {
			return nil, err
		}
		idx := a.ints(1)
		out := append(append(append([]int{}, s[:ax]...), is...), s[ax+1:]...)
		outer, inner, ni := Size(s[:ax]), Size(s[ax+1:]), len(idx)
		for _, v := range idx {
			if v < -s[ax] || v >= s[ax] {
				return nil, fmt.Errorf("index %d out of range for axis %d of size %d", v, ax, s[ax])
			}
		}
		// One box per index, all of the same shape and strides: build it
		// once and shift it.
		p := &movePlan{shapes: [][]int{out}}
		p.add(0, 0, []int{outer, inner}, 0, []int{s[ax] * inner, 1}, 0, []int{ni * inner, 1})
		if len(p.boxes) == 0 {
			return p, nil
		}
		b := p.boxes[0]
		p.boxes = make([]moveBox, ni)
		for j, v := range idx {
			if v < 0 {
				v += s[ax]
			}
			b.iOff, b.oOff = v*inner, j*inner
			p.boxes[j] = b
		}
		return p, nil
	}), nil
}

// Shape: y = the dimensions of x[start:end] (opset 15 slicing, clamped), an
// integer tensor without derivatives.
func newShape[T Float](n *Node) (*moveKernel[T], error) {
	start, end := int(n.Attrs.Int("start", 0)), int(n.Attrs.Int("end", math.MaxInt))
	return newMove[T](nil, func(a *shapeArgs) (*movePlan, error) {
		if err := needInput(a, 0, "data"); err != nil {
			return nil, err
		}
		s := a.shapes[0]
		clamp := func(i int) int {
			if i < 0 {
				i += len(s)
			}
			return min(max(i, 0), len(s))
		}
		b, e := clamp(start), clamp(end)
		dims := []float64{}
		for _, d := range s[b:max(b, e)] {
			dims = append(dims, float64(d))
		}
		return &movePlan{shapes: [][]int{{len(dims)}}, consts: [][]float64{dims}}, nil
	}), nil
}

// Constant: y = the value attribute (value, value_float(s), value_int(s));
// no inputs, no derivatives.
func newConstant[T Float](n *Node) (*moveKernel[T], error) {
	var shape []int
	var data []float64
	at := n.Attrs
	switch {
	case at.Has("value"):
		v := at["value"].Tensor
		if v == nil {
			return nil, errors.New("value attribute holds no tensor")
		}
		shape, data = v.Shape, v.Data
		if shape == nil {
			shape = []int{}
		}
		if Size(shape) != len(data) {
			return nil, fmt.Errorf("value has %d elements for shape %v", len(data), shape)
		}
	case at.Has("value_float"):
		shape, data = []int{}, []float64{at.Float("value_float", 0)}
	case at.Has("value_int"):
		shape, data = []int{}, []float64{float64(at.Int("value_int", 0))}
	case at.Has("value_floats"):
		data = at["value_floats"].Floats
		shape = []int{len(data)}
	case at.Has("value_ints"):
		for _, v := range at["value_ints"].Ints {
			data = append(data, float64(v))
		}
		shape = []int{len(data)}
	default:
		return nil, errors.New("no supported value attribute (sparse and string constants are not)")
	}
	data = append([]float64{}, data...)
	return newMove[T](nil, func(a *shapeArgs) (*movePlan, error) {
		return &movePlan{shapes: [][]int{shape}, consts: [][]float64{data}}, nil
	}), nil
}

// ONNX TensorProto element types that Cast may target.
const (
	onnxFloat    = 1
	onnxUint8    = 2
	onnxInt8     = 3
	onnxUint16   = 4
	onnxInt16    = 5
	onnxInt32    = 6
	onnxInt64    = 7
	onnxBool     = 9
	onnxFloat16  = 10
	onnxDouble   = 11
	onnxUint32   = 12
	onnxUint64   = 13
	onnxBfloat16 = 16
	onnxUint4    = 21
	onnxInt4     = 22
	onnxUint2    = 25
	onnxInt2     = 26
)

// castOp is Cast: to FLOAT and DOUBLE, y = x (values keep the engine's
// precision); to FLOAT16 and BFLOAT16, x rounded to nearest even in that
// format, with the identity as derivative (as PyTorch's casts); to integer
// types, x truncated toward zero (4- and 2-bit types: rounded to nearest
// even), wrapped modulo 2^bits into the type's range; to BOOL, 1 where
// x ≠ 0. Integer and bool results have no derivative.
type castOp[T Float] struct {
	conv   func(float64) float64 // nil: identity
	smooth bool                  // the derivative is the identity
}

func newCast[T Float](n *Node) (*castOp[T], error) {
	if !n.Attrs.Has("to") {
		return nil, errors.New("missing to attribute")
	}
	to := n.Attrs.Int("to", 0)
	// wrap reduces round(x) modulo 2^bits into the type's range, as the
	// reference implementation does for out-of-range values.
	wrap := func(bits int, signed bool, round func(float64) float64) func(float64) float64 {
		m, lo := math.Ldexp(1, bits), 0.0
		if signed {
			lo = -m / 2
		}
		return func(x float64) float64 {
			v := math.Mod(round(x)-lo, m)
			if v < 0 {
				v += m
			}
			return v + lo
		}
	}
	switch to {
	case onnxFloat, onnxDouble:
		return &castOp[T]{smooth: true}, nil
	case onnxFloat16:
		return &castOp[T]{smooth: true, conv: func(x float64) float64 { return roundFloat(x, 11, -14, 65504) }}, nil
	case onnxBfloat16:
		return &castOp[T]{smooth: true, conv: func(x float64) float64 { return roundFloat(x, 8, -126, 0x1.fep127) }}, nil
	case onnxBool:
		return &castOp[T]{conv: func(x float64) float64 { return indicatorNonZero(x) }}, nil
	case onnxUint8:
		return &castOp[T]{conv: wrap(8, false, math.Trunc)}, nil
	case onnxInt8:
		return &castOp[T]{conv: wrap(8, true, math.Trunc)}, nil
	case onnxUint16:
		return &castOp[T]{conv: wrap(16, false, math.Trunc)}, nil
	case onnxInt16:
		return &castOp[T]{conv: wrap(16, true, math.Trunc)}, nil
	case onnxInt32:
		return &castOp[T]{conv: wrap(32, true, math.Trunc)}, nil
	case onnxUint32:
		return &castOp[T]{conv: wrap(32, false, math.Trunc)}, nil
	case onnxInt64, onnxUint64:
		return &castOp[T]{conv: math.Trunc}, nil
	case onnxUint4:
		return &castOp[T]{conv: wrap(4, false, math.RoundToEven)}, nil
	case onnxInt4:
		return &castOp[T]{conv: wrap(4, true, math.RoundToEven)}, nil
	case onnxUint2:
		return &castOp[T]{conv: wrap(2, false, math.RoundToEven)}, nil
	case onnxInt2:
		return &castOp[T]{conv: wrap(2, true, math.RoundToEven)}, nil
	}
	return nil, fmt.Errorf("cast to element type %d is not supported", to)
}

func indicatorNonZero(x float64) float64 {
	if x != 0 {
		return 1
	}
	return 0
}

// roundFloat rounds x to nearest even in a binary format with p significand
// bits, minimum normal exponent emin and largest finite value maxFinite
// (beyond which it overflows to ±Inf).
func roundFloat(x float64, p, emin int, maxFinite float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	_, e := math.Frexp(x) // |x| = f·2^e, f in [0.5, 1)
	e = max(e-1, emin)
	q := math.Ldexp(1, e-(p-1))
	y := math.RoundToEven(x/q) * q
	if math.Abs(y) > maxFinite {
		return math.Copysign(math.Inf(1), x)
	}
	return y
}

func (c *castOp[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if len(in) < 1 || in[0] == nil {
		return nil, errors.New("missing input")
	}
	y := in[0].Clone()
	if c.conv != nil {
		for i, v := range y.Data {
			y.Data[i] = T(c.conv(float64(v)))
		}
	}
	return []*Tensor[T]{y}, nil
}

// JVP: ẏ = ẋ for float targets, none otherwise.
func (c *castOp[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	return c.pass(tin)
}

// VJP: x̄ = ȳ for float targets, none otherwise.
func (c *castOp[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return c.pass(gout)
}

func (c *castOp[T]) pass(b []*Tensor[T]) []*Tensor[T] {
	if !c.smooth || len(b) == 0 || b[0] == nil {
		return []*Tensor[T]{nil}
	}
	return []*Tensor[T]{b[0].Clone()}
}

func init() {
	data := []int{0}
	for _, op := range []struct {
		name  string
		new32 func(*Node) (*moveKernel[float32], error)
		new64 func(*Node) (*moveKernel[float64], error)
	}{
		{"Identity", newIdentity[float32], newIdentity[float64]},
		{"Flatten", newFlatten[float32], newFlatten[float64]},
		{"Reshape", newReshape[float32], newReshape[float64]},
		{"Squeeze", newSqueeze[float32], newSqueeze[float64]},
		{"Unsqueeze", newUnsqueeze[float32], newUnsqueeze[float64]},
		{"Dropout", newDropout[float32], newDropout[float64]},
		{"Transpose", newTranspose[float32], newTranspose[float64]},
		{"Split", newSplit[float32], newSplit[float64]},
		{"Slice", newSlice[float32], newSlice[float64]},
		{"Pad", newPad[float32], newPad[float64]},
		{"Expand", newExpand[float32], newExpand[float64]},
		{"Gather", newGather[float32], newGather[float64]},
	} {
		// A float initializer moved by these ops is a learnable tensor
		// (an embedding table, a class token, a tied weight).
		Register(OpSpec{Type: op.name, Diff: data, Params: data}, op.new32, op.new64)
	}
	Register(OpSpec{Type: "Concat", Diff: []int{-1}, Params: []int{-1}}, newConcat[float32], newConcat[float64])
	Register(OpSpec{Type: "Cast", Diff: data, Params: data}, newCast[float32], newCast[float64])
	Register(OpSpec{Type: "Shape"}, newShape[float32], newShape[float64])
	Register(OpSpec{Type: "Constant"}, newConstant[float32], newConstant[float64])
}
