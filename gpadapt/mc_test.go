package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// logisticMoments returns E[σ(d)] and E[σ(d)²] for d ~ N(mu, v) by the
// trapezoid rule over ±12 standard deviations (20,001 nodes: the error is
// far below the Monte Carlo error tested against).
func logisticMoments(mu, v float64) (m1, m2 float64) {
	sd := math.Sqrt(v)
	const n = 20000
	h := 24 * sd / n
	for i := 0; i <= n; i++ {
		x := -12*sd + float64(i)*h
		w := h * math.Exp(-x*x/(2*v)) / math.Sqrt(2*math.Pi*v)
		if i == 0 || i == n {
			w /= 2
		}
		s := 1 / (1 + math.Exp(-(mu + x)))
		m1 += w * s
		m2 += w * s * s
	}
	return m1, m2
}

// TestMCAgainstQuadrature checks Monte Carlo over a correlated 2-logit
// Gaussian against E[σ(f₀ − f₁)] by 1-D quadrature, within four standard
// errors of the Monte Carlo mean, and with a singular covariance (f₀ − f₁
// constant) exactly.
func TestMCAgainstQuadrature(t *testing.T) {
	mean := []float64{0.7, -0.4}
	cov := []float64{2.0, 0.6, 0.6, 1.2} // Var(f₀ − f₁) = 2 + 1.2 − 1.2 = 2
	const samples = 200000
	got, err := mcProbs(mean, cov, samples, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	m1, m2 := logisticMoments(mean[0]-mean[1], 2)
	se := math.Sqrt((m2 - m1*m1) / samples)
	if d := math.Abs(got[0] - m1); d > 4*se {
		t.Errorf("Monte Carlo P(class 0) = %.6f, quadrature %.6f: off by %.2g = %.1f standard errors", got[0], m1, d, d/se)
	}
	if math.Abs(got[0]+got[1]-1) > 1e-12 {
		t.Errorf("probabilities sum to %g", got[0]+got[1])
	}
	// The binary probit approximation of the pairwise form is within its
	// known error (about 0.02) of the integral.
	if pw := pairwiseProbit(mean, cov); math.Abs(pw[0]-m1) > 0.02 {
		t.Errorf("pairwise probit %.4f, quadrature %.4f", pw[0], m1)
	}
	// Common variance only: f₀ − f₁ = 1.1 exactly.
	got, err = mcProbs(mean, []float64{1, 1, 1, 1}, 100, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 / (1 + math.Exp(-1.1)); math.Abs(got[0]-want) > 1e-12 {
		t.Errorf("singular covariance: P(class 0) = %.15f, want %.15f", got[0], want)
	}
}

// TestPairwiseProbit checks the pairwise probit approximation: unchanged
// by a common shift of the logits in mean and covariance (which the
// softmax ignores and the marginal probit softmax_c(μ_c/√(1 + π·Σ_cc/8))
// does not), the binary probit for K = 2, and the softmax of the mean
// without variance.
func TestPairwiseProbit(t *testing.T) {
	mean := []float64{1.2, -0.3, 0.4}
	cov := []float64{1.0, 0.2, -0.1, 0.2, 0.5, 0.05, -0.1, 0.05, 0.8}
	want := pairwiseProbit(mean, cov)
	shifted := make([]float64, 3)
	wide := make([]float64, 9)
	for a := range 3 {
		shifted[a] = mean[a] + 5
		for b := range 3 {
			wide[a*3+b] = cov[a*3+b] + 7 // + 7·11ᵀ: every logit moves together
		}
	}
	if e := relToMax(pairwiseProbit(shifted, wide), want); e > 1e-12 {
		t.Errorf("moved by %.3g under a common shift", e)
	}
	sum := 0.0
	for _, q := range want {
		sum += q
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("probabilities sum to %g", sum)
	}
	bin := pairwiseProbit([]float64{0.7, -0.4}, []float64{2, 0.6, 0.6, 1.2})
	if w := 1 / (1 + math.Exp(-1.1/math.Sqrt(1+math.Pi*2/8))); math.Abs(bin[0]-w) > 1e-15 {
		t.Errorf("K = 2: %.17g, binary probit %.17g", bin[0], w)
	}
	soft := pairwiseProbit(mean, make([]float64, 9))
	lse := logSumExp(mean)
	for c := range soft {
		if w := math.Exp(mean[c] - lse); math.Abs(soft[c]-w) > 1e-15 {
			t.Errorf("no variance: class %d %.17g, softmax %.17g", c, soft[c], w)
		}
	}
}

// TestPredictiveMC checks the Monte Carlo predictive of a fitted
// predictor: deterministic for a seed, different for another, and equal to
// the probit approximation and to the softmax of the mean as the posterior
// variance vanishes (s = 1e-12).
func TestPredictiveMC(t *testing.T) {
	g, d, xs := classProblem(15, 3)
	fit := func(s float64, pred string, seed uint64) [][]float64 {
		p, err := Fit(context.Background(), g, d, &Options{Task: Classification, PriorScale: s, Float64: true, Predictive: pred, MCSamples: 300, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		return out.Probs
	}
	a, b, c := fit(1, "mc", 7), fit(1, "mc", 7), fit(1, "mc", 8)
	if e := relToMax(flatten(a), flatten(b)); e != 0 {
		t.Errorf("same seed: probabilities differ by %.3g", e)
	}
	if e := relToMax(flatten(a), flatten(c)); e == 0 {
		t.Error("another seed gave the same probabilities")
	}
	mc, pr := fit(1e-12, "mc", 7), fit(1e-12, "probit", 7)
	if e := relToMax(flatten(mc), flatten(pr)); e > 1e-6 {
		t.Errorf("vanishing variance: Monte Carlo and probit differ by %.3g", e)
	}
	for i, row := range pr {
		sum := 0.0
		for _, q := range row {
			sum += q
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("row %d: probit probabilities sum to %g", i, sum)
		}
	}
	if _, err := Fit(context.Background(), g, d, &Options{Task: Classification, Predictive: "exact"}); err == nil {
		t.Error("unknown predictive accepted")
	}
}

// TestPredictiveMCRowOrder checks that a point's Monte Carlo probabilities
// do not depend on where it stands: the rows predicted in one call, one
// at a time, and in reverse order give the same bits, and the default
// predictive ("") is Monte Carlo.
func TestPredictiveMCRowOrder(t *testing.T) {
	g, d, xs := classProblem(15, 3)
	p, err := Fit(context.Background(), g, d, &Options{Task: Classification, PriorScale: 1, Float64: true, MCSamples: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.predictive != PredictiveMC {
		t.Fatalf("default predictive %q, want %q", p.predictive, PredictiveMC)
	}
	all, err := p.Predict(xs)
	if err != nil {
		t.Fatal(err)
	}
	m := xs.Shape[0]
	w := xs.Len() / m
	rev := autodiff.New[float32](xs.Shape...)
	for i := range m {
		copy(rev.Data[(m-1-i)*w:(m-i)*w], xs.Data[i*w:(i+1)*w])
	}
	back, err := p.Predict(rev)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		one, err := p.Predict(autodiff.FromData(xs.Data[i*w:(i+1)*w], append([]int{1}, xs.Shape[1:]...)...))
		if err != nil {
			t.Fatal(err)
		}
		for c := range all.Probs[i] {
			if one.Probs[0][c] != all.Probs[i][c] || back.Probs[m-1-i][c] != all.Probs[i][c] {
				t.Fatalf("row %d class %d: %.17g in one call, %.17g alone, %.17g reversed", i, c, all.Probs[i][c], one.Probs[0][c], back.Probs[m-1-i][c])
			}
		}
	}
}

// TestPredictiveMAP checks the plug-in predictive: the softmax of the
// predictor's mean logits, equal to Monte Carlo as the posterior variance
// vanishes, and different from it (less spread out) otherwise.
func TestPredictiveMAP(t *testing.T) {
	g, d, xs := classProblem(15, 3)
	fit := func(s float64, pred string) *Prediction {
		p, err := Fit(context.Background(), g, d, &Options{Task: Classification, PriorScale: s, Float64: true, Predictive: pred, MCSamples: 300, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Predict(xs)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	m := fit(1, "map")
	want := metrics.Softmax(m.Mean)
	if e := relToMax(flatten(m.Probs), flatten(want)); e > 1e-15 {
		t.Errorf("map probabilities differ from the softmax of the mean by %.3g", e)
	}
	mc := fit(1, "mc")
	if e := relToMax(flatten(m.Probs), flatten(mc.Probs)); e < 1e-3 {
		t.Errorf("map and Monte Carlo agree to %.3g with a posterior of s = 1", e)
	}
	if e := relToMax(flatten(fit(1e-12, "map").Probs), flatten(fit(1e-12, "mc").Probs)); e > 1e-6 {
		t.Errorf("vanishing variance: map and Monte Carlo differ by %.3g", e)
	}
}
