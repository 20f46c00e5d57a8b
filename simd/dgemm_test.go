package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"
)

// dgemmFunc is the signature of Dgemm and dgemmFast.
type dgemmFunc func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)

// checkDgemmBound runs f on random normal matrices and checks each element
// against a naive loop within 2·(k+3)·u64·Σ|alpha·a·b| + |beta·c|: both
// evaluations of a k-term dot product are within (k+1)·u64·Σ|a·b| of the
// exact one, whatever the order and fusing.
func checkDgemmBound(t *testing.T, f dgemmFunc) {
	rng := rand.New(rand.NewPCG(13, 14))
	iters := 300
	if testing.Short() {
		iters = 60
	}
	for it := 0; it < iters; it++ {
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
		f(g.transA, g.transB, m, n, k, alpha, a, g.lda, b, g.ldb, beta, c, g.ldc)
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

// TestDgemm checks Dgemm against a naive loop within the rounding bound.
func TestDgemm(t *testing.T) { checkDgemmBound(t, Dgemm) }

// TestDgemmFastBound checks the float64 micro-kernels of every
// implementation against a naive loop within the rounding bound.
func TestDgemmFastBound(t *testing.T) {
	forEachImpl(t, func(t *testing.T) { checkDgemmBound(t, dgemmFast) })
}

// dyadic returns a slice holding a rows×cols matrix with leading dimension
// ld at offset off, entries i/1024 for integers |i| <= 1000, and NaN
// everywhere else. Products of two entries are multiples of 2⁻²⁰ below 1 in
// magnitude, so every sum of fewer than 2³² of them, scaled by the test's
// alpha and added to beta·c, is exact in float64: any summation order, with
// or without fused multiply-adds, gives bitwise the exact result.
func dyadic(rng *rand.Rand, rows, cols, ld, off int) []float64 {
	n := off + guard
	if rows > 0 && cols > 0 {
		n += (rows-1)*ld + cols
	}
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			s[off+i*ld+j] = float64(rng.IntN(2001)-1000) / 1024
		}
	}
	return s
}

// checkExact runs f on the case with dyadic entries and requires C to be
// the exact result (bitwise, but for the sign of zero sums, which depends
// on the order), A and B untouched, nothing outside C written,
// and beta = 0 to overwrite NaN and Inf.
func (g gemmCase) checkExact(t *testing.T, rng *rand.Rand, f dgemmFunc) {
	t.Helper()
	ra, ca, rb, cb := g.dims()
	a := dyadic(rng, ra, ca, g.lda, g.offA)
	b := dyadic(rng, rb, cb, g.ldb, g.offB)
	c := dyadic(rng, g.m, g.n, g.ldc, g.offC)
	if g.beta == 0 && g.m > 0 && g.n > 0 {
		c[g.offC] = math.NaN()
		c[g.offC+(g.m-1)*g.ldc+g.n-1] = math.Inf(1)
	}
	a0 := append([]float64(nil), a...)
	b0 := append([]float64(nil), b...)
	c0 := append([]float64(nil), c...)
	alpha, beta := float64(g.alpha), float64(g.beta)
	f(g.transA, g.transB, g.m, g.n, g.k, alpha, a[g.offA:], g.lda, b[g.offB:], g.ldb, beta, c[g.offC:], g.ldc)
	same := func(name string, x, y []float64) {
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				t.Fatalf("%v: %s[%d] changed from %v to %v", g, name, i, y[i], x[i])
			}
		}
	}
	same("a", a, a0)
	same("b", b, b0)
	want := append([]float64(nil), c0...)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s float64
			for p := 0; p < g.k; p++ {
				var av, bv float64
				if g.transA {
					av = a[g.offA+p*g.lda+i]
				} else {
					av = a[g.offA+i*g.lda+p]
				}
				if g.transB {
					bv = b[g.offB+j*g.ldb+p]
				} else {
					bv = b[g.offB+p*g.ldb+j]
				}
				s += av * bv
			}
			w := alpha * s
			if beta != 0 {
				w += beta * c0[g.offC+i*g.ldc+j]
			}
			want[g.offC+i*g.ldc+j] = w
		}
	}
	for idx := range c {
		if !sameFloat(c[idx], want[idx]) {
			in := inMatrix(idx, g.m, g.n, g.ldc, g.offC)
			t.Fatalf("%v: c[%d] (in C: %v) = %v, want %v", g, idx, in, c[idx], want[idx])
		}
	}
}

// sameFloat reports whether x and y are equal or have the same bits (NaN).
func sameFloat(x, y float64) bool { return x == y || math.Float64bits(x) == math.Float64bits(y) }

// TestDgemmFastSmall walks every m, n past each register tile width for a
// few k, and every k for a few m, n, under every implementation.
func TestDgemmFastSmall(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		ks := []int{0, 1, 4, 7}
		if testing.Short() {
			ks = []int{0, 5}
		}
		for _, tr := range transCombos {
			for m := 0; m <= 25; m++ {
				for n := 0; n <= 50; n++ {
					for _, k := range ks {
						randCase(rng, tr[0], tr[1], m, n, k).checkExact(t, rng, dgemmFast)
					}
				}
			}
			for _, k := range append(seq(0, 20), 63, 64, 65, 257, 600) {
				for _, mn := range [][2]int{{1, 1}, {17, 49}, {16, 48}, {7, 17}, {25, 37}} {
					randCase(rng, tr[0], tr[1], mn[0], mn[1], k).checkExact(t, rng, dgemmFast)
				}
			}
		}
	})
}

// setDBlocking shrinks the cache blocking of the active float64 kernels
// so that small tests cross every block boundary; it returns a function
// restoring it.
func setDBlocking(kc, mc, nc int) (restore func()) {
	ks := dgemmKernels()
	old := append([]gemmKernel[float64](nil), ks...)
	for i := range ks {
		ks[i].kc, ks[i].mc, ks[i].nc = kc, roundUp(mc, ks[i].mr), roundUp(nc, ks[i].nr)
	}
	return func() { copy(ks, old) }
}

// TestDgemmFastBlocks shrinks the cache blocking so that modest sizes cross
// every block boundary (kc, mc, nc and partial tiles), and checks sizes past
// the default blocking.
func TestDgemmFastBlocks(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(23, 24))
		for _, bl := range [][3]int{{1, 1, 1}, {3, 2, 2}, {5, 30, 100}, {64, 24, 96}} {
			func() {
				defer setDBlocking(bl[0], bl[1]*16, bl[2]*24)()
				for i := 0; i < 40; i++ {
					tr := transCombos[i%4]
					randCase(rng, tr[0], tr[1], rng.IntN(70), rng.IntN(150), rng.IntN(40)).checkExact(t, rng, dgemmFast)
				}
			}()
		}
		n, cols := 4, 3100
		if testing.Short() {
			n, cols = 1, 400
		}
		for i := 0; i < n; i++ {
			tr := transCombos[i%4]
			randCase(rng, tr[0], tr[1], 150+rng.IntN(150), 100+rng.IntN(cols), 250+rng.IntN(300)).checkExact(t, rng, dgemmFast)
		}
	})
}

// TestDgemmFastThreads requires every thread count to give bitwise the
// result of one thread, on normal random entries (so that the summation
// order shows), through every transpose, block boundary and tile edge.
func TestDgemmFastThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // Threads is capped by it
	defer SetThreads(0)
	defer setMinThreadWork(1)()
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(25, 26))
		normal := func(n int) []float64 {
			s := make([]float64, n)
			for i := range s {
				s[i] = rng.NormFloat64()
			}
			return s
		}
		for _, bl := range [][3]int{{0, 0, 0}, {5, 2, 2}} {
			func() {
				if bl[0] > 0 {
					defer setDBlocking(bl[0], bl[1]*16, bl[2]*24)()
				}
				for i, d := range [][3]int{{97, 131, 300}, {3, 150, 17}, {40, 7, 33}, {17, 97, 9}, {64, 200, 12}, {150, 30, 21}, {300, 20, 33}} {
					tr := transCombos[i%4]
					g := randCase(rng, tr[0], tr[1], d[0], d[1], d[2])
					ra, ca, rb, cb := g.dims()
					a := normal((ra-1)*g.lda + ca)
					b := normal((rb-1)*g.ldb + cb)
					c0 := normal((g.m-1)*g.ldc + g.n)
					var want []float64
					for th := 1; th <= 4; th++ {
						SetThreads(th)
						c := append([]float64(nil), c0...)
						dgemmFast(g.transA, g.transB, g.m, g.n, g.k, float64(g.alpha), a, g.lda, b, g.ldb, float64(g.beta), c, g.ldc)
						if want == nil {
							want = c
							continue
						}
						for j := range c {
							if math.Float64bits(c[j]) != math.Float64bits(want[j]) {
								t.Fatalf("%v blocking=%v threads=%d: c[%d]=%v, threads=1 gave %v", g, bl, th, j, c[j], want[j])
							}
						}
					}
				}
			}()
		}
	})
}

// TestDgemmKernelFMA requires each assembly micro-kernel to give bitwise
// its reference: acc[i][j] = fma(a[p*mr+i], b[p*nr+j], acc[i][j]) for p in
// order from 0, then stored into or added to c, leaving the NaN around the
// tile alone.
func TestDgemmKernelFMA(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, name := range implNames() {
		if name == "generic" {
			continue
		}
		restore := setImpl(name)
		for _, kern := range dgemmKernels() {
			mr, nr := kern.mr, kern.nr
			for k := 1; k <= 41; k++ {
				ap := make([]float64, mr*k)
				bp := make([]float64, k*nr)
				for i := range ap {
					ap[i] = rng.NormFloat64()
				}
				for i := range bp {
					bp[i] = rng.NormFloat64()
				}
				ldc := nr + rng.IntN(3)
				for _, ow := range []bool{false, true} {
					c := make([]float64, (mr-1)*ldc+nr+guard)
					for i := range c {
						c[i] = math.NaN()
						if i%ldc < nr && i/ldc < mr {
							c[i] = rng.NormFloat64()
						}
					}
					want := append([]float64(nil), c...)
					for i := 0; i < mr; i++ {
						for j := 0; j < nr; j++ {
							var s float64
							for p := 0; p < k; p++ {
								s = math.FMA(ap[p*mr+i], bp[p*nr+j], s)
							}
							if !ow {
								s += want[i*ldc+j]
							}
							want[i*ldc+j] = s
						}
					}
					kern.fn(k, ap, bp, c, ldc, ow)
					for i := range c {
						if math.Float64bits(c[i]) != math.Float64bits(want[i]) {
							t.Fatalf("%s %dx%d k=%d ldc=%d overwrite=%v: c[%d]=%v, want %v", name, mr, nr, k, ldc, ow, i, c[i], want[i])
						}
					}
				}
			}
		}
		restore()
	}
}

// TestBLAS64 requires BLAS64's Dgemm and Dsyrk to give gonum's results on
// dyadic entries (exact, so any order agrees, but for the sign of zero), for every
// transpose and triangle, with the other triangle of C and the NaN around
// the matrices left alone.
func TestBLAS64(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(29, 30))
		trans := []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans}
		betas := []float64{0, 1, -0.5, 3}
		alphas := []float64{1, -1, 2.25, 0}
		sizes := [][3]int{{0, 3, 4}, {3, 0, 4}, {5, 7, 0}, {1, 1, 1}, {17, 25, 33}, {64, 300, 130}, {200, 64, 300}, {31, 450, 65}}
		for it, sz := range sizes {
			for _, tA := range trans {
				for _, tB := range trans {
					m, n, k := sz[0], sz[1], sz[2]
					ra, ca, rb, cb := m, k, k, n
					if tA != blas.NoTrans {
						ra, ca = k, m
					}
					if tB != blas.NoTrans {
						rb, cb = n, k
					}
					lda, ldb, ldc := max(1, ca)+it%3, max(1, cb)+it%2, max(1, n)+it%4
					a := dyadic(rng, ra, ca, lda, 0)
					b := dyadic(rng, rb, cb, ldb, 0)
					c := dyadic(rng, m, n, ldc, 0)
					alpha, beta := alphas[rng.IntN(4)], betas[rng.IntN(4)]
					want := append([]float64(nil), c...)
					gonum.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
					BLAS64{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					for i := range c {
						if !sameFloat(c[i], want[i]) {
							t.Fatalf("Dgemm %v %v m=%d n=%d k=%d alpha=%v beta=%v: c[%d]=%v, gonum gave %v", tA, tB, m, n, k, alpha, beta, i, c[i], want[i])
						}
					}
				}
			}
		}
		for it, nk := range [][2]int{{0, 3}, {5, 0}, {1, 1}, {7, 9}, {64, 130}, {191, 40}, {193, 70}, {450, 33}} {
			for _, ul := range []blas.Uplo{blas.Upper, blas.Lower} {
				for _, tA := range trans {
					n, k := nk[0], nk[1]
					ra, ca := n, k
					if tA != blas.NoTrans {
						ra, ca = k, n
					}
					lda, ldc := max(1, ca)+it%3, max(1, n)+it%2
					a := dyadic(rng, ra, ca, lda, 0)
					c := dyadic(rng, n, n, ldc, 0)
					alpha, beta := alphas[rng.IntN(4)], betas[rng.IntN(4)]
					want := append([]float64(nil), c...)
					gonum.Implementation{}.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, want, ldc)
					BLAS64{}.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
					for i := range c {
						if !sameFloat(c[i], want[i]) {
							t.Fatalf("Dsyrk %v %v n=%d k=%d alpha=%v beta=%v: c[%d]=%v, gonum gave %v", ul, tA, n, k, alpha, beta, i, c[i], want[i])
						}
					}
				}
			}
		}
	})
}

// randSPD returns a random n×n symmetric positive definite matrix, GᵀG/n + I
// for a normal G.
func randSPD(rng *rand.Rand, n int) *mat.SymDense {
	g := make([]float64, n*n)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	s := make([]float64, n*n)
	BLAS64{}.Dsyrk(blas.Upper, blas.Trans, n, n, 1/float64(n), g, n, 0, s, n)
	for i := 0; i < n; i++ {
		s[i*n+i]++
	}
	return mat.NewSymDense(n, s)
}

// TestBLAS64Cholesky factorizes an SPD matrix with mat.Cholesky, whose
// blocked Dpotrf runs on BLAS64 under UseForGonum, and requires the
// computed factor to satisfy the backward error bound of Cholesky,
// |UᵀU - A| <= γ(n+1)·|U|ᵀ|U| elementwise (Higham, Thm. 10.3), with a
// second γ(n+1) for rounding in forming UᵀU here.
func TestBLAS64Cholesky(t *testing.T) {
	defer blas64.Use(gonum.Implementation{})
	UseForGonum()
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(31, 32))
		n := 333
		a := randSPD(rng, n)
		var ch mat.Cholesky
		if !ch.Factorize(a) {
			t.Fatal("not positive definite")
		}
		var u mat.TriDense
		ch.UTo(&u)
		gamma := float64(n+1) * 0x1p-53 / (1 - float64(n+1)*0x1p-53)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				var s, abs float64
				for p := 0; p <= i; p++ {
					s += u.At(p, i) * u.At(p, j)
					abs += math.Abs(u.At(p, i) * u.At(p, j))
				}
				if d := math.Abs(s - a.At(i, j)); d > 2*gamma*abs {
					t.Fatalf("(UᵀU - A)[%d,%d] = %g, bound %g", i, j, d, 2*gamma*abs)
				}
			}
		}
	})
}

// BenchmarkDgemm times C = A·B on one thread for the float64 kernels of
// every implementation, on Dgemm (the generic kernel it runs now), and for
// gonum's Dgemm (whose own goroutines are not capped).
func BenchmarkDgemm(b *testing.B) {
	defer SetThreads(0)
	SetThreads(1)
	for _, n := range []int{256, 1024, 2048} {
		for _, name := range append(implNames(), "Dgemm", "gonum") {
			b.Run(fmt.Sprintf("n=%d/%s", n, name), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				a, bb, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
				for i := range a {
					a[i], bb[i] = rng.Float64(), rng.Float64()
				}
				f := dgemmFast
				switch name {
				case "Dgemm":
					f = Dgemm
				case "gonum":
					f = func(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
						gonum.Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
					}
				default:
					defer setImpl(name)()
				}
				cpu0 := cpuNs()
				for b.Loop() {
					f(false, false, n, n, n, 1, a, n, bb, n, 0, c, n)
				}
				flops := 2 * float64(n) * float64(n) * float64(n) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu, "cpuGFLOP/s")
				}
			})
		}
	}
}

// BenchmarkCholesky times mat.Cholesky.Factorize of a 4,000×4,000 SPD matrix
// with gonum's BLAS and with BLAS64, each on all threads; cpu-s/op is the
// CPU time of all threads together.
func BenchmarkCholesky(b *testing.B) {
	defer blas64.Use(gonum.Implementation{})
	const n = 4000
	a := randSPD(rand.New(rand.NewPCG(1, 2)), n)
	for _, name := range []string{"gonum", "simd"} {
		b.Run(name, func(b *testing.B) {
			if name == "gonum" {
				blas64.Use(gonum.Implementation{})
			} else {
				UseForGonum()
			}
			var ch mat.Cholesky
			cpu0 := cpuNs()
			for b.Loop() {
				if !ch.Factorize(a) {
					b.Fatal("not positive definite")
				}
			}
			b.ReportMetric(float64(n)*float64(n)*float64(n)/3/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
			if cpu := cpuNs() - cpu0; cpu > 0 {
				b.ReportMetric(cpu/1e9/float64(b.N), "cpu-s/op")
			}
		})
	}
}

// BenchmarkDgemmKernel times each float64 micro-kernel alone on one packed
// A and B micro-panel of dgemmKC steps that stay in L1, accumulating into a
// C tile, in GFLOP per CPU-second: the kernel's ceiling, without packing or
// cache misses.
func BenchmarkDgemmKernel(b *testing.B) {
	for _, name := range implNames() {
		restore := setImpl(name)
		kerns := dgemmKernels()
		restore()
		for _, kern := range kerns {
			b.Run(fmt.Sprintf("%s/%dx%d", name, kern.mr, kern.nr), func(b *testing.B) {
				k := kern.kc
				ap := make([]float64, k*kern.mr)
				bp := make([]float64, k*kern.nr)
				c := make([]float64, kern.mr*kern.nr)
				cpu0 := cpuNs()
				for b.Loop() {
					kern.fn(k, ap, bp, c, kern.nr, false)
				}
				flops := 2 * float64(kern.mr*kern.nr*k) * float64(b.N)
				if cpu := cpuNs() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu, "cpuGFLOP/s")
				}
			})
		}
	}
}
