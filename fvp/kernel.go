package fvp

import (
	"context"
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/mat"
)

// Factors represent the Jacobian of a data set for kernel products
// without forming it (Novak et al. 2022, "Fast Finite Width Neural Tangent
// Kernel"). A dense layer Y = α·X·W contributes to ⟨∂f_ik/∂θ, ∂f_jk'/∂θ⟩
// the product α²·(x_i·x_j)·(g_ik·g_jk'), with x_i the layer's input and g_ik
// its output cotangent for output k of example i, so
//
//	J·J'ᵀ = Σ_layers α²·(X·X'ᵀ ⊗ 1_K) ⊙ (G·G'ᵀ) + R·R'ᵀ,
//
// where R holds the per-example gradients of the other parameters
// (biases, whose inputs are ones, and whatever does not factorize).
type Factors struct {
	N, K   int
	Layers []Layer
	// Single marks factors of a float32 operator: Cross then multiplies
	// them in float32 with the simd kernels when the product is large
	// (see single32Work), accumulating in float64.
	Single bool
	// Rows is nK × (parameters outside Layers): explicit gradient rows.
	Rows *mat.Dense
}

// Layer is one dense layer's factors.
type Layer struct {
	Scale float64    // α²
	X     *mat.Dense // n × in: the layer's input per example; nil for ones (a bias)
	G     *mat.Dense // nK × out: the output cotangent per example and output
	// (Factors gives a node's weight and bias the same G: read-only.)
}

// plan says how each active parameter enters the factors.
type plan struct {
	layer  []layerPlan // factorized parameters
	rest   []int       // indices into the active list, for explicit rows
	restP  int
	offset []int // offset of each active parameter in the flat p-vector
}

type layerPlan struct {
	node   int     // index of the consuming node
	scale  float64 // α² (or β² for a Gemm bias)
	alpha  float64 // α itself, with its sign (−1 for a subtracted bias)
	bias   bool    // the parameter is a bias: its input is ones
	param  int     // value id
	active int     // index in the active list
	transB bool    // a Gemm weight stored [out, in]
}

// makePlan finds the active parameters that factorize: a Gemm's B (transA
// = 0, 2-D input) or C, a MatMul's 2-D right operand with a 2-D left one,
// an Add's operand that broadcasts over the batch. Each must have that
// node as its only consumer.
func (o *Op[T]) makePlan() plan {
	g := o.e.Graph()
	consumers := map[int][]int{}
	for i, n := range g.Nodes {
		for _, id := range n.In {
			if id >= 0 {
				consumers[id] = append(consumers[id], i)
			}
		}
	}
	var pl plan
	off := 0
	tape := o.tapes[0]
	for j, id := range o.e.Active() {
		pl.offset = append(pl.offset, off)
		off += o.sizes[j]
		lp, ok := factorizable(g, consumers[id], id, tape)
		if ok {
			lp.active = j
			pl.layer = append(pl.layer, lp)
			continue
		}
		pl.rest = append(pl.rest, j)
		pl.restP += o.sizes[j]
	}
	return pl
}

func factorizable[T autodiff.Float](g *autodiff.Graph, cons []int, id int, tape *autodiff.Tape[T]) (layerPlan, bool) {
	if len(cons) != 1 {
		return layerPlan{}, false
	}
	n := g.Nodes[cons[0]]
	slot := -1
	for s, in := range n.In {
		if in == id {
			if slot >= 0 {
				return layerPlan{}, false // used twice by one node
			}
			slot = s
		}
	}
	out := tape.Value(n.Out[0])
	p := tape.Value(id)
	switch n.OpType {
	case "Gemm":
		if n.Attrs.Int("transA", 0) != 0 {
			return layerPlan{}, false
		}
		alpha, beta := n.Attrs.Float("alpha", 1), n.Attrs.Float("beta", 1)
		switch {
		case slot == 1:
			return layerPlan{node: cons[0], scale: alpha * alpha, alpha: alpha, param: id, transB: n.Attrs.Int("transB", 0) != 0}, true
		case slot == 2 && biasLike(p.Shape, out.Shape):
			return layerPlan{node: cons[0], scale: beta * beta, alpha: beta, bias: true, param: id}, true
		}
	case "MatMul":
		if slot == 1 && p.Rank() == 2 && tape.Value(n.In[0]).Rank() == 2 {
			return layerPlan{node: cons[0], scale: 1, alpha: 1, param: id}, true
		}
	case "Add", "Sub":
		if biasLike(p.Shape, out.Shape) && out.Rank() == 2 {
			sign := 1.0
			if n.OpType == "Sub" && slot == 1 {
				sign = -1
			}
			return layerPlan{node: cons[0], scale: 1, alpha: sign, bias: true, param: id}, true
		}
	}
	return layerPlan{}, false
}

// biasLike reports whether a parameter of shape p is broadcast along the
// batch axis of an output of rank-2 shape [b, len]: p is [len] or [1, len].
func biasLike(p, out []int) bool {
	if len(out) != 2 {
		return false
	}
	switch len(p) {
	case 1:
		return p[0] == out[1]
	case 2:
		return p[0] == 1 && p[1] == out[1]
	}
	return false
}

// Factors computes the kernel factors of the data set: one reverse sweep
// per batch with K directions (direction k puts a one on output k of every
// example, so each layer's cotangent rows are the per-example cotangents),
// plus one-hot reverse sweeps for the parameters that do not factorize.
func (o *Op[T]) Factors(ctx context.Context) (*Factors, error) {
	pl := o.makePlan()
	g := o.e.Graph()
	var zero T
	_, single := any(zero).(float32)
	f := &Factors{N: o.n, K: o.k, Single: single}
	nk := o.n * o.k
	// A node's weight and bias share its output cotangent: one G for both.
	gOf := map[int]*mat.Dense{}
	shared := make([]bool, len(pl.layer))
	for li, lp := range pl.layer {
		n := g.Nodes[lp.node]
		outW := o.tapes[0].Value(n.Out[0]).Shape[1]
		gm, ok := gOf[lp.node]
		if !ok {
			gm = mat.NewDense(nk, outW, nil)
			gOf[lp.node] = gm
		}
		shared[li] = ok
		l := Layer{Scale: lp.scale, G: gm}
		if !lp.bias {
			inW := o.tapes[0].Value(n.In[0]).Shape[1]
			l.X = mat.NewDense(o.n, inW, nil)
		}
		f.Layers = append(f.Layers, l)
	}
	for b, t := range o.tapes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out := t.Outputs()[0]
		rows := out.Shape[0]
		seed := autodiff.New[T](autodiff.BlockShape(o.k, out.Shape)...)
		for k := 0; k < o.k; k++ {
			for i := 0; i < rows; i++ {
				seed.Data[k*out.Len()+i*o.k+k] = 1
			}
		}
		cot, err := o.e.ParamVJPValues(t, o.k, []*autodiff.Tensor[T]{seed})
		if err != nil {
			return nil, err
		}
		i0 := b * o.batch
		for li, lp := range pl.layer {
			n := g.Nodes[lp.node]
			l := f.Layers[li]
			if l.X != nil {
				x := t.Value(n.In[0])
				w := x.Shape[1]
				for i := 0; i < rows; i++ {
					dst := l.X.RawRowView(i0 + i)
					for c, v := range x.Data[i*w : (i+1)*w] {
						dst[c] = float64(v)
					}
				}
			}
			gy := cot[n.Out[0]]
			_, w := l.G.Dims()
			if gy == nil || shared[li] {
				continue // the output does not reach this layer (zero rows), or G is filled
			}
			for k := 0; k < o.k; k++ {
				for i := 0; i < rows; i++ {
					dst := l.G.RawRowView((i0+i)*o.k + k)
					for c, v := range gy.Data[(k*rows+i)*w : (k*rows+i+1)*w] {
						dst[c] = float64(v)
					}
				}
			}
		}
	}
	if pl.restP > 0 {
		f.Rows = mat.NewDense(nk, pl.restP, nil)
		err := o.EachRows(ctx, func(row0 int, rows *mat.Dense) {
			r, _ := rows.Dims()
			for i := 0; i < r; i++ {
				src, dst := rows.RawRowView(i), f.Rows.RawRowView(row0+i)
				c := 0
				for _, j := range pl.rest {
					c += copy(dst[c:], src[pl.offset[j]:pl.offset[j]+o.sizes[j]])
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Cross returns J_a·J_bᵀ (a.N·K × b.N·K) from the factors of two data sets.
func Cross(a, b *Factors) (*mat.Dense, error) {
	if err := compatible(a, b); err != nil {
		return nil, err
	}
	out := mat.NewDense(a.N*a.K, b.N*b.K, nil)
	cross(out.RawMatrix().Data, a, b, false, useSingle(a, b), panelRows)
	return out, nil
}

// Gram returns J·Jᵀ (nK × nK) from the factors of one data set: the
// values of Cross(f, f), each product formed on and below the diagonal
// only and mirrored (half the multiply-adds), in one nK×nK array that
// the result holds in full (both triangles).
func Gram(f *Factors) (*mat.SymDense, error) {
	if err := compatible(f, f); err != nil {
		return nil, err
	}
	nk := f.N * f.K
	data := make([]float64, nk*nk)
	cross(data, f, f, true, useSingle(f, f), panelRows)
	mirrorLower(data, nk)
	return mat.NewSymDense(nk, data), nil
}

// compatible reports factors of different models, or shapes that do not
// match (factors read back from a file), as an error rather than a panic
// in the products.
func compatible(a, b *Factors) error {
	if a.K != b.K || len(a.Layers) != len(b.Layers) || (a.Rows == nil) != (b.Rows == nil) {
		return fmt.Errorf("fvp.Cross: factors of different models")
	}
	cols := func(m *mat.Dense) int { _, c := m.Dims(); return c }
	for li := range a.Layers {
		la, lb := a.Layers[li], b.Layers[li]
		if la.G == nil || lb.G == nil || cols(la.G) != cols(lb.G) || (la.X == nil) != (lb.X == nil) || (la.X != nil && cols(la.X) != cols(lb.X)) {
			return fmt.Errorf("fvp.Cross: factors of different models (layer %d)", li)
		}
	}
	if a.Rows != nil && cols(a.Rows) != cols(b.Rows) {
		return fmt.Errorf("fvp.Cross: factors of different models (gradient rows)")
	}
	return nil
}

// single32Work is the number of multiply-adds above which Cross multiplies
// the factors of float32 sweeps in float32 (simd.Sgemm, ~10× faster here):
// below it the float64 products cost seconds at most, and they keep the
// kernel exact for ill-conditioned systems (a small noise variance), where
// float32 accumulation moved posterior means by a few percent.
const single32Work = 1e9

// useSingle reports whether Cross(a, b) multiplies in float32.
func useSingle(a, b *Factors) bool {
	return a.Single && b.Single && crossWork(a, b) > single32Work
}

// crossWork is the multiply-adds of Cross(a, b).
func crossWork(a, b *Factors) float64 {
	w := 0
	for _, l := range a.Layers {
		_, g := l.G.Dims()
		w += g
		if l.X != nil {
			_, x := l.X.Dims()
			w += x
		}
	}
	if a.Rows != nil {
		_, r := a.Rows.Dims()
		w += r
	}
	return float64(a.N*a.K) * float64(b.N*b.K) * float64(w)
}

// panelRows is about the number of kernel rows Cross forms at a time.
const panelRows = 256

// cross adds J_a·J_bᵀ to out (a.N·K × b.N·K, row-major, packed) term by
// term — each dense layer's α²·(X_a·X_bᵀ ⊗ 1_K) ⊙ (G_a·G_bᵀ), then
// R_a·R_bᵀ, each entry's sum in that order — in panels of whole points,
// about rows kernel rows each: per panel i0:i1 the rows G_a[i0:i1]·G_bᵀ
// and X_a[i0/K:i1/K]·X_bᵀ go to panel-sized scratch and from there,
// multiplied, into out, so no product of full size is ever held. With
// lower (a and b the same factors), only the columns before each panel's
// end are formed: the lower triangle and the diagonal blocks. With
// single, the products are float32 (simd.Sgemm on float32 copies of one
// term's factors at a time), each entry then added in float64 exactly as
// in float64.
func cross(out []float64, a, b *Factors, lower, single bool, rows int) {
	k := a.K
	na, nb := a.N*k, b.N*k
	if na == 0 || nb == 0 {
		return
	}
	pts := max(1, rows/k)
	type term struct {
		scale          float64
		xa, xb, ga, gb *mat.Dense
	}
	var terms []term
	for li, la := range a.Layers {
		lb := b.Layers[li]
		terms = append(terms, term{la.Scale, la.X, lb.X, la.G, lb.G})
	}
	if a.Rows != nil {
		terms = append(terms, term{1, nil, nil, a.Rows, b.Rows})
	}
	// The buffers at their largest up front: grown panel by panel, they
	// would leave garbage of the order of the kernel itself.
	sc := scratch{g: make([]float64, pts*k*nb), x: make([]float64, pts*b.N)}
	if single {
		sc.g32, sc.x32 = make([]float32, pts*k*nb), make([]float32, pts*b.N)
		size := func(m *mat.Dense) int { r, c := m.Dims(); return r * c }
		var ga, gb, xa, xb int
		for _, t := range terms {
			ga, gb = max(ga, size(t.ga)), max(gb, size(t.gb))
			if t.xa != nil {
				xa, xb = max(xa, size(t.xa)), max(xb, size(t.xb))
			}
		}
		sc.ga, sc.xa = make([]float32, ga), make([]float32, xa)
		if a != b {
			sc.gb, sc.xb = make([]float32, gb), make([]float32, xb)
		}
	}
	// Consecutive terms with the same G factors (a node's weight and bias,
	// see Factors) share each panel of G_a·G_bᵀ; a group holds one term
	// with X factors at most, for one buffer of their float32 copies.
	for t0 := 0; t0 < len(terms); {
		t1, withX := t0+1, terms[t0].xa != nil
		for ; t1 < len(terms) && terms[t1].ga == terms[t0].ga && terms[t1].gb == terms[t0].gb && !(withX && terms[t1].xa != nil); t1++ {
			withX = withX || terms[t1].xa != nil
		}
		group := terms[t0:t1]
		t0 = t1
		gg := newOuter(group[0].ga, group[0].gb, single, &sc.ga, &sc.gb)
		xx := make([]*outer, len(group))
		for i, t := range group {
			if t.xa != nil {
				xx[i] = newOuter(t.xa, t.xb, single, &sc.xa, &sc.xb)
			}
		}
		for p0 := 0; p0 < a.N; p0 += pts {
			p1 := min(a.N, p0+pts)
			r0, r1 := p0*k, p1*k
			cols := nb
			if lower {
				cols = r1
			}
			g := gg.rows(&sc.g, &sc.g32, r0, r1, cols)
			for ti, t := range group {
				if xx[ti] == nil {
					for i := r0; i < r1; i++ {
						row, grow := out[i*nb:i*nb+cols], g[(i-r0)*cols:(i-r0+1)*cols]
						for j, v := range grow {
							row[j] += t.scale * v
						}
					}
					continue
				}
				xc := cols / k
				x := xx[ti].rows(&sc.x, &sc.x32, p0, p1, xc)
				for i := r0; i < r1; i++ {
					row, grow := out[i*nb:i*nb+cols], g[(i-r0)*cols:(i-r0+1)*cols]
					xrow := x[(i/k-p0)*xc : (i/k-p0+1)*xc]
					for j, v := range grow {
						row[j] += t.scale * xrow[j/k] * v
					}
				}
			}
		}
	}
}

// scratch is cross's buffers, reused across panels and terms: the
// panel-sized products, and the float32 copies of one term's factors
// (gb and xb unused when a and b are the same factors).
type scratch struct {
	g, x           []float64
	g32, x32       []float32
	ga, gb, xa, xb []float32
}

// outer forms rows of a·bᵀ, in float64 (gonum) or, for single, in float32
// (simd.Sgemm on float32 copies of a and b made once, into *abuf and
// *bbuf, one copy when a and b are the same matrix).
type outer struct {
	a, b     *mat.Dense
	a32, b32 []float32
}

func newOuter(a, b *mat.Dense, single bool, abuf, bbuf *[]float32) *outer {
	o := &outer{a: a, b: b}
	if single {
		o.a32 = toFloat32(abuf, a)
		o.b32 = o.a32
		if b != a {
			o.b32 = toFloat32(bbuf, b)
		}
	}
	return o
}

// rows returns rows i0:i1, columns 0:n of a·bᵀ ((i1−i0)×n, packed) in
// *buf, grown as needed (*buf32 the float32 product's).
func (o *outer) rows(buf *[]float64, buf32 *[]float32, i0, i1, n int) []float64 {
	m, w := i1-i0, o.a.RawMatrix().Cols
	dst := grow(buf, m*n)
	if o.a32 == nil {
		c := mat.NewDense(m, n, dst)
		c.Mul(o.a.Slice(i0, i1, 0, w), o.b.Slice(0, n, 0, w).T())
		return dst
	}
	c32 := grow(buf32, m*n)
	simd.Sgemm(false, true, m, n, w, 1, o.a32[i0*w:], w, o.b32, w, 0, c32, n)
	for i, v := range c32 {
		dst[i] = float64(v)
	}
	return dst
}

// grow returns (*buf)[:n], reallocating *buf when it is shorter.
func grow[T float32 | float64](buf *[]T, n int) []T {
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	return (*buf)[:n]
}

// mirrorLower copies the strict lower triangle of the n×n row-major
// matrix a onto its upper one, tile by tile (for locality).
func mirrorLower(a []float64, n int) {
	const tile = 64
	for i0 := 0; i0 < n; i0 += tile {
		for j0 := i0; j0 < n; j0 += tile {
			for i := i0; i < min(i0+tile, n); i++ {
				for j := max(j0, i+1); j < min(j0+tile, n); j++ {
					a[i*n+j] = a[j*n+i]
				}
			}
		}
	}
}

// toFloat32 returns a's values as float32, packed, in *buf (grown as
// needed; nil for a new slice).
func toFloat32(buf *[]float32, a *mat.Dense) []float32 {
	r, c := a.Dims()
	var out []float32
	if buf == nil {
		out = make([]float32, r*c)
	} else {
		out = grow(buf, r*c)
	}
	for i := 0; i < r; i++ {
		for j, v := range a.RawRowView(i) {
			out[i*c+j] = float32(v)
		}
	}
	return out
}

// Diag returns the diagonal of J·Jᵀ: the squared norm of each per-example,
// per-output gradient, ‖x_i‖²·‖g_ik‖² summed over dense layers, without
// forming a gradient.
func (f *Factors) Diag() []float64 {
	k := f.K
	d := make([]float64, f.N*k)
	for _, l := range f.Layers {
		for r := range d {
			g := l.G.RawRowView(r)
			v := l.Scale * dot(g, g)
			if l.X != nil {
				x := l.X.RawRowView(r / k)
				v *= dot(x, x)
			}
			d[r] += v
		}
	}
	if f.Rows != nil {
		for r := range d {
			row := f.Rows.RawRowView(r)
			d[r] += dot(row, row)
		}
	}
	return d
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// GaussNewtonDiag returns the diagonal of JᵀJ, the per-parameter sum of
// squared gradients over the data, from the factors f of this operator's
// data (as Factors returned them): for a dense layer's weight
// Σ_{i,k} α²·x_{ia}²·g_{ik,b}², for a bias Σ_{i,k} β²·g_{ik,b}², and the
// column sums of squares of the explicit rows for the rest.
func (o *Op[T]) GaussNewtonDiag(f *Factors) ([]float64, error) {
	pl := o.makePlan()
	if len(pl.layer) != len(f.Layers) {
		return nil, fmt.Errorf("fvp.GaussNewtonDiag: factors of another operator")
	}
	d := make([]float64, o.p)
	for li, lp := range pl.layer {
		l := f.Layers[li]
		off := pl.offset[lp.active]
		nk, out := l.G.Dims()
		g2 := make([]float64, out) // Σ_k g² per example, reused
		for i := 0; i < f.N; i++ {
			clear(g2)
			for k := 0; k < f.K; k++ {
				for b, v := range l.G.RawRowView(i*f.K + k) {
					g2[b] += v * v
				}
			}
			if l.X == nil {
				for b, v := range g2 {
					d[off+b] += l.Scale * v
				}
				continue
			}
			x := l.X.RawRowView(i)
			for a, xv := range x {
				x2 := l.Scale * xv * xv
				for b, gv := range g2 {
					if lp.transB {
						d[off+b*len(x)+a] += x2 * gv
					} else {
						d[off+a*out+b] += x2 * gv
					}
				}
			}
		}
		_ = nk
	}
	if f.Rows != nil {
		r, _ := f.Rows.Dims()
		for i := 0; i < r; i++ {
			row := f.Rows.RawRowView(i)
			c := 0
			for _, j := range pl.rest {
				for e := 0; e < o.sizes[j]; e++ {
					d[pl.offset[j]+e] += row[c] * row[c]
					c++
				}
			}
		}
	}
	return d, nil
}
