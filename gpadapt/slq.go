package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"
)

// slq is the log marginal likelihood by stochastic Lanczos quadrature
// (Ubaru, Chen & Saad 2017), for every σ² and s from one set of Lanczos
// runs on K₀ = JJᵀ. Krylov spaces are shift- and scale-invariant:
// K_m(s·K₀ + σ²·I, z) = K_m(K₀, z), and the Lanczos tridiagonal of
// s·K₀ + σ²·I is s·T + σ²·I. So with the Gauss rule (θ_i, w_i) of T,
//
//	zᵀ·log(s·K₀ + σ²·I)·z ≈ ‖z‖²·e₁ᵀ·log(s·T + σ²·I)·e₁ = Σ_i w_i·log(s·θ_i + σ²),
//	rᵀ·(s·K₀ + σ²·I)⁻¹·r ≈ Σ_i w_i/(s·θ_i + σ²)   (the run started from r),
//
// and log det A = E[zᵀ·log A·z] for Rademacher probes z (Hutchinson), the
// mean over P probes with standard error sd/√P. Both rules are exact once
// the runs span invariant subspaces (m = nK at most); a run of nK steps
// has found every eigenvalue, and log det A = Σ log(s·θ_i + σ²) is then
// exact (full, standard error 0).
type slq struct {
	data   rule      // from r
	probes []rule    // from each probe
	full   []float64 // K₀'s eigenvalues, when a run found them all
	m      int       // nK
	steps  int       // the longest run
}

// rule is a Gauss quadrature rule: nodes θ_i, weights w_i.
type rule struct{ theta, w []float64 }

// newSLQ runs the Lanczos recurrence on kop (K₀·v) from r and from probes
// Rademacher vectors seeded by seed, steps steps at most, all in lockstep.
func newSLQ(ctx context.Context, kop blockOp, r []float64, probes, steps int, seed uint64) (*slq, error) {
	nk := len(r)
	steps = min(steps, nk)
	z := make([]float64, (probes+1)*nk)
	copy(z, r)
	rng := rand.New(rand.NewPCG(seed, 0x51a9))
	for i := nk; i < len(z); i++ {
		z[i] = 1
		if rng.Uint64()&1 == 0 {
			z[i] = -1
		}
	}
	runs, err := lanczos(ctx, kop, z, probes+1, nk, steps, false)
	if err != nil {
		return nil, err
	}
	q := &slq{m: nk}
	for j, run := range runs {
		theta, w, ok := run.nodes()
		if !ok {
			return nil, numerical("eigendecomposition of a %d×%d Lanczos tridiagonal failed", len(run.alpha), len(run.alpha))
		}
		q.steps = max(q.steps, len(run.alpha))
		if len(run.alpha) == nk && q.full == nil {
			q.full = theta
		}
		if j == 0 {
			q.data = rule{theta, w}
		} else {
			q.probes = append(q.probes, rule{theta, w})
		}
	}
	return q, nil
}

// logdet returns the estimate of log det(s·K₀ + σ²·I) and its standard
// error over the probes.
func (q *slq) logdet(noise, scale float64) (float64, float64) {
	if q.full != nil {
		ld := 0.0
		for _, th := range q.full {
			ld += math.Log(scale*max(th, 0) + noise)
		}
		return ld, 0
	}
	p := len(q.probes)
	est := make([]float64, p)
	mean := 0.0
	for j, pr := range q.probes {
		for i, th := range pr.theta {
			est[j] += pr.w[i] * math.Log(scale*max(th, 0)+noise)
		}
		mean += est[j] / float64(p)
	}
	if p < 2 {
		return mean, math.Inf(1)
	}
	v := 0.0
	for _, e := range est {
		v += (e - mean) * (e - mean)
	}
	return mean, math.Sqrt(v / float64(p-1) / float64(p))
}

// quad returns the estimate of rᵀ(s·K₀ + σ²·I)⁻¹r.
func (q *slq) quad(noise, scale float64) float64 {
	s := 0.0
	for i, th := range q.data.theta {
		s += q.data.w[i] / (scale*max(th, 0) + noise)
	}
	return s
}

// logML is −½(rᵀA⁻¹r + log det A + nK·log 2π) from the two rules.
func (q *slq) logML(noise, scale float64) float64 {
	ld, _ := q.logdet(noise, scale)
	return -0.5 * (q.quad(noise, scale) + ld + float64(q.m)*math.Log(2*math.Pi))
}

// fit maximizes the estimate over the hyperparameters not fixed (see
// maximize); tr is the trace of K₀ (the grid's scale).
func (q *slq) fit(noise, scale, tr float64) (float64, float64, float64) {
	rr := 0.0
	for _, w := range q.data.w {
		rr += w
	}
	return maximize(q.logML, rr/float64(q.m), tr/float64(q.m), noise, scale)
}
