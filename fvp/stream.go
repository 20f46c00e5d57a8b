package fvp

import (
	"context"
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// JT64 sets dst (r×p) to the products Jᵀ·w in float64 sweeps: the values
// of o.Float64() followed by JT, bit for bit, without holding the float64
// forward sweeps of all the data — each batch's is run, swept back and
// dropped (for the 803k-parameter MLP at n = 10,000, 400 MB less). Per
// batch, JT of that batch alone gives its contribution exactly (0 + x),
// which is added to dst in batch order, as JT adds it.
func (o *Op[T]) JT64(ctx context.Context, dst, w []float64, r int) error {
	if op, ok := any(o).(*Op[float64]); ok {
		return op.JT(ctx, dst, w, r)
	}
	nk := o.n * o.k
	if len(w) != r*nk || len(dst) != r*o.p {
		return fmt.Errorf("fvp.JT64: got %d and %d values for r=%d, p=%d, nK=%d", len(w), len(dst), r, o.p, nk)
	}
	e, err := autodiff.NewEngine[float64](o.e.Graph())
	if err != nil {
		return err
	}
	e.SetActive(o.e.Active())
	clear(dst)
	part := make([]float64, r*o.p)
	for b0 := 0; b0 < o.n; b0 += o.batch {
		b1 := min(b0+o.batch, o.n)
		op, err := New(ctx, e, autodiff.Convert[float64](o.rows(b0, b1)), o.batch)
		if err != nil {
			return err
		}
		wb := make([]float64, r*(b1-b0)*o.k)
		for d := range r {
			copy(wb[d*(b1-b0)*o.k:(d+1)*(b1-b0)*o.k], w[d*nk+b0*o.k:d*nk+b1*o.k])
		}
		if err := op.JT(ctx, part, wb, r); err != nil {
			return err
		}
		for i, v := range part {
			dst[i] += v
		}
	}
	return nil
}
