package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"gonum.org/v1/gonum/mat"
)

// TestClassificationLaplace checks the function-space Laplace against the
// parameter-space conditions it must satisfy: at the mode the gradient of
// the log posterior, Jᵀ(y − π) − δ/s, vanishes, and the logits' covariance
// equals J*·(JᵀWJ + I/s)⁻¹·J*ᵀ.
func TestClassificationLaplace(t *testing.T) {
	ctx := context.Background()
	g := testnet.MLP(8, 2, 5, 3)
	x := testnet.Inputs(9, 15, 2)
	d := &Data{X: x}
	for i := 0; i < 15; i++ {
		a := x.Data[2*i]
		label := 0.0
		switch {
		case a > 0.5:
			label = 2
		case a > -0.5:
			label = 1
		}
		d.Y = append(d.Y, []float64{label})
	}
	const s = 2.0
	p, err := Fit(ctx, g, d, &Options{Task: Classification, PriorScale: s, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := autodiff.NewEngine[float64](g)
	op, _ := fvp.New(ctx, e, autodiff.Convert[float64](x), 4)
	jac, _ := op.Jacobian(ctx)
	f0 := op.Outputs()
	nk, np := jac.Dims()
	delta := mat.NewVecDense(np, p.st.delta)
	var jd mat.VecDense
	jd.MulVec(jac, delta)
	labels := make([]int, 15)
	for i := range labels {
		labels[i] = int(d.Y[i][0])
	}
	probs, grad, _ := softmaxStats(f0, jd.RawVector().Data, labels, 3)
	var gradPost mat.VecDense
	gradPost.MulVec(jac.T(), mat.NewVecDense(nk, grad))
	gradPost.AddScaledVec(&gradPost, -1/s, delta)
	if n := mat.Norm(&gradPost, 2); n > 1e-8*math.Max(1, mat.Norm(delta, 2)) {
		t.Errorf("gradient of the log posterior at the mode has norm %g", n)
	}
	// Posterior precision JᵀWJ + I/s.
	w := blockSqrtHessian(probs, 3)
	wj := w.mulRows(jac)
	var prec mat.SymDense
	prec.SymOuterK(1, wj.T())
	for i := 0; i < np; i++ {
		prec.SetSym(i, i, prec.At(i, i)+1/s)
	}
	var cov mat.Dense
	if err := cov.Inverse(&prec); err != nil {
		t.Fatal(err)
	}
	xs := testnet.Inputs(10, 6, 2)
	ops, _ := fvp.New(ctx, e, autodiff.Convert[float64](xs), 4)
	js, _ := ops.Jacobian(ctx)
	var tmp, pc mat.Dense
	tmp.Mul(js, &cov)
	pc.Mul(&tmp, js.T())
	pred, err := p.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []float64
	for i := range 6 {
		for c := range 3 {
			got = append(got, pred.Std[i][c])
			want = append(want, math.Sqrt(pc.At(3*i+c, 3*i+c)))
		}
		sum := 0.0
		for _, q := range pred.Probs[i] {
			sum += q
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("row %d: probabilities sum to %g", i, sum)
		}
	}
	if e := relToMax(got, want); e > 1e-8 {
		t.Errorf("logit std off by %.3g relative to the largest", e)
	}
}

// TestNewtonLaplaceWarmStart checks that Newton's method started from the
// mode at a neighbouring prior scale reaches the same mode and evidence as
// from the prior mean, in fewer steps.
func TestNewtonLaplaceWarmStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	n, k, q := 40, 3, 25
	nk := n * k
	j := mat.NewDense(nk, q, nil)
	for i := range nk {
		for c := range q {
			j.Set(i, c, rng.NormFloat64())
		}
	}
	k0 := mat.NewSymDense(nk, nil)
	k0.SymOuterK(1, j)
	f0 := make([]float64, nk)
	for i := range f0 {
		f0[i] = 2 * rng.NormFloat64()
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(k)
	}
	from, err := newtonLaplace(k0, 0.3, f0, labels, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := newtonLaplace(k0, 1, f0, labels, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	warm, err := newtonLaplace(k0, 1, f0, labels, k, from)
	if err != nil {
		t.Fatal(err)
	}
	if !cold.converged || !warm.converged {
		t.Fatalf("converged: cold %v, warm %v", cold.converged, warm.converged)
	}
	if e := relToMax(warm.a, cold.a); e > 1e-5 {
		t.Errorf("warm-started mode differs from the cold one by %.3g relative", e)
	}
	if d := math.Abs(warm.evidence - cold.evidence); d > 1e-7*math.Abs(cold.evidence) {
		t.Errorf("evidence %g warm, %g cold", warm.evidence, cold.evidence)
	}
	if warm.iters >= cold.iters {
		t.Errorf("%d Newton steps warm, %d cold: want fewer", warm.iters, cold.iters)
	}
	t.Logf("Newton steps: cold %d, warm %d", cold.iters, warm.iters)
}

// TestLayerwiseScales checks Options.Layerwise: one fitted scale per layer
// of the MLP, an evidence at least that of the common scale, the mode a
// stationary point of the log posterior with those scales, and errors
// where it does not apply.
func TestLayerwiseScales(t *testing.T) {
	g, d, _ := classProblem(40, 3)
	common, err := Fit(context.Background(), g, d, &Options{Task: Classification, Method: "parameter", Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Fit(context.Background(), g, d, &Options{Task: Classification, Method: "parameter", Layerwise: true, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Report()
	if len(rep.LayerScales) != 3 {
		t.Fatalf("%d layer scales, want 3 (one per Gemm): %+v", len(rep.LayerScales), rep.LayerScales)
	}
	t.Logf("scales %+v, evidence %g (common s: %g)", rep.LayerScales, rep.LogMarginal, common.Report().LogMarginal)
	if rep.LogMarginal < common.Report().LogMarginal-1e-9 {
		t.Errorf("layerwise evidence %g below the common scale's %g", rep.LogMarginal, common.Report().LogMarginal)
	}
	// At the mode, Jᵀ(y − π) = P·δ with P = 1/s_l on layer l's entries.
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	op, err := fvp.New(context.Background(), e, autodiff.Convert[float64](d.X), 0)
	if err != nil {
		t.Fatal(err)
	}
	delta, _ := p.Delta()
	jd := make([]float64, op.N()*op.K())
	if err := op.J(context.Background(), jd, delta, 1); err != nil {
		t.Fatal(err)
	}
	labels := make([]int, len(d.Y))
	for i, y := range d.Y {
		labels[i] = int(y[0])
	}
	_, grad, _ := softmaxStats(op.Outputs(), jd, labels, op.K())
	jtg := make([]float64, op.P())
	if err := op.JT(context.Background(), jtg, grad, 1); err != nil {
		t.Fatal(err)
	}
	of, _ := layerGroups(g, g.Params, func(id int) int { return e.Param(id).Len() })
	worst, scale := 0.0, 0.0
	for i, v := range jtg {
		worst = max(worst, math.Abs(v-delta[i]/rep.LayerScales[of[i]].Scale))
		scale = max(scale, math.Abs(v))
	}
	if worst > 1e-6*scale {
		t.Errorf("gradient of the log posterior at the mode: %g (scale %g)", worst, scale)
	}
	for _, o := range []*Options{
		{Task: Regression, Layerwise: true},
		{Task: Classification, Layerwise: true, PriorScale: 1},
		{Task: Classification, Layerwise: true, Method: "function"},
	} {
		if _, err := Fit(context.Background(), g, d, o); err == nil {
			t.Errorf("%+v: no error", *o)
		}
	}
}

// TestPrecisionSingle checks the float32 product of the Laplace precision
// (blocks on and below the diagonal, mirrored) against the float64 one on
// a Jacobian wider than one block: same log-determinant and solves to
// float32 accuracy.
func TestPrecisionSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	n, k, p := 40, 3, 300
	jac := mat.NewDense(n*k, p, nil)
	for i := range n * k {
		for j := range p {
			jac.Set(i, j, float64(float32(rng.NormFloat64())))
		}
	}
	probs := make([]float64, n*k)
	for i := 0; i < n*k; i += k {
		s := 0.0
		for c := range k {
			probs[i+c] = rng.Float64() + 0.05
			s += probs[i+c]
		}
		for c := range k {
			probs[i+c] /= s
		}
	}
	prec := make([]float64, p)
	for i := range prec {
		prec[i] = 0.5 + float64(i%7)
	}
	f64, err := precision(jac, probs, k, prec, false)
	if err != nil {
		t.Fatal(err)
	}
	f32, err := precision(jac, probs, k, prec, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(f32.logDet() - f64.logDet()); d > 1e-5*math.Abs(f64.logDet()) {
		t.Errorf("log det: float32 path %g, float64 %g", f32.logDet(), f64.logDet())
	}
	b := make([]float64, p)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	if e := relToMax(f32.solveVec(b), f64.solveVec(b)); e > 1e-5 {
		t.Errorf("solves differ by %.3g relative to the largest", e)
	}
}

// The two ways of forming the logits' covariance J*·FᵀF·J*ᵀ at test points
// agree: explicit Jacobian rows times F in a GEMM (taken when K is below
// F's row count) and F's rows pushed forward as JVP directions. F is a
// random lower-triangular matrix; the test set spans several of
// addExplicitCov's GEMM blocks.
func TestExplicitCovMatchesJVP(t *testing.T) {
	defer func(v int) { explicitBlockValues = v }(explicitBlockValues)
	ctx := context.Background()
	g := testnet.MLP(3, 2, 6, 4)
	e, _ := autodiff.NewEngine[float64](g)
	x := autodiff.Convert[float64](testnet.Inputs(4, 23, 2))
	op, err := fvp.New(ctx, e, x, 5)
	if err != nil {
		t.Fatal(err)
	}
	p, k, mk := op.P(), op.K(), op.N()*op.K()
	rng := rand.New(rand.NewPCG(5, 6))
	f := mat.NewDense(p, p, nil)
	for i := range p {
		for j := 0; j <= i; j++ {
			f.Set(i, j, rng.NormFloat64())
		}
	}
	for _, block := range []int{1 << 22, 3 * p * k} { // one GEMM; then 3 points per GEMM
		explicitBlockValues = block
		vx, cx := make([]float64, mk), make([]float64, mk*k)
		vj, cj := make([]float64, mk), make([]float64, mk*k)
		if err := addExplicitCov(ctx, op, f, vx, cx); err != nil {
			t.Fatal(err)
		}
		if err := addJVPCov(ctx, op, f, vj, cj); err != nil {
			t.Fatal(err)
		}
		scale := 0.0
		for _, v := range cj {
			scale = max(scale, math.Abs(v))
		}
		for i := range cj {
			if math.Abs(cx[i]-cj[i]) > 1e-12*scale {
				t.Fatalf("block %d: cov[%d] = %g explicit, %g by JVP", block, i, cx[i], cj[i])
			}
		}
		for i := range vj {
			if math.Abs(vx[i]-vj[i]) > 1e-12*scale || vj[i] != cj[(i/k)*k*k+(i%k)*(k+1)] {
				t.Fatalf("block %d: variance[%d] = %g explicit, %g by JVP (cov diagonal %g)", block, i, vx[i], vj[i], cj[(i/k)*k*k+(i%k)*(k+1)])
			}
		}
	}
}
