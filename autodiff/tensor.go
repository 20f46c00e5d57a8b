package autodiff

import (
	"fmt"
	"math"
	"slices"
)

// Float is the element type of the engine: float32 for production sweeps,
// float64 for reference checks.
type Float interface{ ~float32 | ~float64 }

// Tensor is a dense row-major array.
type Tensor[T Float] struct {
	Shape []int
	Data  []T
}

// New returns a zero tensor of the given shape.
func New[T Float](shape ...int) *Tensor[T] {
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: make([]T, Size(shape))}
}

// FromData wraps data (not copied) with the given shape.
func FromData[T Float](data []T, shape ...int) *Tensor[T] {
	if len(data) != Size(shape) {
		panic(fmt.Sprintf("autodiff: %d elements for shape %v", len(data), shape))
	}
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: data}
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T Float](v T) *Tensor[T] { return &Tensor[T]{Shape: []int{}, Data: []T{v}} }

// Convert returns a copy of t in another precision.
func Convert[U, T Float](t *Tensor[T]) *Tensor[U] {
	if t == nil {
		return nil
	}
	out := New[U](t.Shape...)
	for i, v := range t.Data {
		out.Data[i] = U(v)
	}
	return out
}

// Size is the number of elements of shape: the product of its dimensions.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// DefaultMaxElements bounds the elements of one tensor that a kernel
// allocates when its node sets no limit (Node.MaxElements): 2³¹, 8 GiB of
// float32.
const DefaultMaxElements = 1 << 31

// LimitError is a tensor whose shape claims more elements than a limit
// allows (or a negative dimension); it is returned before anything is
// allocated.
type LimitError struct {
	Shape []int
	Limit int
}

func (e *LimitError) Error() string {
	for _, d := range e.Shape {
		if d < 0 {
			return fmt.Sprintf("shape %v has a negative dimension", e.Shape)
		}
	}
	return fmt.Sprintf("a tensor of shape %v would exceed the limit of %d elements", e.Shape, e.Limit)
}

// CheckSize returns the number of elements of shape, or a *LimitError when
// a dimension is negative or the count exceeds limit (counted without
// overflow; limit <= 0 means DefaultMaxElements). It allocates nothing.
func CheckSize(shape []int, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultMaxElements
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, &LimitError{Shape: append([]int(nil), shape...), Limit: limit}
		}
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if d > limit/n {
			return 0, &LimitError{Shape: append([]int(nil), shape...), Limit: limit}
		}
		n *= d
	}
	return n, nil
}

// limited is embedded in the kernels whose output size is not bounded by
// their inputs' (shapes read from inputs or attributes, broadcasting, outer
// products): they check each output shape against the node's limit before
// allocating it.
type limited struct{ limit int }

func (l *limited) setLimit(n int) { l.limit = n }

// checkOut checks the output shapes against the limit.
func (l *limited) checkOut(shapes ...[]int) error {
	for _, s := range shapes {
		if _, err := CheckSize(s, l.limit); err != nil {
			return err
		}
	}
	return nil
}

// Strides returns the row-major strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// Len is the number of elements of t.
func (t *Tensor[T]) Len() int { return len(t.Data) }

// Rank is the number of dimensions of t.
func (t *Tensor[T]) Rank() int { return len(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor[T]) Clone() *Tensor[T] {
	return &Tensor[T]{Shape: append([]int(nil), t.Shape...), Data: append([]T(nil), t.Data...)}
}

// Reshape returns a tensor sharing t's data with another shape of the same size.
func (t *Tensor[T]) Reshape(shape ...int) *Tensor[T] {
	if Size(shape) != len(t.Data) {
		panic(fmt.Sprintf("autodiff: reshape %v to %v", t.Shape, shape))
	}
	return &Tensor[T]{Shape: append([]int(nil), shape...), Data: t.Data}
}

// Ints returns t's elements as integers (for shape, axis and index inputs).
// Values beyond ±2⁶² saturate, as ONNX uses INT64_MAX for "to the end".
func (t *Tensor[T]) Ints() []int {
	out := make([]int, len(t.Data))
	for i, v := range t.Data {
		f := float64(v)
		switch {
		case f >= 1<<62:
			out[i] = 1 << 62
		case f <= -(1 << 62):
			out[i] = -(1 << 62)
		default:
			out[i] = int(math.Round(f))
		}
	}
	return out
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// BroadcastShapes returns the numpy broadcast of the shapes, or an error.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case d == out[off+i] || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

// BroadcastIndex maps each flat index of the broadcast shape out to the
// flat index of an operand of shape in (right-aligned numpy broadcasting).
// It returns nil when in equals out (the identity map).
func BroadcastIndex(in, out []int) []int {
	if SameShape(in, out) {
		return nil
	}
	n := Size(out)
	idx := make([]int, n)
	off := len(out) - len(in)
	inStr := Strides(in)
	// stride of each output axis in the operand, zero where broadcast.
	st := make([]int, len(out))
	for i := range in {
		if in[i] != 1 {
			st[off+i] = inStr[i]
		}
	}
	coord := make([]int, len(out))
	pos := 0
	for k := 0; k < n; k++ {
		idx[k] = pos
		for ax := len(out) - 1; ax >= 0; ax-- {
			coord[ax]++
			pos += st[ax]
			if coord[ax] < out[ax] {
				break
			}
			pos -= st[ax] * coord[ax]
			coord[ax] = 0
		}
	}
	return idx
}

// Broadcast returns t expanded to shape (a copy; t itself when shapes match).
func Broadcast[T Float](t *Tensor[T], shape []int) *Tensor[T] {
	if SameShape(t.Shape, shape) {
		return t
	}
	out := New[T](shape...)
	dims, st := bcastRuns(t.Shape, shape)
	eachRun(dims, st, func(k, j, n, s int) {
		d := out.Data[k : k+n]
		switch s {
		case 0:
			v := t.Data[j]
			for e := range d {
				d[e] = v
			}
		case 1:
			copy(d, t.Data[j:j+n])
		default:
			for e := range d {
				d[e] = t.Data[j+e*s]
			}
		}
	})
	return out
}

// bcastRuns describes the broadcast of an operand of shape in to the shape
// out (right-aligned, as BroadcastIndex) by runs: out's axes with the
// size-1 ones dropped and neighbours merged where the operand's strides
// allow, run i of dims[i] elements of stride st[i] in the operand (0 where
// broadcast). The last run is the innermost.
func bcastRuns(in, out []int) (dims, st []int) {
	off := len(out) - len(in)
	inStr := Strides(in)
	for ax, d := range out {
		if d == 1 {
			continue
		}
		s := 0
		if ax >= off && in[ax-off] != 1 {
			s = inStr[ax-off]
		}
		if n := len(dims); n > 0 && ((s == 0 && st[n-1] == 0) || (s != 0 && st[n-1] == s*d)) {
			dims[n-1] *= d
			st[n-1] = s
			continue
		}
		dims, st = append(dims, d), append(st, s)
	}
	return dims, st
}

// eachRun calls f(k, j, n, s) for each stretch of the innermost run:
// elements k … k+n−1 of the broadcast shape come from operand elements
// j, j+s, …, in increasing k.
func eachRun(dims, st []int, f func(k, j, n, s int)) {
	if len(dims) == 0 {
		f(0, 0, 1, 0)
		return
	}
	for _, d := range dims {
		if d == 0 {
			return
		}
	}
	last := len(dims) - 1
	n, s := dims[last], st[last]
	coord := make([]int, last)
	k, j := 0, 0
	for {
		f(k, j, n, s)
		k += n
		ax := last - 1
		for ; ax >= 0; ax-- {
			coord[ax]++
			j += st[ax]
			if coord[ax] < dims[ax] {
				break
			}
			j -= st[ax] * coord[ax]
			coord[ax] = 0
		}
		if ax < 0 {
			return
		}
	}
}

// SumTo sums t (of a broadcast shape) down to shape, the adjoint of
// Broadcast: out[j] = Σ_{k: idx[k]=j} t[k], summed in increasing k.
func SumTo[T Float](t *Tensor[T], shape []int) *Tensor[T] {
	if SameShape(shape, t.Shape) {
		return t
	}
	out := New[T](shape...)
	dims, st := bcastRuns(shape, t.Shape)
	eachRun(dims, st, func(k, j, n, s int) {
		src := t.Data[k : k+n]
		switch s {
		case 0:
			acc := out.Data[j]
			for _, v := range src {
				acc += v
			}
			out.Data[j] = acc
		case 1:
			d := out.Data[j : j+n]
			for e, v := range src {
				d[e] += v
			}
		default:
			for e, v := range src {
				out.Data[j+e*s] += v
			}
		}
	})
	return out
}

// BlockShape returns [r, shape...], the shape of a block of r tangents.
func BlockShape(r int, shape []int) []int {
	return append([]int{r}, shape...)
}
