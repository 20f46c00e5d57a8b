package fvp

import (
	"context"
	"fmt"
	"sync"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/simd"
)

// Op is the Jacobian of a network over a data set, used through products.
type Op[T autodiff.Float] struct {
	e     *autodiff.Engine[T]
	x     *autodiff.Tensor[T] // [n, input shape...]
	batch int
	n, k  int
	p     int
	sizes []int // element count of each active parameter
	tapes []*autodiff.Tape[T]
	// vbuf holds *[]T buffers of r·p elements for the directions of J and
	// JᵀJ products in precision T, reused across products.
	vbuf sync.Pool
}

// New returns the Jacobian operator of engine e's first output over the
// rows of x, swept batch rows at a time. Forward sweeps are run once and
// kept, so later products cost only their JVP or VJP sweeps.
func New[T autodiff.Float](ctx context.Context, e *autodiff.Engine[T], x *autodiff.Tensor[T], batch int) (*Op[T], error) {
	if x.Rank() < 1 || x.Shape[0] == 0 {
		return nil, fmt.Errorf("fvp: no data rows")
	}
	if batch <= 0 {
		batch = 256
	}
	o := &Op[T]{e: e, x: x, batch: batch, n: x.Shape[0]}
	for _, id := range e.Active() {
		o.sizes = append(o.sizes, e.Param(id).Len())
		o.p += e.Param(id).Len()
	}
	for b0 := 0; b0 < o.n; b0 += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := e.Forward(o.rows(b0, min(b0+batch, o.n)))
		if err != nil {
			return nil, err
		}
		o.tapes = append(o.tapes, t)
	}
	out := o.tapes[0].Outputs()[0]
	if out.Rank() < 1 {
		return nil, fmt.Errorf("fvp: the model's output %v has no batch axis", out.Shape)
	}
	o.k = out.Len() / out.Shape[0]
	return o, nil
}

// rows returns rows [i0, i1) of x, sharing its data.
func (o *Op[T]) rows(i0, i1 int) *autodiff.Tensor[T] {
	row := o.x.Len() / o.n
	shape := append([]int{i1 - i0}, o.x.Shape[1:]...)
	return autodiff.FromData(o.x.Data[i0*row:i1*row], shape...)
}

// N is the number of data rows, K the outputs per row, P the number of
// active parameters.
func (o *Op[T]) N() int { return o.n }
func (o *Op[T]) K() int { return o.k }
func (o *Op[T]) P() int { return o.p }

// Sizes returns the element count of each active parameter tensor.
func (o *Op[T]) Sizes() []int { return o.sizes }

// Release hands the buffers of the op's forward sweeps back to its engine
// (autodiff.Tape.Release) for later sweeps; the op must not be used after.
func (o *Op[T]) Release() {
	for _, t := range o.tapes {
		t.Release()
	}
	o.tapes = nil
}

// Outputs returns f(X), the network's outputs as an n·K vector.
func (o *Op[T]) Outputs() []float64 {
	f := make([]float64, 0, o.n*o.k)
	for _, t := range o.tapes {
		for _, v := range t.Outputs()[0].Data {
			f = append(f, float64(v))
		}
	}
	return f
}

// J sets dst (r×nK) to the products J·v of the r directions v (r×p).
func (o *Op[T]) J(ctx context.Context, dst, v []float64, r int) error {
	if len(v) != r*o.p || len(dst) != r*o.n*o.k {
		return fmt.Errorf("fvp.J: got %d and %d values for r=%d, p=%d, nK=%d", len(v), len(dst), r, o.p, o.n*o.k)
	}
	blocks, buf := o.paramBlocks(v, r)
	defer o.vbuf.Put(buf)
	nk := o.n * o.k
	for b, t := range o.tapes {
		if err := ctx.Err(); err != nil {
			return err
		}
		outs, err := o.e.JVP(t, r, blocks, nil)
		if err != nil {
			return err
		}
		i0 := b * o.batch * o.k
		if outs[0] == nil {
			for d := 0; d < r; d++ {
				clear(dst[d*nk+i0 : d*nk+i0+t.Outputs()[0].Len()])
			}
			continue
		}
		per := outs[0].Len() / r
		for d := 0; d < r; d++ {
			for j, u := range outs[0].Data[d*per : (d+1)*per] {
				dst[d*nk+i0+j] = float64(u)
			}
		}
		o.e.Release(outs...)
	}
	return nil
}

// JT sets dst (r×p) to the products Jᵀ·w of the r cotangents w (r×nK),
// summed over the data.
func (o *Op[T]) JT(ctx context.Context, dst, w []float64, r int) error {
	nk := o.n * o.k
	if len(w) != r*nk || len(dst) != r*o.p {
		return fmt.Errorf("fvp.JT: got %d and %d values for r=%d, p=%d, nK=%d", len(w), len(dst), r, o.p, nk)
	}
	first := true
	for b, t := range o.tapes {
		if err := ctx.Err(); err != nil {
			return err
		}
		out := t.Outputs()[0]
		i0 := b * o.batch * o.k
		g := autodiff.New[T](autodiff.BlockShape(r, out.Shape)...)
		per := out.Len()
		for d := 0; d < r; d++ {
			for j := range per {
				g.Data[d*per+j] = T(w[d*nk+i0+j])
			}
		}
		if err := o.addVJP(dst, t, r, g, first); err != nil {
			return err
		}
		first = false
	}
	if first {
		clear(dst)
	}
	return nil
}

// addVJP adds (or, for the first batch, stores) into dst (r×p) the
// parameter cotangents Jᵀ·g of tape t's batch for the r output cotangents
// g, and hands their blocks back to the engine.
func (o *Op[T]) addVJP(dst []float64, t *autodiff.Tape[T], r int, g *autodiff.Tensor[T], first bool) error {
	params, err := o.e.VJPParams(t, r, []*autodiff.Tensor[T]{g})
	if err != nil {
		return err
	}
	o.storeParamBlocks(dst, params, r, first)
	o.e.Release(params...)
	return nil
}

// paramBlocks splits r flat p-vectors into one [r, shape] block per
// active parameter, in precision T. The blocks share the buffer it also
// returns, which the caller puts back in o.vbuf once it is done with them.
func (o *Op[T]) paramBlocks(v []float64, r int) ([]*autodiff.Tensor[T], *[]T) {
	buf, _ := o.vbuf.Get().(*[]T)
	if buf == nil || cap(*buf) < r*o.p {
		buf = new([]T)
		*buf = make([]T, r*o.p)
	}
	flat := (*buf)[:r*o.p]
	blocks := make([]*autodiff.Tensor[T], len(o.sizes))
	off := 0
	for j, id := range o.e.Active() {
		sz := o.sizes[j]
		b := flat[r*off : r*(off+sz)]
		for d := 0; d < r; d++ {
			convert(b[d*sz:(d+1)*sz], v[d*o.p+off:d*o.p+off+sz])
		}
		blocks[j] = autodiff.FromData(b, autodiff.BlockShape(r, o.e.Param(id).Shape)...)
		off += sz
	}
	return blocks, buf
}

// convert sets dst to src rounded to T.
func convert[T autodiff.Float](dst []T, src []float64) {
	if d, ok := any(dst).([]float32); ok {
		simd.F64To32(d, src)
		return
	}
	copy(dst, any(src).([]T))
}

// addTo64 adds src, widened to float64, to dst.
func addTo64[T autodiff.Float](dst []float64, src []T) {
	if s, ok := any(src).([]float32); ok {
		simd.AddF32To64(dst, s)
		return
	}
	dst = dst[:len(src)]
	for i, x := range any(src).([]float64) {
		dst[i] += x
	}
}

// addParamBlocks adds per-parameter blocks into r flat p-vectors.
func (o *Op[T]) addParamBlocks(dst []float64, blocks []*autodiff.Tensor[T], r int) {
	o.storeParamBlocks(dst, blocks, r, false)
}

// storeParamBlocks sets (set) or adds (!set) per-parameter blocks into r
// flat p-vectors.
func (o *Op[T]) storeParamBlocks(dst []float64, blocks []*autodiff.Tensor[T], r int, set bool) {
	off := 0
	for j, b := range blocks {
		sz := o.sizes[j]
		for d := 0; d < r; d++ {
			row := dst[d*o.p+off : d*o.p+off+sz]
			if set {
				clear(row)
			}
			addTo64(row, b.Data[d*sz:(d+1)*sz])
		}
		off += sz
	}
}

// GaussNewton sets dst (r×p) to JᵀJ·v for r directions v (r×p): the
// Fisher of a Gaussian likelihood with unit noise, Σ_b J_bᵀ(J_b·v) over
// the batches b, one JVP and one VJP sweep per batch. J_b·v stays in the
// sweeps' precision T between the two, as the float64 round trip of
// J then JT would give it back unchanged.
func (o *Op[T]) GaussNewton(ctx context.Context, dst, v []float64, r int) error {
	if len(v) != r*o.p || len(dst) != r*o.p {
		return fmt.Errorf("fvp.GaussNewton: got %d and %d values for r=%d, p=%d", len(v), len(dst), r, o.p)
	}
	return o.jtj(ctx, dst, v, r, nil)
}

// SoftmaxFisher sets dst (r×p) to JᵀHJ·v, H block-diagonal with
// H_i = diag(p_i) − p_i p_iᵀ for the class probabilities probs (n×K,
// example-major): the Fisher of a categorical likelihood on the logits.
func (o *Op[T]) SoftmaxFisher(ctx context.Context, dst, v, probs []float64, r int) error {
	nk := o.n * o.k
	if len(probs) != nk {
		return fmt.Errorf("fvp.SoftmaxFisher: %d probabilities for nK=%d", len(probs), nk)
	}
	if len(v) != r*o.p || len(dst) != r*o.p {
		return fmt.Errorf("fvp.SoftmaxFisher: got %d and %d values for r=%d, p=%d", len(v), len(dst), r, o.p)
	}
	var u []float64
	return o.jtj(ctx, dst, v, r, func(ju []T, i0 int) {
		// H is applied in float64, to the batch's rows of probs.
		u = u[:0]
		for _, x := range ju {
			u = append(u, float64(x))
		}
		ApplySoftmaxHessian(u, probs[i0:i0+len(ju)/r], o.k, r)
		for i, x := range u {
			ju[i] = T(x)
		}
	})
}

// jtj sets dst (r×p) to Σ_b J_bᵀ·M_b(J_b·v) over the batches b, where M_b
// rewrites in place the r×(rows·K) block J_b·v of the batch whose first
// output is at i0 of an nK-vector (nil M_b: the identity).
func (o *Op[T]) jtj(ctx context.Context, dst, v []float64, r int, m func(ju []T, i0 int)) error {
	blocks, buf := o.paramBlocks(v, r)
	defer o.vbuf.Put(buf)
	first := true
	for b, t := range o.tapes {
		if err := ctx.Err(); err != nil {
			return err
		}
		outs, err := o.e.JVP(t, r, blocks, nil)
		if err != nil {
			return err
		}
		if outs[0] == nil { // J_b·v = 0: nothing to add
			continue
		}
		if m != nil {
			m(outs[0].Data, b*o.batch*o.k)
		}
		if err := o.addVJP(dst, t, r, outs[0], first); err != nil {
			return err
		}
		first = false
	}
	if first {
		clear(dst)
	}
	return nil
}

// ApplySoftmaxHessian replaces each K-block u_i of the r vectors u (r×nK)
// by H_i·u_i = p_i ⊙ u_i − p_i ⟨p_i, u_i⟩.
func ApplySoftmaxHessian(u, probs []float64, k, r int) {
	nk := len(probs)
	for d := 0; d < r; d++ {
		row := u[d*nk : (d+1)*nk]
		for i := 0; i < nk; i += k {
			p, x := probs[i:i+k], row[i:i+k]
			s := 0.0
			for c := range p {
				s += p[c] * x[c]
			}
			for c := range p {
				x[c] = p[c] * (x[c] - s)
			}
		}
	}
}

// Float64 returns the operator's twin in float64 sweeps: the same graph,
// active parameters, data and batch size. Products that cancel heavily
// (Jᵀ·α with a large α from a small noise variance) are computed there.
func (o *Op[T]) Float64(ctx context.Context) (*Op[float64], error) {
	if op, ok := any(o).(*Op[float64]); ok {
		return op, nil
	}
	e, err := autodiff.NewEngine[float64](o.e.Graph())
	if err != nil {
		return nil, err
	}
	e.SetActive(o.e.Active())
	return New(ctx, e, autodiff.Convert[float64](o.x), o.batch)
}
