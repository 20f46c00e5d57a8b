package gpadapt

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"gonum.org/v1/gonum/mat"
)

// classProblem is a k-class problem on a tanh MLP 2-6-5-k (p = 71 for
// k = 3) with n points labelled by the first input's value.
func classProblem(n, k int) (*autodiff.Graph, *Data, *autodiff.Tensor[float32]) {
	g := testnet.MLP(8, 2, 6, 5, k)
	x := testnet.Inputs(9, n, 2)
	d := &Data{X: x}
	for i := 0; i < n; i++ {
		c := int(math.Floor((float64(x.Data[2*i]) + 1) / 2 * float64(k)))
		d.Y = append(d.Y, []float64{float64(min(max(c, 0), k-1))})
	}
	return g, d, testnet.Inputs(10, 7, 2)
}

// classFit fits with the options and returns the predictor with its
// mean, latent covariance blocks (m×K×K) and probit probabilities at xs.
func classFit(t *testing.T, g *autodiff.Graph, d *Data, xs *autodiff.Tensor[float32], o *Options) (*Predictor, []float64, []float64, [][]float64) {
	t.Helper()
	p, err := Fit(context.Background(), g, d, o)
	if err != nil {
		t.Fatal(err)
	}
	mean, _, cov, _, err := predict(context.Background(), p, p.e64, autodiff.Convert[float64](xs))
	if err != nil {
		t.Fatal(err)
	}
	pred, err := p.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	return p, mean, cov, pred.Probs
}

// TestNewtonCGMatchesDense checks that the matrix-free Newton-CG Laplace
// (chosen by Solver "cg", and automatically once the dense limits are
// lowered below p) finds the MAP, prior scale, evidence and predictive
// distribution of the dense parameter-space Laplace, in float64 sweeps:
// δ, the logits' K×K covariance blocks at test points, and the class
// probabilities within 1e-6 relative to the largest value.
func TestNewtonCGMatchesDense(t *testing.T) {
	g, d, xs := classProblem(20, 3)         // nK = 60, p = 71
	for _, scale := range []float64{2, 0} { // 0: chosen by the evidence
		base := Options{Task: Classification, Method: "parameter", PriorScale: scale, Float64: true, Tol: 1e-11}
		dense := base
		dense.Solver = "direct"
		pd, meanD, covD, probsD := classFit(t, g, d, xs, &dense)
		if pd.st.f == nil || pd.st.lcg != nil {
			t.Fatal("the dense fit did not keep a dense covariance factor")
		}
		for _, how := range []string{"solver cg", "dense limit"} {
			o := base
			if how == "solver cg" {
				o.Solver = "cg"
			} else {
				old := maxDense
				maxDense = 64 // below p = 71 and above nK = 60, so the evidence stays exact
				t.Cleanup(func() { maxDense = old })
			}
			pc, meanC, covC, probsC := classFit(t, g, d, xs, &o)
			if how != "solver cg" {
				maxDense = 20000
			}
			rd, rc := pd.Report(), pc.Report()
			if pc.st.lcg == nil || rc.Solver != "laplace-newton-cg" {
				t.Fatalf("%s s=%g: solver %q, want laplace-newton-cg", how, scale, rc.Solver)
			}
			if rc.PriorScale != rd.PriorScale {
				t.Errorf("%s: prior scale %g, dense %g", how, rc.PriorScale, rd.PriorScale)
			}
			if math.Abs(rc.LogMarginal-rd.LogMarginal) > 1e-6*math.Abs(rd.LogMarginal) {
				t.Errorf("%s s=%g: evidence %.10g, dense %.10g", how, scale, rc.LogMarginal, rd.LogMarginal)
			}
			for _, c := range []struct {
				what      string
				got, want []float64
			}{
				{"MAP δ", pc.st.delta, pd.st.delta},
				{"logit mean", meanC, meanD},
				{"logit covariance", covC, covD},
				{"probabilities", flatten(probsC), flatten(probsD)},
			} {
				e := relToMax(c.got, c.want)
				t.Logf("%s s=%g: %s within %.2g", how, scale, c.what, e)
				if !(e <= 1e-6) {
					t.Errorf("%s s=%g: %s off by %.3g relative to the largest", how, scale, c.what, e)
				}
			}
		}
	}
}

// TestLatentCovariance checks the logits' K×K covariance blocks of every
// posterior form against the dense J*·(JᵀWJ + I/s)⁻¹·J*ᵀ at the mode each
// fit found, and that their diagonals are the reported variances.
func TestLatentCovariance(t *testing.T) {
	ctx := context.Background()
	g, d, xs := classProblem(15, 3)
	const s = 1.5
	for _, c := range []struct {
		method, solver string
		independent    bool
		tol            float64
	}{
		{"function", "", false, 1e-8},
		{"parameter", "direct", false, 1e-8},
		{"parameter", "cg", false, 1e-6},
	} {
		o := &Options{Task: Classification, Method: c.method, Solver: c.solver, PriorScale: s, Float64: true, Tol: 1e-11}
		p, _, cov, _ := classFit(t, g, d, xs, o)
		e, _ := autodiff.NewEngine[float64](g)
		op, _ := fvp.New(ctx, e, autodiff.Convert[float64](d.X), 4)
		jac, _ := op.Jacobian(ctx)
		nk, np := jac.Dims()
		var jd mat.VecDense
		jd.MulVec(jac, mat.NewVecDense(np, p.st.delta))
		labels := make([]int, len(d.Y))
		for i := range labels {
			labels[i] = int(d.Y[i][0])
		}
		probs, _, _ := softmaxStats(op.Outputs(), jd.RawVector().Data, labels, 3)
		wj := blockSqrtHessian(probs, 3).mulRows(jac)
		var prec mat.SymDense
		prec.SymOuterK(1, wj.T())
		for i := 0; i < np; i++ {
			prec.SetSym(i, i, prec.At(i, i)+1/s)
		}
		var sigma mat.Dense
		if err := sigma.Inverse(&prec); err != nil {
			t.Fatal(err)
		}
		ops, _ := fvp.New(ctx, e, autodiff.Convert[float64](xs), 4)
		js, _ := ops.Jacobian(ctx)
		var tmp, pc mat.Dense
		tmp.Mul(js, &sigma)
		pc.Mul(&tmp, js.T())
		m := xs.Shape[0]
		var want []float64
		for i := 0; i < m; i++ {
			for a := 0; a < 3; a++ {
				for b := 0; b < 3; b++ {
					want = append(want, pc.At(3*i+a, 3*i+b))
				}
			}
		}
		if e := relToMax(cov, want); !(e <= c.tol) {
			t.Errorf("%s/%s: covariance blocks off by %.3g relative to the largest", c.method, c.solver, e)
		}
		pred, err := p.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m; i++ {
			for a := 0; a < 3; a++ {
				if v := cov[(i*3+a)*3+a]; math.Abs(math.Sqrt(max(v, 0))-pred.Std[i][a]) > 1e-12*math.Max(1, pred.Std[i][a]) {
					t.Errorf("%s: point %d output %d: block diagonal %g, std² %g", c.method, i, a, v, pred.Std[i][a]*pred.Std[i][a])
				}
			}
		}
		_ = nk
	}
}

// TestNewtonCGSaveLoad checks that a Newton-CG predictor read back from
// its file predicts the same probabilities, by probit and Monte Carlo.
func TestNewtonCGSaveLoad(t *testing.T) {
	g, d, xs := classProblem(12, 3)
	for _, pred := range []string{"probit", "mc"} {
		o := &Options{Task: Classification, Solver: "cg", Method: "parameter", PriorScale: 1, Predictive: pred, MCSamples: 500, Seed: 5}
		p, err := Fit(context.Background(), g, d, o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.Save(&buf); err != nil {
			t.Fatal(err)
		}
		saved, err := Load(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		q, err := saved.Bind(g)
		if err != nil {
			t.Fatal(err)
		}
		got, err := q.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		if e := relToMax(flatten(got.Probs), flatten(want.Probs)); e != 0 {
			t.Errorf("%s: probabilities after Save/Load differ by %.3g", pred, e)
		}
	}
}

// TestNewtonCGEvidenceSLQ checks the Laplace evidence beyond the dense
// limit (nK = 60 > maxDense = 50): it is reported as stochastic Lanczos
// quadrature with a standard error, and it agrees with the dense fit's
// exact evidence at the same prior scale within four standard errors
// (fixed seed, 32 probes): at s = 2, and at the scale it chose itself.
func TestNewtonCGEvidenceSLQ(t *testing.T) {
	g, d, xs := classProblem(20, 3) // nK = 60, p = 71
	for _, scale := range []float64{2, 0} {
		old := maxDense
		maxDense = 50
		o := Options{Task: Classification, Float64: true, Tol: 1e-10, Probes: 32, PriorScale: scale}
		pc, _, _, _ := classFit(t, g, d, xs, &o)
		maxDense = old
		rc := pc.Report()
		if rc.Solver != "laplace-newton-cg" || rc.Evidence != "slq" || !(rc.LogMarginalSE > 0) || rc.ScaleFitted != (scale == 0) {
			t.Fatalf("solver %q, evidence %q ± %g, scale fitted %v; want Newton-CG with SLQ evidence", rc.Solver, rc.Evidence, rc.LogMarginalSE, rc.ScaleFitted)
		}
		dense := Options{Task: Classification, Float64: true, Tol: 1e-10, Method: "parameter", Solver: "direct", PriorScale: rc.PriorScale}
		pd, _, _, _ := classFit(t, g, d, xs, &dense)
		rd := pd.Report()
		t.Logf("s = %g: SLQ evidence %.6g ± %.2g, exact %.6g", rc.PriorScale, rc.LogMarginal, rc.LogMarginalSE, rd.LogMarginal)
		if diff := math.Abs(rc.LogMarginal - rd.LogMarginal); diff > 4*rc.LogMarginalSE+1e-6 {
			t.Errorf("s = %g: SLQ evidence %.8g ± %.2g, exact %.8g: off by %.3g", rc.PriorScale, rc.LogMarginal, rc.LogMarginalSE, rd.LogMarginal, diff)
		}
	}
}

// TestLaplaceLogDetSLQ checks the quadrature against the dense
// log det(I + s·V·K₀·Vᵀ) for random class probabilities, at s = 0.5 and
// 20: within four standard errors with 300 probes (fixed seed), and
// the standard error below a tenth of the value.
func TestLaplaceLogDetSLQ(t *testing.T) {
	ctx := context.Background()
	g, d, _ := classProblem(20, 3)
	e, _ := autodiff.NewEngine[float32](g)
	op, err := fvp.New(ctx, e, d.X, 8)
	if err != nil {
		t.Fatal(err)
	}
	factors, err := op.Factors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cross, err := fvp.Cross(factors, factors)
	if err != nil {
		t.Fatal(err)
	}
	k, nk := 3, 60
	probs := make([]float64, nk)
	for i := 0; i < nk; i += k {
		sum := 0.0
		for c := range k {
			probs[i+c] = math.Exp(math.Sin(float64(7*i + 3*c)))
			sum += probs[i+c]
		}
		for c := range k {
			probs[i+c] /= sum
		}
	}
	v := blockSqrtHessian(probs, k)
	vk := v.mulRows(cross)
	b := v.mulRows(mat.DenseCopyOf(vk.T())) // V·K₀·Vᵀ
	for _, s := range []float64{0.5, 20} {
		a := mat.NewSymDense(nk, nil)
		for i := range nk {
			for j := range nk {
				a.SetSym(i, j, s*0.5*(b.At(i, j)+b.At(j, i)))
			}
			a.SetSym(i, i, a.At(i, i)+1)
		}
		var chol mat.Cholesky
		if !chol.Factorize(a) {
			t.Fatal("I + s·B is not positive definite")
		}
		want := chol.LogDet()
		o := Options{Probes: 300, LanczosSteps: 60, Seed: 3}
		got, se, _, err := laplaceLogDetSLQ(ctx, factors.Float32(), probs, k, s, &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("s = %g: log det %.6g ± %.2g, exact %.6g", s, got, se, want)
		if math.Abs(got-want) > 4*se || !(se < 0.1*want) {
			t.Errorf("s = %g: log det %.6g ± %.2g, exact %.6g", s, got, se, want)
		}
	}
}

// TestIndependentClassification checks the Laplace posterior of
// independent outputs (the kernel masked to its k = k' entries) against
// a dense function-space computation from explicit Jacobians: the mode
// satisfies f̂ = f0 + s·K·a with a = y − π(f̂), and at test points the
// logits' mean f0* + s·K*·a and covariance blocks
// s·K** − s²·(V·K*)ᵀ·(I + s·V·K·Vᵀ)⁻¹·(V·K*), K* = K(X, x*) masked.
func TestIndependentClassification(t *testing.T) {
	ctx := context.Background()
	g, d, xs := classProblem(15, 3)
	const s, k = 1.5, 3
	o := &Options{Task: Classification, Method: "function", PriorScale: s, Independent: true, Float64: true}
	p, mean, cov, _ := classFit(t, g, d, xs, o)
	e, _ := autodiff.NewEngine[float64](g)
	op, _ := fvp.New(ctx, e, autodiff.Convert[float64](d.X), 4)
	ops, _ := fvp.New(ctx, e, autodiff.Convert[float64](xs), 4)
	jac, _ := op.Jacobian(ctx)
	js, _ := ops.Jacobian(ctx)
	masked := func(a, b *mat.Dense) *mat.Dense {
		var m mat.Dense
		m.Mul(a, b.T())
		maskOutputs(&m, k)
		return &m
	}
	kxx, kxs, kss := masked(jac, jac), masked(jac, js), masked(js, js)
	nk, _ := jac.Dims()
	a := p.st.kern.alpha
	if len(a) != nk {
		t.Fatalf("predictor holds %d dual weights, want %d", len(a), nk)
	}
	var ka mat.VecDense
	ka.MulVec(kxx, mat.NewVecDense(nk, a))
	f0 := op.Outputs()
	fhat := make([]float64, nk)
	for i := range fhat {
		fhat[i] = f0[i] + s*ka.AtVec(i)
	}
	labels := make([]int, len(d.Y))
	for i := range labels {
		labels[i] = int(d.Y[i][0])
	}
	probs, grad, _ := softmaxStats(fhat, make([]float64, nk), labels, k)
	if e := relToMax(a, grad); e > 1e-8 {
		t.Errorf("mode condition a = y − π(f0 + s·K·a) off by %.3g", e)
	}
	_, mk := kxs.Dims()
	var kta mat.VecDense
	kta.MulVec(kxs.T(), mat.NewVecDense(nk, a))
	fs := ops.Outputs()
	wantMean := make([]float64, mk)
	for i := range wantMean {
		wantMean[i] = fs[i] + s*kta.AtVec(i)
	}
	if e := relToMax(mean, wantMean); e > 1e-8 {
		t.Errorf("logit means off by %.3g", e)
	}
	v := blockSqrtHessian(probs, k)
	vk := v.mulRows(kxx)
	b := mat.NewSymDense(nk, nil)
	vkv := v.mulRows(mat.DenseCopyOf(vk.T()))
	for i := range nk {
		for j := range nk {
			b.SetSym(i, j, s*0.5*(vkv.At(i, j)+vkv.At(j, i)))
		}
		b.SetSym(i, i, b.At(i, i)+1)
	}
	var chol mat.Cholesky
	if !chol.Factorize(b) {
		t.Fatal("I + s·V·K·Vᵀ is not positive definite")
	}
	vks := v.mulRows(kxs)
	var sol, q mat.Dense
	if err := chol.SolveTo(&sol, vks); err != nil {
		t.Fatal(err)
	}
	q.Mul(vks.T(), &sol)
	var want []float64
	for i := 0; i < mk/k; i++ {
		for x := 0; x < k; x++ {
			for y := 0; y < k; y++ {
				r, c := i*k+x, i*k+y
				want = append(want, s*kss.At(r, c)-s*s*q.At(r, c))
			}
		}
	}
	if e := relToMax(cov, want); e > 1e-8 {
		t.Errorf("covariance blocks off by %.3g relative to the largest", e)
	}
}
