package gpadapt

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// fitClassification finds the Laplace approximation of the linearized
// network under a softmax likelihood, in function space. With latent
// deviations g = f_lin(X) − f(X) ~ N(0, K), K = s·JJᵀ, it runs Newton's
// method (Rasmussen & Williams, Algorithm 3.1, with W block-diagonal,
// W_i = diag(π_i) − π_i π_iᵀ):
//
//	b = W·g + ∇log p(y|f),  B = I + W^½·K·W^½ = L·Lᵀ,
//	a = b − W^½·B⁻¹·W^½·K·b,  g = K·a.
//
// At the mode δ = s·Jᵀ·a, and the logits' covariance at x is
// s‖J(x)‖² − ‖F·J(x)ᵀ‖² with F = s·L⁻¹·W^½·J.
func fitClassification[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f []float64, d *Data, o *Options, rep Report) (state, error) {
	n, k := op.N(), op.K()
	nk := n * k
	if k < 2 {
		return state{}, fmt.Errorf("classification needs a model with at least 2 outputs (logits), this one has %d", k)
	}
	labels := make([]int, n)
	for i, row := range d.Y {
		if len(row) != 1 || row[0] != math.Trunc(row[0]) || row[0] < 0 || int(row[0]) >= k {
			return state{}, fmt.Errorf("row %d: classification target %v is not a class label in 0..%d", i+1, row, k-1)
		}
		labels[i] = int(row[0])
	}
	if nk > maxDense {
		return state{}, fmt.Errorf("classification solves a dense %d×%d system, more than %d; use fewer points", nk, nk, maxDense)
	}
	if o.PriorMean == "zero" {
		f = make([]float64, nk) // the logits' prior mean
	}
	factors, err := op.Factors(ctx)
	if err != nil {
		return state{}, err
	}
	k0d, err := fvp.Cross(factors, factors)
	if err != nil {
		return state{}, err
	}
	if o.Independent {
		maskOutputs(k0d, k)
	}
	k0 := symmetric(k0d)
	scales := []float64{o.PriorScale}
	if o.PriorScale <= 0 {
		scales = nil
		for e := -3.0; e <= 2; e++ {
			scales = append(scales, math.Pow(10, e))
		}
	}
	var best *laplace
	for _, s := range scales {
		lp, err := newtonLaplace(k0, s, f, labels, k)
		if err != nil {
			return state{}, err
		}
		if best == nil || lp.evidence > best.evidence {
			best = lp
		}
	}
	// At the mode g = K·a, so δ = s·Jᵀ·a.
	delta := make([]float64, op.P())
	if err := op.JT(ctx, delta, best.a, 1); err != nil {
		return state{}, err
	}
	for i := range delta {
		delta[i] *= best.s
	}
	rep.Method = "function"
	rep.Solver = "laplace-newton"
	rep.PriorScale = best.s
	rep.ScaleFitted = o.PriorScale <= 0
	rep.Iterations = best.iters
	rep.LogMarginal = best.evidence
	ks := &kernelState{train: factors, l: best.l, w: best.wsqrt, s: best.s, independent: o.Independent}
	if o.Independent {
		ks.alpha = best.a
	}
	return state{delta: delta, kern: ks, rep: rep}, nil
}

type laplace struct {
	s        float64
	a        []float64
	l        *mat.TriDense
	wsqrt    *blockDiag
	evidence float64
	iters    int
}

// newtonLaplace runs Newton's method for prior scale s and returns the mode
// with its approximate log evidence −½aᵀg + log p(y|f) − Σ log L_ii.
func newtonLaplace(k0 *mat.SymDense, s float64, f0 []float64, labels []int, k int) (*laplace, error) {
	nk := len(f0)
	kern := mat.NewSymDense(nk, nil)
	kern.ScaleSym(s, k0)
	g := make([]float64, nk)
	a := make([]float64, nk)
	psi := math.Inf(-1)
	var lp *laplace
	for it := 1; it <= 100; it++ {
		probs, grad, _ := softmaxStats(f0, g, labels, k)
		w := blockSqrtHessian(probs, k)
		// b = W·g + ∇ with W = W^½·W^½.
		b := w.mulVec(w.mulVec(g))
		for i := range b {
			b[i] += grad[i]
		}
		chol, err := laplaceSystem(kern, w, s)
		if err != nil {
			return nil, err
		}
		var kb, sol mat.VecDense
		kb.MulVec(kern, mat.NewVecDense(nk, b))
		if err := chol.SolveVecTo(&sol, mat.NewVecDense(nk, w.mulVec(kb.RawVector().Data))); err != nil {
			return nil, numerical("Laplace solve: %v", err)
		}
		corr := w.mulVec(sol.RawVector().Data)
		for i := range a {
			a[i] = b[i] - corr[i]
		}
		var gv mat.VecDense
		gv.MulVec(kern, mat.NewVecDense(nk, a))
		copy(g, gv.RawVector().Data)
		_, _, loglik := softmaxStats(f0, g, labels, k)
		next := -0.5*dot(a, g) + loglik
		lp = &laplace{s: s, a: append([]float64(nil), a...), iters: it, evidence: next}
		if math.Abs(next-psi) <= 1e-10*math.Max(1, math.Abs(next)) {
			break
		}
		psi = next
	}
	// W, B and its factor at the mode, for the evidence and the covariance.
	probs, _, _ := softmaxStats(f0, g, labels, k)
	lp.wsqrt = blockSqrtHessian(probs, k)
	chol, err := laplaceSystem(kern, lp.wsqrt, s)
	if err != nil {
		return nil, err
	}
	var l mat.TriDense
	chol.LTo(&l)
	lp.l = &l
	for i := 0; i < nk; i++ {
		lp.evidence -= math.Log(l.At(i, i))
	}
	return lp, nil
}

// laplaceSystem factors B = I + W^½·K·W^½.
func laplaceSystem(kern *mat.SymDense, w *blockDiag, s float64) (*mat.Cholesky, error) {
	nk := kern.SymmetricDim()
	bm := w.mulRows(w.mulRows(mat.DenseCopyOf(kern)).T())
	sym := mat.NewSymDense(nk, nil)
	for i := 0; i < nk; i++ {
		for j := i; j < nk; j++ {
			v := 0.5 * (bm.At(i, j) + bm.At(j, i))
			if i == j {
				v++
			}
			sym.SetSym(i, j, v)
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(sym) {
		return nil, numerical("Laplace: I + W^½KW^½ is not positive definite (s=%g)", s)
	}
	return &chol, nil
}

// softmaxStats returns π = softmax(f0 + g) per example, ∇ = y − π, and the
// log likelihood Σ log π_{y_i}.
func softmaxStats(f0, g []float64, labels []int, k int) (probs, grad []float64, loglik float64) {
	probs = make([]float64, len(f0))
	grad = make([]float64, len(f0))
	for i, y := range labels {
		z := make([]float64, k)
		for c := range z {
			z[c] = f0[i*k+c] + g[i*k+c]
		}
		lse := logSumExp(z)
		for c := range z {
			probs[i*k+c] = math.Exp(z[c] - lse)
			grad[i*k+c] = -probs[i*k+c]
		}
		grad[i*k+y]++
		loglik += z[y] - lse
	}
	return probs, grad, loglik
}

func logSumExp(z []float64) float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// blockDiag is a block-diagonal matrix of k×k blocks.
type blockDiag struct {
	k      int
	blocks [][]float64 // each k×k row-major
}

// mulVec returns M·v.
func (m *blockDiag) mulVec(v []float64) []float64 {
	out := make([]float64, len(v))
	k := m.k
	for bi, blk := range m.blocks {
		for a := 0; a < k; a++ {
			out[bi*k+a] = dot(blk[a*k:(a+1)*k], v[bi*k:(bi+1)*k])
		}
	}
	return out
}

// mulRows returns M·X for a matrix X with as many rows as M.
func (m *blockDiag) mulRows(x mat.Matrix) *mat.Dense {
	r, c := x.Dims()
	out := mat.NewDense(r, c, nil)
	k := m.k
	for bi, blk := range m.blocks {
		blkM := mat.NewDense(k, k, blk)
		var dst mat.Dense
		dst.Mul(blkM, mat.DenseCopyOf(sliceRows(x, bi*k, (bi+1)*k)))
		out.Slice(bi*k, (bi+1)*k, 0, c).(*mat.Dense).Copy(&dst)
	}
	return out
}

func sliceRows(x mat.Matrix, i0, i1 int) mat.Matrix {
	if d, ok := x.(*mat.Dense); ok {
		_, c := d.Dims()
		return d.Slice(i0, i1, 0, c)
	}
	_, c := x.Dims()
	out := mat.NewDense(i1-i0, c, nil)
	for i := i0; i < i1; i++ {
		for j := 0; j < c; j++ {
			out.Set(i-i0, j, x.At(i, j))
		}
	}
	return out
}

// blockSqrtHessian returns W^½, block-diagonal with the symmetric square
// root of each W_i = diag(π_i) − π_i π_iᵀ.
func blockSqrtHessian(probs []float64, k int) *blockDiag {
	w := &blockDiag{k: k}
	for i0 := 0; i0 < len(probs); i0 += k {
		h := mat.NewSymDense(k, nil)
		for a := 0; a < k; a++ {
			for b := a; b < k; b++ {
				v := -probs[i0+a] * probs[i0+b]
				if a == b {
					v += probs[i0+a]
				}
				h.SetSym(a, b, v)
			}
		}
		var eig mat.EigenSym
		eig.Factorize(h, true)
		var q mat.Dense
		eig.VectorsTo(&q)
		vals := eig.Values(nil)
		blk := make([]float64, k*k)
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				s := 0.0
				for c, l := range vals {
					s += q.At(a, c) * math.Sqrt(max(l, 0)) * q.At(b, c)
				}
				blk[a*k+b] = s
			}
		}
		w.blocks = append(w.blocks, blk)
	}
	return w
}

// probit returns the approximate predictive class probabilities
// softmax_c(μ_c / √(1 + π·σ_c²/8)) from the Gaussian over the logits.
func probit(mean, variance []float64) []float64 {
	z := make([]float64, len(mean))
	for c := range z {
		z[c] = mean[c] / math.Sqrt(1+math.Pi*max(variance[c], 0)/8)
	}
	lse := logSumExp(z)
	for c := range z {
		z[c] = math.Exp(z[c] - lse)
	}
	return z
}
