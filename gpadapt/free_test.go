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
	"gonum.org/v1/gonum/mat"
)

func isNumerical(err error) bool { return errors.Is(err, ErrNumerical) }

// kernelProblem returns the float64 kernel factors of d, K₀ from them, and
// the residual r = y − f(X).
func kernelProblem(t *testing.T, g *autodiff.Graph, d *Data) (*fvp.Factors, *mat.SymDense, []float64) {
	ctx := context.Background()
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	active, err := SelectParams(g, "all")
	if err != nil {
		t.Fatal(err)
	}
	e.SetActive(active)
	op, err := fvp.New(ctx, e, autodiff.Convert[float64](d.X), 8)
	if err != nil {
		t.Fatal(err)
	}
	f, k0, err := kernel(ctx, op, false)
	if err != nil {
		t.Fatal(err)
	}
	out := op.Outputs()
	var r []float64
	for i, row := range d.Y {
		for k, y := range row {
			r = append(r, y-out[i*len(row)+k])
		}
	}
	return f, k0, r
}

// exactSpectrum is the eigendecomposition of K₀ with r's projections.
func exactSpectrum(t *testing.T, k0 *mat.SymDense, r []float64) *spectrum {
	var eig mat.EigenSym
	if !eig.Factorize(k0, true) {
		t.Fatal("eigendecomposition failed")
	}
	var q mat.Dense
	eig.VectorsTo(&q)
	var c mat.VecDense
	c.MulVec(q.T(), mat.NewVecDense(len(r), r))
	sp := &spectrum{lam: eig.Values(nil), m: len(r)}
	for i := range r {
		sp.c2 = append(sp.c2, c.AtVec(i)*c.AtVec(i))
		sp.rr += r[i] * r[i]
	}
	return sp
}

// parts returns rᵀA⁻¹r and log det A, A = s·K₀ + σ²·I.
func (sp *spectrum) parts(noise, scale float64) (quad, logdet float64) {
	for i, l := range sp.lam {
		quad += sp.c2[i] / (scale*l + noise)
		logdet += math.Log(scale*l + noise)
	}
	return quad, logdet
}

// forceFree lowers the dense limit so that the test problems take the
// matrix-free path, until the test ends.
func forceFree(t *testing.T, limit int) {
	old := maxDense
	maxDense = limit
	t.Cleanup(func() { maxDense = old })
}

// TestMatrixFreeAgainstDense checks the matrix-free function form (CG on
// the factors' products, CG for the variance) against the dense function
// form, with σ² and s fixed: within 1e-6 relative to the largest value in
// float64 sweeps and 1e-3 in float32, coupled and independent outputs;
// and that a saved and reloaded matrix-free predictor predicts the same
// bits.
func TestMatrixFreeAgainstDense(t *testing.T) {
	g, d, xs := problem(15) // nK = 30
	const noise, scale = 0.05, 0.7
	defer func(r int) { precondRank = r }(precondRank)
	for _, indep := range []bool{false, true} {
		for _, f64 := range []bool{true, false} {
			// Jacobi alone, and a rank-8 pivoted Cholesky preconditioner.
			precondRank = 0
			if f64 {
				precondRank = 8
			}
			o := &Options{Noise: noise, PriorScale: scale, Method: "function", Float64: f64, Batch: 4, Independent: indep, Tol: 1e-12}
			dense, err := Fit(context.Background(), g, d, o)
			if err != nil {
				t.Fatal(err)
			}
			want, err := dense.Predict(xs)
			if err != nil {
				t.Fatal(err)
			}
			forceFree(t, 29)
			free, err := Fit(context.Background(), g, d, o)
			maxDense = 20000
			if err != nil {
				t.Fatal(err)
			}
			rep := free.Report()
			if rep.Solver != "cg" || rep.Iterations == 0 || rep.Residual > 1e-12 || rep.Evidence != "none" {
				t.Errorf("report %+v: want cg, iterations, residual ≤ 1e-12, no evidence", rep)
			}
			got, err := free.Predict(xs)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-6
			if !f64 {
				tol = 1e-3
			}
			if e := relToMax(flatten(got.Mean), flatten(want.Mean)); e > tol {
				t.Errorf("independent=%v float64=%v: mean off by %.3g relative to the largest", indep, f64, e)
			}
			if e := relToMax(flatten(got.Std), flatten(want.Std)); e > tol {
				t.Errorf("independent=%v float64=%v: std off by %.3g relative to the largest", indep, f64, e)
			}
			var buf bytes.Buffer
			if err := free.Save(&buf); err != nil {
				t.Fatal(err)
			}
			saved, err := Load(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			back, err := saved.Bind(g)
			if err != nil {
				t.Fatal(err)
			}
			again, err := back.Predict(xs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("independent=%v float64=%v: predictions differ after Save and Load", indep, f64)
			}
		}
	}
}

// TestMatrixFreeUnconverged checks that a capped CG is an ErrNumerical
// error, and with AcceptUnconverged a result flagged in the Report.
func TestMatrixFreeUnconverged(t *testing.T) {
	g, d, _ := problem(15)
	forceFree(t, 29)
	defer func(r int) { precondRank = r }(precondRank)
	precondRank = 0
	o := &Options{Noise: 1e-4, PriorScale: 1, Method: "function", Float64: true, MaxIter: 2}
	if _, err := Fit(context.Background(), g, d, o); err == nil || !isNumerical(err) {
		t.Fatalf("capped CG: err = %v, want ErrNumerical", err)
	}
	o.AcceptUnconverged = true
	p, err := Fit(context.Background(), g, d, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.Report(); !rep.Unconverged || rep.Iterations != 2 {
		t.Errorf("report %+v: want unconverged after 2 iterations", rep)
	}
}

// TestSLQAgainstExact checks the stochastic Lanczos quadrature of the
// evidence against the exact spectrum of the dense kernel, nK = 60
// (p = 65, so K₀ has full rank):
//   - at full Lanczos depth (60 steps) the data term rᵀA⁻¹r to 1e-8
//     relative, over σ² and s spanning four decades each;
//   - log det A within 3 standard errors (64 probes) at 60 and at 20 steps;
//   - the fitted (σ², s): the exact evidence there within 6 standard
//     errors of its maximum (each estimate is within ~3 SE of the truth at
//     both points, so the SLQ optimum cannot be worse by more than 6 SE),
//     and σ², s within 25% of the exact optimum (measured: a few percent;
//     the Hutchinson error of log det shifts the optimum).
func TestSLQAgainstExact(t *testing.T) {
	ctx := context.Background()
	g, d, _ := problem(30)
	e, k0, r := kernelProblem(t, g, d)
	nk := len(r)
	exact := exactSpectrum(t, k0, r)
	ks := &kernelState{train: e}
	for _, steps := range []int{nk, 20} {
		q, err := newSLQ(ctx, ks.kop, r, 64, steps, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, noise := range []float64{1e-3, 1e-2, 0.1, 1} {
			for _, scale := range []float64{0.01, 0.1, 1, 10} {
				wantQuad, wantLD := exact.parts(noise, scale)
				if steps == nk {
					if got := q.quad(noise, scale); math.Abs(got-wantQuad) > 1e-8*math.Abs(wantQuad) {
						t.Errorf("σ²=%g s=%g: rᵀA⁻¹r = %.12g by quadrature, %.12g exact", noise, scale, got, wantQuad)
					}
				}
				ld, se := q.logdet(noise, scale)
				if math.Abs(ld-wantLD) > 3*se {
					t.Errorf("%d steps, σ²=%g s=%g: log det A = %.6g ± %.2g by SLQ, %.6g exact", steps, noise, scale, ld, se, wantLD)
				}
			}
		}
		if steps != nk {
			continue
		}
		tr := 0.0
		for _, v := range e.Diag() {
			tr += v
		}
		n1, s1, _ := q.fit(0, 0, tr)
		n0, s0, best := exact.fit(0, 0)
		_, se := q.logdet(n1, s1)
		if lost := best - exact.logML(n1, s1); lost > 6*0.5*se {
			t.Errorf("the SLQ optimum σ²=%.4g s=%.4g loses %.3g of exact evidence (SE %.2g) against σ²=%.4g s=%.4g", n1, s1, lost, 0.5*se, n0, s0)
		}
		if math.Abs(n1/n0-1) > 0.25 || math.Abs(s1/s0-1) > 0.25 {
			t.Errorf("SLQ optimum σ²=%.4g s=%.4g, exact σ²=%.4g s=%.4g", n1, s1, n0, s0)
		}
		t.Logf("optimum: SLQ σ²=%.5g s=%.5g, exact σ²=%.5g s=%.5g; evidence lost %.3g (SE %.2g)", n1, s1, n0, s0, best-exact.logML(n1, s1), 0.5*se)
	}
}

// TestMatrixFreeFitsHyperparameters checks Fit's matrix-free path with σ²
// and s fitted by SLQ (64 probes, full depth) against the dense fit: σ²
// and s within 25% (see TestSLQAgainstExact), and the reported evidence
// within 3 of its standard errors of the exact evidence at the reported
// σ² and s (its data term is exact from CG, its log det from SLQ).
func TestMatrixFreeFitsHyperparameters(t *testing.T) {
	g, d, _ := problem(30)
	o := &Options{Method: "function", Float64: true, Probes: 64, LanczosSteps: 60, Tol: 1e-10}
	dense, err := Fit(context.Background(), g, d, o)
	if err != nil {
		t.Fatal(err)
	}
	forceFree(t, 59)
	defer func(r int) { precondRank = r }(precondRank)
	precondRank = 10
	free, err := Fit(context.Background(), g, d, o)
	if err != nil {
		t.Fatal(err)
	}
	rd, rf := dense.Report(), free.Report()
	if rf.Evidence != "slq" || rf.Probes != 64 || rf.LanczosSteps > 60 || rf.LanczosSteps < 1 || !(rf.LogMarginalSE > 0) || !rf.NoiseFitted || !rf.ScaleFitted {
		t.Fatalf("report %+v: want slq evidence, 64 probes, ≤ 60 steps, a standard error, both fitted", rf)
	}
	if math.Abs(rf.Noise/rd.Noise-1) > 0.25 || math.Abs(rf.PriorScale/rd.PriorScale-1) > 0.25 {
		t.Errorf("matrix-free σ²=%.4g s=%.4g, dense σ²=%.4g s=%.4g", rf.Noise, rf.PriorScale, rd.Noise, rd.PriorScale)
	}
	t.Logf("σ²=%.3g s=%.3g: %d CG iterations (rank-10 pivoted Cholesky preconditioner)", rf.Noise, rf.PriorScale, rf.Iterations)
	_, k0, r := kernelProblem(t, g, d)
	want := exactSpectrum(t, k0, r).logML(rf.Noise, rf.PriorScale)
	if math.Abs(rf.LogMarginal-want) > 3*rf.LogMarginalSE {
		t.Errorf("evidence %.6g ± %.2g by SLQ, %.6g exact at the same σ², s", rf.LogMarginal, rf.LogMarginalSE, want)
	}
}

// TestMatrixFreeSingleProducts checks the mixed-precision refinement (the
// float32 products forced on this small problem) against the dense
// function form within 1e-3 (float32 sweeps), at a residual of 1e-10 —
// beyond what float32 products alone reach — and with a noise variance
// small enough (1e-6) that the refinement must fall back to float64
// products.
func TestMatrixFreeSingleProducts(t *testing.T) {
	g, d, xs := problem(15)
	defer func(v float64) { single32Products = v }(single32Products)
	defer func(r int) { precondRank = r }(precondRank)
	precondRank = 4 // CG iterates (a full-rank preconditioner would solve at once)
	for _, noise := range []float64{0.05, 1e-6} {
		o := &Options{Noise: noise, PriorScale: 0.7, Method: "function", Batch: 4, Tol: 1e-10}
		dense, err := Fit(context.Background(), g, d, o)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := dense.Predict(xs)
		forceFree(t, 29)
		single32Products = 0
		free, err := Fit(context.Background(), g, d, o)
		maxDense = 20000
		if err != nil {
			t.Fatalf("σ²=%g: %v", noise, err)
		}
		if free.st.kern.f32 == nil {
			t.Fatal("the float32 products were not used")
		}
		got, err := free.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		rep := free.Report()
		t.Logf("σ²=%g: %d iterations, residual %.3g", noise, rep.Iterations, rep.Residual)
		if rep.Residual > 1e-10 {
			t.Errorf("σ²=%g: residual %.3g", noise, rep.Residual)
		}
		if e := relToMax(flatten(got.Mean), flatten(want.Mean)); e > 1e-3 {
			t.Errorf("σ²=%g: mean off by %.3g", noise, e)
		}
		if e := relToMax(flatten(got.Std), flatten(want.Std)); e > 1e-3 {
			t.Errorf("σ²=%g: std off by %.3g", noise, e)
		}
	}
}

// TestSolverOptions checks the solver options' validation and that
// Solver "direct" refuses what needs the matrix-free path.
func TestSolverOptions(t *testing.T) {
	g, d, _ := problem(5)
	for _, o := range []*Options{{Solver: "fast"}, {Probes: 1}} {
		if _, err := Fit(context.Background(), g, d, o); err == nil {
			t.Errorf("%+v accepted", *o)
		}
	}
	forceFree(t, 9)
	if _, err := Fit(context.Background(), g, d, &Options{Method: "function", Solver: "direct"}); err == nil {
		t.Error("Solver direct beyond the dense limit accepted")
	}
}
