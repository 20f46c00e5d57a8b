package gpadapt

import (
	"context"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// nystromMaxValues caps the p×ℓ float64 values of a Nyström
// preconditioner's basis (256 MiB; the sketch takes as much again while
// it is built). A variable so that tests can lower it.
var nystromMaxValues = 1 << 25

// nystromMinRank is the smallest rank worth building: below it the
// Jacobi preconditioner is used instead.
const nystromMinRank = 8

// nystrom is the randomized Nyström preconditioner of A + μ·I for a
// positive semidefinite A known only through products (Frangella, Tropp
// and Udell, "Randomized Nyström preconditioning", SIAM J. Matrix Anal.
// Appl. 2023). From a sketch Y = A·Ω with Ω (p×ℓ) orthonormal, and a
// small shift ν for stability, the rank-ℓ approximation
//
//	Â = Y_ν·(Ωᵀ·Y_ν)⁻¹·Y_νᵀ − ν·I ≈ A,   Y_ν = Y + ν·Ω,
//
// is kept as U·Λ·Uᵀ (U p×ℓ orthonormal, Λ ≥ 0 decreasing), and
//
//	P⁻¹ = (λ_ℓ + μ)·U·(Λ + μ·I)⁻¹·Uᵀ + (I − U·Uᵀ).
//
// On the span of U this undoes A + μ·I where Â is exact; on the rest it
// scales by 1, so CG sees the spectrum of A + μ·I with its ℓ largest
// eigenvalues replaced by about λ_ℓ + μ: the condition number falls from
// (λ_1 + μ)/μ to about (λ_ℓ + μ)/μ.
type nystrom struct {
	p   int
	u   []float64 // ℓ rows of length p: the columns of U
	w   []float64 // ℓ weights (λ_ℓ + μ)/(λ_i + μ) − 1
	lam []float64 // Λ, for reports and tests
}

// nystromRank is the rank of the preconditioner for p unknowns and at
// most m nonzero eigenvalues (nK): up to 100, within nystromMaxValues,
// and 0 when that leaves less than nystromMinRank.
func nystromRank(p, m int) int {
	l := min(100, p, m, nystromMaxValues/max(p, 1))
	if l < nystromMinRank {
		return 0
	}
	return l
}

// newNystrom sketches the p×p operator apply (A, positive semidefinite)
// with l orthonormal Gaussian directions drawn from seed, in one block
// product of l vectors, and returns the preconditioner of A + mu·I.
func newNystrom(ctx context.Context, apply blockOp, p, l int, mu float64, seed uint64) (*nystrom, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(p)))
	// Ω's columns, as l rows of length p for the block product.
	om := make([]float64, l*p)
	for i := range om {
		om[i] = rng.NormFloat64()
	}
	if !orthonormalRows(om, l, p) || !orthonormalRows(om, l, p) {
		return nil, numerical("Nyström preconditioner: the random sketch is rank deficient")
	}
	y := make([]float64, l*p)
	if err := apply(ctx, y, om, l); err != nil {
		return nil, err
	}
	nu := math.Sqrt(float64(p)) * 0x1p-52 * math.Sqrt(dot(y, y))
	for i := range y {
		y[i] += nu * om[i]
	}
	// C = Ωᵀ·Y_ν (l×l), symmetrized, = Q·D·Qᵀ. With M = Q·D^(-1/2) over
	// the eigenvalues above the products' rounding (the rest are the
	// null space of A, which float32 products blur), B = Y_ν·M gives
	// B·Bᵀ = Y_ν·C⁺·Y_νᵀ.
	yv := blas64.General{Rows: l, Cols: p, Stride: p, Data: y}
	ov := blas64.General{Rows: l, Cols: p, Stride: p, Data: om}
	c := blas64.General{Rows: l, Cols: l, Stride: l, Data: make([]float64, l*l)}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, ov, yv, 0, c)
	cs := mat.NewSymDense(l, nil)
	for i := range l {
		for j := i; j < l; j++ {
			cs.SetSym(i, j, 0.5*(c.Data[i*l+j]+c.Data[j*l+i]))
		}
	}
	var ce mat.EigenSym
	if !ce.Factorize(cs, true) {
		return nil, numerical("Nyström preconditioner: the eigendecomposition of the sketch's core failed")
	}
	dv := ce.Values(nil)
	var qv mat.Dense
	ce.VectorsTo(&qv)
	var keep []int // C's eigenvalues above its rounding, largest first
	for j := l - 1; j >= 0 && dv[j] > 1e-6*dv[l-1]; j-- {
		keep = append(keep, j)
	}
	r := len(keep)
	if r < nystromMinRank {
		return nil, nil
	}
	mt := mat.NewDense(r, l, nil) // Mᵀ
	for a, j := range keep {
		for i := range l {
			mt.Set(a, i, qv.At(i, j)/math.Sqrt(dv[j]))
		}
	}
	bt := blas64.General{Rows: r, Cols: p, Stride: p, Data: om[:r*p]} // Bᵀ = Mᵀ·Y_νᵀ, over Ω
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, mt.RawMatrix(), yv, 0, bt)
	// BᵀB = V·Σ²·Vᵀ (r×r), then U = B·V·Σ⁻¹: row a of Uᵀ is
	// V[:,j]ᵀ·Bᵀ/σ_j, the columns in decreasing order of σ².
	g := mat.NewSymDense(r, nil)
	blas64.Syrk(blas.NoTrans, 1, bt, 0, g.RawSymmetric())
	var eig mat.EigenSym
	if !eig.Factorize(g, true) {
		return nil, numerical("Nyström preconditioner: the eigendecomposition of the sketch failed")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	vt := mat.NewDense(r, r, nil)
	var lam []float64
	for j := r - 1; j >= 0 && vals[j] > 1e-12*vals[r-1]; j-- {
		a := len(lam)
		for i := range r {
			vt.Set(a, i, vecs.At(i, j)/math.Sqrt(vals[j]))
		}
		lam = append(lam, max(vals[j]-nu, 0))
	}
	q := len(lam)
	if q < nystromMinRank {
		return nil, nil
	}
	n := &nystrom{p: p, u: y[:q*p], w: make([]float64, q), lam: lam} // U over Y_ν
	ut := blas64.General{Rows: q, Cols: p, Stride: p, Data: n.u}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, vt.Slice(0, q, 0, r).(*mat.Dense).RawMatrix(), bt, 0, ut)
	// λ_ℓ + μ, with λ_ℓ = 0 where the sketch found A's rank below ℓ.
	last := mu
	if q == l {
		last += lam[q-1]
	}
	for j := range q {
		n.w[j] = last/(lam[j]+mu) - 1
	}
	return n, nil
}

// apply sets dst = P⁻¹·src = src + U·diag(w)·Uᵀ·src.
func (n *nystrom) apply(dst, src []float64) {
	copy(dst, src)
	for j, w := range n.w {
		u := n.u[j*n.p : (j+1)*n.p]
		axpy(w*dot(u, src), u, dst)
	}
}

// orthonormalRows makes the r rows of length n of a orthonormal in place
// by one Cholesky QR step: with a·aᵀ = L·Lᵀ, a ← L⁻¹·a. One step leaves
// an error that grows with the rows' condition number; a second step (of
// rows that are then nearly orthonormal) takes it to rounding. False when
// the rows are numerically dependent.
func orthonormalRows(a []float64, r, n int) bool {
	ag := blas64.General{Rows: r, Cols: n, Stride: n, Data: a}
	g := mat.NewSymDense(r, nil)
	blas64.Syrk(blas.NoTrans, 1, ag, 0, g.RawSymmetric())
	var chol mat.Cholesky
	if !chol.Factorize(g) {
		return false
	}
	var lt mat.TriDense
	chol.LTo(&lt)
	blas64.Trsm(blas.Left, blas.NoTrans, 1, lt.RawTriangular(), ag)
	return true
}
