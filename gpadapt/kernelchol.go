package gpadapt

import (
	"math"

	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// kernelFactor is the dense function-space system A = s·K₀ + σ²·I
// factored: L (A = L·Lᵀ), α = A⁻¹·r and log det A.
type kernelFactor struct {
	l      *mat.TriDense
	alpha  []float64
	logDet float64
}

// factorKernel factors A = s·K₀ + σ²·I in the storage of k0, which it
// takes over (k0 must hold both triangles, as fvp.Gram's result does, and
// is not usable afterwards), so the kernel and its factor never coexist:
// A's upper triangle is formed from K₀'s lower one and K₀'s diagonal (kept
// aside) and factored in place as A = UᵀU by simd.Dpotrf (mat.Cholesky's
// U to rounding); a jitter retry (see withJitter) re-forms it from the
// untouched lower triangle. Then α = A⁻¹·r and log det A = 2·Σ log U_ii
// (spdFactor),
// and L = Uᵀ moved into the lower triangle, the upper one zeroed. Like
// mat.Cholesky it estimates A's condition number and reports an
// ill-conditioned system (beyond mat.ConditionTolerance) as ErrNumerical.
func factorKernel(k0 *mat.SymDense, r []float64, noise, scale float64, what string, entry func(i int) string, o *Options, rep *Report) (kernelFactor, error) {
	raw := k0.RawSymmetric()
	n, st, d := raw.N, raw.Stride, raw.Data
	diag := make([]float64, n)
	for i := range diag {
		diag[i] = d[i*st+i]
	}
	fill := func(jitter float64) {
		eachTile(n, func(i, j int) { d[i*st+j] = scale * d[j*st+i] })
		for i, v := range diag {
			d[i*st+i] = scale*v + noise + jitter
		}
	}
	fill(0)
	mean, err := checkSystem(k0, what, entry)
	if err != nil {
		return kernelFactor{}, err
	}
	sym := blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: st, Data: d}
	work := make([]float64, n) // for Lansy's 1-norm
	var norm float64
	err = withJitter(n, mean, what, o, rep, func(jitter float64) bool {
		if jitter != 0 {
			fill(jitter)
		}
		norm = lapack64.Lansy(mat.CondNorm, sym, work)
		return simd.Dpotrf(n, d, st)
	})
	if err != nil {
		return kernelFactor{}, err
	}
	u := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: st, Data: d}
	f := &spdFactor{u: u}
	kf := kernelFactor{alpha: f.solveVec(r), logDet: f.logDet()}
	cond := 1 / rcond(u, norm)
	eachTile(n, func(i, j int) {
		d[j*st+i] = d[i*st+j]
		d[i*st+j] = 0
	})
	kf.l = &mat.TriDense{}
	kf.l.SetRawTriangular(blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: n, Stride: st, Data: d})
	if cond > mat.ConditionTolerance {
		return kf, numerical("kernel solve: %v", mat.Condition(cond))
	}
	return kf, nil
}

// rcond estimates 1/κ₁(A) = 1/(‖A‖₁·‖A⁻¹‖₁) for A = UᵀU, anorm = ‖A‖₁,
// as LAPACK's Dpocon: ‖A⁻¹‖₁ by Hager and Higham's estimator (Dlacn2),
// each of its products A⁻¹·x by the two triangular solves. Dpocon solves
// with Dlatrs, which guards against overflow by scaling and in gonum reads
// U by columns, strided in row-major storage (11 s of a 130 s fit at
// nK = 10,000); here the solves are Dtrsv's, which read U by rows, and a
// solution that overflows all the same gives 0 (an ill-conditioned A), as
// Dpocon's does when the scaling underflows.
func rcond(u blas64.Triangular, anorm float64) float64 {
	n := u.N
	if n == 0 {
		return 1
	}
	if anorm == 0 {
		return 0
	}
	var impl gonum.Implementation
	x, v, isgn := make([]float64, n), make([]float64, n), make([]int, n)
	xv := blas64.Vector{N: n, Inc: 1, Data: x}
	var est float64
	var kase int
	var isave [3]int
	for {
		est, kase = impl.Dlacn2(n, v, x, isgn, est, kase, &isave)
		if kase == 0 {
			if est == 0 {
				return 0
			}
			return (1 / est) / anorm
		}
		// A is symmetric: A⁻¹ and A⁻ᵀ are the same product.
		blas64.Trsv(blas.Trans, u, xv)
		blas64.Trsv(blas.NoTrans, u, xv)
		for _, e := range x {
			if math.IsNaN(e) || math.IsInf(e, 0) {
				return 0
			}
		}
	}
}

// eachTile calls f(i, j) for every i < j < n, in 64×64 tiles, so that
// f may touch (i, j) and (j, i) with locality.
func eachTile(n int, f func(i, j int)) {
	const tile = 64
	for i0 := 0; i0 < n; i0 += tile {
		for j0 := i0; j0 < n; j0 += tile {
			for i := i0; i < min(i0+tile, n); i++ {
				for j := max(j0, i+1); j < min(j0+tile, n); j++ {
					f(i, j)
				}
			}
		}
	}
}
