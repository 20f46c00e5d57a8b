package gpadapt

import (
	"context"
	"math"

	"gonum.org/v1/gonum/mat"
)

// krylov is the Lanczos tridiagonal T_m of a symmetric operator A from a
// start vector z: α on the diagonal, β beside it, and ‖z‖ (z itself is
// q₁·‖z‖). Q holds the orthonormal basis q₁…q_m (n each) when kept.
type krylov struct {
	alpha, beta []float64 // m and m−1 values
	norm        float64   // ‖z‖
	q           [][]float64
}

// lanczos runs up to m steps of the Lanczos recurrence on the r start
// vectors z (rows of the r×n slice), in lockstep: one block product per
// step covers every run not yet finished. From q₁ = z/‖z‖, β₀ = 0,
//
//	w_j = A·q_j − β_{j−1}·q_{j−1},   α_j = q_jᵀ·w_j,
//	w_j ← w_j − α_j·q_j,   β_j = ‖w_j‖,   q_{j+1} = w_j/β_j,
//
// so that Qᵀ·A·Q = T (α on the diagonal, β beside it). In floating point
// the q_j lose orthogonality as Ritz values converge (Paige), which
// duplicates eigenvalues of T ("ghosts"); every w_j is therefore
// reorthogonalized in full against the run's earlier basis, twice
// (classical Gram-Schmidt, "twice is enough"), so each run keeps its m
// basis vectors: r·m·n float64 values. A run stops early when
// β_j ≤ 1e-12·max|T| — an invariant subspace: T's eigenvalues are then
// eigenvalues of A, and quadrature on T is exact for the start vector.
// keep returns the bases in the result.
func lanczos(ctx context.Context, apply blockOp, z []float64, r, n, m int, keep bool) ([]krylov, error) {
	out := make([]krylov, r)
	live := make([]bool, r)
	cur := make([][]float64, r) // q_j
	for j := range r {
		zj := z[j*n : (j+1)*n]
		nz := math.Sqrt(dot(zj, zj))
		out[j].norm = nz
		if nz == 0 {
			continue
		}
		q := make([]float64, n)
		for i, v := range zj {
			q[i] = v / nz
		}
		cur[j] = q
		out[j].q = [][]float64{q}
		live[j] = true
	}
	src, dst := make([]float64, r*n), make([]float64, r*n)
	tnorm := make([]float64, r) // max |entry| of T so far
	var ids []int
	for step := 0; step < m; step++ {
		ids = ids[:0]
		for j := range r {
			if live[j] {
				ids = append(ids, j)
			}
		}
		if len(ids) == 0 {
			break
		}
		for c, j := range ids {
			copy(src[c*n:(c+1)*n], cur[j])
		}
		if err := apply(ctx, dst[:len(ids)*n], src[:len(ids)*n], len(ids)); err != nil {
			return nil, err
		}
		for c, j := range ids {
			w := dst[c*n : (c+1)*n]
			t := &out[j]
			q := cur[j]
			if k := len(t.beta); k > 0 {
				axpy(-t.beta[k-1], t.q[len(t.q)-2], w)
			}
			a := dot(q, w)
			axpy(-a, q, w)
			t.alpha = append(t.alpha, a)
			tnorm[j] = max(tnorm[j], math.Abs(a))
			for range 2 {
				for _, b := range t.q {
					axpy(-dot(b, w), b, w)
				}
			}
			b := math.Sqrt(dot(w, w))
			if step == m-1 || b <= 1e-12*max(tnorm[j], 1e-300) || len(t.q) == n {
				live[j] = false
				continue
			}
			t.beta = append(t.beta, b)
			tnorm[j] = max(tnorm[j], b)
			next := make([]float64, n)
			for i, v := range w {
				next[i] = v / b
			}
			t.q = append(t.q, next)
			cur[j] = next
		}
	}
	if !keep {
		for j := range out {
			out[j].q = nil
		}
	}
	return out, nil
}

// nodes returns the Gauss quadrature rule of T: its eigenvalues θ_i and
// the weights ‖z‖²·τ_i², τ_i the first component of the i-th unit
// eigenvector, so that zᵀ·f(A)·z ≈ ‖z‖²·e₁ᵀ·f(T)·e₁ = Σ_i w_i·f(θ_i),
// exact for polynomials f of degree < 2m (and for every f once T spans an
// invariant subspace).
func (t *krylov) nodes() (theta, w []float64, ok bool) {
	m := len(t.alpha)
	if m == 0 {
		return nil, nil, true
	}
	ts := mat.NewSymDense(m, nil)
	for i, a := range t.alpha {
		ts.SetSym(i, i, a)
		if i+1 < m {
			ts.SetSym(i, i+1, t.beta[i])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(ts, true) {
		return nil, nil, false
	}
	var u mat.Dense
	eig.VectorsTo(&u)
	theta = eig.Values(nil)
	w = make([]float64, m)
	for i := range w {
		w[i] = t.norm * t.norm * u.At(0, i) * u.At(0, i)
	}
	return theta, w, true
}

func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}
