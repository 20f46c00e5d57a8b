package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gemmCase is one Sgemm call: shapes, leading dimensions, offsets into the
// slices and scalars.
type gemmCase struct {
	transA, transB   bool
	m, n, k          int
	lda, ldb, ldc    int
	offA, offB, offC int
	alpha, beta      float32
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d off=%d,%d,%d alpha=%g beta=%g",
		g.transA, g.transB, g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.offA, g.offB, g.offC, g.alpha, g.beta)
}

const guard = 16 // NaN elements after each matrix

var nan32 = float32(math.NaN())

// matrix returns a slice holding a rows×cols matrix with leading dimension
// ld at offset off, random entries, and NaN everywhere else.
func matrix(rng *rand.Rand, rows, cols, ld, off int) []float32 {
	n := off + guard
	if rows > 0 && cols > 0 {
		n += (rows-1)*ld + cols
	}
	s := make([]float32, n)
	for i := range s {
		s[i] = nan32
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			s[off+i*ld+j] = float32(rng.IntN(2001)-1000) / 1000
		}
	}
	return s
}

func inMatrix(idx, rows, cols, ld, off int) bool {
	idx -= off
	return idx >= 0 && idx/ld < rows && idx%ld < cols
}

func (g gemmCase) dims() (ra, ca, rb, cb int) {
	ra, ca, rb, cb = g.m, g.k, g.k, g.n
	if g.transA {
		ra, ca = ca, ra
	}
	if g.transB {
		rb, cb = cb, rb
	}
	return
}

const eps32 = 1.0 / (1 << 24) // unit roundoff of float32

// check runs Sgemm on the case and compares each element of C with a float64
// reference: |c - ref| <= 2·(k+3)·u·(|alpha|·Σ|a||b| + |beta·c|) where u is
// float32's unit roundoff, the classic bound for a k-term dot product with
// alpha folded in and one final addition, with a factor 2 of slack. It also
// checks that A and B are untouched and that nothing outside C was written.
func (g gemmCase) check(t *testing.T, rng *rand.Rand) {
	t.Helper()
	ra, ca, rb, cb := g.dims()
	a := matrix(rng, ra, ca, g.lda, g.offA)
	b := matrix(rng, rb, cb, g.ldb, g.offB)
	c := matrix(rng, g.m, g.n, g.ldc, g.offC)
	if g.beta == 0 && g.m > 0 && g.n > 0 {
		c[g.offC] = nan32 // beta 0 must overwrite NaN
		c[g.offC+(g.m-1)*g.ldc+g.n-1] = float32(math.Inf(1))
	}
	a0 := append([]float32(nil), a...)
	b0 := append([]float32(nil), b...)
	c0 := append([]float32(nil), c...)
	Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a[g.offA:], g.lda, b[g.offB:], g.ldb, g.beta, c[g.offC:], g.ldc)

	same := func(name string, x, y []float32) {
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Fatalf("%v: %s[%d] changed from %v to %v", g, name, i, y[i], x[i])
			}
		}
	}
	same("a", a, a0)
	same("b", b, b0)
	opA := func(i, p int) float64 {
		if g.transA {
			return float64(a[g.offA+p*g.lda+i])
		}
		return float64(a[g.offA+i*g.lda+p])
	}
	opB := func(p, j int) float64 {
		if g.transB {
			return float64(b[g.offB+j*g.ldb+p])
		}
		return float64(b[g.offB+p*g.ldb+j])
	}
	for idx := range c {
		if !inMatrix(idx, g.m, g.n, g.ldc, g.offC) {
			if math.Float32bits(c[idx]) != math.Float32bits(c0[idx]) {
				t.Fatalf("%v: c[%d] outside the matrix changed from %v to %v", g, idx, c0[idx], c[idx])
			}
			continue
		}
		i, j := (idx-g.offC)/g.ldc, (idx-g.offC)%g.ldc
		var s, abs float64
		for p := 0; p < g.k; p++ {
			s += opA(i, p) * opB(p, j)
			abs += math.Abs(opA(i, p) * opB(p, j))
		}
		ref := float64(g.alpha) * s
		bound := math.Abs(float64(g.alpha)) * abs
		if g.beta != 0 {
			ref += float64(g.beta) * float64(c0[idx])
			bound += math.Abs(float64(g.beta) * float64(c0[idx]))
		}
		bound *= 2 * float64(g.k+3) * eps32
		if got := float64(c[idx]); !(math.Abs(got-ref) <= bound) {
			t.Fatalf("%v: c[%d,%d] = %v, want %v ± %g", g, i, j, got, ref, bound)
		}
	}
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// randCase fills in leading dimensions, offsets and scalars at random.
func randCase(rng *rand.Rand, tA, tB bool, m, n, k int) gemmCase {
	g := gemmCase{transA: tA, transB: tB, m: m, n: n, k: k}
	ra, ca, rb, cb := g.dims()
	_ = ra
	_ = rb
	g.lda = max(1, ca) + rng.IntN(2)*rng.IntN(5)
	g.ldb = max(1, cb) + rng.IntN(2)*rng.IntN(5)
	g.ldc = max(1, n) + rng.IntN(2)*rng.IntN(5)
	g.offA, g.offB, g.offC = rng.IntN(4), rng.IntN(4), rng.IntN(4)
	g.alpha = []float32{1, -1, 0.5, 2.25, 0}[rng.IntN(5)]
	g.beta = []float32{0, 1, -0.5, 3}[rng.IntN(4)]
	return g
}

// TestSgemmSmall walks every m, n past each register tile width for a few k,
// and every k for a few m, n, under every implementation.
func TestSgemmSmall(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, tr := range transCombos {
			for m := 0; m <= 25; m++ {
				for n := 0; n <= 50; n++ {
					for _, k := range []int{0, 1, 4, 7, 19} {
						randCase(rng, tr[0], tr[1], m, n, k).check(t, rng)
					}
				}
			}
			// k past each 8-step strip of the packers and their 64-step blocks.
			for _, k := range append(seq(0, 40), 63, 64, 65, 71, 72, 129) {
				for _, mn := range [][2]int{{1, 1}, {13, 49}, {12, 48}, {7, 17}, {21, 37}} {
					randCase(rng, tr[0], tr[1], mn[0], mn[1], k).check(t, rng)
				}
			}
		}
	})
}

// TestSgemmBlocks shrinks the cache blocking so that modest sizes cross
// every block boundary (kc, mc, nc and partial tiles).
func TestSgemmBlocks(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, bl := range [][3]int{{1, 1, 1}, {3, 2, 2}, {5, 30, 100}, {64, 24, 96}} {
			func() {
				defer setBlocking(bl[0], bl[1]*16, bl[2]*48)()
				for i := 0; i < 40; i++ {
					tr := transCombos[i%4]
					g := randCase(rng, tr[0], tr[1], rng.IntN(70), rng.IntN(150), rng.IntN(40))
					g.check(t, rng)
				}
			}()
		}
	})
}

// TestSgemmLarge checks random sizes past the default blocking.
func TestSgemmLarge(t *testing.T) {
	n := 6
	if testing.Short() {
		n = 2
	}
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; i < n; i++ {
			tr := transCombos[i%4]
			g := randCase(rng, tr[0], tr[1], 50+rng.IntN(150), 50+rng.IntN(200), 200+rng.IntN(400))
			g.check(t, rng)
		}
	})
}

// TestSgemmThreads checks that results are bitwise the same for every
// thread count.
func TestSgemmThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8)) // Threads is capped by it
	defer SetThreads(0)
	defer setMinThreadWork(1)()
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, d := range [][3]int{{97, 131, 300}, {300, 20, 33}, {5, 400, 7}} {
			m, n, k := d[0], d[1], d[2]
			a := matrix(rng, m, k, k, 0)[:m*k]
			b := matrix(rng, k, n, n, 0)[:k*n]
			var want []float32
			for _, th := range []int{1, 2, 3, 4, 7} {
				SetThreads(th)
				c := make([]float32, m*n)
				Sgemm(false, false, m, n, k, 1.5, a, k, b, n, 0, c, n)
				if want == nil {
					want = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%dx%dx%d threads=%d: c[%d]=%v, threads=1 gave %v", m, n, k, th, i, c[i], want[i])
					}
				}
			}
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Sgemm(false, false, -1, 1, 1, 1, nil, 1, nil, 1, 0, nil, 1) },
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Sgemm(true, false, 2, 3, 2, 1, make([]float32, 4), 2, make([]float32, 6), 3, 0, make([]float32, 5), 3)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

// TestSgemmThreadsBitwise drives the threaded paths (columns split, rows
// split, A read in place) through every transpose, beta, block boundary and
// register tile edge, and requires every thread count to give bitwise the
// result of one thread and pass the checks of gemmCase (bounds, guard
// bands, inputs untouched).
func TestSgemmThreadsBitwise(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // Threads is capped by it
	defer SetThreads(0)
	defer setMinThreadWork(1)()
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, bl := range [][3]int{{0, 0, 0}, {5, 2, 2}} {
			func() {
				if bl[0] > 0 {
					defer setBlocking(bl[0], bl[1]*16, bl[2]*48)()
				}
				for i, d := range [][3]int{{97, 131, 40}, {3, 150, 17}, {40, 7, 33}, {17, 97, 9}, {64, 200, 12}, {150, 30, 21}} {
					tr := transCombos[i%4]
					g := randCase(rng, tr[0], tr[1], d[0], d[1], d[2])
					if i%2 == 1 {
						g.alpha = 1 // A read in place where the kernel allows
					}
					SetThreads(3)
					g.check(t, rng)
					ra, ca, rb, cb := g.dims()
					a := matrix(rng, ra, ca, g.lda, g.offA)[g.offA:]
					b := matrix(rng, rb, cb, g.ldb, g.offB)[g.offB:]
					c0 := matrix(rng, g.m, g.n, g.ldc, g.offC)[g.offC:]
					var want []float32
					for th := 1; th <= 4; th++ {
						SetThreads(th)
						c := append([]float32(nil), c0...)
						Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
						if want == nil {
							want = c
							continue
						}
						for j := range c {
							if math.Float32bits(c[j]) != math.Float32bits(want[j]) {
								t.Fatalf("%v blocking=%v threads=%d: c[%d]=%v, threads=1 gave %v", g, bl, th, j, c[j], want[j])
							}
						}
					}
				}
			}()
		}
	})
}

// TestDirectKernels requires each direct micro-kernel to give bitwise the
// tile of its packed twin, for every k past the unroll width, storing and
// accumulating, with NaN after A's and B's rows (in the padding of lda and
// ldb) and around C.
func TestDirectKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, im := range impls {
		for _, kern := range im.sgemm {
			if kern.direct == nil {
				continue
			}
			mr, nr := kern.mr, kern.nr
			for k := 1; k <= 41; k++ {
				lda := k + rng.IntN(3)
				a := matrix(rng, mr, k, lda, 0)
				ap := make([]float32, mr*k)
				for i := 0; i < mr; i++ {
					for p := 0; p < k; p++ {
						ap[p*mr+i] = a[i*lda+p]
					}
				}
				ldb := nr + rng.IntN(2)*rng.IntN(5)
				b := matrix(rng, k, nr, ldb, 0)
				bp := make([]float32, k*nr)
				for p := 0; p < k; p++ {
					copy(bp[p*nr:(p+1)*nr], b[p*ldb:])
				}
				ldc := nr + rng.IntN(3)
				for _, ow := range []bool{false, true} {
					c0 := matrix(rng, mr, nr, ldc, 0)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					kern.fn(k, ap, bp, want, ldc, ow)
					kern.direct(k, a, lda, b, ldb, got, ldc, ow)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %dx%d k=%d lda=%d ldb=%d overwrite=%v: c[%d]=%v, packed kernel gave %v", im.name, mr, nr, k, lda, ldb, ow, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// seq returns lo, lo+1, ..., hi.
func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// TestPackT requires packT, with each implementation's pack4 (strips of 4
// rows, the last overlapping the one before when rows%4 != 0), to give the
// scalar transpose for every row count and k step past the strips, leaving
// the rest of dst alone.
func TestPackT(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, im := range impls {
		for _, kern := range im.sgemm {
			for rows := 0; rows <= 13; rows++ {
				for _, kc := range []int{1, 7, 8, 9, 23, 64, 65, 135} {
					ld := kc + rng.IntN(3)
					src := matrix(rng, rows, kc, ld, 0)
					stride := max(rows, 1) + rng.IntN(3)
					got := matrix(rng, kc, stride, stride, 0)
					want := append([]float32(nil), got...)
					alpha := []float32{1, -0.5}[rng.IntN(2)]
					for r := 0; r < rows; r++ {
						for p := 0; p < kc; p++ {
							want[p*stride+r] = alpha * src[r*ld+p]
						}
					}
					packT(kern.pack4, rows, kc, alpha, src, ld, got, stride)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %dx%d rows=%d kc=%d: dst[%d]=%v, want %v", im.name, kern.mr, kern.nr, rows, kc, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestPackRows requires each kernel's row packers, rowsB (micro-panels of
// a plain B's nr columns) and rowsA (of a transposed A's mr rows, scaled),
// to give bitwise what their Go twins give, a plain copy and packRowsGo,
// for every row count past 4 and a few past a kc block, for 1 to 5 panels
// at once and row strides past their width, on values that include signed
// zeros, infinities, subnormals and quiet and signaling NaNs with payloads,
// leaving the source and the rest of dst alone.
func TestPackRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(1), math.Float32frombits(0x807fffff), math.Float32frombits(0x7fc12345),
		math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001), math.MaxFloat32, -math.SmallestNonzeroFloat32}
	for _, im := range impls {
		for _, kern := range im.sgemm {
			if kern.rowsA == nil && kern.rowsB == nil {
				continue
			}
			for _, rows := range append(seq(0, 13), 63, 64, 65, 383, 384) {
				for _, isA := range []bool{false, true} {
					for panels := 0; panels <= 5; panels++ {
						w, alpha := kern.nr, float32(1)
						if isA {
							w, alpha = kern.mr, []float32{1, -0.5, 2.25, -1}[rng.IntN(4)]
						}
						cols := panels * w
						ld := max(1, cols) + []int{0, 1, 3, 17}[rng.IntN(4)]
						src := matrix(rng, rows, cols, ld, 0)
						for i := 0; i < rows*cols/8; i++ {
							src[rng.IntN(rows)*ld+rng.IntN(cols)] = special[rng.IntN(len(special))]
						}
						src0 := append([]float32(nil), src...)
						got := matrix(rng, 1, rows*cols, rows*cols, 0)
						want := append([]float32(nil), got...)
						for q := 0; q < panels && rows > 0; q++ {
							panel := want[q*rows*w:]
							if isA {
								packRowsGo(rows, w, alpha, src[q*w:], ld, panel, w)
								continue
							}
							for p := 0; p < rows; p++ {
								copy(panel[p*w:(p+1)*w], src[p*ld+q*w:])
							}
						}
						if isA {
							kern.rowsA(rows, panels, src, ld, got, alpha)
						} else {
							kern.rowsB(rows, panels, src, ld, got)
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %dx%d rowsA=%v rows=%d panels=%d ld=%d alpha=%v: dst[%d]=%#x, want %#x",
									im.name, kern.mr, kern.nr, isA, rows, panels, ld, alpha, i, math.Float32bits(got[i]), math.Float32bits(want[i]))
							}
						}
						for i := range src {
							if math.Float32bits(src[i]) != math.Float32bits(src0[i]) {
								t.Fatalf("%s %dx%d rowsA=%v rows=%d panels=%d: src[%d] changed", im.name, kern.mr, kern.nr, isA, rows, panels, i)
							}
						}
					}
				}
			}
		}
	}
}

// TestParallel requires parallel to run f(t) exactly once for each t <
// threads, on the team (after it has parked, too) and on fresh goroutines
// when the team is busy with a concurrent call.
func TestParallel(t *testing.T) {
	run := func(threads int) {
		counts := make([]atomic.Int32, threads)
		parallel(threads, func(i int) { counts[i].Add(1) })
		for i := range counts {
			if n := counts[i].Load(); n != 1 {
				t.Fatalf("threads=%d: f(%d) ran %d times", threads, i, n)
			}
		}
	}
	for rep := 0; rep < 50; rep++ {
		for th := 1; th <= 6; th++ {
			run(th)
		}
		if rep%10 == 0 {
			time.Sleep(2 * spinWait) // let the workers park
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for rep := 0; rep < 100; rep++ {
				run(1 + (g+rep)%4)
			}
		})
	}
	wg.Wait()
}
