package autodiff

import (
	"errors"
	"fmt"
	"math"
)

// This file holds Softmax and LogSoftmax.

func init() {
	Register(OpSpec{Type: "Softmax", Diff: []int{0}}, newSoftmax[float32], newSoftmax[float64])
	Register(OpSpec{Type: "LogSoftmax", Diff: []int{0}}, newLogSoftmax[float32], newLogSoftmax[float64])
}

// softmax is Softmax (log = false) and LogSoftmax (log = true) over lines
// of n elements: before opset 13 the input is coerced to 2-D at axis
// (default 1) and each row of the flattened trailing block is a line; since
// opset 13 a line runs along the one axis (default −1).
//
//	Softmax:    y = exp(x − max)/Σ exp(x − max),  ẏ = y⊙(ẋ − ⟨y, ẋ⟩),  x̄ = y⊙(ȳ − ⟨y, ȳ⟩)
//	LogSoftmax: y = x − max − log Σ exp(x − max),  ẏ = ẋ − ⟨p, ẋ⟩,  x̄ = ȳ − p·Σ ȳ,  p = exp(y)
type softmax[T Float] struct {
	log    bool
	axis   int
	coerce bool // opset < 13: normalize over the flattened trailing block
}

func newSoftmaxOp[T Float](n *Node, log bool) (*softmax[T], error) {
	k := &softmax[T]{log: log, coerce: n.Opset < 13}
	def := int64(-1)
	if k.coerce {
		def = 1
	}
	k.axis = int(n.Attrs.Int("axis", def))
	return k, nil
}

// Softmax: y = exp(x)/Σ exp(x) along the axis.
func newSoftmax[T Float](n *Node) (*softmax[T], error) { return newSoftmaxOp[T](n, false) }

// LogSoftmax: y = x − log Σ exp(x) along the axis.
func newLogSoftmax[T Float](n *Node) (*softmax[T], error) { return newSoftmaxOp[T](n, true) }

// lines returns the layout of shape: outer × n × inner, a line being the
// n elements at stride inner.
func (k *softmax[T]) lines(shape []int) (outer, n, inner int, err error) {
	rank := len(shape)
	a := k.axis
	hi := rank - 1
	if k.coerce {
		hi = rank // axis = rank coerces to [size, 1]
	}
	if a < -rank || a > hi {
		return 0, 0, 0, fmt.Errorf("axis %d out of range for rank %d", k.axis, rank)
	}
	if a < 0 {
		a += rank
	}
	outer = Size(shape[:a])
	if k.coerce {
		return outer, Size(shape[a:]), 1, nil
	}
	return outer, shape[a], Size(shape[a+1:]), nil
}

// forLines calls f with the offset of each of the count·inner lines of
// blocks of outer × n × inner elements (count = outer for a value, r·outer
// for a block of tangents), and the offset of the same line in the value.
func forLines(count, outer, n, inner int, f func(off, voff int)) {
	for o := 0; o < count; o++ {
		vo := o % outer
		for i := 0; i < inner; i++ {
			f(o*n*inner+i, vo*n*inner+i)
		}
	}
}

func (k *softmax[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if len(in) == 0 || in[0] == nil {
		return nil, errors.New("missing input")
	}
	x := in[0]
	outer, n, inner, err := k.lines(x.Shape)
	if err != nil {
		return nil, err
	}
	y := New[T](x.Shape...)
	if n == 0 {
		return []*Tensor[T]{y}, nil
	}
	forLines(outer, outer, n, inner, func(off, _ int) {
		m := math.Inf(-1)
		for j := 0; j < n; j++ {
			m = math.Max(m, float64(x.Data[off+j*inner]))
		}
		s := 0.0
		for j := 0; j < n; j++ {
			e := math.Exp(float64(x.Data[off+j*inner]) - m)
			if !k.log {
				y.Data[off+j*inner] = T(e)
			}
			s += e
		}
		if k.log {
			ls := m + math.Log(s)
			for j := 0; j < n; j++ {
				y.Data[off+j*inner] = T(float64(x.Data[off+j*inner]) - ls)
			}
			return
		}
		for j := 0; j < n; j++ {
			y.Data[off+j*inner] = T(float64(y.Data[off+j*inner]) / s)
		}
	})
	return []*Tensor[T]{y}, nil
}

// apply computes, for each line of the block t, t − w·⟨p, t⟩ with w = p
// (adjoint of LogSoftmax, transpose = true) or w = 1 (LogSoftmax JVP),
// times y for Softmax (both directions: its Jacobian is symmetric).
// p is the softmax of the line: y for Softmax, exp(y) for LogSoftmax.
func (k *softmax[T]) apply(y, t *Tensor[T], r int, transpose bool) *Tensor[T] {
	outer, n, inner, _ := k.lines(y.Shape)
	out := New[T](t.Shape...)
	if n == 0 {
		return out
	}
	p := y.Data
	if k.log {
		p = make([]T, len(y.Data))
		for i, v := range y.Data {
			p[i] = T(math.Exp(float64(v)))
		}
	}
	forLines(r*outer, outer, n, inner, func(off, voff int) {
		var s T
		for j := 0; j < n; j++ {
			if k.log && transpose {
				s += t.Data[off+j*inner]
			} else {
				s += p[voff+j*inner] * t.Data[off+j*inner]
			}
		}
		for j := 0; j < n; j++ {
			e, v := off+j*inner, voff+j*inner
			switch {
			case !k.log:
				out.Data[e] = p[v] * (t.Data[e] - s)
			case transpose:
				out.Data[e] = t.Data[e] - p[v]*s
			default:
				out.Data[e] = t.Data[e] - s
			}
		}
	})
	return out
}

func (k *softmax[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil {
		return []*Tensor[T]{nil}
	}
	return []*Tensor[T]{k.apply(out[0], tin[0], r, false)}
}

func (k *softmax[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	if gout[0] == nil {
		return []*Tensor[T]{nil}
	}
	return []*Tensor[T]{k.apply(out[0], gout[0], r, true)}
}
