package baseline

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Ridge retrains the last dense layer by ridge regression on its input
// features, shrinking towards the trained weights. With A = [φ(X), 1]
// (n×(d+1), see WithBias) and the residual R = Y − f(X) (n×K) it solves
//
//	Δ = (AᵀA + λI)⁻¹ AᵀR,   mean(x*) = f(x*) + [φ(x*), 1]·Δ,
//
// one column of Δ per output, the intercept penalized like the weights.
// λ is chosen on the grid 10^-6, 10^-5.5, ..., 10^4 by the exact
// leave-one-out error: with the hat value h_i = a_iᵀ(AᵀA + λI)⁻¹a_i the
// leave-one-out residual is (r_i − a_iᵀΔ)/(1 − h_i). The chosen λ's mean
// squared leave-one-out residual, over all n·K entries, is returned as
// noise: an estimate of the predictive variance of y.
//
// phi and f are the features and network outputs of the n training rows,
// y their targets (n×K); phiTest and fTest those of the rows to predict.
func Ridge(phi, f, y, phiTest, fTest [][]float64) (mean [][]float64, noise, lambda float64, err error) {
	if len(phi) == 0 || len(y) != len(phi) || len(f) != len(phi) {
		return nil, 0, 0, fmt.Errorf("ridge: %d feature rows, %d outputs, %d targets: want as many, at least 1", len(phi), len(f), len(y))
	}
	a := mat.NewDense(len(phi), len(phi[0])+1, nil)
	for i, r := range WithBias(phi) {
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
	for i, r := range WithBias(phiTest) {
		mean[i] = make([]float64, k)
		for j := range k {
			mean[i][j] = fTest[i][j] + mat.Dot(mat.NewVecDense(d, r), bestDelta.ColView(j))
		}
	}
	return mean, bestLOO, lambda, nil
}
