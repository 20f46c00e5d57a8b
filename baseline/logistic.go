package baseline

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/optimize"

	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// Logistic retrains the last layer of a classifier by L2-regularized
// multinomial logistic regression on its input features:
//
//	logits(x) = offset(x) + [φ(x), 1]·W,   W (d+1)×K,
//	minimize  −(1/n)·Σ_i log softmax(logits(x_i))[label_i] + ½λ‖W‖²
//
// (see FitLogistic). With offset = the network's logits this shrinks
// towards the trained layer; with offset = nil it is a fresh classifier
// shrunk towards zero. λ is chosen from 10^-5, 10^-4, ..., 10^1 by the
// summed cross-entropy on a random validation quarter of the points
// (ValidationSplit, drawn from seed), after fitting on the other three
// quarters; the model is then refitted on all points with that λ.
// It returns the class probabilities softmax(logits) of the test rows
// (phiTest, offTest; offTest nil when offset is) and the chosen λ.
func Logistic(phi, offset [][]float64, labels []int, k int, phiTest, offTest [][]float64, seed uint64) (probs [][]float64, lambda float64, err error) {
	n := len(phi)
	if n < 3 || len(labels) != n {
		return nil, 0, fmt.Errorf("logistic regression: %d feature rows and %d labels: want as many, at least 3", n, len(labels))
	}
	rng := rand.New(rand.NewPCG(seed, 0x10c))
	tr, va := ValidationSplit(rng, n)
	pick := func(m [][]float64, idx []int) [][]float64 {
		if m == nil {
			return nil
		}
		out := make([][]float64, len(idx))
		for i, j := range idx {
			out[i] = m[j]
		}
		return out
	}
	pickL := func(idx []int) []int {
		out := make([]int, len(idx))
		for i, j := range idx {
			out[i] = labels[j]
		}
		return out
	}
	bestNLL := math.Inf(1)
	for e := -5.0; e <= 1; e++ {
		lam := math.Pow(10, e)
		w, err := FitLogistic(pick(phi, tr), pick(offset, tr), pickL(tr), k, lam)
		if err != nil {
			continue
		}
		p := LogisticProbs(w, pick(phi, va), pick(offset, va), k)
		nll := 0.0
		for i, l := range pickL(va) {
			nll -= math.Log(math.Max(p[i][l], 1e-300))
		}
		if nll < bestNLL {
			bestNLL, lambda = nll, lam
		}
	}
	if math.IsInf(bestNLL, 1) {
		return nil, 0, fmt.Errorf("logistic regression failed for every λ")
	}
	w, err := FitLogistic(phi, offset, labels, k, lambda)
	if err != nil {
		return nil, 0, err
	}
	return LogisticProbs(w, phiTest, offTest, k), lambda, nil
}

// LogisticLogits returns the logits offset(x) + [φ(x), 1]·W of each row of
// phi. W is stored class by class: w[(d+1)·c + j] is the weight of feature
// j for class c, w[(d+1)·c + d] its intercept (d = len(phi[0])). offset
// may be nil (zero).
func LogisticLogits(w []float64, phi, offset [][]float64, k int) [][]float64 {
	d := len(phi[0]) + 1
	out := make([][]float64, len(phi))
	for i, r := range phi {
		z := make([]float64, k)
		for c := range k {
			s := w[d*c+d-1]
			for j, v := range r {
				s += w[d*c+j] * v
			}
			if offset != nil {
				s += offset[i][c]
			}
			z[c] = s
		}
		out[i] = z
	}
	return out
}

// LogisticProbs returns the class probabilities softmax(LogisticLogits)
// of each row.
func LogisticProbs(w []float64, phi, offset [][]float64, k int) [][]float64 {
	return metrics.Softmax(LogisticLogits(w, phi, offset, k))
}

// FitLogistic minimizes the mean cross-entropy plus ½·lam·‖W‖² over W
// (laid out as in LogisticLogits; the intercepts are penalized too) by
// L-BFGS from W = 0, with the analytic gradient
// (1/n)·Σ_i (p_i − e_{label_i}) ⊗ [φ_i, 1] + lam·W, until every gradient
// entry is below 10⁻⁷ in size or after 1000 iterations. It returns W.
func FitLogistic(phi, offset [][]float64, labels []int, k int, lam float64) ([]float64, error) {
	d := len(phi[0]) + 1
	n := float64(len(phi))
	fg := func(grad, w []float64) float64 {
		p := LogisticProbs(w, phi, offset, k)
		f := 0.0
		if grad != nil {
			clear(grad)
		}
		for i, r := range phi {
			f -= math.Log(math.Max(p[i][labels[i]], 1e-300)) / n
			if grad == nil {
				continue
			}
			for c := range k {
				g := p[i][c]
				if c == labels[i] {
					g--
				}
				g /= n
				for j, v := range r {
					grad[d*c+j] += g * v
				}
				grad[d*c+d-1] += g
			}
		}
		for i, v := range w {
			f += 0.5 * lam * v * v
			if grad != nil {
				grad[i] += lam * v
			}
		}
		return f
	}
	prob := optimize.Problem{
		Func: func(w []float64) float64 { return fg(nil, w) },
		Grad: func(grad, w []float64) { fg(grad, w) },
	}
	res, err := optimize.Minimize(prob, make([]float64, d*k), &optimize.Settings{GradientThreshold: 1e-7, MajorIterations: 1000}, &optimize.LBFGS{})
	if res == nil {
		return nil, err
	}
	return res.X, nil
}
