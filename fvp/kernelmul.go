package fvp

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/mat"
)

// MulVec sets dst (r×nK) to J·Jᵀ·v for the r vectors v (r×nK) from the
// factors, without forming the nK×nK kernel. For a dense layer,
//
//	(K_l·v)_ik = α²·Σ_{j,k'} (x_i·x_j)(g_ik·g_jk')·v_jk' = α²·x_iᵀ·M·g_ik,
//	M = Xᵀ·H,   H_j = Σ_k' v_jk'·g_jk'   (n × out),
//
// two products of n·in·out multiply-adds and nK·out for the row dots,
// never n²; a bias (x = 1) takes M = Σ_j H_j. The explicit rows give
// R·(Rᵀ·v). With independent, only the entries with k = k' are kept
// (the kernel of independent outputs): H and M are formed per output.
func (f *Factors) MulVec(dst, v []float64, r int, independent bool) error {
	return f.passes(dst, v, r, independent, func(vd, od []float64, keep func(k int) bool) {
		for _, l := range f.Layers {
			_, out := l.G.Dims()
			h := mat.NewDense(f.N, out, nil)
			for i := range f.N {
				hr := h.RawRowView(i)
				for k := range f.K {
					if w := vd[i*f.K+k]; w != 0 && keep(k) {
						axpyRow(w, l.G.RawRowView(i*f.K+k), hr)
					}
				}
			}
			var xm *mat.Dense // rows x_iᵀ·M, n × out
			var bias []float64
			if l.X != nil {
				var m mat.Dense
				m.Mul(l.X.T(), h)
				xm = &mat.Dense{}
				xm.Mul(l.X, &m)
			} else {
				bias = make([]float64, out)
				for i := range f.N {
					axpyRow(1, h.RawRowView(i), bias)
				}
			}
			for i := range f.N {
				row := bias
				if xm != nil {
					row = xm.RawRowView(i)
				}
				for k := range f.K {
					if keep(k) {
						od[i*f.K+k] += l.Scale * dot(row, l.G.RawRowView(i*f.K+k))
					}
				}
			}
		}
	})
}

// passes checks the shapes of MulVec's arguments, clears dst and calls
// pass once per vector d (vd → od) and, with independent, once per output
// kk, keep(k') saying whether output k' enters the pass; it adds the
// explicit rows' part R·(Rᵀ·v) itself.
func (f *Factors) passes(dst, v []float64, r int, independent bool, pass func(vd, od []float64, keep func(k int) bool)) error {
	nk := f.N * f.K
	if len(v) != r*nk || len(dst) != r*nk {
		return fmt.Errorf("fvp.MulVec: got %d and %d values for r=%d, nK=%d", len(v), len(dst), r, nk)
	}
	clear(dst)
	outs := 1
	if independent {
		outs = f.K
	}
	for d := range r {
		vd, od := v[d*nk:(d+1)*nk], dst[d*nk:(d+1)*nk]
		for kk := range outs {
			keep := func(k int) bool { return !independent || k == kk }
			pass(vd, od, keep)
			f.addRowsMul(od, vd, keep)
		}
	}
	return nil
}

// addRowsMul adds the explicit rows' part R·(Rᵀ·v) of J·Jᵀ·v to dst,
// over the rows i whose output keep(i mod K) admits.
func (f *Factors) addRowsMul(dst, v []float64, keep func(k int) bool) {
	if f.Rows == nil {
		return
	}
	_, c := f.Rows.Dims()
	rt := make([]float64, c)
	for i := range f.N * f.K {
		if keep(i % f.K) {
			axpyRow(v[i], f.Rows.RawRowView(i), rt)
		}
	}
	for i := range f.N * f.K {
		if keep(i % f.K) {
			dst[i] += dot(rt, f.Rows.RawRowView(i))
		}
	}
}

// Column sets dst (nK) to column c of J·Jᵀ from the factors,
// α²·(x_j·x_i)(g_jk'·g_ik) summed over layers plus R·r_c, with i, k the
// point and output of c: nK·(in + out) multiply-adds per layer. With
// independent, the entries of other outputs are zero.
func (f *Factors) Column(dst []float64, c int, independent bool) error {
	nk := f.N * f.K
	if len(dst) != nk || c < 0 || c >= nk {
		return fmt.Errorf("fvp.Column: column %d of %d into %d values", c, nk, len(dst))
	}
	clear(dst)
	i := c / f.K
	for _, l := range f.Layers {
		gc := l.G.RawRowView(c)
		for j := range f.N {
			xx := l.Scale
			if l.X != nil {
				xx *= dot(l.X.RawRowView(j), l.X.RawRowView(i))
			}
			for k := range f.K {
				dst[j*f.K+k] += xx * dot(l.G.RawRowView(j*f.K+k), gc)
			}
		}
	}
	if f.Rows != nil {
		rc := f.Rows.RawRowView(c)
		for j := range nk {
			dst[j] += dot(f.Rows.RawRowView(j), rc)
		}
	}
	if independent {
		for j := range nk {
			if j%f.K != c%f.K {
				dst[j] = 0
			}
		}
	}
	return nil
}

func axpyRow(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

// Factors32 holds float32 copies of a float32 operator's dense-layer
// factors (whose values are float32 already) for kernel products by
// simd.Sgemm, about an order of magnitude faster than the float64
// products here; sums over the n points accumulate in float32 (relative
// error ~√n·6e-8), the row dots and the explicit rows in float64. Callers
// that need more refine in float64 (see gpadapt's kernel solve).
type Factors32 struct {
	f    *Factors
	x, g [][]float32 // per layer; x[l] nil for a bias
}

// Float32 returns the float32 copies of f's layer factors (one copy of a
// G that layers share).
func (f *Factors) Float32() *Factors32 {
	s := &Factors32{f: f}
	g32 := map[*mat.Dense][]float32{}
	for _, l := range f.Layers {
		var x []float32
		if l.X != nil {
			x = toFloat32(nil, l.X)
		}
		s.x = append(s.x, x)
		if _, ok := g32[l.G]; !ok {
			g32[l.G] = toFloat32(nil, l.G)
		}
		s.g = append(s.g, g32[l.G])
	}
	return s
}

// Work returns the multiply-adds of one product K₀·v (one vector).
func (f *Factors) Work() float64 {
	w := 0.0
	for _, l := range f.Layers {
		_, out := l.G.Dims()
		w += float64(f.N*f.K) * float64(out) * 2
		if l.X != nil {
			_, in := l.X.Dims()
			w += 2 * float64(f.N) * float64(in) * float64(out)
		}
	}
	if f.Rows != nil {
		r, c := f.Rows.Dims()
		w += 2 * float64(r) * float64(c)
	}
	return w
}

// MulVec is Factors.MulVec with the two n·in·out products of each dense
// layer in float32.
func (s *Factors32) MulVec(dst, v []float64, r int, independent bool) error {
	f := s.f
	return f.passes(dst, v, r, independent, func(vd, od []float64, keep func(k int) bool) {
		for li, l := range f.Layers {
			_, out := l.G.Dims()
			g32 := s.g[li]
			h := make([]float32, f.N*out)
			for i := range f.N {
				hr := h[i*out : (i+1)*out]
				for k := range f.K {
					if w := float32(vd[i*f.K+k]); w != 0 && keep(k) {
						row := g32[(i*f.K+k)*out : (i*f.K+k+1)*out]
						for c, g := range row {
							hr[c] += w * g
						}
					}
				}
			}
			var xm []float32 // rows x_iᵀ·M, n × out
			bias := make([]float64, out)
			if x := s.x[li]; x != nil {
				_, in := l.X.Dims()
				m := make([]float32, in*out)
				simd.Sgemm(true, false, in, out, f.N, 1, x, in, h, out, 0, m, out)
				xm = make([]float32, f.N*out)
				simd.Sgemm(false, false, f.N, out, in, 1, x, in, m, out, 0, xm, out)
			} else {
				for i := range f.N {
					for c, hv := range h[i*out : (i+1)*out] {
						bias[c] += float64(hv)
					}
				}
			}
			for i := range f.N {
				for k := range f.K {
					if !keep(k) {
						continue
					}
					g := l.G.RawRowView(i*f.K + k)
					sum := 0.0
					if xm != nil {
						for c, xv := range xm[i*out : (i+1)*out] {
							sum += float64(xv) * g[c]
						}
					} else {
						sum = dot(bias, g)
					}
					od[i*f.K+k] += l.Scale * sum
				}
			}
		}
	})
}
