package gpadapt

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// fitClassification finds the Laplace approximation of the linearized
// network under a softmax likelihood, in function space. With latent
// deviations g = f_lin(X) − f(X) ~ N(0, K), K = s·JJᵀ, it runs Newton's
// method (Rasmussen & Williams, Algorithm 3.1, with W block-diagonal,
// W_i = diag(π_i) − π_i π_iᵀ):
//
//	b = W·g + ∇log p(y|f),  B = I + V·K·Vᵀ = L·Lᵀ,
//	a = b − Vᵀ·B⁻¹·V·K·b,  g = K·a,
//
// with W = Vᵀ·V (see blockSqrtHessian). At the mode δ = s·Jᵀ·a, and the
// logits' covariance at x is s‖J(x)‖² − ‖L⁻¹·V·s·K(X, x)‖².
func fitClassification[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f []float64, d *Data, o *Options, rep Report, lg *layers) (state, error) {
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
	if o.PriorMean == "zero" {
		f = make([]float64, nk) // the logits' prior mean
	}
	method, err := formFor(o, k, func() string {
		if op.P() < nk || (nk > maxDense && o.Solver != "direct") {
			return "parameter"
		}
		return "function"
	})
	if err != nil {
		return state{}, err
	}
	// Newton-CG (newtoncg.go) where the dense forms do not fit, or when
	// the iterative solver is asked for.
	dense := op.P() <= maxDense && nk*op.P() <= maxJacobian
	newtonCG := method == "parameter" && (o.Solver == "cg" || (!dense && o.Solver != "direct"))
	if lg != nil && (method != "parameter" || newtonCG) {
		return state{}, fmt.Errorf("layerwise prior scales are fitted in the dense parameter form only (p ≤ %d, p < nK and --method auto or parameter); here p = %d, nK = %d", maxDense, op.P(), nk)
	}
	if newtonCG {
		return laplaceNewtonCG(ctx, op, f, labels, d.X, o, rep)
	}
	if method == "parameter" {
		return laplaceParameter(ctx, op, f, labels, o, rep, lg)
	}
	if nk > maxDense {
		return state{}, fmt.Errorf("classification in function space solves a dense %d×%d system, more than %d; use --method parameter (Newton-CG) or fewer points", nk, nk, maxDense)
	}
	progress(o, "kernel", 0, 1)
	factors, k0, err := kernel(ctx, op, o.Independent)
	if err != nil {
		return state{}, err
	}
	progress(o, "kernel", 1, 1)
	var modes []*laplace // s and a only, as warm starts
	best, err := searchScale(o, func(s float64) (*laplace, float64, error) {
		var start *laplace
		if i := nearestScale(len(modes), func(i int) float64 { return modes[i].s }, s); i >= 0 {
			start = modes[i]
		}
		lp, err := newtonLaplace(k0, s, f, labels, k, start)
		if err != nil {
			return nil, 0, err
		}
		modes = append(modes, &laplace{s: lp.s, a: lp.a})
		logScale(o, s, lp.iters, lp.evidence)
		return lp, lp.evidence, nil
	})
	if err != nil {
		return state{}, err
	}
	if !best.converged {
		if err := unconverged(o, &rep, "Laplace: Newton's method did not converge in %d iterations (s=%g)", newtonMaxIter, best.s); err != nil {
			return state{}, err
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

// logScale reports the Laplace fit at one prior scale.
func logScale(o *Options, s float64, iters int, evidence float64) {
	if o.Logf != nil {
		o.Logf("Laplace at s = %g: %d Newton steps, log evidence %.6g", s, iters, evidence)
	}
}

// searchScale chooses the prior scale s by the Laplace evidence when it
// is not given: eval(s) returns the fit at s and its log evidence. It
// walks the decades 10⁻³ … 10² from 10⁻¹ in the direction in which the
// evidence rises from 10⁻¹ to 10⁰, stopping at the first decrease, then
// tries the half decades on both sides of the best decade: five fits when
// the best decade is 10⁻¹, 10⁰ or 10¹ (the ascent from 10⁻³ took seven to
// reach 10⁰).
func searchScale[R any](o *Options, eval func(s float64) (R, float64, error)) (R, error) {
	if o.PriorScale > 0 {
		r, _, err := eval(o.PriorScale)
		return r, err
	}
	var best R
	bestEv, bestE := math.Inf(-1), 0.0
	try := func(e float64) (bool, error) {
		r, ev, err := eval(math.Pow(10, e))
		if err != nil {
			return false, err
		}
		if ev > bestEv {
			best, bestEv, bestE = r, ev, e
			return true, nil
		}
		return false, nil
	}
	const steps = 8 // 6 decades and 2 half decades at most
	done := 0
	step := func(e float64) (bool, error) {
		progress(o, "laplace", done, steps)
		done++
		return try(e)
	}
	if _, err := step(-1); err != nil {
		return best, err
	}
	up, err := step(0)
	if err != nil {
		return best, err
	}
	dir, e := 1.0, 1.0
	if !up {
		dir, e = -1, -2
	}
	for ; e >= -3 && e <= 2; e += dir {
		better, err := step(e)
		if err != nil {
			return best, err
		}
		if !better {
			break // past the evidence's maximum along the walk
		}
	}
	centre := bestE
	for _, e := range []float64{centre - 0.5, centre + 0.5} {
		if _, err := step(e); err != nil {
			return best, err
		}
	}
	progress(o, "laplace", steps, steps)
	return best, nil
}

// nearestScale returns the index among n fitted prior scales (scale(i))
// nearest to s in log s, or −1 for none. The Laplace fit at a new scale
// starts its Newton steps from the mode found there: a few steps from it
// reach the (unique) mode at s, where the prior mean is many steps away.
func nearestScale(n int, scale func(i int) float64, s float64) int {
	best, dist := -1, math.Inf(1)
	for i := range n {
		if d := math.Abs(math.Log(scale(i) / s)); d < dist {
			best, dist = i, d
		}
	}
	return best
}

// layers groups the p parameter entries by layer for Options.Layerwise:
// of[i] is entry i's layer, names[l] the parameters of layer l.
type layers struct {
	of    []int
	names [][]string
}

// laplaceParameter finds the Laplace approximation in parameter space,
// for p < nK: with logits f0 + J·δ and prior δ ~ N(0, P⁻¹), P = I/s (or,
// with layerwise scales lg, 1/s_l on layer l's entries), Newton steps
// δ += H⁻¹·(Jᵀ∇ − P·δ) with H = JᵀWJ + P = L·Lᵀ (backtracking while the
// log posterior falls). The covariance factor is F = L⁻¹, and the evidence
// log p(y|δ̂) − ½δ̂ᵀPδ̂ + ½(log det P − log det H).
func laplaceParameter[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f0 []float64, labels []int, o *Options, rep Report, lg *layers) (state, error) {
	nk, p := len(f0), op.P()
	k := op.K()
	if nk*p > maxJacobian || p > maxDense {
		return state{}, fmt.Errorf("classification in parameter space forms the %d×%d Jacobian and a %d×%d system; adapt fewer parameters (--params last:N)", nk, p, p, p)
	}
	jac, err := jacobian(ctx, op, o)
	if err != nil {
		return state{}, err
	}
	type mode struct {
		s, evidence float64
		delta       []float64
		l           *mat.TriDense
		iters       int
		converged   bool
	}
	// fitAt runs Newton's method for the prior precisions prec (one per
	// entry) from start (nil: δ = 0).
	fitAt := func(prec, start []float64) (*mode, error) {
		delta := make([]float64, p)
		copy(delta, start)
		logPost := func(d []float64) float64 {
			var jd mat.VecDense
			jd.MulVec(jac, mat.NewVecDense(p, d))
			_, _, ll := softmaxStats(f0, jd.RawVector().Data, labels, k)
			q := 0.0
			for i, v := range d {
				q += prec[i] * v * v
			}
			return ll - q/2
		}
		psi := logPost(delta)
		it := 0
		for it = 1; it <= newtonMaxIter; it++ {
			var jd mat.VecDense
			jd.MulVec(jac, mat.NewVecDense(p, delta))
			probs, grad, _ := softmaxStats(f0, jd.RawVector().Data, labels, k)
			chol, err := precision(jac, probs, k, prec, !o.Float64)
			if err != nil {
				return nil, err
			}
			var gv mat.VecDense
			gv.MulVec(jac.T(), mat.NewVecDense(nk, grad))
			for i := range p {
				gv.SetVec(i, gv.AtVec(i)-prec[i]*delta[i])
			}
			step := chol.solveVec(gv.RawVector().Data)
			next := append([]float64(nil), delta...)
			eta := 1.0
			var val float64
			for half := 0; half < 30; half++ {
				for i := range next {
					next[i] = delta[i] + eta*step[i]
				}
				if val = logPost(next); val >= psi {
					break
				}
				eta /= 2
			}
			copy(delta, next)
			done := math.Abs(val-psi) <= 1e-9*math.Max(1, math.Abs(val))
			psi = max(psi, val)
			if done {
				break
			}
		}
		var jd mat.VecDense
		jd.MulVec(jac, mat.NewVecDense(p, delta))
		probs, _, _ := softmaxStats(f0, jd.RawVector().Data, labels, k)
		chol, err := precision(jac, probs, k, prec, !o.Float64)
		if err != nil {
			return nil, err
		}
		logDetP := 0.0
		for _, v := range prec {
			logDetP += math.Log(v)
		}
		ev := psi + 0.5*(logDetP-chol.logDet())
		return &mode{evidence: ev, delta: delta, l: chol.lower(), iters: min(it, newtonMaxIter), converged: it <= newtonMaxIter}, nil
	}
	uniform := func(s float64) []float64 {
		prec := make([]float64, p)
		for i := range prec {
			prec[i] = 1 / s
		}
		return prec
	}
	var modes []*mode // s and δ only, as warm starts
	best, err := searchScale(o, func(s float64) (*mode, float64, error) {
		var start []float64
		if i := nearestScale(len(modes), func(i int) float64 { return modes[i].s }, s); i >= 0 {
			start = modes[i].delta
		}
		m, err := fitAt(uniform(s), start)
		if err != nil {
			return nil, 0, err
		}
		m.s = s
		logScale(o, s, m.iters, m.evidence)
		modes = append(modes, &mode{s: s, delta: m.delta})
		return m, m.evidence, nil
	})
	if err != nil {
		return state{}, err
	}
	if lg != nil {
		var scales []float64
		if best, scales, err = layerwiseScales(len(lg.names), best.s, best, best.evidence, func(scales []float64, from *mode) (*mode, float64, error) {
			prec := make([]float64, p)
			for i, l := range lg.of {
				prec[i] = 1 / scales[l]
			}
			m, err := fitAt(prec, from.delta)
			if err != nil {
				return nil, 0, err
			}
			m.s = from.s
			return m, m.evidence, nil
		}, o.Logf); err != nil {
			return state{}, err
		}
		for l, names := range lg.names {
			rep.LayerScales = append(rep.LayerScales, LayerScale{Params: names, Scale: scales[l]})
		}
	}
	if !best.converged {
		if err := unconverged(o, &rep, "Laplace: Newton's method did not converge in %d iterations (s=%g)", newtonMaxIter, best.s); err != nil {
			return state{}, err
		}
	}
	var linv mat.TriDense
	if err := linv.InverseTri(best.l); err != nil {
		return state{}, numerical("inverting the Cholesky factor: %v", err)
	}
	rep.Method = "parameter"
	rep.Solver = "laplace-newton"
	rep.PriorScale = best.s
	rep.ScaleFitted = o.PriorScale <= 0
	rep.Iterations = best.iters
	rep.LogMarginal = best.evidence
	return state{delta: best.delta, f: mat.DenseCopyOf(&linv), rep: rep}, nil
}

// layerwiseScales maximizes the evidence over one prior scale per layer
// (nl of them) by coordinate ascent on log₁₀ s_l, from every s_l = s,
// where start is the fit and startEv its evidence: each layer's scale in
// turn moves a step up or down while that raises the evidence by
// layerwiseGain, in steps of a decade until no move helps, then of half
// a decade, within 10⁻⁶…10³. eval fits at the given scales from the mode
// of a neighbouring fit. It returns the best fit and its scales.
func layerwiseScales[R any](nl int, s float64, start R, startEv float64, eval func(scales []float64, from R) (R, float64, error), logf func(string, ...any)) (R, []float64, error) {
	e := make([]float64, nl) // log₁₀ s_l
	for l := range e {
		e[l] = math.Log10(s)
	}
	best, bestEv := start, startEv
	for _, step := range []float64{1, 0.5} {
		for moved := true; moved; {
			moved = false
			for l := range nl {
				for _, dir := range []float64{1, -1} {
					next := append([]float64(nil), e...)
					next[l] += dir * step
					if next[l] < -6 || next[l] > 3 {
						continue
					}
					r, ev, err := eval(scalesOf(next), best)
					if err != nil {
						return best, scalesOf(e), err
					}
					if ev > bestEv+layerwiseGain {
						best, bestEv, e, moved = r, ev, next, true
						if logf != nil {
							logf("layerwise prior scales %v: log evidence %.6g", scalesOf(e), ev)
						}
						break
					}
				}
			}
		}
	}
	return best, scalesOf(e), nil
}

// layerwiseGain is the least rise of the log evidence (in nats) for which
// layerwiseScales moves a scale: smaller differences are below what the
// Laplace approximation can tell apart, and chasing them costs a fit each.
const layerwiseGain = 0.01

// scalesOf returns 10^e for each entry.
func scalesOf(e []float64) []float64 {
	out := make([]float64, len(e))
	for i, v := range e {
		out[i] = math.Pow(10, v)
	}
	return out
}

// precision factors H = JᵀWJ + diag(prec) = (VJ)ᵀ(VJ) + diag(prec).
// With single, (VJ)ᵀ(VJ) is multiplied in float32 on the simd kernels
// (the Jacobian of float32 sweeps holds float32 values), accumulated into
// a float64 matrix.
func precision(jac *mat.Dense, probs []float64, k int, prec []float64, single bool) (*spdFactor, error) {
	nk, p := jac.Dims()
	var h *mat.SymDense
	if single {
		v32 := make([]float32, nk*p)
		sqrtFisherRows(jac, probs, k, v32)
		// Only the blocks on and below the diagonal: per column block
		// [j0, j1), rows j0… of (VJ)ᵀ(VJ) in one GEMM; then the upper
		// triangle (which the factorization reads) from the lower.
		c32 := make([]float32, p*p)
		const bs = 256
		for j0 := 0; j0 < p; j0 += bs {
			j1 := min(p, j0+bs)
			simd.Sgemm(true, false, p-j0, j1-j0, nk, 1, v32[j0:], p, v32[j0:], p, 0, c32[j0*p+j0:], p)
		}
		c := make([]float64, p*p)
		for i := range p {
			for j := 0; j <= i; j++ {
				v := float64(c32[i*p+j])
				c[i*p+j], c[j*p+i] = v, v
			}
		}
		h = mat.NewSymDense(p, c)
	} else {
		vj := make([]float64, nk*p)
		sqrtFisherRows(jac, probs, k, vj)
		h = mat.NewSymDense(p, nil)
		h.SymOuterK(1, mat.NewDense(nk, p, vj).T())
	}
	for i := 0; i < p; i++ {
		h.SetSym(i, i, h.At(i, i)+prec[i])
	}
	chol, ok := factorSPD(h)
	if !ok {
		return nil, numerical("Laplace: the posterior precision JᵀWJ + P (%d×%d) is not positive definite", p, p)
	}
	return chol, nil
}

// sqrtFisherRows writes V·J into dst (nK×p, row-major), V the
// block-diagonal factor of blockSqrtHessian: V_i·J_i = diag(√π_i)·
// (J_i − 1·m_iᵀ) with m_i = J_iᵀ·π_i, 2K row operations per example where
// the K×K block times J_i takes K².
func sqrtFisherRows[D float32 | float64](jac *mat.Dense, probs []float64, k int, dst []D) {
	nk, p := jac.Dims()
	m := make([]float64, p)
	for i0 := 0; i0 < nk; i0 += k {
		clear(m)
		for b := range k {
			floats.AddScaled(m, probs[i0+b], jac.RawRowView(i0+b))
		}
		for a := range k {
			sa := math.Sqrt(probs[i0+a])
			out := dst[(i0+a)*p : (i0+a+1)*p]
			for j, v := range jac.RawRowView(i0 + a) {
				out[j] = D(sa * (v - m[j]))
			}
		}
	}
}

type laplace struct {
	s         float64
	a         []float64
	l         *mat.TriDense
	wsqrt     *blockDiag
	evidence  float64
	iters     int
	converged bool
}

// newtonMaxIter caps the Newton iterations of the Laplace approximation
// (a variable so that tests can lower it).
var newtonMaxIter = 50

// newtonLaplace runs Newton's method for prior scale s and returns the mode
// with its approximate log evidence −½aᵀg + log p(y|f) − Σ log L_ii. It
// starts from the latent values of start, the mode at another scale s′
// (nil: from the prior mean): g = s′·K₀·a′ = s·K₀·(a′·s′/s).
func newtonLaplace(k0 *mat.SymDense, s float64, f0 []float64, labels []int, k int, start *laplace) (*laplace, error) {
	nk := len(f0)
	kern := mat.NewSymDense(nk, nil)
	kern.ScaleSym(s, k0)
	g := make([]float64, nk)
	a := make([]float64, nk)
	psi := math.Inf(-1)
	if start != nil {
		for i, v := range start.a {
			a[i] = v * start.s / s
		}
		var gv mat.VecDense
		gv.MulVec(kern, mat.NewVecDense(nk, a))
		copy(g, gv.RawVector().Data)
		psi = objective(f0, a, g, labels, k)
	}
	var lp *laplace
	for it := 1; it <= newtonMaxIter; it++ {
		probs, grad, _ := softmaxStats(f0, g, labels, k)
		w := blockSqrtHessian(probs, k)
		// b = W·g + ∇ with W = Vᵀ·V.
		b := w.mulVecT(w.mulVec(g))
		for i := range b {
			b[i] += grad[i]
		}
		chol, err := laplaceSystem(kern, w, s)
		if err != nil {
			return nil, err
		}
		var kb mat.VecDense
		kb.MulVec(kern, mat.NewVecDense(nk, b))
		corr := w.mulVecT(chol.solveVec(w.mulVec(kb.RawVector().Data)))
		aNew := make([]float64, nk)
		for i := range aNew {
			aNew[i] = b[i] - corr[i]
		}
		var gv mat.VecDense
		gv.MulVec(kern, mat.NewVecDense(nk, aNew))
		gNew := gv.RawVector().Data
		// Backtrack while Ψ(g) = −½aᵀg + log p(y|f) falls: Newton's full
		// step overshoots when the prior is wide.
		next := objective(f0, aNew, gNew, labels, k)
		for half := 0; next < psi && half < 30; half++ {
			for i := range aNew {
				aNew[i] = 0.5 * (aNew[i] + a[i])
				gNew[i] = 0.5 * (gNew[i] + g[i])
			}
			next = objective(f0, aNew, gNew, labels, k)
		}
		copy(a, aNew)
		copy(g, gNew)
		lp = &laplace{s: s, a: append([]float64(nil), a...), iters: it, evidence: next}
		if math.Abs(next-psi) <= 1e-9*math.Max(1, math.Abs(next)) {
			lp.converged = true
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
	lp.l = chol.lower()
	lp.evidence -= chol.logDet() / 2
	return lp, nil
}

// laplaceSystem factors B = I + V·K·Vᵀ.
func laplaceSystem(kern *mat.SymDense, w *blockDiag, s float64) (*spdFactor, error) {
	nk := kern.SymmetricDim()
	vk := w.mulRows(fullSym(kern))
	bm := w.mulRows(mat.DenseCopyOf(vk.T())) // V·K·Vᵀ, as V·(V·K)ᵀ
	sym := mat.NewSymDense(nk, nil)
	raw, b := sym.RawSymmetric(), bm.RawMatrix()
	for i := range nk {
		for j := i; j < nk; j++ {
			v := 0.5 * (b.Data[i*b.Stride+j] + b.Data[j*b.Stride+i])
			if i == j {
				v++
			}
			raw.Data[i*raw.Stride+j] = v
		}
	}
	chol, ok := factorSPD(sym)
	if !ok {
		return nil, numerical("Laplace: I + V·K·Vᵀ is not positive definite (s=%g)", s)
	}
	return chol, nil
}

// fullSym returns a symmetric matrix as a dense one, both triangles set
// from the stored upper one.
func fullSym(a *mat.SymDense) *mat.Dense {
	n := a.SymmetricDim()
	raw := a.RawSymmetric()
	out := mat.NewDense(n, n, nil)
	d := out.RawMatrix().Data
	for i := range n {
		copy(d[i*n+i:(i+1)*n], raw.Data[i*raw.Stride+i:i*raw.Stride+n])
		for j := i + 1; j < n; j++ {
			d[j*n+i] = d[i*n+j]
		}
	}
	return out
}

// objective is Ψ = −½aᵀg + Σ log π_{y_i}(f0 + g), the log posterior of
// the latent deviations g = K·a up to a constant.
func objective(f0, a, g []float64, labels []int, k int) float64 {
	_, _, loglik := softmaxStats(f0, g, labels, k)
	return -0.5*dot(a, g) + loglik
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

// mulVecT returns Mᵀ·v.
func (m *blockDiag) mulVecT(v []float64) []float64 {
	out := make([]float64, len(v))
	k := m.k
	for bi, blk := range m.blocks {
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				out[bi*k+b] += blk[a*k+b] * v[bi*k+a]
			}
		}
	}
	return out
}

// mulRows returns M·X for a matrix X with as many rows as M: row a of
// block b is Σ_c m_b[a, c]·x_{bk+c}, k² row axpys per block (vectorized
// by floats.AddScaled) rather than a GEMM and two copies per k×k block.
func (m *blockDiag) mulRows(x mat.Matrix) *mat.Dense {
	xd, ok := x.(*mat.Dense)
	if !ok {
		xd = mat.DenseCopyOf(x)
	}
	r, c := xd.Dims()
	out := mat.NewDense(r, c, nil)
	k := m.k
	for bi, blk := range m.blocks {
		for a := range k {
			dst := out.RawRowView(bi*k + a)
			for b, w := range blk[a*k : (a+1)*k] {
				if w != 0 {
					floats.AddScaled(dst, w, xd.RawRowView(bi*k+b))
				}
			}
		}
	}
	return out
}

// blockSqrtHessian returns V, block-diagonal with a factor of each
// W_i = diag(π_i) − π_i π_iᵀ = V_iᵀ·V_i: V_i = diag(√π_i)·(I − 1·π_iᵀ)
// (since Σπ = 1). It needs no eigendecomposition and stays exact when π_i
// is one-hot.
func blockSqrtHessian(probs []float64, k int) *blockDiag {
	w := &blockDiag{k: k}
	for i0 := 0; i0 < len(probs); i0 += k {
		p := probs[i0 : i0+k]
		blk := make([]float64, k*k)
		for a := 0; a < k; a++ {
			sa := math.Sqrt(p[a])
			for b := 0; b < k; b++ {
				v := -p[b]
				if a == b {
					v++
				}
				blk[a*k+b] = sa * v
			}
		}
		w.blocks = append(w.blocks, blk)
	}
	return w
}
