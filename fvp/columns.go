package fvp

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/mat"
)

// Columns sets dst (nK × len(cols), row-major) to the columns cols of
// J·Jᵀ, the block form of Factors.Column: for each dense layer
//
//	α²·(X·X_Pᵀ) ⊙ (G·G_Cᵀ)
//
// with X_P the inputs of the columns' points and G_C the cotangent rows of
// the columns (the X factor repeated over the K outputs of a point), both
// products by simd.Sgemm in float32, plus R·R_Cᵀ in float64 for the
// explicit rows. B columns cost the multiply-adds of B calls of Column,
// (N·in + nK·out)·B per layer, but read the factors once, at GEMM speed:
// for preconditioners, where float32 accuracy suffices. With independent,
// the entries of other outputs are zero.
func (s *Factors32) Columns(dst []float64, cols []int, independent bool) error {
	f := s.f
	nk, b := f.N*f.K, len(cols)
	if len(dst) != nk*b {
		return fmt.Errorf("fvp.Columns: %d columns of %d rows into %d values", b, nk, len(dst))
	}
	for _, c := range cols {
		if c < 0 || c >= nk {
			return fmt.Errorf("fvp.Columns: column %d of %d", c, nk)
		}
	}
	clear(dst)
	if b == 0 {
		return nil
	}
	for li, l := range f.Layers {
		_, out := l.G.Dims()
		g := s.g[li]
		gc := make([]float32, b*out)
		for j, c := range cols {
			copy(gc[j*out:(j+1)*out], g[c*out:(c+1)*out])
		}
		gg := make([]float32, nk*b)
		simd.Sgemm(false, true, nk, b, out, 1, g, out, gc, out, 0, gg, b)
		var xx []float32
		if x := s.x[li]; x != nil {
			_, in := l.X.Dims()
			xc := make([]float32, b*in)
			for j, c := range cols {
				i := c / f.K
				copy(xc[j*in:(j+1)*in], x[i*in:(i+1)*in])
			}
			xx = make([]float32, f.N*b)
			simd.Sgemm(false, true, f.N, b, in, 1, x, in, xc, in, 0, xx, b)
		}
		for r := range nk {
			row, gr := dst[r*b:(r+1)*b], gg[r*b:(r+1)*b]
			if xx == nil {
				for j, v := range gr {
					row[j] += l.Scale * float64(v)
				}
				continue
			}
			xr := xx[(r/f.K)*b : (r/f.K+1)*b]
			for j, v := range gr {
				row[j] += l.Scale * float64(xr[j]) * float64(v)
			}
		}
	}
	if f.Rows != nil {
		_, q := f.Rows.Dims()
		rc := mat.NewDense(b, q, nil)
		for j, c := range cols {
			rc.SetRow(j, f.Rows.RawRowView(c))
		}
		var rr mat.Dense
		rr.Mul(f.Rows, rc.T())
		for r := range nk {
			row := dst[r*b : (r+1)*b]
			for j, v := range rr.RawRowView(r) {
				row[j] += v
			}
		}
	}
	if independent {
		for r := range nk {
			for j, c := range cols {
				if r%f.K != c%f.K {
					dst[r*b+j] = 0
				}
			}
		}
	}
	return nil
}
