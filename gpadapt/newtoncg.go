package gpadapt

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// laplaceCG is the parameter-space Laplace posterior kept without any p×p
// matrix: the precision H = JᵀWJ + I/s is applied through the softmax
// Fisher products of the training data, so prediction solves
// H·Z = J(x)ᵀ by block conjugate gradients.
type laplaceCG struct {
	x     *autodiff.Tensor[float32] // the training inputs
	probs []float64                 // π at the mode (n×K): W_i = diag π_i − π_i π_iᵀ
	s     float64
	minv  []float64 // Jacobi preconditioner 1/(diag(JᵀWJ) + 1/s) at the mode
	// The CG settings of the variance solves (Options.Tol, MaxIter,
	// AcceptUnconverged of the fit).
	tol     float64
	maxIter int
	accept  bool
	// The training products and the preconditioner of the variance
	// solves, prepared by the first prediction (prepare).
	mu   sync.Mutex
	prod fisherProducts
	pre  func(dst, src []float64)
}

// laplaceNewtonCG finds the Laplace approximation in parameter space
// matrix-free (Newton-CG): with logits f0 + J·δ and prior δ ~ N(0, s·I),
// each Newton step solves
//
//	(JᵀWJ + I/s)·Δ = Jᵀ(y − π) − δ/s
//
// by conjugate gradients with softmax Fisher products from the kernel
// factors (fvp.FactorOp), preconditioned by the exact diagonal of JᵀWJ
// from the same factors; δ += η·Δ, halving η while the log posterior
// Ψ(δ) = log p(y | f0 + J·δ) − ‖δ‖²/2s falls. The evidence
// Ψ(δ̂) − ½·log det(I + s·V·JJᵀ·Vᵀ) (= Ψ − ½(p·log s + log det H)) takes
// the nK×nK kernel while nK ≤ maxDense, and stochastic Lanczos quadrature
// on kernel products beyond (laplaceLogDetSLQ).
func laplaceNewtonCG[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f0 []float64, labels []int, x *autodiff.Tensor[float32], o *Options, rep Report) (state, error) {
	nk, k := len(f0), op.K()
	progress(o, "kernel", 0, 1)
	factors, err := op.Factors(ctx)
	if err != nil {
		return state{}, err
	}
	fo, err := op.FactorOp(factors)
	if err != nil {
		return state{}, err
	}
	var k0 *mat.SymDense   // for the evidence, while the kernel fits
	var f32 *fvp.Factors32 // for it beyond: kernel products for SLQ
	if nk <= maxDense {
		cross, err := fvp.Cross(factors, factors)
		if err != nil {
			return state{}, err
		}
		k0 = symmetric(cross)
	} else {
		f32 = fo.Float32() // FactorOp's own copy in float32 sweeps
	}
	progress(o, "kernel", 1, 1)
	type mode struct {
		s, evidence float64
		delta       []float64
		probs       []float64
		iters, cg   int
		sketches    int // Nyström preconditioners built
		resid       float64
		converged   bool
		se          float64 // of the evidence, by SLQ
		steps       int     // of its longest Lanczos run
	}
	var modes []*mode
	best, err := searchScale(o, func(s float64) (*mode, float64, error) {
		m := &mode{s: s, delta: make([]float64, op.P())}
		jd := make([]float64, nk) // J·δ
		if i := nearestScale(len(modes), func(i int) float64 { return modes[i].s }, s); i >= 0 {
			copy(m.delta, modes[i].delta)
			if err := fo.J(ctx, jd, m.delta, 1); err != nil {
				return nil, 0, err
			}
		}
		modes = append(modes, m)
		logPost := func(d, jd []float64) float64 {
			_, _, ll := softmaxStats(f0, jd, labels, k)
			return ll - dot(d, d)/(2*s)
		}
		psi := logPost(m.delta, jd)
		var it int
		norm0 := 0.0
		var pre *nystrom
		stale := true
		for it = 1; it <= newtonMaxIter; it++ {
			probs, grad, _ := softmaxStats(f0, jd, labels, k)
			if stale {
				if pre, err = precisionNystrom(ctx, fo, probs, s, nk); err != nil {
					return nil, 0, err
				}
				m.sketches++
			}
			step, iters, resid, err := newtonStep(ctx, op, fo, factors, pre, probs, grad, m.delta, s, &norm0, o)
			if err != nil {
				return nil, 0, err
			}
			// A new sketch costs ℓ products: worth it once a solve takes
			// more iterations than that.
			stale = pre != nil && iters > len(pre.w)
			m.cg += iters
			m.resid = resid // of the last, tightest step
			js := make([]float64, nk)
			if err := fo.J(ctx, js, step, 1); err != nil {
				return nil, 0, err
			}
			next, nextJ := make([]float64, len(m.delta)), make([]float64, nk)
			eta, val := 1.0, 0.0
			for half := 0; half < 30; half++ {
				for i := range next {
					next[i] = m.delta[i] + eta*step[i]
				}
				for i := range nextJ {
					nextJ[i] = jd[i] + eta*js[i]
				}
				if val = logPost(next, nextJ); val >= psi {
					break
				}
				eta /= 2
			}
			copy(m.delta, next)
			copy(jd, nextJ)
			done := math.Abs(val-psi) <= 1e-9*math.Max(1, math.Abs(val))
			psi = max(psi, val)
			if done {
				break
			}
		}
		m.iters, m.converged = min(it, newtonMaxIter), it <= newtonMaxIter
		m.probs, _, _ = softmaxStats(f0, jd, labels, k)
		m.evidence = psi
		if k0 != nil {
			kern := mat.NewSymDense(nk, nil)
			kern.ScaleSym(s, k0)
			chol, err := laplaceSystem(kern, blockSqrtHessian(m.probs, k), s)
			if err != nil {
				return nil, 0, err
			}
			m.evidence -= 0.5 * chol.logDet()
		} else {
			ld, se, steps, err := laplaceLogDetSLQ(ctx, f32, m.probs, k, s, o)
			if err != nil {
				return nil, 0, err
			}
			m.evidence -= 0.5 * ld
			m.se, m.steps = 0.5*se, steps
		}
		logScale(o, s, m.iters, m.evidence)
		if o.Logf != nil {
			o.Logf("Newton-CG at s = %g: %d CG iterations in all, relative residual %.3g at the last step, %d Nyström sketches", s, m.cg, m.resid, m.sketches)
		}
		return m, m.evidence, nil
	})
	if err != nil {
		return state{}, err
	}
	if !best.converged {
		if err := unconverged(o, &rep, "Laplace: Newton's method did not converge in %d iterations (s=%g)", newtonMaxIter, best.s); err != nil {
			return state{}, err
		}
	}
	minv, err := fisherPrecond(op, factors, best.probs, best.s)
	if err != nil {
		return state{}, err
	}
	rep.Method = "parameter"
	rep.Solver = "laplace-newton-cg"
	rep.PriorScale = best.s
	rep.ScaleFitted = o.PriorScale <= 0
	rep.Iterations = best.iters
	rep.Residual = best.resid
	rep.LogMarginal, rep.Evidence = best.evidence, "exact"
	if k0 == nil {
		rep.Evidence, rep.Probes, rep.LanczosSteps, rep.LogMarginalSE = "slq", o.Probes, best.steps, best.se
	}
	post := &laplaceCG{x: x, probs: best.probs, s: best.s, minv: minv, tol: o.Tol, maxIter: o.MaxIter, accept: o.AcceptUnconverged}
	return state{delta: best.delta, lcg: post, rep: rep}, nil
}

// newtonStep solves (JᵀWJ + I/s)·Δ = Jᵀ·grad − δ/s by preconditioned CG,
// inexactly far from the mode (Eisenstat & Walker's forcing): to the
// relative residual min(0.1, √(‖rhs‖/‖rhs₀‖)), rhs₀ the first step's right
// side (norm0, set on the first call), and never looser than o.Tol; the
// products are prod's, the right side and the preconditioner op's.
func newtonStep[T autodiff.Float](ctx context.Context, op *fvp.Op[T], prod fisherProducts, factors *fvp.Factors, ny *nystrom, probs, grad, delta []float64, s float64, norm0 *float64, o *Options) ([]float64, int, float64, error) {
	rhs := make([]float64, op.P())
	if err := op.JT(ctx, rhs, grad, 1); err != nil {
		return nil, 0, 0, err
	}
	for i := range rhs {
		rhs[i] -= delta[i] / s
	}
	var pre func(dst, src []float64)
	if ny != nil {
		pre = ny.apply
	} else {
		minv, err := fisherPrecond(op, factors, probs, s)
		if err != nil {
			return nil, 0, 0, err
		}
		pre = diagonal(minv)
	}
	norm := math.Sqrt(dot(rhs, rhs))
	if *norm0 == 0 {
		*norm0 = norm
	}
	tol := o.Tol
	if *norm0 > 0 {
		tol = max(o.Tol, min(0.1, math.Sqrt(norm / *norm0)))
	}
	return solvePrecision(ctx, prod, probs, s, pre, rhs, 1, tol, o)
}

// solvePrecision solves (JᵀWJ + I/s)·X = B for the r right-hand sides B
// (r×p) by block CG, failing on an unconverged result unless the options
// accept it.
func solvePrecision(ctx context.Context, op fisherProducts, probs []float64, s float64, pre func(dst, src []float64), b []float64, r int, tol float64, o *Options) ([]float64, int, float64, error) {
	apply := func(ctx context.Context, dst, src []float64, m int) error {
		if err := op.SoftmaxFisher(ctx, dst, src, probs, m); err != nil {
			return err
		}
		for i := range dst {
			dst[i] += src[i] / s
		}
		return nil
	}
	x, iters, resid, err := cgPre(ctx, apply, b, r, op.P(), pre, tol, o.MaxIter)
	if err != nil {
		return nil, iters, resid, err
	}
	if resid > tol && !o.AcceptUnconverged {
		return nil, iters, resid, numerical("conjugate gradients on the Laplace precision JᵀWJ + I/s stopped after %d iterations at relative residual %.3g > %g; raise the iteration cap, loosen the tolerance, or accept the result with --accept-unconverged", iters, resid, tol)
	}
	return x, iters, resid, nil
}

// fisherPrecond returns 1/(diag(JᵀWJ) + 1/s), exactly: JᵀWJ = (VJ)ᵀ(VJ)
// with W = VᵀV (blockSqrtHessian), and the rows of V·J factor like those
// of J with each example's K cotangent rows (and explicit gradient rows)
// mixed by V_i, so the diagonal is that of the Gauss-Newton matrix of the
// mixed factors.
func fisherPrecond[T autodiff.Float](op *fvp.Op[T], factors *fvp.Factors, probs []float64, s float64) ([]float64, error) {
	v := blockSqrtHessian(probs, op.K())
	mixed := *factors
	mixed.Layers = make([]fvp.Layer, len(factors.Layers))
	for i, l := range factors.Layers {
		mixed.Layers[i] = fvp.Layer{Scale: l.Scale, X: l.X, G: v.mulRows(l.G)}
	}
	if factors.Rows != nil {
		mixed.Rows = v.mulRows(factors.Rows)
	}
	d, err := op.GaussNewtonDiag(&mixed)
	if err != nil {
		return nil, err
	}
	for i := range d {
		d[i] = 1 / (d[i] + 1/s)
	}
	return d, nil
}

// laplaceCGCov returns the logits' covariance blocks J(x_i)·H⁻¹·J(x_i)ᵀ
// (m×K×K) at the rows of the test operator: for a few test points at a
// time, the rows G of J(x) (one reverse sweep), Z = H⁻¹·Gᵀ by block CG over
// the training data (its products and preconditioner prepared once per
// predictor), and each point's block G_i·Z_iᵀ.
func laplaceCGCov[T autodiff.Float](ctx context.Context, p *Predictor, e *autodiff.Engine[T], test *fvp.Op[T]) ([]float64, error) {
	post := p.st.lcg
	if err := prepareLaplaceCG(ctx, post, e, p.batch); err != nil {
		return nil, err
	}
	o := Options{Tol: post.tol, MaxIter: post.maxIter, AcceptUnconverged: post.accept}
	k, np := test.K(), test.P()
	cov := make([]float64, test.N()*k*k)
	var solveErr error
	err := test.EachRows(ctx, func(row0 int, rows *mat.Dense) {
		if solveErr != nil {
			return
		}
		r, _ := rows.Dims()
		g := rows.RawMatrix().Data // r×p, contiguous
		z, _, _, err := solvePrecision(ctx, post.prod, post.probs, post.s, post.pre, g, r, o.Tol, &o)
		if err != nil {
			solveErr = err
			return
		}
		for i := 0; i < r; i += k {
			blk := cov[(row0+i)*k : (row0+i+k)*k]
			for a := 0; a < k; a++ {
				for b := 0; b < k; b++ {
					blk[a*k+b] = dot(g[(i+a)*np:(i+a+1)*np], z[(i+b)*np:(i+b+1)*np])
				}
			}
			symmetrize(blk, k)
		}
	})
	if err == nil {
		err = solveErr
	}
	return cov, err
}

// prepareLaplaceCG builds the training data's Fisher products and the
// preconditioner of H = JᵀWJ + I/s at the mode, once per posterior: the
// Nyström sketch where its rank is worth it, else the Jacobi diagonal
// kept in the posterior. A failed (or cancelled) preparation is tried
// again by the next prediction.
func prepareLaplaceCG[T autodiff.Float](ctx context.Context, post *laplaceCG, e *autodiff.Engine[T], batch int) error {
	post.mu.Lock()
	defer post.mu.Unlock()
	if post.prod != nil {
		return nil
	}
	train, err := fvp.New(ctx, e, autodiff.Convert[T](post.x), batch)
	if err != nil {
		return err
	}
	if len(post.probs) != train.N()*train.K() || len(post.minv) != train.P() {
		return fmt.Errorf("predictor holds a posterior of %d probabilities and %d parameters, the model %d and %d", len(post.probs), len(post.minv), train.N()*train.K(), train.P())
	}
	factors, err := train.Factors(ctx)
	if err != nil {
		return err
	}
	prod, err := train.FactorOp(factors)
	if err != nil {
		return err
	}
	ny, err := precisionNystrom(ctx, prod, post.probs, post.s, len(post.probs))
	if err != nil {
		return err
	}
	post.prod, post.pre = prod, diagonal(post.minv)
	if ny != nil {
		post.pre = ny.apply
	}
	return nil
}

// precisionNystrom is the Nyström preconditioner of the Laplace
// precision JᵀWJ + I/s (nystrom), sketched by the softmax Fisher products
// at probs, or nil where its rank (nystromRank of p and nK) is too small.
func precisionNystrom(ctx context.Context, op fisherProducts, probs []float64, s float64, nk int) (*nystrom, error) {
	l := nystromRank(op.P(), nk)
	if l == 0 {
		return nil, nil
	}
	fisher := func(ctx context.Context, dst, src []float64, r int) error {
		return op.SoftmaxFisher(ctx, dst, src, probs, r)
	}
	return newNystrom(ctx, fisher, op.P(), l, 1/s, 1)
}

// symmetrize replaces the k×k block by its symmetric part.
func symmetrize(blk []float64, k int) {
	for a := 0; a < k; a++ {
		for b := a + 1; b < k; b++ {
			v := 0.5 * (blk[a*k+b] + blk[b*k+a])
			blk[a*k+b], blk[b*k+a] = v, v
		}
	}
}

// laplaceCGPayload is the Newton-CG posterior in a predictor file.
type laplaceCGPayload struct {
	Shape   []int     // of the training inputs
	X       []float32 // the training inputs
	Probs   []float64
	S       float64
	Minv    []float64
	Tol     float64
	MaxIter int
	Accept  bool
}

func (l *laplaceCG) payload() *laplaceCGPayload {
	if l == nil {
		return nil
	}
	return &laplaceCGPayload{Shape: l.x.Shape, X: l.x.Data, Probs: l.probs, S: l.s, Minv: l.minv, Tol: l.tol, MaxIter: l.maxIter, Accept: l.accept}
}

// state checks the payload's sizes against each other and p parameters.
func (pl *laplaceCGPayload) state(p int) (*laplaceCG, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: Newton-CG posterior: %s", ErrBadFile, fmt.Sprintf(format, args...))
	}
	if len(pl.Shape) < 1 || pl.Shape[0] <= 0 {
		return nil, bad("training inputs of shape %v", pl.Shape)
	}
	size := 1
	for _, d := range pl.Shape {
		if d <= 0 || d > len(pl.X) || size > len(pl.X)/d {
			return nil, bad("training inputs of shape %v for %d values", pl.Shape, len(pl.X))
		}
		size *= d
	}
	n := pl.Shape[0]
	if size != len(pl.X) || len(pl.Probs)%n != 0 || len(pl.Probs)/n < 2 {
		return nil, bad("%d values, %d probabilities for inputs of shape %v", len(pl.X), len(pl.Probs), pl.Shape)
	}
	if len(pl.Minv) != p || !(pl.S > 0) || !(pl.Tol > 0) || pl.MaxIter <= 0 {
		return nil, bad("%d preconditioner values for %d parameters, s=%g, tolerance %g, %d iterations", len(pl.Minv), p, pl.S, pl.Tol, pl.MaxIter)
	}
	for _, v := range pl.Minv {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, bad("preconditioner value %g", v)
		}
	}
	for _, v := range pl.Probs {
		if !(v >= 0 && v <= 1) {
			return nil, bad("probability %g", v)
		}
	}
	x := autodiff.FromData(pl.X, pl.Shape...)
	return &laplaceCG{x: x, probs: pl.Probs, s: pl.S, minv: pl.Minv, tol: pl.Tol, maxIter: pl.MaxIter, accept: pl.Accept}, nil
}

// laplaceLogDetSLQ estimates log det(I + s·B₀), B₀ = V·K₀·Vᵀ with V the
// square root of the softmax Hessian at the mode's probabilities
// (blockSqrtHessian), by stochastic Lanczos quadrature (slq, with σ² = 1):
// o.Probes Rademacher probes, o.LanczosSteps steps, each step one kernel
// product K₀·(Vᵀ·q) from the float32 factors. It returns the estimate,
// its standard error and the longest run's steps; B₀ changes with the mode,
// so every prior scale tried runs its own quadrature.
func laplaceLogDetSLQ(ctx context.Context, f32 *fvp.Factors32, probs []float64, k int, s float64, o *Options) (ld, se float64, steps int, err error) {
	v := blockSqrtHessian(probs, k)
	nk := len(probs)
	kop := func(ctx context.Context, dst, src []float64, r int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := make([]float64, r*nk)
		for j := range r {
			copy(t[j*nk:], v.mulVecT(src[j*nk:(j+1)*nk]))
		}
		u := make([]float64, r*nk)
		if err := f32.MulVec(u, t, r, false); err != nil {
			return err
		}
		for j := range r {
			copy(dst[j*nk:], v.mulVec(u[j*nk:(j+1)*nk]))
		}
		return nil
	}
	start := make([]float64, nk) // newSLQ's data run, unused here
	for i := range start {
		start[i] = 1
	}
	q, err := newSLQ(ctx, kop, start, o.Probes, o.LanczosSteps, o.Seed)
	if err != nil {
		return 0, 0, 0, err
	}
	ld, se = q.logdet(1, s)
	return ld, se, q.steps, nil
}
