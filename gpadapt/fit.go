package gpadapt

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// Limits of the dense paths: the explicit Jacobian (nK·p float64 values)
// and the dense systems (nK or p unknowns).
const (
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
	active, err := SelectParams(g, o.Params)
	if err != nil {
		return nil, err
	}
	if len(active) == 0 {
		return nil, fmt.Errorf("the model has no parameters to adapt")
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

// state is what a fit leaves for prediction, independent of precision:
// mean(x) = f(x) + J(x)·δ and var(x) = c·‖J(x)‖² + sign·‖F·J(x)ᵀ‖² per output.
type state struct {
	delta []float64 // p
	f     *mat.Dense
	c     float64
	sign  float64
	rep   Report
	// classification: Laplace in function space keeps the Gaussian on the
	// logits through the same δ and F.
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
	for i, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return state{}, numerical("the network's output %d of row %d is %g", i%k, i/k+1, v)
		}
	}
	if o.Task == Classification {
		return fitClassification(ctx, op, f, d, o, rep)
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
	method := o.Method
	if method == "auto" {
		method = "function"
		if p < nk {
			method = "parameter"
		}
	}
	rep.Method = method
	if (method == "function" && nk > maxDense) || (method == "parameter" && p > maxDense) {
		return state{}, fmt.Errorf("%s space needs a dense system of %d unknowns, more than the %d this version solves; choose --method %s or fewer points/parameters (--params)", method, max(nk, p), maxDense, other(method))
	}
	if nk*p > maxJacobian {
		return state{}, fmt.Errorf("the explicit Jacobian would hold %d×%d values, more than %d; adapt fewer parameters (--params last:N) or fewer points", nk, p, maxJacobian)
	}
	progress(o, "jacobian", 0, 1)
	jac, err := op.Jacobian(ctx)
	if err != nil {
		return state{}, err
	}
	progress(o, "jacobian", 1, 1)
	var st state
	if method == "function" {
		st, err = solveFunction(jac, r, o, rep)
	} else {
		st, err = solveParameter(jac, r, o, rep)
	}
	return st, err
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

// solveFunction solves in function space: K₀ = J·Jᵀ, A = s·K₀ + σ²·I = L·Lᵀ,
// α = A⁻¹·r, δ = s·Jᵀ·α, and the covariance factor F = s·L⁻¹·J, with
// var(x) = s·‖J(x)‖² − ‖F·J(x)ᵀ‖².
func solveFunction(jac *mat.Dense, r []float64, o *Options, rep Report) (state, error) {
	nk, _ := jac.Dims()
	var k0 mat.SymDense
	k0.SymOuterK(1, jac)
	noise, scale, err := hyperparameters(&k0, r, nk, o, &rep)
	if err != nil {
		return state{}, err
	}
	a := mat.NewSymDense(nk, nil)
	a.ScaleSym(scale, &k0)
	for i := 0; i < nk; i++ {
		a.SetSym(i, i, a.At(i, i)+noise)
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(a); !ok {
		return state{}, numerical("the kernel system s·JJᵀ + σ²I (%d×%d, σ²=%g, s=%g) is not positive definite; try a larger --noise", nk, nk, noise, scale)
	}
	var alpha mat.VecDense
	if err := chol.SolveVecTo(&alpha, mat.NewVecDense(nk, r)); err != nil {
		return state{}, numerical("kernel solve: %v", err)
	}
	var delta mat.VecDense
	delta.MulVec(jac.T(), &alpha)
	delta.ScaleVec(scale, &delta)
	var l mat.TriDense
	chol.LTo(&l)
	var fm mat.Dense
	if err := fm.Solve(&l, jac); err != nil {
		return state{}, numerical("triangular solve: %v", err)
	}
	fm.Scale(scale, &fm)
	rep.Solver = "cholesky"
	rep.Noise, rep.PriorScale = noise, scale
	return state{delta: delta.RawVector().Data, f: &fm, c: scale, sign: -1, rep: rep}, nil
}

// solveParameter solves in parameter space: B = JᵀJ/σ² + I/s = L·Lᵀ,
// δ = B⁻¹·Jᵀ·r/σ², and the covariance factor F = L⁻¹, with
// var(x) = ‖F·J(x)ᵀ‖² = J(x)·B⁻¹·J(x)ᵀ.
func solveParameter(jac *mat.Dense, r []float64, o *Options, rep Report) (state, error) {
	nk, p := jac.Dims()
	var g mat.SymDense
	g.SymOuterK(1, jac.T())
	noise, scale, err := hyperparametersPrimal(&g, jac, r, nk, o, &rep)
	if err != nil {
		return state{}, err
	}
	b := mat.NewSymDense(p, nil)
	b.ScaleSym(1/noise, &g)
	for i := 0; i < p; i++ {
		b.SetSym(i, i, b.At(i, i)+1/scale)
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(b); !ok {
		return state{}, numerical("the precision JᵀJ/σ² + I/s (%d×%d) is not positive definite", p, p)
	}
	var jtr mat.VecDense
	jtr.MulVec(jac.T(), mat.NewVecDense(nk, r))
	jtr.ScaleVec(1/noise, &jtr)
	var delta mat.VecDense
	if err := chol.SolveVecTo(&delta, &jtr); err != nil {
		return state{}, numerical("precision solve: %v", err)
	}
	var l mat.TriDense
	chol.LTo(&l)
	var linv mat.TriDense
	if err := linv.InverseTri(&l); err != nil {
		return state{}, numerical("inverting the Cholesky factor: %v", err)
	}
	rep.Solver = "cholesky"
	rep.Noise, rep.PriorScale = noise, scale
	return state{delta: delta.RawVector().Data, f: mat.DenseCopyOf(&linv), c: 0, sign: 1, rep: rep}, nil
}

// hyperparameters fits σ² and s (those not fixed) from the eigenvalues of
// K₀ = JJᵀ and records the log marginal likelihood.
func hyperparameters(k0 *mat.SymDense, r []float64, nk int, o *Options, rep *Report) (float64, float64, error) {
	var eig mat.EigenSym
	if ok := eig.Factorize(k0, true); !ok {
		return 0, 0, numerical("eigendecomposition of the %d×%d kernel failed", nk, nk)
	}
	var q mat.Dense
	eig.VectorsTo(&q)
	var c mat.VecDense
	c.MulVec(q.T(), mat.NewVecDense(nk, r))
	sp := &spectrum{lam: eig.Values(nil), m: nk}
	for i := 0; i < nk; i++ {
		sp.c2 = append(sp.c2, c.AtVec(i)*c.AtVec(i))
	}
	for _, v := range r {
		sp.rr += v * v
	}
	return finishHyper(sp, o, rep)
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
	if math.IsNaN(lml) || math.IsInf(lml, 0) {
		return 0, 0, numerical("the marginal likelihood is %g at σ²=%g, s=%g", lml, noise, scale)
	}
	rep.NoiseFitted, rep.ScaleFitted = o.Noise <= 0, o.PriorScale <= 0
	rep.LogMarginal = lml
	return noise, scale, nil
}
