package gpadapt

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

// spectrum holds what the log marginal likelihood needs as a function of
// σ² and s, from one eigendecomposition of the Gram matrix (JJᵀ, or JᵀJ
// which shares its nonzero eigenvalues): eigenvalues λ_i, squared
// projections c_i² of the residual on the matching eigenvectors of JJᵀ,
// ‖r‖², and m = nK.
type spectrum struct {
	lam, c2 []float64
	rr      float64
	m       int
}

// logML is log N(r; 0, s·JJᵀ + σ²·I)
//
//	= −½ [ (‖r‖² − Σ c_i²·sλ_i/(sλ_i+σ²))/σ² + Σ log(sλ_i+σ²) + (m − #λ)·log σ² + m·log 2π ].
func (sp *spectrum) logML(noise, scale float64) float64 {
	quad := sp.rr
	logdet := float64(sp.m-len(sp.lam)) * math.Log(noise)
	for i, l := range sp.lam {
		l = max(l, 0)
		d := scale*l + noise
		quad -= sp.c2[i] * scale * l / d
		logdet += math.Log(d)
	}
	return -0.5 * (quad/noise + logdet + float64(sp.m)*math.Log(2*math.Pi))
}

// fit maximizes the log marginal likelihood over the hyperparameters that
// are not fixed (a fixed one is > 0); see maximize.
func (sp *spectrum) fit(noise, scale float64) (float64, float64, float64) {
	// Scales of the problem: the residual's variance and the mean eigenvalue.
	ml := 0.0
	for _, l := range sp.lam {
		ml += max(l, 0)
	}
	return maximize(sp.logML, sp.rr/float64(sp.m), ml/float64(sp.m), noise, scale)
}

// maximize maximizes logML over the hyperparameters that are not fixed
// (a fixed one is > 0), in log space: a coarse grid, then Nelder-Mead
// from its best point. rv (the residual's variance) and ml (the mean
// eigenvalue of JJᵀ) set the grid's centre.
func maximize(logML func(noise, scale float64) float64, rv, ml, noise, scale float64) (float64, float64, float64) {
	fitN, fitS := noise <= 0, scale <= 0
	rv = max(rv, 1e-12)
	ml = max(ml, 1e-12)
	at := func(x []float64) (float64, float64) {
		n, s := noise, scale
		i := 0
		if fitN {
			n = math.Exp(x[i])
			i++
		}
		if fitS {
			s = math.Exp(x[i])
		}
		return n, s
	}
	dim := 0
	if fitN {
		dim++
	}
	if fitS {
		dim++
	}
	if dim == 0 {
		return noise, scale, logML(noise, scale)
	}
	centre := []float64{}
	if fitN {
		centre = append(centre, math.Log(rv))
	}
	if fitS {
		centre = append(centre, math.Log(rv/ml))
	}
	obj := func(x []float64) float64 {
		n, s := at(x)
		if n < 1e-12*rv || n > 1e6*rv || s > 1e12 || s < 1e-12 {
			return math.Inf(1)
		}
		return -logML(n, s)
	}
	// Coarse grid: log-spaced, 10⁻⁶…10² around the centre.
	best := append([]float64(nil), centre...)
	bestF := obj(best)
	steps := []float64{}
	for v := -14.0; v <= 5; v += 1 {
		steps = append(steps, v)
	}
	x := make([]float64, dim)
	var walk func(d int)
	walk = func(d int) {
		if d == dim {
			if f := obj(x); f < bestF {
				bestF = f
				best = append(best[:0], x...)
			}
			return
		}
		for _, s := range steps {
			x[d] = centre[d] + s
			walk(d + 1)
		}
	}
	walk(0)
	res, err := optimize.Minimize(optimize.Problem{Func: obj}, best, &optimize.Settings{Converger: &optimize.FunctionConverge{Absolute: 1e-10, Iterations: 200}}, &optimize.NelderMead{})
	if err == nil && res.F < bestF {
		best = res.X
	}
	n, s := at(best)
	return n, s, logML(n, s)
}
