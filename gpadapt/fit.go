package gpadapt

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Limits of the dense paths: the explicit Jacobian (nK·p float64 values)
// and the dense systems (nK or p unknowns). Variables so that tests can
// lower them.
var (
	maxJacobian = 1 << 27
	maxDense    = 20000
)

// Fit adapts the network g to the data d and returns the fitted predictor.
func Fit(ctx context.Context, g *autodiff.Graph, d *Data, opts *Options) (*Predictor, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if d == nil || d.X == nil || d.X.Rank() < 1 || d.X.Shape[0] == 0 {
		return nil, fmt.Errorf("no training rows")
	}
	if len(d.Y) != d.X.Shape[0] {
		return nil, fmt.Errorf("%d target rows for %d input rows", len(d.Y), d.X.Shape[0])
	}
	if o.Params == "auto" {
		return fitAuto(ctx, g, d, &o)
	}
	active, err := SelectParams(g, o.Params)
	if err != nil {
		return nil, err
	}
	if len(active) == 0 {
		return nil, fmt.Errorf("the model has no parameters to adapt")
	}
	if err := autodiff.CheckParams(g); err != nil {
		return nil, err
	}
	start := time.Now()
	var s state
	if o.Float64 {
		s, err = fit[float64](ctx, g, active, d, &o)
	} else {
		s, err = fit[float32](ctx, g, active, d, &o)
	}
	if err != nil {
		return nil, err
	}
	s.rep.Seconds = time.Since(start).Seconds()
	return newPredictor(g, active, &o, s)
}

// state is what a fit leaves for prediction, independent of precision.
// The mean is f(x) + J(x)·δ, or f(x) + s·K(x, X)·α with independent outputs.
// The latent variance is, in parameter space (kern == nil),
// ‖F·J(x)ᵀ‖² with F = L_B⁻¹; in function space
// s·‖J(x)‖² − ‖L⁻¹·W^½·s·K(X, x)‖² with the kernel factors of the training
// data (W^½ only for classification).
type state struct {
	delta []float64 // p
	f     *mat.Dense
	kern  *kernelState
	lcg   *laplaceCG // classification by Newton-CG (newtoncg.go): f and kern nil
	rep   Report
}

// kernelState is the function-space posterior.
type kernelState struct {
	train       *fvp.Factors
	l           *mat.TriDense
	w           *blockDiag // classification: W^½ at the mode
	s           float64
	alpha       []float64 // A⁻¹·r, for independent outputs
	independent bool
	// free marks the matrix-free posterior (l == nil): the variance
	// solves A·z = K(X, x) by CG with A = s·K₀ + σ²·I from the factors,
	// to tol within maxIter iterations (accept: keep an unconverged z).
	free    bool
	noise   float64
	tol     float64
	maxIter int
	accept  bool
	rank    int // of the preconditioner, see pivotedCholesky
	once    sync.Once
	pre     *pivotedCholesky
	preErr  error
	f32     *fvp.Factors32 // float32 products, see single32Products
}

func fit[T autodiff.Float](ctx context.Context, g *autodiff.Graph, active []int, d *Data, o *Options) (state, error) {
	e, err := autodiff.NewEngine[T](g)
	if err != nil {
		return state{}, err
	}
	e.SetActive(active)
	x := autodiff.Convert[T](d.X)
	progress(o, "forward", 0, 1)
	op, err := fvp.New(ctx, e, x, o.Batch)
	if err != nil {
		return state{}, err
	}
	progress(o, "forward", 1, 1)
	n, k, p := op.N(), op.K(), op.P()
	nk := n * k
	rep := Report{Task: o.Task.String(), N: n, K: k, P: p}
	f := op.Outputs()
	if err := nonFiniteOutputs(op.NonFinite, f, k); err != nil {
		return state{}, err
	}
	if o.Task == Classification {
		var lg *layers
		if o.Layerwise {
			lg = &layers{}
			lg.of, lg.names = layerGroups(g, active, func(id int) int { return e.Param(id).Len() })
		}
		return fitClassification(ctx, op, f, d, o, rep, lg)
	}
	r := make([]float64, nk)
	for i, row := range d.Y {
		if len(row) != k {
			return state{}, fmt.Errorf("row %d has %d targets, the model has %d outputs", i+1, len(row), k)
		}
		for j, y := range row {
			r[i*k+j] = y
			if o.PriorMean == "network" {
				r[i*k+j] -= f[i*k+j]
			}
		}
	}
	method, err := formFor(o, k, func() string {
		if p < nk {
			return "parameter"
		}
		return "function"
	})
	if err != nil {
		return state{}, err
	}
	rep.Method = method
	// The parameter form solves by conjugate gradients when p is too large
	// for a dense p×p system or an explicit Jacobian; its variance and the
	// marginal likelihood still come from the nK×nK kernel.
	iterative := method == "parameter" && (p > maxDense || nk*p > maxJacobian || o.Solver == "cg")
	// Beyond maxDense (or with Solver "cg") the kernel is never formed:
	// products from its factors, CG, and the evidence by stochastic
	// Lanczos quadrature.
	free := nk > maxDense || o.Solver == "cg"
	if o.Solver == "direct" && (iterative || (free && method == "function")) {
		return state{}, fmt.Errorf("the dense solver needs a %d×%d kernel or a %d×%d precision and an explicit %d×%d Jacobian, beyond this build's dense limit (%d unknowns, %d Jacobian values); use --solver auto or cg", nk, nk, p, p, nk, p, maxDense, maxJacobian)
	}
	if method == "function" || iterative {
		progress(o, "kernel", 0, 1)
		var factors *fvp.Factors
		var k0 *mat.SymDense
		if free {
			factors, err = op.Factors(ctx)
		} else {
			factors, k0, err = kernel(ctx, op, o.Independent)
		}
		if err != nil {
			return state{}, err
		}
		progress(o, "kernel", 1, 1)
		var st state
		if free {
			st, err = solveFunctionFree(ctx, op, factors, r, o, rep)
		} else {
			st, err = solveFunction(ctx, op, factors, k0, r, o, rep)
		}
		if err != nil || !iterative {
			return st, err
		}
		delta, iters, resid, err := parameterCG(ctx, op, factors, r, st.rep.Noise, st.rep.PriorScale, o)
		if err != nil {
			return state{}, err
		}
		st.delta = delta
		st.rep.Method, st.rep.Solver = "parameter", "cg"
		st.rep.Iterations, st.rep.Residual = iters, resid
		return st, nil
	}
	jac, err := jacobian(ctx, op, o) // dense parameter form: nK·p ≤ maxJacobian, p ≤ maxDense
	if err != nil {
		return state{}, err
	}
	// Fitted hyperparameters come from the same kernel matrix the function
	// form uses (from the same factors, bit for bit), so both forms fit the
	// same σ² and s.
	var k0 *mat.SymDense
	if (o.Noise <= 0 || o.PriorScale <= 0) && nk <= maxDense {
		if _, k0, err = kernel(ctx, op, false); err != nil {
			return state{}, err
		}
	}
	return solveParameter(jac, k0, r, o, rep)
}

func other(method string) string {
	if method == "function" {
		return "parameter"
	}
	return "function"
}

func progress(o *Options, phase string, done, total int) {
	if o.Progress != nil {
		o.Progress(phase, done, total)
	}
}

// jacobian forms J (nK×p) block by block, reporting the rows done as the
// "jacobian" phase.
func jacobian[T autodiff.Float](ctx context.Context, op *fvp.Op[T], o *Options) (*mat.Dense, error) {
	nk, p := op.N()*op.K(), op.P()
	jac := mat.NewDense(nk, p, nil)
	progress(o, "jacobian", 0, nk)
	err := op.EachRows(ctx, func(row0 int, rows *mat.Dense) {
		r, _ := rows.Dims()
		jac.Slice(row0, row0+r, 0, p).(*mat.Dense).Copy(rows)
		if row0+r < nk {
			progress(o, "jacobian", row0+r, nk)
		}
	})
	if err != nil {
		return nil, err
	}
	progress(o, "jacobian", nk, nk)
	return jac, nil
}

// kernel returns the kernel factors of op's data and K₀ = J·Jᵀ from them
// (with the cross-output entries removed for independent outputs), held
// in both triangles (see factorKernel).
func kernel[T autodiff.Float](ctx context.Context, op *fvp.Op[T], independent bool) (*fvp.Factors, *mat.SymDense, error) {
	factors, err := op.Factors(ctx)
	if err != nil {
		return nil, nil, err
	}
	k0, err := fvp.Gram(factors)
	if err != nil {
		return nil, nil, err
	}
	if independent {
		raw := k0.RawSymmetric()
		var full mat.Dense // the same storage: Gram fills both triangles
		full.SetRawMatrix(blas64.General{Rows: raw.N, Cols: raw.N, Stride: raw.Stride, Data: raw.Data})
		maskOutputs(&full, op.K())
	}
	return factors, k0, nil
}

// solveFunction solves in function space: K₀ = J·Jᵀ from the kernel
// factors, A = s·K₀ + σ²·I = L·Lᵀ, α = A⁻¹·r, δ = s·Jᵀ·α. L takes over
// k0's storage (factorKernel): k0 is not usable afterwards.
func solveFunction[T autodiff.Float](ctx context.Context, op *fvp.Op[T], factors *fvp.Factors, k0 *mat.SymDense, r []float64, o *Options, rep Report) (state, error) {
	nk := len(r)
	progress(o, "solving", 0, 3)
	var err error
	noise, scale := o.Noise, o.PriorScale
	if noise <= 0 || scale <= 0 {
		if noise, scale, err = hyperparameters(k0, r, nk, o, &rep); err != nil {
			return state{}, err
		}
	}
	progress(o, "solving", 1, 3)
	kf, err := factorKernel(k0, r, noise, scale, fmt.Sprintf("the kernel system s·JJᵀ + σ²I (σ²=%g, s=%g)", noise, scale), kernelEntry(op.K()), o, &rep)
	if err != nil {
		return state{}, err
	}
	alpha := mat.NewVecDense(nk, kf.alpha)
	progress(o, "solving", 2, 3)
	// δ = s·Jᵀ·α in float64 sweeps: α grows like 1/σ² and Jᵀ·α cancels,
	// which float32 sweeps do not resolve when σ² is small. (Streamed:
	// the float64 forward sweeps of all the data would sit beside L.)
	delta := make([]float64, op.P())
	if err := op.JT64(ctx, delta, alpha.RawVector().Data, 1); err != nil {
		return state{}, err
	}
	progress(o, "solving", 3, 3)
	for i := range delta {
		delta[i] *= scale
	}
	// log N(r; 0, A) = −½(rᵀα + log det A + nK·log 2π).
	rep.LogMarginal = -0.5 * (mat.Dot(mat.NewVecDense(nk, r), alpha) + kf.logDet + float64(nk)*math.Log(2*math.Pi))
	rep.Solver, rep.Evidence = "cholesky", "exact"
	rep.Noise, rep.PriorScale = noise, scale
	ks := &kernelState{train: factors, l: kf.l, s: scale, independent: o.Independent}
	if o.Independent {
		ks.alpha = alpha.RawVector().Data
	}
	return state{delta: delta, kern: ks, rep: rep}, nil
}

// solveFunctionFree solves in function space without forming the nK×nK
// kernel: products K₀·v from the factors (fvp.Factors.MulVec, O(n·in·out)
// per layer), σ² and s (those not given) by stochastic Lanczos quadrature
// (slq), α = A⁻¹·r by CG preconditioned with A's diagonal, δ = s·Jᵀ·α.
// The log marginal likelihood takes rᵀα from CG and log det A from SLQ;
// with σ² and s both given it is not computed (SLQ costs
// Probes·LanczosSteps products; Evidence "none").
func solveFunctionFree[T autodiff.Float](ctx context.Context, op *fvp.Op[T], factors *fvp.Factors, r []float64, o *Options, rep Report) (state, error) {
	nk := len(r)
	ks := &kernelState{train: factors, free: true, independent: o.Independent, tol: o.Tol, maxIter: o.MaxIter, accept: o.AcceptUnconverged, rank: precondRank}
	noise, scale := o.Noise, o.PriorScale
	var q *slq
	if noise <= 0 || scale <= 0 {
		progress(o, "lanczos", 0, 1)
		var err error
		ks.useSingle()
		if q, err = newSLQ(ctx, ks.kop32, r, o.Probes, o.LanczosSteps, o.Seed); err != nil {
			return state{}, err
		}
		progress(o, "lanczos", 1, 1)
		tr := 0.0
		for _, d := range factors.Diag() {
			tr += d
		}
		var lml float64
		noise, scale, lml = q.fit(o.Noise, o.PriorScale, tr)
		if math.IsNaN(lml) || math.IsInf(lml, 0) || !(noise > 0) || !(scale > 0) {
			return state{}, numerical("the marginal likelihood estimate is %g at σ²=%g, s=%g", lml, noise, scale)
		}
		rep.NoiseFitted, rep.ScaleFitted = o.Noise <= 0, o.PriorScale <= 0
	}
	ks.noise, ks.s = noise, scale
	progress(o, "solving", 0, 2)
	alpha, iters, resid, err := ks.solve(ctx, r, 1)
	if err != nil {
		return state{}, err
	}
	rep.Unconverged = resid > o.Tol
	progress(o, "solving", 1, 2)
	op64, err := op.Float64(ctx)
	if err != nil {
		return state{}, err
	}
	delta := make([]float64, op.P())
	if err := op64.JT(ctx, delta, alpha, 1); err != nil {
		return state{}, err
	}
	for i := range delta {
		delta[i] *= scale
	}
	progress(o, "solving", 2, 2)
	if q != nil {
		ld, se := q.logdet(noise, scale)
		rep.LogMarginal = -0.5 * (dot(r, alpha) + ld + float64(nk)*math.Log(2*math.Pi))
		rep.Evidence, rep.Probes, rep.LanczosSteps, rep.LogMarginalSE = "slq", len(q.probes), q.steps, 0.5*se
	} else {
		rep.Evidence = "none"
	}
	rep.Solver, rep.Iterations, rep.Residual = "cg", iters, resid
	rep.Noise, rep.PriorScale = noise, scale
	if o.Independent {
		ks.alpha = alpha
	}
	return state{delta: delta, kern: ks, rep: rep}, nil
}

// maskOutputs zeroes the entries of an nK×mK kernel that couple different
// outputs (k ≠ k'): independent outputs.
func maskOutputs(m *mat.Dense, k int) {
	r, c := m.Dims()
	for i := 0; i < r; i++ {
		row := m.RawRowView(i)
		for j := 0; j < c; j++ {
			if i%k != j%k {
				row[j] = 0
			}
		}
	}
}

// symmetric returns the symmetric part of a square matrix.
func symmetric(m *mat.Dense) *mat.SymDense {
	n, _ := m.Dims()
	out := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			out.SetSym(i, j, 0.5*(m.At(i, j)+m.At(j, i)))
		}
	}
	return out
}

// solveParameter solves in parameter space: B = JᵀJ/σ² + I/s = L·Lᵀ,
// fitting σ² and s (those not given) from the kernel k0 = JJᵀ when the
// caller has it, else from the spectrum of JᵀJ,
// δ = B⁻¹·Jᵀ·r/σ², and the covariance factor F = L⁻¹, with
// var(x) = ‖F·J(x)ᵀ‖² = J(x)·B⁻¹·J(x)ᵀ.
func solveParameter(jac *mat.Dense, k0 *mat.SymDense, r []float64, o *Options, rep Report) (state, error) {
	nk, p := jac.Dims()
	progress(o, "solving", 0, 3)
	var g mat.SymDense
	g.SymOuterK(1, jac.T())
	progress(o, "solving", 1, 3)
	noise, scale := o.Noise, o.PriorScale
	var err error
	switch {
	case noise > 0 && scale > 0:
	case k0 != nil:
		noise, scale, err = hyperparameters(k0, r, nk, o, &rep)
	default:
		noise, scale, err = hyperparametersPrimal(&g, jac, r, nk, o, &rep)
	}
	if err != nil {
		return state{}, err
	}
	progress(o, "solving", 2, 3)
	b := mat.NewSymDense(p, nil)
	b.ScaleSym(1/noise, &g)
	for i := 0; i < p; i++ {
		b.SetSym(i, i, b.At(i, i)+1/scale)
	}
	chol, err := factorJitter(b, "the precision JᵀJ/σ² + I/s", nil, o, &rep)
	if err != nil {
		return state{}, err
	}
	var jtr mat.VecDense
	jtr.MulVec(jac.T(), mat.NewVecDense(nk, r))
	jtr.ScaleVec(1/noise, &jtr)
	var delta mat.VecDense
	if err := chol.SolveVecTo(&delta, &jtr); err != nil {
		return state{}, numerical("precision solve: %v", err)
	}
	// By Woodbury, rᵀA⁻¹r = (‖r‖² − σ²·(Jᵀr/σ²)ᵀB⁻¹(Jᵀr/σ²))/σ² and
	// log det A = nK·log σ² + p·log s + log det B.
	rv := mat.NewVecDense(nk, r)
	quad := (mat.Dot(rv, rv) - noise*mat.Dot(&jtr, &delta)) / noise
	logdet := float64(nk)*math.Log(noise) + float64(p)*math.Log(scale) + chol.LogDet()
	rep.LogMarginal = -0.5 * (quad + logdet + float64(nk)*math.Log(2*math.Pi))
	var l mat.TriDense
	chol.LTo(&l)
	var linv mat.TriDense
	if err := linv.InverseTri(&l); err != nil {
		return state{}, numerical("inverting the Cholesky factor: %v", err)
	}
	progress(o, "solving", 3, 3)
	rep.Solver, rep.Evidence = "cholesky", "exact"
	rep.Noise, rep.PriorScale = noise, scale
	return state{delta: delta.RawVector().Data, f: mat.DenseCopyOf(&linv), rep: rep}, nil
}

// hyperparameters fits σ² and s (those not fixed) from the tridiagonal
// form of K₀ = JJᵀ (see tridiag) and records the log marginal likelihood.
func hyperparameters(k0 *mat.SymDense, r []float64, nk int, o *Options, rep *Report) (float64, float64, error) {
	tri, ok := newTridiag(k0, r)
	if !ok {
		return 0, 0, numerical("tridiagonal eigenvalues of the %d×%d kernel did not converge", nk, nk)
	}
	rr, ml := 0.0, 0.0
	for _, v := range r {
		rr += v * v
	}
	for _, l := range tri.lam {
		ml += max(l, 0)
	}
	noise, scale, lml := maximize(tri.logML, rr/float64(nk), ml/float64(nk), o.Noise, o.PriorScale)
	return finishFit(noise, scale, lml, o, rep)
}

// hyperparametersPrimal does the same from JᵀJ = V·Λ·Vᵀ: the projections
// of r on the eigenvectors u_i = J·v_i/√λ_i of JJᵀ are (v_iᵀ·Jᵀr)/√λ_i.
func hyperparametersPrimal(gram *mat.SymDense, jac *mat.Dense, r []float64, nk int, o *Options, rep *Report) (float64, float64, error) {
	p := gram.SymmetricDim()
	var eig mat.EigenSym
	if ok := eig.Factorize(gram, true); !ok {
		return 0, 0, numerical("eigendecomposition of the %d×%d Gauss-Newton matrix failed", p, p)
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	var jtr, proj mat.VecDense
	jtr.MulVec(jac.T(), mat.NewVecDense(nk, r))
	proj.MulVec(v.T(), &jtr)
	sp := &spectrum{m: nk}
	lam := eig.Values(nil)
	tol := 1e-12 * max(lam[len(lam)-1], 1e-300)
	for i, l := range lam {
		if l <= tol {
			continue // no direction of JJᵀ: counted by m − #λ
		}
		sp.lam = append(sp.lam, l)
		sp.c2 = append(sp.c2, proj.AtVec(i)*proj.AtVec(i)/l)
	}
	for _, x := range r {
		sp.rr += x * x
	}
	return finishHyper(sp, o, rep)
}

func finishHyper(sp *spectrum, o *Options, rep *Report) (float64, float64, error) {
	noise, scale, lml := sp.fit(o.Noise, o.PriorScale)
	return finishFit(noise, scale, lml, o, rep)
}

// finishFit records a fit's outcome, refusing a non-finite evidence.
func finishFit(noise, scale, lml float64, o *Options, rep *Report) (float64, float64, error) {
	if math.IsNaN(lml) || math.IsInf(lml, 0) {
		return 0, 0, numerical("the marginal likelihood is %g at σ²=%g, s=%g", lml, noise, scale)
	}
	rep.NoiseFitted, rep.ScaleFitted = o.Noise <= 0, o.PriorScale <= 0
	rep.LogMarginal = lml
	return noise, scale, nil
}

// formFor resolves o.Method, calling auto for "auto" (or ""), with
// o.Independent: independent outputs change the kernel, which has no
// parameter-space form (each output would need its own copy of the
// parameters), so with K > 1 they take the function form and asking for
// the parameter form is an error.
func formFor(o *Options, k int, auto func() string) (string, error) {
	switch {
	case o.Independent && k > 1 && o.Method == "parameter":
		return "", fmt.Errorf("independent outputs have no parameter-space form (each output would need its own copy of the parameters); use the function form")
	case o.Independent && k > 1:
		return "function", nil
	case o.Method == "auto" || o.Method == "":
		return auto(), nil
	}
	return o.Method, nil
}

// fitAuto fits with the parameters of the last 1, 2, … layers (the last
// of them all the parameters) and keeps the fit of the largest log
// marginal likelihood: a choice among kernels by the evidence, each with
// its own fitted σ² and s. It needs the evidence of every fit.
func fitAuto(ctx context.Context, g *autodiff.Graph, d *Data, o *Options) (*Predictor, error) {
	start := time.Now()
	var best *Predictor
	layers := len(paramLayers(g))
	for n := 1; n <= layers; n++ {
		oo := *o
		oo.Params = fmt.Sprintf("last:%d", n)
		p, err := Fit(ctx, g, d, &oo)
		if err != nil {
			return nil, fmt.Errorf("--params auto, %s: %w", oo.Params, err)
		}
		rep := p.Report()
		if rep.Evidence == "none" {
			return nil, fmt.Errorf("--params auto chooses by the marginal likelihood, which the matrix-free solve does not compute with σ² and s both given; fit one of them, or name the parameters")
		}
		if o.Logf != nil {
			o.Logf("--params auto: %s (%d parameters): log marginal likelihood %.6g", oo.Params, rep.P, rep.LogMarginal)
		}
		if best == nil || rep.LogMarginal > best.Report().LogMarginal {
			best = p
			best.st.rep.Params = oo.Params
		}
	}
	if best == nil {
		return nil, fmt.Errorf("the model has no parameters to adapt")
	}
	best.st.rep.Seconds = time.Since(start).Seconds()
	return best, nil
}
