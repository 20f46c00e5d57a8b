package gpadapt

import (
	"math"

	"github.com/onnx-adapt/onnx-adapt/simd"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// spdFactor is the Cholesky factor A = UᵀU of a symmetric positive
// definite matrix by simd.Dpotrf, without the condition-number
// estimate that mat.Cholesky.Factorize makes each time (Pocon: as costly
// as the factorization itself on the Laplace systems, which are positive
// definite by construction, I + V·K·Vᵀ or JᵀWJ + P, and are factored
// once per Newton step).
type spdFactor struct {
	u blas64.Triangular
}

// factorSPD factors a in place (its upper triangle; a is not usable
// afterwards). False when a is not numerically positive definite.
func factorSPD(a *mat.SymDense) (*spdFactor, bool) {
	raw := a.RawSymmetric()
	sym := blas64.Symmetric{Uplo: blas.Upper, N: raw.N, Stride: raw.Stride, Data: raw.Data}
	if raw.Uplo != blas.Upper {
		return nil, false
	}
	if !simd.Dpotrf(sym.N, sym.Data, sym.Stride) {
		return nil, false
	}
	return &spdFactor{u: blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: raw.N, Stride: raw.Stride, Data: raw.Data}}, true
}

// solveVec returns A⁻¹·b = U⁻¹·U⁻ᵀ·b, by two triangular solves (Trsv:
// Potrs with one column goes through the matrix routine Trsm, several
// times slower on one vector).
func (f *spdFactor) solveVec(b []float64) []float64 {
	x := append([]float64(nil), b...)
	v := blas64.Vector{N: len(x), Inc: 1, Data: x}
	blas64.Trsv(blas.Trans, f.u, v)
	blas64.Trsv(blas.NoTrans, f.u, v)
	return x
}

// logDet returns log det A = 2·Σ log U_ii.
func (f *spdFactor) logDet() float64 {
	ld := 0.0
	for i := 0; i < f.u.N; i++ {
		ld += 2 * math.Log(f.u.Data[i*f.u.Stride+i])
	}
	return ld
}

// lower returns L = Uᵀ as a new lower-triangular matrix.
func (f *spdFactor) lower() *mat.TriDense {
	n := f.u.N
	l := mat.NewTriDense(n, mat.Lower, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			l.SetTri(j, i, f.u.Data[i*f.u.Stride+j])
		}
	}
	return l
}
