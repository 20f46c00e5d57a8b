package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

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
