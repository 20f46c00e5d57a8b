package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDgemm checks Dgemm against a naive loop within 2·(k+3)·u64·Σ|alpha·a·b| + |beta·c|.
func TestDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for it := 0; it < 300; it++ {
		tr := transCombos[it%4]
		m, n, k := rng.IntN(40), rng.IntN(40), rng.IntN(300)
		if it%50 == 0 {
			m, n, k = 100+rng.IntN(100), 100+rng.IntN(100), 260+rng.IntN(100)
		}
		g := randCase(rng, tr[0], tr[1], m, n, k)
		ra, ca, rb, cb := g.dims()
		mat := func(r, c, ld int) []float64 {
			s := make([]float64, max(0, (r-1)*ld+c)+guard)
			for i := range s {
				s[i] = rng.NormFloat64()
			}
			return s
		}
		a, b, c := mat(ra, ca, g.lda), mat(rb, cb, g.ldb), mat(m, n, g.ldc)
		c0 := append([]float64(nil), c...)
		alpha, beta := float64(g.alpha), float64(g.beta)
		Dgemm(g.transA, g.transB, m, n, k, alpha, a, g.lda, b, g.ldb, beta, c, g.ldc)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s, abs float64
				for p := 0; p < k; p++ {
					var av, bv float64
					if g.transA {
						av = a[p*g.lda+i]
					} else {
						av = a[i*g.lda+p]
					}
					if g.transB {
						bv = b[j*g.ldb+p]
					} else {
						bv = b[p*g.ldb+j]
					}
					s += av * bv
					abs += math.Abs(av * bv)
				}
				want := alpha * s
				bound := math.Abs(alpha) * abs
				if beta != 0 {
					want += beta * c0[i*g.ldc+j]
					bound += math.Abs(beta * c0[i*g.ldc+j])
				}
				bound *= 2 * float64(k+3) * 0x1p-53
				if got := c[i*g.ldc+j]; math.Abs(got-want) > bound {
					t.Fatalf("%v: c[%d,%d]=%v, want %v", g, i, j, got, want)
				}
			}
		}
	}
}
