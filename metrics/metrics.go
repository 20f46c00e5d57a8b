// Package metrics scores predictions against targets: RMSE, Gaussian
// negative log likelihood and interval coverage for regression; accuracy,
// categorical negative log likelihood and expected calibration error for
// classification.
//
// Predictions are n rows (one per point) of K values; every score averages
// over all n·K scalar targets (regression) or the n points
// (classification). Functions return an error, never panic, when the
// shapes disagree.
package metrics

import (
	"fmt"
	"math"
)

// Z95 is the standard normal quantile Φ⁻¹(0.975): a central 95% interval
// is mean ± Z95·std.
const Z95 = 1.959963984540054

func checkRows(name string, a, b [][]float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("metrics: %s has %d rows, the targets %d", name, len(a), len(b))
	}
	if len(a) == 0 {
		return fmt.Errorf("metrics: no points")
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return fmt.Errorf("metrics: row %d of %s has %d values, the targets %d", i, name, len(a[i]), len(b[i]))
		}
	}
	return nil
}

// RMSE is the root mean squared error √(mean (y − mean)²) over all entries.
func RMSE(mean, y [][]float64) (float64, error) {
	if err := checkRows("the mean", mean, y); err != nil {
		return 0, err
	}
	s, n := 0.0, 0
	for i := range y {
		for k, v := range y[i] {
			d := v - mean[i][k]
			s += d * d
			n++
		}
	}
	return math.Sqrt(s / float64(n)), nil
}

// GaussianNLL is the mean negative log density of y under independent
// normals N(mean, variance), per scalar target:
// mean over entries of ½·log(2π·var) + (y − mean)²/(2·var).
// A variance that is not positive is an error.
func GaussianNLL(mean, variance, y [][]float64) (float64, error) {
	if err := checkRows("the mean", mean, y); err != nil {
		return 0, err
	}
	if err := checkRows("the variance", variance, y); err != nil {
		return 0, err
	}
	s, n := 0.0, 0
	for i := range y {
		for k, v := range y[i] {
			va := variance[i][k]
			if !(va > 0) || math.IsInf(va, 0) {
				return 0, fmt.Errorf("metrics: variance %v at row %d output %d is not a positive number", va, i, k)
			}
			d := v - mean[i][k]
			s += 0.5*math.Log(2*math.Pi*va) + d*d/(2*va)
			n++
		}
	}
	return s / float64(n), nil
}

// Coverage is the fraction of entries with y inside the central interval
// mean ± z·√variance (z = Z95 for 95%).
func Coverage(mean, variance, y [][]float64, z float64) (float64, error) {
	if err := checkRows("the mean", mean, y); err != nil {
		return 0, err
	}
	if err := checkRows("the variance", variance, y); err != nil {
		return 0, err
	}
	in, n := 0, 0
	for i := range y {
		for k, v := range y[i] {
			if math.Abs(v-mean[i][k]) <= z*math.Sqrt(math.Max(variance[i][k], 0)) {
				in++
			}
			n++
		}
	}
	return float64(in) / float64(n), nil
}

// Softmax returns the row-wise softmax of logits (numerically stable).
func Softmax(logits [][]float64) [][]float64 {
	out := make([][]float64, len(logits))
	for i, row := range logits {
		p := make([]float64, len(row))
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		s := 0.0
		for k, v := range row {
			p[k] = math.Exp(v - m)
			s += p[k]
		}
		for k := range p {
			p[k] /= s
		}
		out[i] = p
	}
	return out
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(p []float64) int {
	best := 0
	for k, v := range p {
		if v > p[best] {
			best = k
		}
	}
	return best
}

func checkLabels(probs [][]float64, labels []int) error {
	if len(probs) != len(labels) {
		return fmt.Errorf("metrics: %d rows of probabilities, %d labels", len(probs), len(labels))
	}
	if len(probs) == 0 {
		return fmt.Errorf("metrics: no points")
	}
	for i, l := range labels {
		if l < 0 || l >= len(probs[i]) {
			return fmt.Errorf("metrics: label %d at row %d is outside the %d classes", l, i, len(probs[i]))
		}
	}
	return nil
}

// Accuracy is the fraction of points whose most probable class is the label.
func Accuracy(probs [][]float64, labels []int) (float64, error) {
	if err := checkLabels(probs, labels); err != nil {
		return 0, err
	}
	c := 0
	for i, p := range probs {
		if Argmax(p) == labels[i] {
			c++
		}
	}
	return float64(c) / float64(len(labels)), nil
}

// MinProb bounds probabilities from below in CategoricalNLL, so a
// confidently wrong point costs at most −log(MinProb) ≈ 690.8 rather than +Inf.
const MinProb = 1e-300

// CategoricalNLL is the mean over points of −log p[label].
func CategoricalNLL(probs [][]float64, labels []int) (float64, error) {
	if err := checkLabels(probs, labels); err != nil {
		return 0, err
	}
	s := 0.0
	for i, p := range probs {
		s -= math.Log(math.Max(p[labels[i]], MinProb))
	}
	return s / float64(len(labels)), nil
}

// ECE is the expected calibration error with equal-width confidence bins:
// each point's confidence is its largest probability, bin b holds the
// confidences in (b/bins, (b+1)/bins] (the first bin also holds 0), and
// ECE = Σ_b (n_b/n)·|accuracy_b − mean confidence_b|.
func ECE(probs [][]float64, labels []int, bins int) (float64, error) {
	if err := checkLabels(probs, labels); err != nil {
		return 0, err
	}
	if bins < 1 {
		return 0, fmt.Errorf("metrics: %d bins", bins)
	}
	cnt := make([]int, bins)
	conf := make([]float64, bins)
	acc := make([]float64, bins)
	for i, p := range probs {
		k := Argmax(p)
		c := p[k]
		b := int(math.Ceil(c*float64(bins))) - 1
		b = min(max(b, 0), bins-1)
		cnt[b]++
		conf[b] += c
		if k == labels[i] {
			acc[b]++
		}
	}
	e := 0.0
	for b := range cnt {
		if cnt[b] > 0 {
			e += math.Abs(acc[b]-conf[b]) / float64(len(labels))
		}
	}
	return e, nil
}

// RegressionScores are the scores of a regression predictor.
type RegressionScores struct {
	RMSE       float64 `json:"rmse"`
	NLL        float64 `json:"nll"`
	Coverage95 float64 `json:"coverage95"`
}

// Regression scores a Gaussian predictive distribution: mean and the
// predictive variance of y (latent variance plus noise).
func Regression(mean, variance, y [][]float64) (RegressionScores, error) {
	var s RegressionScores
	var err error
	if s.RMSE, err = RMSE(mean, y); err != nil {
		return s, err
	}
	if s.NLL, err = GaussianNLL(mean, variance, y); err != nil {
		return s, err
	}
	s.Coverage95, err = Coverage(mean, variance, y, Z95)
	return s, err
}

// ClassificationScores are the scores of a classifier.
type ClassificationScores struct {
	Accuracy float64 `json:"accuracy"`
	NLL      float64 `json:"nll"`
	ECE      float64 `json:"ece"`
}

// Classification scores predictive class probabilities, with ECE over 10 bins.
func Classification(probs [][]float64, labels []int) (ClassificationScores, error) {
	var s ClassificationScores
	var err error
	if s.Accuracy, err = Accuracy(probs, labels); err != nil {
		return s, err
	}
	if s.NLL, err = CategoricalNLL(probs, labels); err != nil {
		return s, err
	}
	s.ECE, err = ECE(probs, labels, 10)
	return s, err
}
