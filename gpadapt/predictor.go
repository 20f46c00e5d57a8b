package gpadapt

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// Predictor is an adapted network: the base network's outputs corrected by
// the posterior of its linearization, with the latent standard deviation.
type Predictor struct {
	g         *autodiff.Graph
	active    []int
	task      Task
	zeroPrior bool
	batch     int
	float64   bool
	st        state
	e32       *autodiff.Engine[float32]
	e64       *autodiff.Engine[float64]
	// predictive, mcSamples and seed: see SetPredictive (mc.go).
	predictive string
	mcSamples  int
	seed       uint64
	// ModelBytes and Meta are stored by Save and restored by Load, for the
	// caller's use (the CLI keeps the model and the CSV layout there).
	ModelBytes []byte
	Meta       map[string]string
}

func newPredictor(g *autodiff.Graph, active []int, o *Options, st state) (*Predictor, error) {
	p := &Predictor{g: g, active: active, task: o.Task, zeroPrior: o.PriorMean == "zero", batch: o.Batch, float64: o.Float64, st: st}
	if err := p.SetPredictive(o.Predictive, o.MCSamples, o.Seed); err != nil {
		return nil, err
	}
	return p, p.build()
}

func (p *Predictor) build() error {
	var err error
	if p.float64 {
		p.e64, err = autodiff.NewEngine[float64](p.g)
		if err == nil {
			p.e64.SetActive(p.active)
		}
	} else {
		p.e32, err = autodiff.NewEngine[float32](p.g)
		if err == nil {
			p.e32.SetActive(p.active)
		}
	}
	return err
}

// Report says what the fit did.
func (p *Predictor) Report() Report { return p.st.rep }

// Predict returns the predictive distribution at the rows of x.
func (p *Predictor) Predict(x *autodiff.Tensor[float32]) (*Prediction, error) {
	return p.PredictContext(context.Background(), x)
}

// PredictContext is Predict with cancellation.
func (p *Predictor) PredictContext(ctx context.Context, x *autodiff.Tensor[float32]) (*Prediction, error) {
	var mean, variance, cov []float64
	var k int
	var err error
	if p.float64 {
		mean, variance, cov, k, err = predict(ctx, p, p.e64, autodiff.Convert[float64](x))
	} else {
		mean, variance, cov, k, err = predict(ctx, p, p.e32, x)
	}
	if err != nil {
		return nil, err
	}
	m := len(mean) / k
	out := &Prediction{Mean: rows(mean, m, k), Std: make([][]float64, m)}
	for i := range out.Std {
		out.Std[i] = make([]float64, k)
		for j := range k {
			out.Std[i][j] = math.Sqrt(max(variance[i*k+j], 0))
		}
	}
	if p.task == Classification {
		if out.Probs, err = p.classProbs(mean, cov, k, rowKeys(x.Data, m)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Base returns the unadapted network's outputs at the rows of x (m×K).
func (p *Predictor) Base(x *autodiff.Tensor[float32]) ([][]float64, error) {
	var f []float64
	var k int
	if p.float64 {
		op, err := fvp.New(context.Background(), p.e64, autodiff.Convert[float64](x), p.batch)
		if err != nil {
			return nil, err
		}
		f, k = op.Outputs(), op.K()
		op.Release()
	} else {
		op, err := fvp.New(context.Background(), p.e32, x, p.batch)
		if err != nil {
			return nil, err
		}
		f, k = op.Outputs(), op.K()
		op.Release()
	}
	return rows(f, len(f)/k, k), nil
}

// directionBlock bounds how many rows of F one block JVP pushes, and
// predictChunk how many rows of x one pass predicts.
const (
	directionBlock = 128
	predictChunk   = 1024
)

// predict computes the predictive mean and latent variance (see state)
// chunk by chunk over the rows of x.
func predict[T autodiff.Float](ctx context.Context, p *Predictor, e *autodiff.Engine[T], x *autodiff.Tensor[T]) (mean, variance, cov []float64, k int, err error) {
	n := x.Shape[0]
	row := x.Len() / max(n, 1)
	for i0 := 0; i0 < n; i0 += predictChunk {
		i1 := min(n, i0+predictChunk)
		chunk := autodiff.FromData(x.Data[i0*row:i1*row], append([]int{i1 - i0}, x.Shape[1:]...)...)
		m, v, c, kk, err := predictRows(ctx, p, e, chunk)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		mean, variance, cov, k = append(mean, m...), append(variance, v...), append(cov, c...), kk
	}
	return mean, variance, cov, k, nil
}

func predictRows[T autodiff.Float](ctx context.Context, p *Predictor, e *autodiff.Engine[T], x *autodiff.Tensor[T]) (mean, variance, cov []float64, k int, err error) {
	op, err := fvp.New(ctx, e, x, p.batch)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer op.Release() // everything below copies what it keeps
	k = op.K()
	mk := op.N() * k
	if len(p.st.delta) != op.P() {
		return nil, nil, nil, 0, fmt.Errorf("predictor holds %d parameters, the model %d", len(p.st.delta), op.P())
	}
	ks := p.st.kern
	var cross *mat.Dense
	variance = make([]float64, mk)
	if ks != nil {
		test, err := op.Factors(ctx)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		if cross, err = fvp.Cross(ks.train, test); err != nil {
			return nil, nil, nil, 0, err
		}
		if ks.independent {
			maskOutputs(cross, k)
		}
		for i, d := range test.Diag() {
			variance[i] = ks.s * d
		}
		if p.task == Classification { // the logits' K×K blocks (mc.go)
			if cov, err = priorCov(test, ks.s, ks.independent); err != nil {
				return nil, nil, nil, 0, err
			}
		}
	}
	mean = make([]float64, mk)
	if ks != nil && ks.independent {
		// mean = s·K(x, X)·α, output by output.
		var m mat.VecDense
		m.MulVec(cross.T(), mat.NewVecDense(len(ks.alpha), ks.alpha))
		for i := range mean {
			mean[i] = ks.s * m.AtVec(i)
		}
	} else if err := op.J(ctx, mean, p.st.delta, 1); err != nil {
		return nil, nil, nil, 0, err
	}
	if !p.zeroPrior {
		for i, v := range op.Outputs() {
			mean[i] += v
		}
	}
	if ks != nil && ks.free {
		// var −= s²·k(x, X)·A⁻¹·k(X, x), by CG (matrix-free posterior).
		if err := ks.subtractFree(ctx, cross, variance); err != nil {
			return nil, nil, nil, 0, err
		}
		return mean, variance, cov, k, nil
	}
	if ks != nil {
		// var −= ‖L⁻¹·W^½·s·K(X, x)‖² per column.
		if ks.w != nil {
			cross = ks.w.mulRows(cross)
		}
		var sol mat.Dense
		if err := sol.Solve(ks.l, cross); err != nil {
			return nil, nil, nil, 0, numerical("triangular solve: %v", err)
		}
		r, _ := sol.Dims()
		for i := 0; i < r; i++ {
			for j, v := range sol.RawRowView(i) {
				variance[j] -= ks.s * ks.s * v * v
			}
		}
		if cov != nil {
			addOuterBlocks(cov, mat.DenseCopyOf(&sol).RawMatrix().Data, r, mk, k, -ks.s*ks.s)
		}
		return mean, variance, cov, k, nil
	}
	if p.st.lcg != nil { // Newton-CG posterior: block CG (newtoncg.go)
		if cov, err = laplaceCGCov(ctx, p, e, op); err != nil {
			return nil, nil, nil, 0, err
		}
		for j := range variance {
			variance[j] = cov[j*k+j%k]
		}
		return mean, variance, cov, k, nil
	}
	if p.task == Classification {
		cov = make([]float64, mk*k)
	}
	if q, _ := p.st.f.Dims(); k < q {
		if err := addExplicitCov(ctx, op, p.st.f, variance, cov); err != nil {
			return nil, nil, nil, 0, err
		}
		return mean, variance, cov, k, nil
	}
	if err := addJVPCov(ctx, op, p.st.f, variance, cov); err != nil {
		return nil, nil, nil, 0, err
	}
	return mean, variance, cov, k, nil
}

// addJVPCov adds what addExplicitCov adds, U = F·J*ᵀ, by pushing F's
// rows forward as JVP directions, directionBlock at a time: the cheaper
// way when F has fewer rows than the model has outputs.
func addJVPCov[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f *mat.Dense, variance, cov []float64) error {
	mk, k := op.N()*op.K(), op.K()
	q, _ := f.Dims()
	buf := make([]float64, min(directionBlock, q)*mk)
	for q0 := 0; q0 < q; q0 += directionBlock {
		r := min(directionBlock, q-q0)
		flat := mat.DenseCopyOf(f.Slice(q0, q0+r, 0, op.P())).RawMatrix().Data
		u := buf[:r*mk]
		if err := op.J(ctx, u, flat, r); err != nil {
			return err
		}
		for d := 0; d < r; d++ {
			for i, v := range u[d*mk : (d+1)*mk] {
				variance[i] += v * v
			}
		}
		if cov != nil {
			addOuterBlocks(cov, u, r, mk, k, 1)
		}
	}
	return nil
}

// addExplicitCov adds the posterior covariance of the logits J*·FᵀF·J*ᵀ
// (F = L⁻¹, H = L·Lᵀ the posterior precision) to variance (its diagonal)
// and, when not nil, to cov (its K×K blocks): J* row by row from reverse
// sweeps (K one-hot cotangents per example, fvp.Op.EachRows), then
// U = F·J*ᵀ by one GEMM per block of up to explicitBlockValues values. That
// costs about K example sweeps per point, where pushing F's q rows forward
// as JVP directions costs q (= p), so predictRows takes it when K < q: the
// digits CNN (p = 1,434, K = 10) predicts its 500 test points in 0.8 s
// instead of 6.0 s (medians of 3, alternating).
func addExplicitCov[T autodiff.Float](ctx context.Context, op *fvp.Op[T], f *mat.Dense, variance, cov []float64) error {
	k, p := op.K(), op.P()
	per := max(k, explicitBlockValues/max(p, 1)/k*k) // rows per GEMM, whole examples
	q, _ := f.Dims()
	buf := make([]float64, 0, per*p)
	ubuf := make([]float64, q*per)
	start := 0 // the first row held in buf
	flush := func() {
		b := len(buf) / p
		if b == 0 {
			return
		}
		u := ubuf[:q*b] // q×b, rows contiguous as addOuterBlocks reads them
		mat.NewDense(q, b, u).Mul(f, mat.NewDense(b, p, buf).T())
		for d := range q {
			for j, v := range u[d*b : (d+1)*b] {
				variance[start+j] += v * v
			}
		}
		if cov != nil {
			addOuterBlocks(cov[start*k:], u, q, b, k, 1)
		}
		start += b
		buf = buf[:0]
	}
	err := op.EachRows(ctx, func(row0 int, rows *mat.Dense) {
		r, _ := rows.Dims()
		for i := range r {
			if len(buf) == per*p {
				flush()
			}
			buf = append(buf, rows.RawRowView(i)...)
		}
	})
	if err != nil {
		return err
	}
	flush()
	return nil
}

// explicitBlockValues bounds the test Jacobian rows addExplicitCov holds
// at once (values; 32 MiB in float64; a variable so that tests can lower
// it).
var explicitBlockValues = 1 << 22

func rows(flat []float64, m, k int) [][]float64 {
	out := make([][]float64, m)
	for i := range out {
		out[i] = flat[i*k : (i+1)*k : (i+1)*k]
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Graph returns the model the predictor adapts.
func (p *Predictor) Graph() *autodiff.Graph { return p.g }

// Task returns the likelihood the predictor was fitted with.
func (p *Predictor) Task() Task { return p.task }

// Params returns the value ids of the adapted parameters, in the order of
// the flat vectors Delta uses.
func (p *Predictor) Params() []int { return p.active }

// Delta returns δ, the posterior mean shift of the adapted parameters as a
// flat vector (each parameter row-major, in Params order), and whether the
// mean is f(x) + J(x)·δ: false with independent outputs or a zero prior
// mean, where the mean is not that linear form of the network.
func (p *Predictor) Delta() ([]float64, bool) {
	linear := !p.zeroPrior && (p.st.kern == nil || !p.st.kern.independent)
	return p.st.delta, linear
}
