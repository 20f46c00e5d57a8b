package fvp

import (
	"context"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"gonum.org/v1/gonum/mat"
)

// maxBlock bounds the elements of one block of parameter cotangents
// (r·p) that a reverse sweep holds at once.
const maxBlock = 1 << 23

// Jacobian forms J explicitly (nK×p, float64): row i·K + k is the gradient
// of output k of example i. Each batch is swept backward with one-hot
// cotangents, one per row, in blocks of as many rows as fit in maxBlock.
// Use it only when nK·p is small: tests, and small models.
func (o *Op[T]) Jacobian(ctx context.Context) (*mat.Dense, error) {
	jac := mat.NewDense(o.n*o.k, o.p, nil)
	err := o.EachRows(ctx, func(row0 int, rows *mat.Dense) {
		r, _ := rows.Dims()
		jac.Slice(row0, row0+r, 0, o.p).(*mat.Dense).Copy(rows)
	})
	return jac, err
}

// EachRows calls visit with consecutive blocks of rows of J, starting at
// row row0 (each block r×p). The block is reused between calls.
func (o *Op[T]) EachRows(ctx context.Context, visit func(row0 int, rows *mat.Dense)) error {
	rmax := max(1, min(maxBlock/max(o.p, 1), o.batch*o.k))
	for b, t := range o.tapes {
		out := t.Outputs()[0]
		rowsInBatch := out.Len()
		for j0 := 0; j0 < rowsInBatch; j0 += rmax {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := min(rmax, rowsInBatch-j0)
			g := autodiff.New[T](autodiff.BlockShape(r, out.Shape)...)
			for d := 0; d < r; d++ {
				g.Data[d*rowsInBatch+j0+d] = 1
			}
			params, _, err := o.e.VJP(t, r, []*autodiff.Tensor[T]{g})
			if err != nil {
				return err
			}
			flat := make([]float64, r*o.p)
			o.addParamBlocks(flat, params, r)
			visit(b*o.batch*o.k+j0, mat.NewDense(r, o.p, flat))
		}
	}
	return nil
}
