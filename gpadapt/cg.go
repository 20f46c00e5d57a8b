package gpadapt

import (
	"context"
	"math"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
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
	return cgPre(ctx, apply, b, r, n, diagonal(minv), tol, maxIter)
}

// diagonal is the preconditioner dst = diag(minv)·src (nil for nil).
func diagonal(minv []float64) func(dst, src []float64) {
	if minv == nil {
		return nil
	}
	return func(dst, src []float64) {
		for i, v := range src {
			dst[i] = v * minv[i]
		}
	}
}

// cgPre is cg with a general symmetric positive definite preconditioner:
// pre sets dst = M⁻¹·src for one vector (nil for none).
func cgPre(ctx context.Context, apply blockOp, b []float64, r, n int, pre func(dst, src []float64), tol float64, maxIter int) (x []float64, iters int, resid float64, err error) {
	x = make([]float64, r*n)
	res := append([]float64(nil), b...) // residuals b − A·x
	z := make([]float64, r*n)
	p := make([]float64, r*n)
	rz := make([]float64, r)
	bnorm := make([]float64, r)
	done := make([]bool, r)
	precond := func(j int) {
		if pre != nil {
			pre(z[j*n:(j+1)*n], res[j*n:(j+1)*n])
		} else {
			copy(z[j*n:(j+1)*n], res[j*n:(j+1)*n])
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

// fisherProducts are the Jacobian products of the parameter-space
// solvers: by sweeps (*fvp.Op) or from the kernel factors (*fvp.FactorOp,
// half the multiply-adds on dense layers).
type fisherProducts interface {
	P() int
	J(ctx context.Context, dst, v []float64, r int) error
	GaussNewton(ctx context.Context, dst, v []float64, r int) error
	SoftmaxFisher(ctx context.Context, dst, v, probs []float64, r int) error
}

// parameterCG solves the parameter-space system
// (JᵀJ/σ² + I/s)·δ = Jᵀr/σ² by conjugate gradients with Gauss-Newton
// products from the kernel factors (fvp.FactorOp), preconditioned by the
// exact diagonal of the left side, from the same factors.
func parameterCG[T autodiff.Float](ctx context.Context, op *fvp.Op[T], factors *fvp.Factors, r []float64, noise, scale float64, o *Options) ([]float64, int, float64, error) {
	p := op.P()
	diag, err := op.GaussNewtonDiag(factors)
	if err != nil {
		return nil, 0, 0, err
	}
	fo, err := op.FactorOp(factors)
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
		if err := fo.GaussNewton(ctx, dst, src, m); err != nil {
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

// kop sets dst = K₀·src for r vectors from the training factors (the
// kernel of independent outputs when ks.independent).
func (ks *kernelState) kop(ctx context.Context, dst, src []float64, r int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ks.train.MulVec(dst, src, r, ks.independent)
}

// precondRank is the rank of the pivoted Cholesky preconditioner of the
// matrix-free kernel system (a variable so that tests can change it). Its
// columns are cheap (nK·(in + out) per layer against n·in·out for a
// product) and so are its applications (4·nK·k per vector); on the 803k
// ELU MLP with N = 2,000 and σ² = 5.8e-4, rank 1,000 took CG to 1e-6 in 80
// iterations, where rank 100 had not converged in 10 minutes.
var precondRank = 1000

// pivotBlock is how many candidate pivots the preconditioner's columns
// are computed for at once (fvp.Factors32.Columns: one GEMM per layer).
const pivotBlock = 64

// pivotedCholesky is the preconditioner P = s·(L·Lᵀ + D) + σ²·I of
// A = s·K₀ + σ²·I (Harbrecht et al. 2012; Gardner et al. 2018): L
// (nK×k) the partial pivoted Cholesky factor of K₀ — each step takes the
// largest remaining diagonal entry i, l = (K₀[:, i] − L·L[i, :]ᵀ)/√d_i,
// d ← d − l² — and D the remaining diagonal d, so that P is exact on the
// k pivots and Jacobi on the rest. P⁻¹ by Woodbury with E = s·D + σ²·I:
//
//	P⁻¹ = E⁻¹ − E⁻¹·L·(I/s + Lᵀ·E⁻¹·L)⁻¹·Lᵀ·E⁻¹.
//
// The columns come in blocks: the pivotBlock largest entries of d are the
// candidates, their columns of K₀ are computed at once in float32, and
// pivots are taken from them greedily while the best candidate is at
// least the largest d elsewhere, so the pivots are the greedy ones (up to
// float32 rounding, which a preconditioner tolerates: P stays positive
// definite whatever L is, as d is clipped at zero). Pivots stop at
// residuals below 1e-6 of the largest diagonal entry, where float32
// columns are mostly rounding.
type pivotedCholesky struct {
	l    [][]float64 // k columns of nK, rows of lt
	lt   []float64   // Lᵀ, k×nK row-major
	einv []float64
	c    *mat.Cholesky // I/s + Lᵀ·E⁻¹·L
}

func newPivotedCholesky(f *fvp.Factors, f32 *fvp.Factors32, independent bool, rank int, noise, scale float64) (*pivotedCholesky, error) {
	d := f.Diag()
	nk := len(d)
	tr, dmax := 0.0, 0.0
	for _, v := range d {
		tr += v
		dmax = max(dmax, v)
	}
	floor := max(1e-12*tr, 1e-6*dmax)
	if f32 == nil {
		f32 = f.Float32()
	}
	// At most 10⁸ values of L (800 MB): rank 1,000 up to nK = 100,000. (A
	// cap of 3·10⁷ left rank 300 at N = 100,000 on the 803k MLP: residual
	// 0.74 after 20 CG iterations, against 7.2e-3 at rank 1,000.)
	limit := min(rank, nk, max(100, 100_000_000/nk))
	pc := &pivotedCholesky{lt: make([]float64, 0, limit*nk)}
	isCand := make([]bool, nk)
	for len(pc.l) < limit {
		cand := largest(d, min(pivotBlock, limit-len(pc.l)), floor)
		if len(cand) == 0 {
			break
		}
		b, k := len(cand), len(pc.l)
		block := make([]float64, nk*b)
		if err := f32.Columns(block, cand, independent); err != nil {
			return nil, err
		}
		// cols (b×nK): the candidates' columns of K₀ − L·Lᵀ.
		cols := make([]float64, b*nk)
		for r := range nk {
			for j := range b {
				cols[j*nk+r] = block[r*b+j]
			}
		}
		if k > 0 {
			lc := make([]float64, b*k) // L[cand, :]
			for j, c := range cand {
				for a := range k {
					lc[j*k+a] = pc.lt[a*nk+c]
				}
			}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, -1,
				blas64.General{Rows: b, Cols: k, Stride: k, Data: lc},
				blas64.General{Rows: k, Cols: nk, Stride: nk, Data: pc.lt},
				1, blas64.General{Rows: b, Cols: nk, Stride: nk, Data: cols})
		}
		for _, c := range cand {
			isCand[c] = true
		}
		other := 0.0 // the largest d outside the candidates
		for i, v := range d {
			if !isCand[i] {
				other = max(other, v)
			}
		}
		taken := make([]bool, b)
		for range b {
			q := -1
			for j, c := range cand {
				if !taken[j] && (q < 0 || d[c] > d[cand[q]]) {
					q = j
				}
			}
			piv := cand[q]
			if !(d[piv] > floor) || d[piv] < other {
				break
			}
			taken[q] = true
			l := cols[q*nk : (q+1)*nk]
			inv := 1 / math.Sqrt(d[piv])
			other = 0
			for i := range l {
				l[i] *= inv
				d[i] = max(d[i]-l[i]*l[i], 0)
				if !isCand[i] {
					other = max(other, d[i])
				}
			}
			d[piv] = 0
			pc.lt = append(pc.lt, l...)
			for j, c := range cand {
				if !taken[j] {
					axpy(-l[c], l, cols[j*nk:(j+1)*nk])
				}
			}
			pc.l = append(pc.l, pc.lt[len(pc.lt)-nk:])
		}
		for _, c := range cand {
			isCand[c] = false
		}
	}
	pc.einv = make([]float64, nk)
	for i, v := range d {
		pc.einv[i] = 1 / (scale*v + noise)
	}
	// m = I/s + Lᵀ·E⁻¹·L = W·Wᵀ + I/s with W = Lᵀ·E^-½ (k×nK).
	k := len(pc.l)
	m := mat.NewSymDense(max(k, 1), nil)
	if k > 0 {
		w := make([]float64, k*nk)
		for a := range k {
			for i, v := range pc.lt[a*nk : (a+1)*nk] {
				w[a*nk+i] = v * math.Sqrt(pc.einv[i])
			}
		}
		m.SymOuterK(1, mat.NewDense(k, nk, w))
		for a := range k {
			m.SetSym(a, a, m.At(a, a)+1/scale)
		}
	} else {
		m.SetSym(0, 0, 1)
	}
	pc.c = &mat.Cholesky{}
	if !pc.c.Factorize(m) {
		return nil, numerical("the %d×%d pivoted Cholesky preconditioner is not positive definite", k, k)
	}
	return pc, nil
}

// apply sets dst = P⁻¹·src.
func (pc *pivotedCholesky) apply(dst, src []float64) {
	for i, v := range src {
		dst[i] = v * pc.einv[i]
	}
	k, nk := len(pc.l), len(pc.einv)
	if k == 0 {
		return
	}
	lt := blas64.General{Rows: k, Cols: nk, Stride: nk, Data: pc.lt}
	u := mat.NewVecDense(k, nil)
	blas64.Gemv(blas.NoTrans, 1, lt, blas64.Vector{N: nk, Inc: 1, Data: dst}, 0, u.RawVector())
	var w mat.VecDense
	if err := pc.c.SolveVecTo(&w, u); err != nil {
		return // the factor was checked positive definite when built
	}
	z := make([]float64, nk) // L·w
	blas64.Gemv(blas.Trans, 1, lt, w.RawVector(), 0, blas64.Vector{N: nk, Inc: 1, Data: z})
	for i, v := range z {
		dst[i] -= v * pc.einv[i]
	}
}

// single32Products is the multiply-adds of one kernel product above which
// the factors of float32 sweeps multiply in float32 (fvp.Factors32) inside
// a float64 iterative refinement; a variable so that tests can lower it.
var single32Products = 1e8

// prepare builds, once, the preconditioner (for ks.noise and ks.s) and
// the float32 copies of large float32 factors.
func (ks *kernelState) prepare() error {
	ks.once.Do(func() {
		ks.useSingle()
		ks.pre, ks.preErr = newPivotedCholesky(ks.train, ks.f32, ks.independent, ks.rank, ks.noise, ks.s)
	})
	return ks.preErr
}

// useSingle makes the float32 copies of large float32 factors, if not yet.
func (ks *kernelState) useSingle() {
	if ks.f32 == nil && ks.train.Single && ks.train.Work() > single32Products {
		ks.f32 = ks.train.Float32()
	}
}

// kop32 is kop with the float32 products when the factors have them.
func (ks *kernelState) kop32(ctx context.Context, dst, src []float64, r int) error {
	if ks.f32 == nil {
		return ks.kop(ctx, dst, src, r)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return ks.f32.MulVec(dst, src, r, ks.independent)
}

// system returns v ↦ (s·K₀ + σ²·I)·v over the kernel product kop.
func (ks *kernelState) system(kop blockOp) blockOp {
	return func(ctx context.Context, dst, src []float64, m int) error {
		if err := kop(ctx, dst, src, m); err != nil {
			return err
		}
		for i := range dst {
			dst[i] = ks.s*dst[i] + ks.noise*src[i]
		}
		return nil
	}
}

// solve solves (s·K₀ + σ²·I)·x_j = b_j for the r rows of b by block CG,
// preconditioned by the pivoted Cholesky preconditioner of rank ks.rank
// (0: Jacobi). With float32 products (ks.f32) it refines in float64:
// x ← x + A₃₂⁻¹·(b − A·x), each inner solve by CG on the float32 products
// to a relative residual of 1e-4, each residual b − A·x by one float64
// product, until every ‖b_j − A·x_j‖ ≤ tol·‖b_j‖; when a step gains less
// than a factor 2 (the float32 products too coarse for the conditioning
// of A) the remaining steps use float64 products. The iterations are the
// inner ones, the residual the float64 one. Unconverged (relative
// residual > tol after maxIter) is an ErrNumerical error unless ks.accept.
func (ks *kernelState) solve(ctx context.Context, b []float64, r int) ([]float64, int, float64, error) {
	if err := ks.prepare(); err != nil {
		return nil, 0, 0, err
	}
	n := len(ks.pre.einv)
	a64 := ks.system(ks.kop)
	var x []float64
	var iters int
	var resid float64
	var err error
	if ks.f32 == nil {
		x, iters, resid, err = cgPre(ctx, a64, b, r, n, ks.pre.apply, ks.tol, ks.maxIter)
	} else {
		x, iters, resid, err = ks.refine(ctx, a64, b, r, n)
	}
	if err != nil {
		return nil, iters, resid, err
	}
	if resid > ks.tol && !ks.accept {
		return nil, iters, resid, numerical("conjugate gradients on the kernel system stopped after %d iterations at relative residual %.3g > %g; raise the iteration cap, loosen the tolerance, or accept the result with --accept-unconverged", iters, resid, ks.tol)
	}
	return x, iters, resid, nil
}

// refine is solve's mixed-precision iterative refinement.
func (ks *kernelState) refine(ctx context.Context, a64 blockOp, b []float64, r, n int) ([]float64, int, float64, error) {
	inner := ks.system(ks.kop32)
	x := make([]float64, r*n)
	res := append([]float64(nil), b...)
	ax := make([]float64, r*n)
	bnorm := make([]float64, r)
	for j := range r {
		bnorm[j] = math.Sqrt(dot(b[j*n:(j+1)*n], b[j*n:(j+1)*n]))
	}
	iters, prev := 0, math.Inf(1)
	for {
		// The worst relative residual; rows already within tol drop out.
		worst := 0.0
		for j := range r {
			rel := 0.0
			if bnorm[j] > 0 {
				rel = math.Sqrt(dot(res[j*n:(j+1)*n], res[j*n:(j+1)*n])) / bnorm[j]
			}
			worst = max(worst, rel)
			if rel <= ks.tol {
				clear(res[j*n : (j+1)*n])
			}
		}
		if worst <= ks.tol || iters >= ks.maxIter {
			return x, iters, worst, nil
		}
		if worst > 0.5*prev {
			if inner == nil {
				return x, iters, worst, nil // stagnated in float64 too
			}
			inner = nil // float32 products too coarse: float64 from here
		}
		prev = worst
		op := inner
		if op == nil {
			op = a64
		}
		d, it, _, err := cgPre(ctx, op, res, r, n, ks.pre.apply, max(ks.tol, 1e-4), ks.maxIter-iters)
		iters += it
		if err != nil {
			return nil, iters, math.Inf(1), err
		}
		axpy(1, d, x)
		if err := a64(ctx, ax, x, r); err != nil {
			return nil, iters, math.Inf(1), err
		}
		for i := range res {
			res[i] = b[i] - ax[i]
		}
	}
}

// freeBlock bounds the test columns one block CG solve takes.
const freeBlock = 64

// subtractFree subtracts s²·k_jᵀ·A⁻¹·k_j from variance[j] for each column
// k_j of cross = K(X, x) (nK × mK), by block CG over blocks of columns.
func (ks *kernelState) subtractFree(ctx context.Context, cross *mat.Dense, variance []float64) error {
	nk, mk := cross.Dims()
	b := make([]float64, min(freeBlock, mk)*nk)
	for c0 := 0; c0 < mk; c0 += freeBlock {
		r := min(freeBlock, mk-c0)
		for j := range r {
			mat.Col(b[j*nk:(j+1)*nk], c0+j, cross)
		}
		z, _, _, err := ks.solve(ctx, b[:r*nk], r)
		if err != nil {
			return err
		}
		for j := range r {
			variance[c0+j] -= ks.s * ks.s * dot(b[j*nk:(j+1)*nk], z[j*nk:(j+1)*nk])
		}
	}
	return nil
}

// largest returns the indices of the (at most) b largest entries of d
// above floor, largest first.
func largest(d []float64, b int, floor float64) []int {
	var idx []int
	for i, v := range d {
		if v > floor {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, c int) bool { return d[idx[a]] > d[idx[c]] || (d[idx[a]] == d[idx[c]] && idx[a] < idx[c]) })
	return idx[:min(b, len(idx))]
}
