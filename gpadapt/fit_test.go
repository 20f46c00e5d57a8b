package gpadapt

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"gonum.org/v1/gonum/mat"
)

// problem is a small regression problem: an MLP 2-6-5-2 and targets from
// a shifted function.
func problem(n int) (*autodiff.Graph, *Data, *autodiff.Tensor[float32]) {
	g := testnet.MLP(5, 2, 6, 5, 2)
	x := testnet.Inputs(6, n, 2)
	y := make([][]float64, n)
	for i := range y {
		a, b := float64(x.Data[2*i]), float64(x.Data[2*i+1])
		y[i] = []float64{math.Sin(a) + 0.3*b, math.Cos(b) - 0.2*a}
	}
	return g, &Data{X: x, Y: y}, testnet.Inputs(7, 9, 2)
}

// denseReference computes the posterior with explicit inverses, in
// float64, from the Jacobians of the training and test points.
func denseReference(t *testing.T, g *autodiff.Graph, d *Data, xs *autodiff.Tensor[float32], noise, scale float64) (mean, std []float64, lml float64) {
	return denseReferenceMasked(t, g, d, xs, noise, scale, false)
}

// denseReferenceMasked is denseReference with, when independent, the
// kernel's entries between different outputs set to zero.
func denseReferenceMasked(t *testing.T, g *autodiff.Graph, d *Data, xs *autodiff.Tensor[float32], noise, scale float64, independent bool) (mean, std []float64, lml float64) {
	ctx := context.Background()
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	jacOf := func(x *autodiff.Tensor[float32]) (*mat.Dense, []float64) {
		op, err := fvp.New(ctx, e, autodiff.Convert[float64](x), 4)
		if err != nil {
			t.Fatal(err)
		}
		j, err := op.Jacobian(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return j, op.Outputs()
	}
	j, f := jacOf(d.X)
	js, fs := jacOf(xs)
	nk, _ := j.Dims()
	r := mat.NewVecDense(nk, nil)
	for i, row := range d.Y {
		for k, y := range row {
			r.SetVec(i*len(row)+k, y-f[i*len(row)+k])
		}
	}
	k := len(d.Y[0])
	mask := func(m *mat.Dense) {
		if !independent {
			return
		}
		r, c := m.Dims()
		for i := 0; i < r; i++ {
			for l := 0; l < c; l++ {
				if i%k != l%k {
					m.Set(i, l, 0)
				}
			}
		}
	}
	var a mat.Dense
	a.Mul(j, j.T())
	mask(&a)
	a.Scale(scale, &a)
	for i := 0; i < nk; i++ {
		a.Set(i, i, a.At(i, i)+noise)
	}
	var ainv mat.Dense
	if err := ainv.Inverse(&a); err != nil {
		t.Fatal(err)
	}
	var cross, tmp, m mat.Dense
	cross.Mul(js, j.T()) // J*·Jᵀ
	mask(&cross)
	tmp.Mul(&cross, &ainv)
	var mv mat.VecDense
	mv.MulVec(&tmp, r)
	m.Mul(&tmp, cross.T())
	ms, _ := js.Dims()
	for i := 0; i < ms; i++ {
		mean = append(mean, fs[i]+scale*mv.AtVec(i))
		v := scale*mat.Dot(js.RowView(i), js.RowView(i)) - scale*scale*m.At(i, i)
		std = append(std, math.Sqrt(math.Max(v, 0)))
	}
	var quad mat.VecDense
	quad.MulVec(&ainv, r)
	lml = -0.5 * (mat.Dot(r, &quad) + math.Log(mat.Det(&a)) + float64(nk)*math.Log(2*math.Pi))
	return mean, std, lml
}

func flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// relToMax is max|a−b| / max|b|.
func relToMax(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	return num / den
}

// TestRegressionAgainstDense checks both forms, in float64 and float32
// sweeps, against the dense reference, with σ² and s fixed.
func TestRegressionAgainstDense(t *testing.T) {
	g, d, xs := problem(12) // nK = 24, p = 2·6+6 + 6·5+5 + 5·2+2 = 65
	const noise, scale = 0.05, 0.7
	wantMean, wantStd, wantLML := denseReference(t, g, d, xs, noise, scale)
	for _, method := range []string{"function", "parameter"} {
		for _, f64 := range []bool{true, false} {
			tol := 1e-4
			if !f64 {
				tol = 1e-3
			}
			p, err := Fit(context.Background(), g, d, &Options{Noise: noise, PriorScale: scale, Method: method, Float64: f64, Batch: 5})
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			pred, err := p.Predict(xs)
			if err != nil {
				t.Fatal(err)
			}
			if e := relToMax(flatten(pred.Mean), wantMean); e > tol {
				t.Errorf("%s float64=%v: mean off by %.3g relative to the largest", method, f64, e)
			}
			if e := relToMax(flatten(pred.Std), wantStd); e > tol {
				t.Errorf("%s float64=%v: std off by %.3g relative to the largest", method, f64, e)
			}
			if rep := p.Report(); math.Abs(rep.LogMarginal-wantLML) > 1e-6*math.Abs(wantLML) && f64 {
				t.Errorf("%s: log marginal likelihood %.10g, dense %.10g", method, rep.LogMarginal, wantLML)
			}
		}
	}
}

// TestFittedHyperparametersMaximizeEvidence checks that the fitted σ² and s
// are a maximum of the dense log marginal likelihood, in both forms.
func TestFittedHyperparametersMaximizeEvidence(t *testing.T) {
	g, d, xs := problem(12)
	var fitted [2][2]float64
	for i, method := range []string{"function", "parameter"} {
		p, err := Fit(context.Background(), g, d, &Options{Method: method, Float64: true})
		if err != nil {
			t.Fatal(err)
		}
		rep := p.Report()
		fitted[i] = [2]float64{rep.Noise, rep.PriorScale}
		_, _, best := denseReference(t, g, d, xs, rep.Noise, rep.PriorScale)
		if math.Abs(best-rep.LogMarginal) > 1e-6*math.Abs(best) {
			t.Errorf("%s: reported log marginal %.10g, dense %.10g", method, rep.LogMarginal, best)
		}
		for _, f := range [][2]float64{{1.1, 1}, {0.9, 1}, {1, 1.1}, {1, 0.9}} {
			_, _, other := denseReference(t, g, d, xs, rep.Noise*f[0], rep.PriorScale*f[1])
			if other > best+1e-9*math.Abs(best) {
				t.Errorf("%s: σ²=%g s=%g is not a maximum: %.10g at ×%v gives %.10g", method, rep.Noise, rep.PriorScale, best, f, other)
			}
		}
	}
	for j := range 2 {
		if math.Abs(fitted[0][j]-fitted[1][j]) > 1e-3*fitted[0][j] {
			t.Errorf("function and parameter forms fit different hyperparameters: %v vs %v", fitted[0], fitted[1])
		}
	}
}

// TestSaveLoad checks that a saved and reloaded predictor gives identical
// numbers, and that corrupt files and other models are refused.
func TestSaveLoad(t *testing.T) {
	g, d, xs := problem(10)
	p, err := Fit(context.Background(), g, d, &Options{Noise: 0.1, PriorScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.Meta = map[string]string{"columns": "x0,x1"}
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
	a, _ := p.Predict(xs)
	b, err := q.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) || q.Meta["columns"] != "x0,x1" {
		t.Error("reloaded predictor differs")
	}
	bad := append([]byte(nil), buf.Bytes()...)
	bad[len(bad)/2] ^= 1
	if _, err := Load(bytes.NewReader(bad)); !errors.Is(err, ErrBadFile) {
		t.Errorf("corrupt file: got %v", err)
	}
	if _, err := Load(bytes.NewReader(buf.Bytes()[:buf.Len()-5])); !errors.Is(err, ErrBadFile) {
		t.Errorf("truncated file: got %v", err)
	}
	if _, err := saved.Bind(testnet.MLP(99, 2, 6, 5, 2)); !errors.Is(err, ErrBadFile) {
		t.Errorf("another model: got %v", err)
	}
}

// TestIndependentOutputs checks the independent-outputs option against the
// dense reference with the cross-output kernel entries removed, and that
// it differs from the coupled posterior.
func TestIndependentOutputs(t *testing.T) {
	g, d, xs := problem(12)
	const noise, scale = 0.05, 0.7
	wantMean, wantStd, wantLML := denseReferenceMasked(t, g, d, xs, noise, scale, true)
	coupledMean, _, _ := denseReference(t, g, d, xs, noise, scale)
	p, err := Fit(context.Background(), g, d, &Options{Noise: noise, PriorScale: scale, Independent: true, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	pred, err := p.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	if e := relToMax(flatten(pred.Mean), wantMean); e > 1e-10 {
		t.Errorf("mean off by %.3g", e)
	}
	if e := relToMax(flatten(pred.Std), wantStd); e > 1e-10 {
		t.Errorf("std off by %.3g", e)
	}
	if math.Abs(p.Report().LogMarginal-wantLML) > 1e-8*math.Abs(wantLML) {
		t.Errorf("log marginal %.10g, dense %.10g", p.Report().LogMarginal, wantLML)
	}
	if relToMax(wantMean, coupledMean) < 1e-6 {
		t.Error("the masked reference equals the coupled one: the test cannot tell them apart")
	}
	if _, linear := p.Delta(); linear {
		t.Error("independent outputs reported as f + J·δ")
	}
}

// TestIndependentForm checks that independent outputs take the function
// form where the automatic choice would take the parameter form (p < nK),
// for regression (against the masked dense reference) and classification
// (a different posterior from the coupled one), and that asking for the
// parameter form with them is an error rather than a silent coupling.
func TestIndependentForm(t *testing.T) {
	ctx := context.Background()
	g, d, xs := problem(40) // p = 65 < nK = 80
	const noise, scale = 0.05, 0.7
	p, err := Fit(ctx, g, d, &Options{Noise: noise, PriorScale: scale, Independent: true, Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Report().Method; m != "function" {
		t.Errorf("independent outputs solved in the %s form", m)
	}
	wantMean, _, _ := denseReferenceMasked(t, g, d, xs, noise, scale, true)
	pred, err := p.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	if e := relToMax(flatten(pred.Mean), wantMean); e > 1e-10 {
		t.Errorf("mean off by %.3g", e)
	}
	if _, err := Fit(ctx, g, d, &Options{Noise: noise, PriorScale: scale, Independent: true, Method: "parameter", Float64: true}); err == nil {
		t.Error("independent outputs in the parameter form: no error")
	}

	gc := testnet.MLP(8, 2, 5, 3) // p = 33 < nK = 45
	x := testnet.Inputs(9, 15, 2)
	dc := &Data{X: x}
	for i := range 15 {
		dc.Y = append(dc.Y, []float64{float64(i % 3)})
	}
	probs := map[bool][][]float64{}
	for _, ind := range []bool{false, true} {
		pc, err := Fit(ctx, gc, dc, &Options{Task: Classification, PriorScale: 2, Independent: ind, Float64: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "parameter", true: "function"}[ind]
		if m := pc.Report().Method; m != want {
			t.Errorf("classification, independent=%v: %s form, want %s", ind, m, want)
		}
		pr, err := pc.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		probs[ind] = pr.Probs
	}
	if relToMax(flatten(probs[true]), flatten(probs[false])) < 1e-6 {
		t.Error("independent and coupled classification give the same probabilities")
	}
}
