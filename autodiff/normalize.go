package autodiff

import (
	"errors"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// This file holds the normalizations: BatchNormalization (inference mode),
// LayerNormalization and InstanceNormalization.

func init() {
	Register(OpSpec{Type: "BatchNormalization", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newBatchNorm[float32], newBatchNorm[float64])
	Register(OpSpec{Type: "LayerNormalization", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newLayerNorm[float32], newLayerNorm[float64])
	Register(OpSpec{Type: "InstanceNormalization", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newInstanceNorm[float32], newInstanceNorm[float64])
}

// batchNorm is BatchNormalization in inference mode, per channel c (axis 1)
// with the running statistics μ, σ² as constants:
//
//	y = s·x̂ + B,  x̂ = (x − μ)/√(σ² + ε)
//	ẏ = s/√(σ² + ε)·ẋ + ṡ·x̂ + Ḃ
//	x̄ = s/√(σ² + ε)·ȳ,  s̄ = Σ ȳ⊙x̂,  B̄ = Σ ȳ  (sums over batch and spatial positions)
//
// The forward pass evaluates y = a·x + (B − a·μ), a = s/√(σ² + ε): one
// multiply and one add per element (see affine).
type batchNorm[T Float] struct {
	eps float64
}

func newBatchNorm[T Float](n *Node) (*batchNorm[T], error) {
	if n.Attrs.Int("training_mode", 0) != 0 || len(n.Out) > 1 {
		return nil, errors.New("BatchNormalization in training mode (batch statistics) is not supported; export the model in inference mode")
	}
	if n.Opset < 9 && n.Attrs.Int("spatial", 1) == 0 {
		return nil, errors.New("BatchNormalization with spatial=0 is not supported")
	}
	return &batchNorm[T]{eps: n.Attrs.Float("epsilon", 1e-5)}, nil
}

// layout checks the inputs and returns the channel count and the number
// of elements per channel and example.
func (k *batchNorm[T]) layout(in []*Tensor[T]) (c, inner int, err error) {
	if len(in) < 5 {
		return 0, 0, fmt.Errorf("%d inputs, want 5", len(in))
	}
	for i, t := range in[:5] {
		if t == nil {
			return 0, 0, fmt.Errorf("input %d missing", i)
		}
	}
	x := in[0]
	if x.Rank() < 2 {
		return 0, 0, fmt.Errorf("input of shape %v, want [N, C, ...]", x.Shape)
	}
	c = x.Shape[1]
	for i, t := range in[1:5] {
		if t.Len() != c {
			return 0, 0, fmt.Errorf("input %d of shape %v, want [%d]", i+1, t.Shape, c)
		}
	}
	return c, Size(x.Shape[2:]), nil
}

// coef returns, per channel, a = s/√(σ² + ε) and ι = 1/√(σ² + ε).
func (k *batchNorm[T]) coef(in []*Tensor[T]) (a, inv []T) {
	c := in[1].Len()
	a, inv = make([]T, c), make([]T, c)
	for ch := range a {
		inv[ch] = T(1 / math.Sqrt(float64(in[4].Data[ch])+k.eps))
		a[ch] = in[1].Data[ch] * inv[ch]
	}
	return a, inv
}

func (k *batchNorm[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	return k.forwardAlloc(in, newZero[T])
}

// forwardAlloc is Forward with y from alloc, every element of which it
// sets.
func (k *batchNorm[T]) forwardAlloc(in []*Tensor[T], alloc func(...int) *Tensor[T]) ([]*Tensor[T], error) {
	c, inner, err := k.layout(in)
	if err != nil {
		return nil, err
	}
	y := alloc(in[0].Shape...)
	a, off := k.affine(in)
	img := c * inner
	for i := 0; i < in[0].Shape[0]; i++ {
		affineImage(y.Data[i*img:(i+1)*img], in[0].Data[i*img:(i+1)*img], a, off, inner)
	}
	return []*Tensor[T]{y}, nil
}

// affine returns the forward map per channel as y = a·x + o: a as coef's
// and o = B − a·μ (in float64, then rounded), one pass over x instead of
// a·(x − μ) + B's two roundings more.
func (k *batchNorm[T]) affine(in []*Tensor[T]) (a, o []T) {
	c := in[1].Len()
	a, o = make([]T, c), make([]T, c)
	for ch := range a {
		inv := 1 / math.Sqrt(float64(in[4].Data[ch])+k.eps)
		a[ch] = in[1].Data[ch] * T(inv)
		o[ch] = T(float64(in[2].Data[ch]) - float64(a[ch])*float64(in[3].Data[ch]))
	}
	return a, o
}

// affineImage sets y[c, e] = a[c]·x[c, e] + o[c], the product rounded
// first, over the len(a) channels of inner elements of one image; float32
// goes to simd.SaffineRows.
func affineImage[T Float](y, x, a, o []T, inner int) {
	if x32, ok := any(x).([]float32); ok {
		simd.SaffineRows(any(y).([]float32), x32, any(a).([]float32), any(o).([]float32), inner, inner, inner)
		return
	}
	for c, ac := range a {
		ys, xs, oc := y[c*inner:(c+1)*inner], x[c*inner:(c+1)*inner], o[c]
		for e, v := range xs {
			ys[e] = T(ac*v) + oc
		}
	}
}

// The rules below run one row (example, channel) of inner elements at a
// time, with that channel's coefficients hoisted out of the loop.

func (k *batchNorm[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	if tin[0] == nil && tin[1] == nil && tin[2] == nil {
		return []*Tensor[T]{nil}
	}
	c, inner, _ := k.layout(in)
	x := in[0]
	m := x.Len()
	rows := x.Shape[0] * c
	yd := New[T](BlockShape(r, x.Shape)...)
	a, inv := k.coef(in)
	mean := in[3].Data
	for b := 0; b < r; b++ {
		for row := 0; row < rows; row++ {
			ch := row % c
			off := b*m + row*inner
			dst := yd.Data[off : off+inner]
			xs := x.Data[row*inner : (row+1)*inner]
			mu, iv := mean[ch], inv[ch]
			if tin[0] != nil {
				ac := a[ch]
				for e, t := range tin[0].Data[off : off+inner] {
					dst[e] = ac * t
				}
			}
			if tin[1] != nil {
				ds := tin[1].Data[b*c+ch]
				for e, v := range xs {
					dst[e] += ds * ((v - mu) * iv)
				}
			}
			if tin[2] != nil {
				db := tin[2].Data[b*c+ch]
				for e := range dst {
					dst[e] += db
				}
			}
		}
	}
	return []*Tensor[T]{yd}
}

func (k *batchNorm[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return k.VJPNeeded(in, out, gout, r, nil)
}

// VJPNeeded computes the cotangents of the wanted inputs only.
func (k *batchNorm[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	g := gout[0]
	if g == nil {
		return make([]*Tensor[T], 5)
	}
	c, inner, _ := k.layout(in)
	x := in[0]
	m := x.Len()
	rows := x.Shape[0] * c
	var xb, sb, bb *Tensor[T]
	if wants(need, 0) {
		xb = New[T](BlockShape(r, x.Shape)...)
	}
	if wants(need, 1) {
		sb = New[T](BlockShape(r, in[1].Shape)...)
	}
	if wants(need, 2) {
		bb = New[T](BlockShape(r, in[2].Shape)...)
	}
	a, inv := k.coef(in)
	mean := in[3].Data
	for b := 0; b < r; b++ {
		for row := 0; row < rows; row++ {
			ch := row % c
			off := b*m + row*inner
			gs := g.Data[off : off+inner]
			if xb != nil {
				ac := a[ch]
				dst := xb.Data[off : off+inner]
				for e, v := range gs {
					dst[e] = ac * v
				}
			}
			if sb != nil {
				mu, iv := mean[ch], inv[ch]
				xs := x.Data[row*inner : (row+1)*inner]
				acc := sb.Data[b*c+ch]
				for e, v := range gs {
					acc += v * ((xs[e] - mu) * iv)
				}
				sb.Data[b*c+ch] = acc
			}
			if bb != nil {
				acc := bb.Data[b*c+ch]
				for _, v := range gs {
					acc += v
				}
				bb.Data[b*c+ch] = acc
			}
		}
	}
	return []*Tensor[T]{xb, sb, bb, nil, nil}
}

// paramMap maps element e of group g to the flat index of a scale or bias:
// g mod perGroup when perGroup > 0 (one value per channel), else elem[e]
// (the identity when elem is nil).
type paramMap struct {
	perGroup int
	elem     []int
}

func (p paramMap) at(g, e int) int {
	switch {
	case p.perGroup > 0:
		return g % p.perGroup
	case p.elem != nil:
		return p.elem[e]
	}
	return e
}

// normLayout is the geometry of a group normalization of one input.
type normLayout struct {
	groups, m   int      // groups of m contiguous elements
	scale, bias paramMap // where each element's γ and β are
	stat        []int    // shape of the per-group statistics outputs
}

// groupNorm normalizes x, viewed as groups of m contiguous elements, with
// an affine map: LayerNormalization (groups: the leading axes before axis)
// and InstanceNormalization (groups: example × channel). Per group:
//
//	μ = mean x,  ι = 1/√(mean (x − μ)² + ε),  x̂ = (x − μ)·ι,  y = γ⊙x̂ + β
//	ẋ̂ = ι·(ẋ − mean ẋ − x̂·mean(x̂⊙ẋ)),  ẏ = γ⊙ẋ̂ + γ̇⊙x̂ + β̇
//	μ̇ = mean ẋ,  ι̇ = −ι²·mean(x̂⊙ẋ)   (LayerNormalization's optional outputs)
//	x̄ = ι·(ḡ − mean ḡ − x̂·mean(x̂⊙ḡ)) + μ̄/m − ι²·ῑ·x̂/m,  ḡ = γ⊙ȳ,
//	γ̄ = Σ ȳ⊙x̂,  β̄ = Σ ȳ
type groupNorm[T Float] struct {
	eps    float64
	nout   int
	layout func(x, scale, bias *Tensor[T]) (normLayout, error)
}

// LayerNormalization (opset 17): statistics over the axes from axis
// (default −1) on; γ and β broadcast to those axes; optional outputs Mean
// and InvStdDev.
func newLayerNorm[T Float](n *Node) (*groupNorm[T], error) {
	if len(n.Out) > 3 {
		return nil, fmt.Errorf("%d outputs, at most 3", len(n.Out))
	}
	axis := int(n.Attrs.Int("axis", -1))
	k := &groupNorm[T]{eps: n.Attrs.Float("epsilon", 1e-5), nout: max(len(n.Out), 1)}
	k.layout = func(x, scale, bias *Tensor[T]) (normLayout, error) {
		rank := x.Rank()
		a := axis
		if a < -rank || a >= rank {
			return normLayout{}, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
		}
		if a < 0 {
			a += rank
		}
		norm := x.Shape[a:]
		l := normLayout{groups: Size(x.Shape[:a]), m: Size(norm), stat: append([]int(nil), x.Shape...)}
		for i := a; i < rank; i++ {
			l.stat[i] = 1
		}
		var err error
		if l.scale, err = broadcastParam(scale, norm, "scale"); err != nil {
			return l, err
		}
		if bias != nil {
			l.bias, err = broadcastParam(bias, norm, "bias")
		}
		return l, err
	}
	return k, nil
}

// broadcastParam maps the elements of the normalized shape to a parameter
// that broadcasts to it.
func broadcastParam[T Float](p *Tensor[T], norm []int, name string) (paramMap, error) {
	if s, err := BroadcastShapes(p.Shape, norm); err != nil || !SameShape(s, norm) {
		return paramMap{}, fmt.Errorf("%s of shape %v does not broadcast to %v", name, p.Shape, norm)
	}
	return paramMap{elem: BroadcastIndex(p.Shape, norm)}, nil
}

// InstanceNormalization: statistics per example and channel over the
// spatial axes; γ and β of shape [C].
func newInstanceNorm[T Float](n *Node) (*groupNorm[T], error) {
	k := &groupNorm[T]{eps: n.Attrs.Float("epsilon", 1e-5), nout: 1}
	k.layout = func(x, scale, bias *Tensor[T]) (normLayout, error) {
		if x.Rank() < 3 {
			return normLayout{}, fmt.Errorf("input of shape %v, want [N, C, D1, ...]", x.Shape)
		}
		c := x.Shape[1]
		if scale.Len() != c || bias == nil || bias.Len() != c {
			return normLayout{}, fmt.Errorf("scale and bias must have shape [%d]", c)
		}
		pm := paramMap{perGroup: c}
		return normLayout{groups: x.Shape[0] * c, m: Size(x.Shape[2:]), scale: pm, bias: pm}, nil
	}
	return k, nil
}

func (k *groupNorm[T]) setup(in []*Tensor[T]) (normLayout, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return normLayout{}, errors.New("missing input or scale")
	}
	var bias *Tensor[T]
	if len(in) > 2 {
		bias = in[2]
	}
	return k.layout(in[0], in[1], bias)
}

// stats returns each group's mean μ and ι = 1/√(var + ε).
func (k *groupNorm[T]) stats(x *Tensor[T], l normLayout) (mu, inv []T) {
	mu, inv = make([]T, l.groups), make([]T, l.groups)
	for g := range mu {
		xs := x.Data[g*l.m : (g+1)*l.m]
		s := 0.0
		for _, v := range xs {
			s += float64(v)
		}
		mean := s / float64(l.m)
		q := 0.0
		for _, v := range xs {
			d := float64(v) - mean
			q += d * d
		}
		mu[g] = T(mean)
		inv[g] = T(1 / math.Sqrt(q/float64(l.m)+k.eps))
	}
	return mu, inv
}

func (k *groupNorm[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	l, err := k.setup(in)
	if err != nil {
		return nil, err
	}
	x, scale := in[0], in[1]
	mu, inv := k.stats(x, l)
	y := New[T](x.Shape...)
	for g := 0; g < l.groups; g++ {
		for e := 0; e < l.m; e++ {
			i := g*l.m + e
			v := scale.Data[l.scale.at(g, e)] * (x.Data[i] - mu[g]) * inv[g]
			if len(in) > 2 && in[2] != nil {
				v += in[2].Data[l.bias.at(g, e)]
			}
			y.Data[i] = v
		}
	}
	out := []*Tensor[T]{y}
	if k.nout > 1 {
		out = append(out, FromData(mu, l.stat...))
	}
	if k.nout > 2 {
		out = append(out, FromData(inv, l.stat...))
	}
	return out, nil
}

// normProject returns ι·(v − mean v − x̂·mean(x̂⊙v)) for one group, with the
// two means, in place of v.
func normProject[T Float](v, xhat []T, inv T) (mv, mxv T) {
	m := T(len(v))
	for e, t := range v {
		mv += t
		mxv += xhat[e] * t
	}
	mv /= m
	mxv /= m
	for e := range v {
		v[e] = inv * (v[e] - mv - xhat[e]*mxv)
	}
	return mv, mxv
}

// normHat returns x̂ = (x − μ)·ι for one group.
func normHat[T Float](x []T, mu, inv T) []T {
	xhat := make([]T, len(x))
	for e, v := range x {
		xhat[e] = (v - mu) * inv
	}
	return xhat
}

func (k *groupNorm[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	res := make([]*Tensor[T], k.nout)
	if tin[0] == nil && tin[1] == nil && (len(tin) < 3 || tin[2] == nil) {
		return res
	}
	l, _ := k.setup(in)
	x, scale := in[0], in[1]
	mu, inv := k.stats(x, l)
	n, np, nb := x.Len(), scale.Len(), 0
	if len(in) > 2 && in[2] != nil {
		nb = in[2].Len()
	}
	yd := New[T](BlockShape(r, x.Shape)...)
	res[0] = yd
	var md, id *Tensor[T]
	if k.nout > 1 && tin[0] != nil {
		md = New[T](BlockShape(r, l.stat)...)
		res[1] = md
	}
	if k.nout > 2 && tin[0] != nil {
		id = New[T](BlockShape(r, l.stat)...)
		res[2] = id
	}
	v := make([]T, l.m)
	for b := 0; b < r; b++ {
		for g := 0; g < l.groups; g++ {
			xhat := normHat(x.Data[g*l.m:(g+1)*l.m], mu[g], inv[g])
			dst := yd.Data[b*n+g*l.m : b*n+(g+1)*l.m]
			if tin[0] != nil {
				copy(v, tin[0].Data[b*n+g*l.m:b*n+(g+1)*l.m])
				mv, mxv := normProject(v, xhat, inv[g])
				for e := range dst {
					dst[e] = scale.Data[l.scale.at(g, e)] * v[e]
				}
				if md != nil {
					md.Data[b*l.groups+g] = mv
				}
				if id != nil {
					id.Data[b*l.groups+g] = -inv[g] * inv[g] * mxv
				}
			}
			if tin[1] != nil {
				for e := range dst {
					dst[e] += tin[1].Data[b*np+l.scale.at(g, e)] * xhat[e]
				}
			}
			if len(tin) > 2 && tin[2] != nil {
				for e := range dst {
					dst[e] += tin[2].Data[b*nb+l.bias.at(g, e)]
				}
			}
		}
	}
	return res
}

func (k *groupNorm[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	res := make([]*Tensor[T], len(in))
	var gy, gm, gi *Tensor[T]
	gy = gout[0]
	if len(gout) > 1 {
		gm = gout[1]
	}
	if len(gout) > 2 {
		gi = gout[2]
	}
	if gy == nil && gm == nil && gi == nil {
		return res
	}
	l, _ := k.setup(in)
	x, scale := in[0], in[1]
	mu, inv := k.stats(x, l)
	n, np := x.Len(), scale.Len()
	xb := New[T](BlockShape(r, x.Shape)...)
	res[0] = xb
	var sb, bb *Tensor[T]
	if gy != nil {
		sb = New[T](BlockShape(r, scale.Shape)...)
		res[1] = sb
		if len(in) > 2 && in[2] != nil {
			bb = New[T](BlockShape(r, in[2].Shape)...)
			res[2] = bb
		}
	}
	m := T(l.m)
	for b := 0; b < r; b++ {
		for g := 0; g < l.groups; g++ {
			xhat := normHat(x.Data[g*l.m:(g+1)*l.m], mu[g], inv[g])
			dst := xb.Data[b*n+g*l.m : b*n+(g+1)*l.m]
			if gy != nil {
				src := gy.Data[b*n+g*l.m : b*n+(g+1)*l.m]
				for e, t := range src {
					p := l.scale.at(g, e)
					sb.Data[b*np+p] += t * xhat[e]
					if bb != nil {
						bb.Data[b*bb.Len()/r+l.bias.at(g, e)] += t
					}
					dst[e] = scale.Data[p] * t
				}
				normProject(dst, xhat, inv[g])
			}
			if gm != nil {
				c := gm.Data[b*l.groups+g] / m
				for e := range dst {
					dst[e] += c
				}
			}
			if gi != nil {
				c := -inv[g] * inv[g] * gi.Data[b*l.groups+g] / m
				for e := range dst {
					dst[e] += c * xhat[e]
				}
			}
		}
	}
	return res
}
