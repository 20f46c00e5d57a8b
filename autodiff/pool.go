package autodiff

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// This file holds the pooling ops: MaxPool, AveragePool (any spatial rank),
// GlobalAveragePool and GlobalMaxPool.

func init() {
	Register(OpSpec{Type: "MaxPool", Diff: []int{0}}, newMaxPool[float32], newMaxPool[float64])
	Register(OpSpec{Type: "AveragePool", Diff: []int{0}}, newAveragePool[float32], newAveragePool[float64])
	Register(OpSpec{Type: "GlobalAveragePool", Diff: []int{0}}, newGlobalAveragePool[float32], newGlobalAveragePool[float64])
	Register(OpSpec{Type: "GlobalMaxPool", Diff: []int{0}}, newGlobalMaxPool[float32], newGlobalMaxPool[float64])
}

// poolAttrs are the window attributes shared by MaxPool and AveragePool.
type poolAttrs struct {
	kernel, strides, dilations, pads []int // pads: all begins, then all ends
	autoPad                          string
	ceil                             bool
	limit                            int // Node.MaxElements
}

func newPoolAttrs(n *Node) (poolAttrs, error) {
	a := poolAttrs{
		kernel:    n.Attrs.Ints("kernel_shape"),
		strides:   n.Attrs.Ints("strides"),
		dilations: n.Attrs.Ints("dilations"),
		pads:      n.Attrs.Ints("pads"),
		autoPad:   n.Attrs.String("auto_pad", "NOTSET"),
		ceil:      n.Attrs.Int("ceil_mode", 0) != 0,
		limit:     n.MaxElements,
	}
	d := len(a.kernel)
	if d == 0 {
		return a, errors.New("kernel_shape missing")
	}
	fill := func(v []int, name string, size, def int) ([]int, error) {
		if v == nil {
			v = make([]int, size)
			for i := range v {
				v[i] = def
			}
		}
		if len(v) != size {
			return nil, fmt.Errorf("%s has %d values, want %d", name, len(v), size)
		}
		for _, x := range v {
			if x < def {
				return nil, fmt.Errorf("%s %v: values must be at least %d", name, v, def)
			}
		}
		return v, nil
	}
	var err error
	if a.kernel, err = fill(a.kernel, "kernel_shape", d, 1); err != nil {
		return a, err
	}
	if a.strides, err = fill(a.strides, "strides", d, 1); err != nil {
		return a, err
	}
	if a.dilations, err = fill(a.dilations, "dilations", d, 1); err != nil {
		return a, err
	}
	if a.pads, err = fill(a.pads, "pads", 2*d, 0); err != nil {
		return a, err
	}
	switch a.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return a, fmt.Errorf("auto_pad %q unknown", a.autoPad)
	}
	return a, nil
}

// poolGeom is the geometry of pooling one input shape: every output
// position's window as the list of its taps inside the input plane.
type poolGeom struct {
	in          []int // input shape
	planes      int   // N·C
	inN, outN   int   // elements per plane
	out         []int // output shape
	start, taps []int // taps[start[o]:start[o+1]]: in-plane offsets of window o inside the input
	padded      []int // elements of window o inside the padded input (count_include_pad)
	// When every window has the same taps relative to its first one
	// (no window cut by the border), rel holds those offsets (rel[0] = 0)
	// and first the first tap of each window; nil otherwise.
	first, rel []int
}

// geometry lays the windows over an input of the given shape:
//
//	out = ⌊(in + p₀ + p₁ − ((k−1)·d + 1))/s⌋ + 1   (⌈·⌉ with ceil_mode, dropping a last
//	window that starts in the end padding); SAME_*: out = ⌈in/s⌉, padding split
//	evenly with the odd element at the end (UPPER) or the beginning (LOWER).
func (a *poolAttrs) geometry(shape []int) (*poolGeom, error) {
	d := len(a.kernel)
	if len(shape) != d+2 {
		return nil, fmt.Errorf("input of shape %v for a %d-D window, want rank %d", shape, d, d+2)
	}
	in := shape[2:]
	g := &poolGeom{in: slices.Clone(shape), planes: shape[0] * shape[1], inN: Size(in), out: append([]int(nil), shape[:2]...)}
	begin, end := make([]int, d), make([]int, d)
	for i := 0; i < d; i++ {
		eff := (a.kernel[i]-1)*a.dilations[i] + 1
		s := a.strides[i]
		var o int
		switch a.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (in[i] + s - 1) / s
			total := max((o-1)*s+eff-in[i], 0)
			begin[i] = total / 2
			if a.autoPad == "SAME_LOWER" {
				begin[i] = total - total/2
			}
			end[i] = total - begin[i]
		default:
			if a.autoPad == "NOTSET" {
				begin[i], end[i] = a.pads[i], a.pads[d+i]
			}
			num := in[i] + begin[i] + end[i] - eff
			if num < 0 {
				return nil, fmt.Errorf("window %v (dilations %v) larger than the padded input %v", a.kernel, a.dilations, shape)
			}
			o = num/s + 1
			if a.ceil {
				o = (num+s-1)/s + 1
				if (o-1)*s >= in[i]+begin[i] {
					o--
				}
			}
		}
		g.out = append(g.out, o)
	}
	// The output, and the taps of the windows (one plane's windows times
	// the window size bound the work and the tap lists).
	if _, err := CheckSize(g.out, a.limit); err != nil {
		return nil, err
	}
	if _, err := CheckSize(append(append([]int(nil), g.out[2:]...), a.kernel...), a.limit); err != nil {
		return nil, err
	}
	outSp := g.out[2:]
	g.outN = Size(outSp)
	kn := Size(a.kernel)
	inStr, outStr, kStr := Strides(in), Strides(outSp), Strides(a.kernel)
	g.start = make([]int, 0, g.outN+1)
	g.padded = make([]int, g.outN)
	for o := 0; o < g.outN; o++ {
		g.start = append(g.start, len(g.taps))
		for t := 0; t < kn; t++ {
			off, inside, inPad := 0, true, true
			for i := 0; i < d; i++ {
				c := (o/outStr[i]%outSp[i])*a.strides[i] - begin[i] + (t/kStr[i]%a.kernel[i])*a.dilations[i]
				if c < 0 || c >= in[i] {
					inside = false
				}
				if c < -begin[i] || c >= in[i]+end[i] {
					inPad = false
				}
				off += c * inStr[i]
			}
			if inside {
				g.taps = append(g.taps, off)
			}
			if inPad {
				g.padded[o]++
			}
		}
	}
	g.start = append(g.start, len(g.taps))
	g.sameWindows()
	return g, nil
}

// sameWindows sets first and rel when every window's taps are those of
// window 0 shifted.
func (g *poolGeom) sameWindows() {
	if g.outN == 0 {
		return
	}
	w0 := g.window(0)
	if len(w0) == 0 {
		return
	}
	rel := make([]int, len(w0))
	for t, v := range w0 {
		rel[t] = v - w0[0]
	}
	first := make([]int, g.outN)
	for o := range first {
		w := g.window(o)
		if len(w) != len(rel) {
			return
		}
		for t, v := range w {
			if v-w[0] != rel[t] {
				return
			}
		}
		first[o] = w[0]
	}
	g.first, g.rel = first, rel
}

// window returns the taps of output position o.
func (g *poolGeom) window(o int) []int { return g.taps[g.start[o]:g.start[o+1]] }

// argmaxOp is MaxPool and GlobalMaxPool: each output is one element of
// the input, the first maximum of its window (gradient routed as PyTorch):
//
//	y[o] = x[a(o)],  ẏ[o] = ẋ[a(o)],  x̄[i] = Σ_{o: a(o)=i} ȳ[o]
type argmaxOp[T Float] struct {
	// argmax returns the output shape and, for each output element, the
	// flat index in x of its first maximum (−1 for an empty window).
	argmax func(x *Tensor[T]) (shape, arg []int, err error)
	// maxima, when set, returns y without the indices, on a tensor from
	// alloc that it overwrites.
	maxima func(x *Tensor[T], alloc func(...int) *Tensor[T]) (*Tensor[T], error)
}

func (k *argmaxOp[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	return k.forwardAlloc(in, newZero[T])
}

// forwardAlloc is Forward with maxima's y from alloc.
func (k *argmaxOp[T]) forwardAlloc(in []*Tensor[T], alloc func(...int) *Tensor[T]) ([]*Tensor[T], error) {
	if len(in) == 0 || in[0] == nil {
		return nil, errors.New("missing input")
	}
	if k.maxima != nil {
		y, err := k.maxima(in[0], alloc)
		if err != nil {
			return nil, err
		}
		return []*Tensor[T]{y}, nil
	}
	shape, arg, err := k.argmax(in[0])
	if err != nil {
		return nil, err
	}
	y := gatherBlock(in[0], arg, 1, in[0].Len(), shape)
	return []*Tensor[T]{y.Reshape(shape...)}, nil
}

func (k *argmaxOp[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil {
		return []*Tensor[T]{nil}
	}
	shape, arg, _ := k.argmax(in[0])
	return []*Tensor[T]{gatherBlock(tin[0], arg, r, in[0].Len(), shape)}
}

func (k *argmaxOp[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	if gout[0] == nil {
		return []*Tensor[T]{nil}
	}
	_, arg, _ := k.argmax(in[0])
	return []*Tensor[T]{scatterBlock(gout[0], arg, r, in[0].Len(), in[0].Shape)}
}

// MaxPool: kernel_shape, strides, pads, dilations, ceil_mode, auto_pad;
// the optional Indices output is not supported (storage_order only
// concerns it).
func newMaxPool[T Float](n *Node) (*argmaxOp[T], error) {
	if len(n.Out) > 1 {
		return nil, errors.New("MaxPool's Indices output is not supported")
	}
	a, err := newPoolAttrs(n)
	if err != nil {
		return nil, err
	}
	// The windows of the last input shape, kept: the engine calls argmax
	// in every sweep, on inputs of one shape.
	var last atomic.Pointer[poolGeom]
	geom := func(x *Tensor[T]) (*poolGeom, error) {
		g := last.Load()
		if g == nil || !slices.Equal(g.in, x.Shape) {
			var err error
			if g, err = a.geometry(x.Shape); err != nil {
				return nil, err
			}
			last.Store(g)
		}
		return g, nil
	}
	return &argmaxOp[T]{
		argmax: func(x *Tensor[T]) ([]int, []int, error) {
			g, err := geom(x)
			if err != nil {
				return nil, nil, err
			}
			arg := make([]int, g.planes*g.outN)
			maxPoolPlanes(g, x.Data, arg, nil)
			return g.out, arg, nil
		},
		maxima: func(x *Tensor[T], alloc func(...int) *Tensor[T]) (*Tensor[T], error) {
			g, err := geom(x)
			if err != nil {
				return nil, err
			}
			y := alloc(g.out...)
			if !maxPool2(&a, g, x.Data, y.Data) {
				maxPoolPlanes(g, x.Data, nil, y.Data)
			}
			return y, nil
		},
	}, nil
}

// maxPoolPlanes finds the first maximum of every window of every plane of
// x: the first tap, then any strictly greater one (a NaN first tap stays).
// It sets arg[o] to its flat index in x (−1 for an empty window) unless
// arg is nil, and y[o] to its value (0 for an empty window) unless y is
// nil.
//
// The comparisons are written so that the compiler moves the index
// conditionally, where the maximum lies being an unpredictable branch;
// that makes each window a chain of dependent loads, so windows of one
// shape run four at a time, four independent chains.
func maxPoolPlanes[T Float](g *poolGeom, x []T, arg []int, y []T) {
	for p := 0; p < g.planes; p++ {
		plane := x[p*g.inN : (p+1)*g.inN]
		off, o := p*g.outN, 0
		if g.rel != nil {
			for ; o+4 <= g.outN; o += 4 {
				f := g.first[o : o+4]
				b0, b1, b2, b3 := f[0], f[1], f[2], f[3]
				for _, r := range g.rel[1:] {
					t0, t1, t2, t3 := f[0]+r, f[1]+r, f[2]+r, f[3]+r
					b0 += b2i(plane[t0] > plane[b0]) * (t0 - b0)
					b1 += b2i(plane[t1] > plane[b1]) * (t1 - b1)
					b2 += b2i(plane[t2] > plane[b2]) * (t2 - b2)
					b3 += b2i(plane[t3] > plane[b3]) * (t3 - b3)
				}
				if arg != nil {
					a := arg[off+o : off+o+4]
					a[0], a[1], a[2], a[3] = b0+p*g.inN, b1+p*g.inN, b2+p*g.inN, b3+p*g.inN
				}
				if y != nil {
					v := y[off+o : off+o+4]
					v[0], v[1], v[2], v[3] = plane[b0], plane[b1], plane[b2], plane[b3]
				}
			}
		}
		for ; o < g.outN; o++ {
			w := g.window(o)
			best := -1
			if y != nil {
				y[off+o] = 0
			}
			if len(w) > 0 {
				best = w[0]
				for _, t := range w[1:] {
					best += b2i(plane[t] > plane[best]) * (t - best)
				}
				if y != nil {
					y[off+o] = plane[best]
				}
				best += p * g.inN
			}
			if arg != nil {
				arg[off+o] = best
			}
		}
	}
}

// maxPool2 is maxPoolPlanes's values (y, no indices) for the common 2×2
// window with stride 2 over a 2-D float32 input of even width, without
// padding or dilation, by simd.SmaxPool2 where that is vectorized: with
// M(s, t) = s > t ? s : t, the window's taps a₀ a₁ (row 2i) and b₀ b₁
// (row 2i+1) give
//
//	y[i, j] = M(b₁, M(b₀, M(a₁, a₀))),
//
// the first maximum in tap order as maxPoolPlanes finds it (a NaN first
// tap stays, later NaNs are skipped). An odd height drops each plane's
// last row, as the floor of the output size does. It reports false, having
// done nothing, where it does not apply.
func maxPool2[T Float](a *poolAttrs, g *poolGeom, x, y []T) bool {
	x32, ok := any(x).([]float32)
	if !ok || !simd.MaxPool2Fast() || len(g.in) != 4 {
		return false
	}
	h, w := g.in[2], g.in[3]
	if !slices.Equal(a.kernel, []int{2, 2}) || !slices.Equal(a.strides, []int{2, 2}) ||
		!slices.Equal(a.dilations, []int{1, 1}) || w%2 != 0 || g.out[2] != h/2 || g.out[3] != w/2 {
		return false
	}
	// No padding before the input: the first window starts at (0, 0).
	if a.autoPad == "SAME_UPPER" || a.autoPad == "SAME_LOWER" || (a.autoPad == "NOTSET" && (a.pads[0] != 0 || a.pads[1] != 0)) {
		return false
	}
	y32 := any(y).([]float32)
	if h%2 == 0 || g.planes == 0 {
		simd.SmaxPool2(y32, x32[:g.planes*h*w], w)
		return true
	}
	for p := 0; p < g.planes; p++ {
		simd.SmaxPool2(y32[p*g.outN:(p+1)*g.outN], x32[p*h*w:p*h*w+(h-1)*w], w)
	}
	return true
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// averagePool is AveragePool, a linear map: each output is the mean of its
// window's taps inside the input, divided by the number of those taps
// (count_include_pad = 0) or of window elements inside the padded input
// (count_include_pad = 1):
//
//	y[o] = Σ_{t∈W(o)} x[t]/c(o),  ẏ = pool(ẋ),  x̄[t] = Σ_{o: t∈W(o)} ȳ[o]/c(o)
type averagePool[T Float] struct {
	a          poolAttrs
	includePad bool
}

// AveragePool: kernel_shape, strides, pads, ceil_mode, auto_pad,
// count_include_pad, dilations (opset 19+).
func newAveragePool[T Float](n *Node) (*averagePool[T], error) {
	a, err := newPoolAttrs(n)
	return &averagePool[T]{a: a, includePad: n.Attrs.Int("count_include_pad", 0) != 0}, err
}

func (k *averagePool[T]) divisor(g *poolGeom, o int) T {
	if k.includePad {
		return T(g.padded[o])
	}
	return T(len(g.window(o)))
}

// pool applies the average to the planes of t (count planes of g.inN).
func (k *averagePool[T]) pool(g *poolGeom, t *Tensor[T], shape []int) *Tensor[T] {
	y := New[T](shape...)
	for p := 0; p < len(t.Data)/max(g.inN, 1); p++ {
		plane, dst := t.Data[p*g.inN:(p+1)*g.inN], y.Data[p*g.outN:(p+1)*g.outN]
		for o := range dst {
			var s T
			w := g.window(o)
			for _, i := range w {
				s += plane[i]
			}
			if len(w) > 0 {
				dst[o] = s / k.divisor(g, o)
			}
		}
	}
	return y
}

func (k *averagePool[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if in[0] == nil {
		return nil, errors.New("missing input")
	}
	g, err := k.a.geometry(in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []*Tensor[T]{k.pool(g, in[0], g.out)}, nil
}

func (k *averagePool[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil {
		return []*Tensor[T]{nil}
	}
	g, _ := k.a.geometry(in[0].Shape)
	return []*Tensor[T]{k.pool(g, tin[0], BlockShape(r, g.out))}
}

func (k *averagePool[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	if gout[0] == nil {
		return []*Tensor[T]{nil}
	}
	g, _ := k.a.geometry(in[0].Shape)
	xb := New[T](BlockShape(r, in[0].Shape)...)
	for p := 0; p < r*g.planes; p++ {
		src, dst := gout[0].Data[p*g.outN:(p+1)*g.outN], xb.Data[p*g.inN:(p+1)*g.inN]
		for o, v := range src {
			w := g.window(o)
			if len(w) == 0 {
				continue
			}
			v /= k.divisor(g, o)
			for _, i := range w {
				dst[i] += v
			}
		}
	}
	return []*Tensor[T]{xb}
}

// GlobalAveragePool: y[n, c] = mean over every spatial axis of x[n, c], kept
// as size-1 axes (a ReduceMean over axes 2…).
func newGlobalAveragePool[T Float](n *Node) (*reduceOp[T], error) {
	return &reduceOp[T]{reduceAxes: reduceAxes{fromAxis: 2, keep: true}, mean: true}, nil
}

// GlobalMaxPool: y[n, c] = the maximum over every spatial axis of x[n, c],
// kept as size-1 axes.
func newGlobalMaxPool[T Float](n *Node) (*argmaxOp[T], error) {
	ra := reduceAxes{fromAxis: 2, keep: true}
	return &argmaxOp[T]{argmax: func(x *Tensor[T]) ([]int, []int, error) {
		rd, _, err := ra.geometry(nil, x.Shape)
		if err != nil {
			return nil, nil, err
		}
		return rd.out, reduceArgmax(rd, x), nil
	}}, nil
}
