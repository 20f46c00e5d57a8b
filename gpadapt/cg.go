package gpadapt

import (
	"context"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
)

// blockOp sets dst = A·src for r vectors (r rows of length n).
type blockOp func(ctx context.Context, dst, src []float64, r int) error

// cg solves the r systems A·x_j = b_j (rows of the r×n slice b) by
// preconditioned conjugate gradients run in lockstep: one block product
// per iteration covers every system not yet converged. minv is a diagonal
// preconditioner M⁻¹ (nil for none). Each system stops when
// ‖b_j − A·x_j‖ ≤ tol·‖b_j‖; it returns the solutions, the iterations and
// the largest final relative residual. Vectors and reductions are float64,
// whatever the precision of the sweeps behind A.
func cg(ctx context.Context, apply blockOp, b []float64, r, n int, minv []float64, tol float64, maxIter int) (x []float64, iters int, resid float64, err error) {
	x = make([]float64, r*n)
	res := append([]float64(nil), b...) // residuals b − A·x
	z := make([]float64, r*n)
	p := make([]float64, r*n)
	rz := make([]float64, r)
	bnorm := make([]float64, r)
	done := make([]bool, r)
	precond := func(j int) {
		for i := 0; i < n; i++ {
			z[j*n+i] = res[j*n+i]
			if minv != nil {
				z[j*n+i] *= minv[i]
			}
		}
	}
	for j := 0; j < r; j++ {
		bnorm[j] = math.Sqrt(dot(b[j*n:(j+1)*n], b[j*n:(j+1)*n]))
		done[j] = bnorm[j] == 0
		precond(j)
		copy(p[j*n:(j+1)*n], z[j*n:(j+1)*n])
		rz[j] = dot(res[j*n:(j+1)*n], z[j*n:(j+1)*n])
	}
	relres := func(j int) float64 {
		if bnorm[j] == 0 {
			return 0
		}
		v := res[j*n : (j+1)*n]
		return math.Sqrt(dot(v, v)) / bnorm[j]
	}
	var live []int
	src, dst := make([]float64, r*n), make([]float64, r*n)
	for iters = 0; iters < maxIter; iters++ {
		live = live[:0]
		for j := 0; j < r; j++ {
			if !done[j] && relres(j) <= tol {
				done[j] = true
			}
			if !done[j] {
				live = append(live, j)
			}
		}
		if len(live) == 0 {
			break
		}
		for c, j := range live {
			copy(src[c*n:(c+1)*n], p[j*n:(j+1)*n])
		}
		m := len(live)
		if err := apply(ctx, dst[:m*n], src[:m*n], m); err != nil {
			return nil, iters, math.Inf(1), err
		}
		for c, j := range live {
			pj, ap := p[j*n:(j+1)*n], dst[c*n:(c+1)*n]
			pap := dot(pj, ap)
			if !(pap > 0) {
				return nil, iters, math.Inf(1), numerical("conjugate gradients: the operator is not positive definite (pᵀAp = %g)", pap)
			}
			alpha := rz[j] / pap
			xj, rj := x[j*n:(j+1)*n], res[j*n:(j+1)*n]
			for i := range pj {
				xj[i] += alpha * pj[i]
				rj[i] -= alpha * ap[i]
			}
			precond(j)
			next := dot(rj, z[j*n:(j+1)*n])
			beta := next / rz[j]
			rz[j] = next
			zj := z[j*n : (j+1)*n]
			for i := range pj {
				pj[i] = zj[i] + beta*pj[i]
			}
		}
	}
	for j := 0; j < r; j++ {
		resid = max(resid, relres(j))
	}
	return x, iters, resid, nil
}

// parameterCG solves the parameter-space system
// (JᵀJ/σ² + I/s)·δ = Jᵀr/σ² by conjugate gradients with Gauss-Newton
// products (one JVP and one VJP sweep per iteration), preconditioned by
// the exact diagonal of the left side, from the kernel factors.
func parameterCG[T autodiff.Float](ctx context.Context, op *fvp.Op[T], factors *fvp.Factors, r []float64, noise, scale float64, o *Options) ([]float64, int, float64, error) {
	p := op.P()
	diag, err := op.GaussNewtonDiag(factors)
	if err != nil {
		return nil, 0, 0, err
	}
	minv := make([]float64, p)
	for i, d := range diag {
		minv[i] = 1 / (d/noise + 1/scale)
	}
	rhs := make([]float64, p)
	if err := op.JT(ctx, rhs, r, 1); err != nil {
		return nil, 0, 0, err
	}
	for i := range rhs {
		rhs[i] /= noise
	}
	apply := func(ctx context.Context, dst, src []float64, m int) error {
		if err := op.GaussNewton(ctx, dst, src, m); err != nil {
			return err
		}
		for i := range dst {
			dst[i] = dst[i]/noise + src[i]/scale
		}
		return nil
	}
	delta, iters, resid, err := cg(ctx, apply, rhs, 1, p, minv, o.Tol, o.MaxIter)
	if err != nil {
		return nil, iters, resid, err
	}
	if resid > o.Tol && !o.AcceptUnconverged {
		return nil, iters, resid, numerical("conjugate gradients stopped after %d iterations at relative residual %.3g > %g; raise the iteration cap, loosen the tolerance, or accept the result with --accept-unconverged", iters, resid, o.Tol)
	}
	return delta, iters, resid, nil
}
