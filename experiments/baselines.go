package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// ridgeLastLayer retrains the last dense layer by ridge regression on its
// input features, shrinking towards the pretrained weights: it fits the
// residual y − f(x) with [φ(x), 1]·Δ and predicts f(x*) + [φ(x*), 1]·Δ.
// The ridge λ is chosen by exact leave-one-out error over a log grid, and
// the leave-one-out mean squared error is returned as the noise variance.
func ridgeLastLayer(phi, f, y, phiTest, fTest [][]float64) (mean [][]float64, noise, lambda float64, err error) {
	a := mat.NewDense(len(phi), len(phi[0])+1, nil)
	for i, r := range withBias(phi) {
		a.SetRow(i, r)
	}
	n, d := a.Dims()
	k := len(y[0])
	res := mat.NewDense(n, k, nil)
	for i := range n {
		for j := range k {
			res.Set(i, j, y[i][j]-f[i][j])
		}
	}
	var ata mat.SymDense
	ata.SymOuterK(1, a.T())
	var atr mat.Dense
	atr.Mul(a.T(), res)
	bestLOO := math.Inf(1)
	var bestDelta *mat.Dense
	for e := -6.0; e <= 4; e += 0.5 {
		lam := math.Pow(10, e)
		m := mat.NewSymDense(d, nil)
		m.CopySym(&ata)
		for i := range d {
			m.SetSym(i, i, m.At(i, i)+lam)
		}
		var ch mat.Cholesky
		if !ch.Factorize(m) {
			continue
		}
		var delta, minvAt mat.Dense
		if err := ch.SolveTo(&delta, &atr); err != nil {
			continue
		}
		if err := ch.SolveTo(&minvAt, a.T()); err != nil {
			continue
		}
		loo := 0.0
		for i := range n {
			h := mat.Dot(a.RowView(i), minvAt.ColView(i))
			for j := range k {
				pred := mat.Dot(a.RowView(i), delta.ColView(j))
				r := (res.At(i, j) - pred) / (1 - h)
				loo += r * r
			}
		}
		loo /= float64(n * k)
		if loo < bestLOO {
			bestLOO, lambda, bestDelta = loo, lam, mat.DenseCopyOf(&delta)
		}
	}
	if bestDelta == nil {
		return nil, 0, 0, fmt.Errorf("ridge: no λ gave a positive-definite system")
	}
	mean = make([][]float64, len(phiTest))
	for i, r := range withBias(phiTest) {
		mean[i] = make([]float64, k)
		for j := range k {
			mean[i][j] = fTest[i][j] + mat.Dot(mat.NewVecDense(d, r), bestDelta.ColView(j))
		}
	}
	return mean, bestLOO, lambda, nil
}

// RBFHyper are the fitted hyperparameters of the RBF GP.
type RBFHyper struct {
	Lengthscales []float64
	Signal       float64 // signal variance
	Noise        float64 // noise variance
	Mean         float64 // constant mean (the targets' average)
	LogML        float64
}

// rbfGP is an exact GP regression with an ARD squared-exponential kernel
// and a constant mean (the training targets' average), one output (K = 1).
type rbfGP struct {
	x     [][]float64
	h     RBFHyper
	chol  mat.Cholesky
	alpha *mat.VecDense
}

func rbfKernel(a, b []float64, ls []float64, sig float64) float64 {
	s := 0.0
	for i := range a {
		d := (a[i] - b[i]) / ls[i]
		s += d * d
	}
	return sig * math.Exp(-0.5*s)
}

// rbfLogML returns the log marginal likelihood and the factorization.
func rbfLogML(x [][]float64, y []float64, h RBFHyper) (float64, *mat.Cholesky, *mat.VecDense, bool) {
	n := len(x)
	kk := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			v := rbfKernel(x[i], x[j], h.Lengthscales, h.Signal)
			if i == j {
				v += h.Noise
			}
			kk.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(kk) {
		return math.Inf(-1), nil, nil, false
	}
	r := mat.NewVecDense(n, nil)
	for i, v := range y {
		r.SetVec(i, v-h.Mean)
	}
	var alpha mat.VecDense
	if err := ch.SolveVecTo(&alpha, r); err != nil {
		return math.Inf(-1), nil, nil, false
	}
	lml := -0.5*mat.Dot(r, &alpha) - 0.5*ch.LogDet() - 0.5*float64(n)*math.Log(2*math.Pi)
	return lml, &ch, &alpha, true
}

// fitRBF maximizes the log marginal likelihood over log lengthscales,
// log signal variance and log noise variance (the noise kept above
// 10⁻⁶·var(y)) with L-BFGS and the analytic gradient
// ∂ log p/∂θ = ½·tr((ααᵀ − K⁻¹)·∂K/∂θ), from several starting points.
func fitRBF(x [][]float64, y []float64, seed uint64) (*rbfGP, error) {
	n, d := len(x), len(x[0])
	mu, vy := 0.0, 0.0
	for _, v := range y {
		mu += v
	}
	mu /= float64(n)
	for _, v := range y {
		vy += (v - mu) * (v - mu)
	}
	vy = max(vy/float64(n), 1e-6)
	floor := 1e-6 * vy
	span := make([]float64, d)
	for j := range d {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := range n {
			lo, hi = math.Min(lo, x[i][j]), math.Max(hi, x[i][j])
		}
		span[j] = max(hi-lo, 1e-3)
	}
	unpack := func(p []float64) RBFHyper {
		h := RBFHyper{Lengthscales: make([]float64, d), Mean: mu}
		for j := range d {
			h.Lengthscales[j] = math.Exp(p[j])
		}
		h.Signal, h.Noise = math.Exp(p[d]), floor+math.Exp(p[d+1])
		return h
	}
	fg := func(grad, p []float64) float64 {
		for _, v := range p {
			if math.IsNaN(v) || math.Abs(v) > 50 {
				return math.Inf(1)
			}
		}
		h := unpack(p)
		lml, ch, alpha, ok := rbfLogML(x, y, h)
		if !ok {
			return math.Inf(1)
		}
		if grad == nil {
			return -lml
		}
		var kinv mat.SymDense
		if err := ch.InverseTo(&kinv); err != nil {
			return math.Inf(1)
		}
		clear(grad)
		for i := range n {
			for k := range n {
				q := alpha.AtVec(i)*alpha.AtVec(k) - kinv.At(i, k)
				kf := rbfKernel(x[i], x[k], h.Lengthscales, h.Signal)
				for j := range d {
					dd := (x[i][j] - x[k][j]) / h.Lengthscales[j]
					grad[j] -= 0.5 * q * kf * dd * dd
				}
				grad[d] -= 0.5 * q * kf
				if i == k {
					grad[d+1] -= 0.5 * q * math.Exp(p[d+1])
				}
			}
		}
		return -lml
	}
	prob := optimize.Problem{
		Func: func(p []float64) float64 { return fg(nil, p) },
		Grad: func(g, p []float64) { fg(g, p) },
	}
	rng := rand.New(rand.NewPCG(seed, 0x7bf))
	var best []float64
	bestF := math.Inf(1)
	for _, start := range [][2]float64{{0.1, 0.01}, {0.3, 0.1}, {1, 0.3}} {
		p := make([]float64, d+2)
		for j := range d {
			p[j] = math.Log(start[0]*span[j]) + 0.05*rng.NormFloat64()
		}
		p[d], p[d+1] = math.Log(vy), math.Log(start[1]*vy)
		res, _ := optimize.Minimize(prob, p, &optimize.Settings{GradientThreshold: 1e-6, MajorIterations: 500}, &optimize.LBFGS{})
		if res != nil && res.F < bestF {
			bestF, best = res.F, res.X
		}
	}
	if best == nil {
		return nil, fmt.Errorf("rbf GP: the marginal likelihood could not be evaluated")
	}
	g := &rbfGP{x: x, h: unpack(best)}
	lml, ch, alpha, ok := rbfLogML(x, y, g.h)
	if !ok {
		return nil, fmt.Errorf("rbf GP: kernel matrix not positive definite")
	}
	g.h.LogML, g.chol, g.alpha = lml, *ch, alpha
	return g, nil
}

// predict returns the predictive mean and the variance of y (latent + noise).
func (g *rbfGP) predict(xs [][]float64) (mean, variance []float64) {
	n := len(g.x)
	ks := mat.NewVecDense(n, nil)
	for _, z := range xs {
		for i := range n {
			ks.SetVec(i, rbfKernel(g.x[i], z, g.h.Lengthscales, g.h.Signal))
		}
		var v mat.VecDense
		_ = g.chol.SolveVecTo(&v, ks)
		mean = append(mean, g.h.Mean+mat.Dot(ks, g.alpha))
		variance = append(variance, math.Max(g.h.Signal-mat.Dot(ks, &v), 1e-12)+g.h.Noise)
	}
	return mean, variance
}

// logisticLastLayer retrains the last layer of a classifier by
// L2-regularized multinomial logistic regression on the penultimate
// features: logits = offset + [φ, 1]·W, W ~ (d+1)×K, penalty ½λ‖W‖²
// added to the mean cross-entropy. With offset = the network's logits
// this shrinks towards the pretrained layer; with offset = nil it is a
// fresh classifier shrunk towards zero. λ is chosen on a random validation
// quarter by its cross-entropy, then the model is refitted on all points.
func logisticLastLayer(phi, offset [][]float64, labels []int, k int, phiTest, offTest [][]float64, seed uint64) (probs [][]float64, lambda float64, err error) {
	rng := rand.New(rand.NewPCG(seed, 0x10c))
	n := len(phi)
	tr, va := split(rng, n, valSize(n))
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
		w, err := fitLogistic(pick(phi, tr), pick(offset, tr), pickL(tr), k, lam)
		if err != nil {
			continue
		}
		p := logisticProbs(w, pick(phi, va), pick(offset, va), k)
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
	w, err := fitLogistic(phi, offset, labels, k, lambda)
	if err != nil {
		return nil, 0, err
	}
	return logisticProbs(w, phiTest, offTest, k), lambda, nil
}

func logisticLogits(w []float64, phi, offset [][]float64, k int) [][]float64 {
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

func logisticProbs(w []float64, phi, offset [][]float64, k int) [][]float64 {
	return softmaxRows(logisticLogits(w, phi, offset, k))
}

func fitLogistic(phi, offset [][]float64, labels []int, k int, lam float64) ([]float64, error) {
	d := len(phi[0]) + 1
	n := float64(len(phi))
	fg := func(grad, w []float64) float64 {
		p := logisticProbs(w, phi, offset, k)
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
