package fvp

import (
	"context"
	"fmt"
	"sync"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// FactorOp applies J and Jᵀ of a data set from its kernel factors (see
// Factors) instead of sweeping the network. Example i's gradient of output
// k is, on a dense layer Y = α·X·W (+ β·b), the outer product α·x_i⊗g_ik
// (and β·g_ik for the bias), so for a direction (dW, db)
//
//	(J·v)_ik = Σ_layers g_ik · (α·x_i·dW + β·db) + R_ik·v_R,
//	Jᵀ·u     = per layer (α·Xᵀ·H, β·Σ_i H_i),  H_i = Σ_k u_ik·g_ik,
//
// with R the explicit gradient rows of the parameters that do not
// factorize. Each dense layer costs one n·in·out product in each
// direction, where a JVP sweep needs two (W·dx and dW·x) and a VJP sweep
// two (Gᵀ·X and G·Wᵀ): the Gauss-Newton product JᵀJ·v costs half the
// multiply-adds of its sweeps. It needs the factors in memory: n·in per
// layer input and nK·out per layer output, in float32 for a float32
// operator (the products then run on simd.Sgemm, accumulating over at most
// factorPanel examples in float32 and over panels in float64).
type FactorOp struct {
	f      *Factors
	n, k   int
	p      int
	single bool
	f32    *Factors32  // the float32 copies, for single
	x32    [][]float32 // f32's per layer, nil for a bias
	g32    [][]float32
	nodes  []factorNode
	rest   []restBlock // the explicit rows' parameters, in column order
	restP  int
	pool   sync.Pool // *factorScratch
}

// factorNode is one node's dense-layer terms, which share its output
// cotangents G (layer index g of f.Layers).
type factorNode struct {
	g, out int
	terms  []factorTerm
}

// factorTerm is one parameter of a node: a weight (in > 0) or a bias.
type factorTerm struct {
	layer  int     // index in f.Layers
	alpha  float64 // α (β for a bias), with its sign
	off    int     // offset in a flat p-vector
	in     int     // input width; 0 for a bias
	transB bool    // the weight is stored [out, in]
}

// restBlock is a parameter outside the factors: its offset and size.
type restBlock struct{ off, size int }

// factorPanel is how many examples one panel of the products covers (a
// variable for tests).
var factorPanel = 2048

// FactorOp returns the factor-based J and Jᵀ of this operator's data, for
// the factors f that Factors returned for it.
func (o *Op[T]) FactorOp(f *Factors) (*FactorOp, error) {
	pl := o.makePlan()
	if len(pl.layer) != len(f.Layers) || f.N != o.n || f.K != o.k {
		return nil, fmt.Errorf("fvp.FactorOp: factors of another operator")
	}
	fo := &FactorOp{f: f, n: o.n, k: o.k, p: o.p, single: f.Single, restP: pl.restP}
	byNode := map[int]int{}
	for li, lp := range pl.layer {
		l := f.Layers[li]
		_, out := l.G.Dims()
		ni, ok := byNode[lp.node]
		if !ok {
			ni = len(fo.nodes)
			byNode[lp.node] = ni
			fo.nodes = append(fo.nodes, factorNode{g: li, out: out})
		}
		t := factorTerm{layer: li, alpha: lp.alpha, off: pl.offset[lp.active], transB: lp.transB}
		if l.X != nil {
			_, t.in = l.X.Dims()
		}
		fo.nodes[ni].terms = append(fo.nodes[ni].terms, t)
	}
	for _, j := range pl.rest {
		fo.rest = append(fo.rest, restBlock{off: pl.offset[j], size: o.sizes[j]})
	}
	if fo.single {
		fo.f32 = f.Float32()
		fo.x32, fo.g32 = fo.f32.x, fo.f32.g
	}
	return fo, nil
}

// Float32 returns float32 copies of the factors for kernel products: the
// ones the operator holds when its sweeps are float32, else new ones.
func (fo *FactorOp) Float32() *Factors32 {
	if fo.f32 != nil {
		return fo.f32
	}
	return fo.f.Float32()
}

// N, K and P are the operator's examples, outputs per example and
// parameters.
func (fo *FactorOp) N() int { return fo.n }
func (fo *FactorOp) K() int { return fo.k }
func (fo *FactorOp) P() int { return fo.p }

// factorScratch holds one product's work space.
type factorScratch struct {
	w32  []float32 // the direction's layer parameters in float32
	z32  []float32 // every node's panel × out, one after another
	d32  []float32 // one parameter's panel cotangent
	z64  []float64 // one node's panel × out, in float64
	rest []float64 // the block's entries of the explicit rows (r × restP)
}

func (fo *FactorOp) scratch() *factorScratch {
	if s, ok := fo.pool.Get().(*factorScratch); ok {
		return s
	}
	return &factorScratch{}
}

// J sets dst (r×nK) to J·v for the r directions v (r×p).
func (fo *FactorOp) J(ctx context.Context, dst, v []float64, r int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nk := fo.n * fo.k
	if len(v) != r*fo.p || len(dst) != r*nk {
		return fmt.Errorf("fvp.FactorOp.J: got %d and %d values for r=%d, p=%d, nK=%d", len(v), len(dst), r, fo.p, nk)
	}
	s := fo.scratch()
	defer fo.pool.Put(s)
	clear(dst)
	for d := range r {
		vd, od := v[d*fo.p:(d+1)*fo.p], dst[d*nk:(d+1)*nk]
		if fo.single {
			fo.j32(s, vd, od)
		} else {
			fo.j64(s, vd, od)
		}
	}
	fo.restJ(s, v, r, dst)
	return nil
}

// JT sets dst (r×p) to Jᵀ·u for the r vectors u (r×nK).
func (fo *FactorOp) JT(ctx context.Context, dst, u []float64, r int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nk := fo.n * fo.k
	if len(u) != r*nk || len(dst) != r*fo.p {
		return fmt.Errorf("fvp.FactorOp.JT: got %d and %d values for r=%d, nK=%d, p=%d", len(u), len(dst), r, nk, fo.p)
	}
	s := fo.scratch()
	defer fo.pool.Put(s)
	clear(dst)
	for d := range r {
		ud, od := u[d*nk:(d+1)*nk], dst[d*fo.p:(d+1)*fo.p]
		if fo.single {
			fo.jt32(s, ud, od)
		} else {
			fo.jt64(s, ud, od)
		}
	}
	fo.restJT(s, u, r, dst)
	return nil
}

// GaussNewton sets dst (r×p) to JᵀJ·v, as Op.GaussNewton does by sweeps.
func (fo *FactorOp) GaussNewton(ctx context.Context, dst, v []float64, r int) error {
	return fo.jtj(ctx, dst, v, r, nil)
}

// SoftmaxFisher sets dst (r×p) to JᵀHJ·v for the class probabilities
// probs (n×K), as Op.SoftmaxFisher does by sweeps.
func (fo *FactorOp) SoftmaxFisher(ctx context.Context, dst, v, probs []float64, r int) error {
	if len(probs) != fo.n*fo.k {
		return fmt.Errorf("fvp.FactorOp.SoftmaxFisher: %d probabilities for nK=%d", len(probs), fo.n*fo.k)
	}
	k := fo.k
	return fo.jtj(ctx, dst, v, r, func(u []float64, i int) {
		ApplySoftmaxHessian(u, probs[i*k:(i+1)*k], k, 1)
	})
}

// jtj sets dst to Jᵀ·M(J·v), M applied to each example's K values of J·v
// (m(u_i, i); nil: the identity). In float32 the two halves run fused per
// panel: each example's rows of G are read for its row dots and at once
// again for its rows of H, while they are in cache (G is K times the
// layer's width per example, the largest operand when K > 1).
func (fo *FactorOp) jtj(ctx context.Context, dst, v []float64, r int, m func(u []float64, i int)) error {
	nk := fo.n * fo.k
	if len(v) != r*fo.p || len(dst) != r*fo.p {
		return fmt.Errorf("fvp.FactorOp: got %d and %d values for r=%d, p=%d", len(v), len(dst), r, fo.p)
	}
	if !fo.single {
		u := make([]float64, r*nk)
		if err := fo.J(ctx, u, v, r); err != nil {
			return err
		}
		if m != nil {
			for d := range r {
				for i := range fo.n {
					m(u[d*nk+i*fo.k:d*nk+(i+1)*fo.k], i)
				}
			}
		}
		return fo.JT(ctx, dst, u, r)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := fo.scratch()
	defer fo.pool.Put(s)
	clear(dst)
	us := make([]float64, r*nk) // the directions' J·v, then M(J·v)
	fo.restJ(s, v, r, us)
	for d := range r {
		vd, od := v[d*fo.p:(d+1)*fo.p], dst[d*fo.p:(d+1)*fo.p]
		u := us[d*nk : (d+1)*nk]
		fo.toWeights32(s, vd)
		for i0 := 0; i0 < fo.n; i0 += factorPanel {
			rows := min(factorPanel, fo.n-i0)
			zs := fo.zPanels32(s, i0, rows)
			for i := i0; i < i0+rows; i++ {
				ui := u[i*fo.k : (i+1)*fo.k]
				fo.rowDots32(zs, i0, i, ui)
				if m != nil {
					m(ui, i)
				}
				fo.hRows32(zs, i0, i, ui)
			}
			fo.addPanelJT32(s, zs, i0, rows, od)
		}
	}
	fo.restJT(s, us, r, dst)
	return nil
}

// toWeights32 rounds the dense layers' entries of the direction v to
// float32, at their offsets in s.w32.
func (fo *FactorOp) toWeights32(s *factorScratch, v []float64) {
	s.w32 = grow(&s.w32, fo.p)
	for _, nd := range fo.nodes {
		for _, t := range nd.terms {
			sz := fo.size(t, nd)
			convert(s.w32[t.off:t.off+sz], v[t.off:t.off+sz])
		}
	}
}

// zPanels32 returns, for each node, Z = Σ α·X·dW (+ β·1·dbᵀ) over the
// panel's rows (rows × out), from the direction in s.w32; the panels lie
// one after another in s.z32.
func (fo *FactorOp) zPanels32(s *factorScratch, i0, rows int) [][]float32 {
	zs := fo.panels32(s, rows)
	for ni, nd := range fo.nodes {
		out, z := nd.out, zs[ni]
		clear(z)
		for _, t := range nd.terms {
			w := s.w32[t.off : t.off+fo.size(t, nd)]
			a := float32(t.alpha)
			if t.in == 0 {
				for i := range rows {
					simd.Saxpy(a, w, z[i*out:(i+1)*out])
				}
				continue
			}
			x := fo.x32[t.layer][i0*t.in : (i0+rows)*t.in]
			if t.transB {
				simd.Sgemm(false, true, rows, out, t.in, a, x, t.in, w, t.in, 1, z, out)
			} else {
				simd.Sgemm(false, false, rows, out, t.in, a, x, t.in, w, out, 1, z, out)
			}
		}
	}
	return zs
}

// panels32 returns one rows × out panel per node, one after another in
// s.z32 (not cleared).
func (fo *FactorOp) panels32(s *factorScratch, rows int) [][]float32 {
	total := 0
	for _, nd := range fo.nodes {
		total += rows * nd.out
	}
	buf := grow(&s.z32, total)
	ps := make([][]float32, len(fo.nodes))
	for ni, nd := range fo.nodes {
		ps[ni], buf = buf[:rows*nd.out], buf[rows*nd.out:]
	}
	return ps
}

// rowDots32 adds to ui the dense layers' part of (J·v)_i, Σ z_i·g_ik, for
// example i of the panel starting at i0.
func (fo *FactorOp) rowDots32(zs [][]float32, i0, i int, ui []float64) {
	for ni, nd := range fo.nodes {
		out, g := nd.out, fo.g32[nd.g]
		zi := zs[ni][(i-i0)*out : (i-i0+1)*out]
		for k := range fo.k {
			row := i*fo.k + k
			ui[k] += float64(simd.Sdot(zi, g[row*out:(row+1)*out]))
		}
	}
}

// hRows32 overwrites example i's rows of the panels zs with
// H_i = Σ_k u_ik·g_ik.
func (fo *FactorOp) hRows32(zs [][]float32, i0, i int, ui []float64) {
	for ni, nd := range fo.nodes {
		out, g := nd.out, fo.g32[nd.g]
		hi := zs[ni][(i-i0)*out : (i-i0+1)*out]
		clear(hi)
		for k := range fo.k {
			if w := float32(ui[k]); w != 0 {
				row := i*fo.k + k
				simd.Saxpy(w, g[row*out:(row+1)*out], hi)
			}
		}
	}
}

// addPanelJT32 adds each node's parameter cotangents over the panel,
// α·Xᵀ·H for a weight ([out, in] with transB: α·Hᵀ·X) and β·Σ_i H_i for a
// bias, from the panels hs of H, to od.
func (fo *FactorOp) addPanelJT32(s *factorScratch, hs [][]float32, i0, rows int, od []float64) {
	for ni, nd := range fo.nodes {
		out, h := nd.out, hs[ni]
		for _, t := range nd.terms {
			size := fo.size(t, nd)
			dw := grow(&s.d32, size)
			a := float32(t.alpha)
			switch {
			case t.in == 0:
				clear(dw)
				for i := range rows {
					simd.Saxpy(a, h[i*out:(i+1)*out], dw)
				}
			case t.transB:
				x := fo.x32[t.layer][i0*t.in : (i0+rows)*t.in]
				simd.Sgemm(true, false, out, t.in, rows, a, h, out, x, t.in, 0, dw, t.in)
			default:
				x := fo.x32[t.layer][i0*t.in : (i0+rows)*t.in]
				simd.Sgemm(true, false, t.in, out, rows, a, x, t.in, h, out, 0, dw, out)
			}
			simd.AddF32To64(od[t.off:t.off+size], dw)
		}
	}
}

// j32 adds J·v to od over the dense layers, in float32.
func (fo *FactorOp) j32(s *factorScratch, v, od []float64) {
	fo.toWeights32(s, v)
	for i0 := 0; i0 < fo.n; i0 += factorPanel {
		rows := min(factorPanel, fo.n-i0)
		zs := fo.zPanels32(s, i0, rows)
		for i := i0; i < i0+rows; i++ {
			fo.rowDots32(zs, i0, i, od[i*fo.k:(i+1)*fo.k])
		}
	}
}

// jt32 adds the dense layers' part of Jᵀ·u to od, in float32 per panel.
func (fo *FactorOp) jt32(s *factorScratch, u, od []float64) {
	for i0 := 0; i0 < fo.n; i0 += factorPanel {
		rows := min(factorPanel, fo.n-i0)
		hs := fo.panels32(s, rows)
		for i := i0; i < i0+rows; i++ {
			fo.hRows32(hs, i0, i, u[i*fo.k:(i+1)*fo.k])
		}
		fo.addPanelJT32(s, hs, i0, rows, od)
	}
}

// j64 and jt64 are j32 and jt32 in float64, on the factors themselves.
func (fo *FactorOp) j64(s *factorScratch, v, od []float64) {
	for i0 := 0; i0 < fo.n; i0 += factorPanel {
		rows := min(factorPanel, fo.n-i0)
		for _, nd := range fo.nodes {
			out := nd.out
			z := grow(&s.z64, rows*out)
			clear(z)
			for _, t := range nd.terms {
				w := v[t.off : t.off+fo.size(t, nd)]
				if t.in == 0 {
					for i := range rows {
						axpyRow(t.alpha, w, z[i*out:(i+1)*out])
					}
					continue
				}
				x := fo.f.Layers[t.layer].X.RawMatrix().Data[i0*t.in : (i0+rows)*t.in]
				if t.transB {
					simd.Dgemm(false, true, rows, out, t.in, t.alpha, x, t.in, w, t.in, 1, z, out)
				} else {
					simd.Dgemm(false, false, rows, out, t.in, t.alpha, x, t.in, w, out, 1, z, out)
				}
			}
			g := fo.f.Layers[nd.g].G.RawMatrix().Data
			for i := range rows {
				zi := z[i*out : (i+1)*out]
				for k := range fo.k {
					row := (i0+i)*fo.k + k
					od[row] += dot(zi, g[row*out:(row+1)*out])
				}
			}
		}
	}
}

func (fo *FactorOp) jt64(s *factorScratch, u, od []float64) {
	for i0 := 0; i0 < fo.n; i0 += factorPanel {
		rows := min(factorPanel, fo.n-i0)
		for _, nd := range fo.nodes {
			out := nd.out
			g := fo.f.Layers[nd.g].G.RawMatrix().Data
			h := grow(&s.z64, rows*out)
			clear(h)
			for i := range rows {
				hi := h[i*out : (i+1)*out]
				for k := range fo.k {
					row := (i0+i)*fo.k + k
					if w := u[row]; w != 0 {
						axpyRow(w, g[row*out:(row+1)*out], hi)
					}
				}
			}
			for _, t := range nd.terms {
				dp := od[t.off : t.off+fo.size(t, nd)]
				if t.in == 0 {
					for i := range rows {
						axpyRow(t.alpha, h[i*out:(i+1)*out], dp)
					}
					continue
				}
				x := fo.f.Layers[t.layer].X.RawMatrix().Data[i0*t.in : (i0+rows)*t.in]
				if t.transB {
					simd.Dgemm(true, false, out, t.in, rows, t.alpha, h, out, x, t.in, 1, dp, t.in)
				} else {
					simd.Dgemm(true, false, t.in, out, rows, t.alpha, x, t.in, h, out, 1, dp, out)
				}
			}
		}
	}
}

// size is a term's parameter count.
func (fo *FactorOp) size(t factorTerm, nd factorNode) int {
	if t.in == 0 {
		return nd.out
	}
	return t.in * nd.out
}

// restJ adds R·v_R to the r rows of dst (r×nK), for the r directions v
// (r×p): dst += V_R·Rᵀ, one GEMM, so that R is read once per block
// rather than once per direction.
func (fo *FactorOp) restJ(s *factorScratch, v []float64, r int, dst []float64) {
	if fo.restP == 0 {
		return
	}
	vr := grow(&s.rest, r*fo.restP)
	for d := range r {
		c := d * fo.restP
		for _, b := range fo.rest {
			c += copy(vr[c:], v[d*fo.p+b.off:d*fo.p+b.off+b.size])
		}
	}
	raw := fo.f.Rows.RawMatrix()
	simd.Dgemm(false, true, r, raw.Rows, fo.restP, 1, vr, fo.restP, raw.Data, raw.Stride, 1, dst, raw.Rows)
}

// restJT sets the explicit rows' entries of the r rows of dst (r×p) to
// Rᵀ·u_d for the r vectors u (r×nK): U·R, one GEMM.
func (fo *FactorOp) restJT(s *factorScratch, u []float64, r int, dst []float64) {
	if fo.restP == 0 {
		return
	}
	raw := fo.f.Rows.RawMatrix()
	out := grow(&s.rest, r*fo.restP)
	simd.Dgemm(false, false, r, fo.restP, raw.Rows, 1, u, raw.Rows, raw.Data, raw.Stride, 0, out, fo.restP)
	for d := range r {
		c := d * fo.restP
		for _, b := range fo.rest {
			c += copy(dst[d*fo.p+b.off:d*fo.p+b.off+b.size], out[c:c+b.size])
		}
	}
}
