package simd

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

type float interface{ ~float32 | ~float64 }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ as transX says, op(A) is m×k, op(B) is k×n and C is m×n:
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += opA(i, p) * opB(p, j)
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
//		}
//	}
//
// with opA(i, p) = a[i*lda+p] (a[p*lda+i] if transA) and opB(p, j) =
// b[p*ldb+j] (b[j*ldb+p] if transB). When beta is 0, C is overwritten and
// its old contents (even NaN) are ignored; when alpha is 0 or k is 0, A and B
// are not read. The sum is evaluated in a fixed order that does not depend on
// the number of threads, so results are reproducible on one machine and
// implementation.
//
// Sgemm panics if a dimension or leading dimension is invalid or a slice is too
// short: those are programming errors of the caller.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Sgemm", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	gemmDriver(active.sgemm, Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is the float64 twin of Sgemm: C = alpha·op(A)·op(B) + beta·C with the
// same conventions, reference loop and argument checks, on the float64
// micro-kernels of the active implementation (dgemm_amd64.go).
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm("Dgemm", transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	gemmDriver(dgemmKernels(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkGemm(fn string, transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("simd.%s: negative dimension m=%d n=%d k=%d", fn, m, n, k))
	}
	check := func(name string, rows, cols, l, ld int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("simd.%s: ld%s=%d < max(1, %d)", fn, name, ld, cols))
		}
		if rows > 0 && cols > 0 && l < (rows-1)*ld+cols {
			panic(fmt.Sprintf("simd.%s: len(%s)=%d < %d for a %d×%d matrix with ld%s=%d", fn, name, l, (rows-1)*ld+cols, rows, cols, name, ld))
		}
	}
	if transA {
		check("a", k, m, la, lda)
	} else {
		check("a", m, k, la, lda)
	}
	if transB {
		check("b", n, k, lb, ldb)
	} else {
		check("b", k, n, lb, ldb)
	}
	check("c", m, n, lc, ldc)
}

var maxThreads atomic.Int64

// SetThreads caps the number of goroutines Sgemm and Dgemm use; n <= 0 means
// GOMAXPROCS. Results do not depend on it.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	maxThreads.Store(int64(n))
}

// Threads returns the number of goroutines Sgemm and Dgemm may use.
func Threads() int {
	n := int(maxThreads.Load())
	if p := runtime.GOMAXPROCS(0); n <= 0 || n > p {
		n = p
	}
	return n
}

// gemmKernel is a register-blocked micro-kernel and the cache blocking that
// suits it. fn computes the mr×nr product of a packed A micro-panel (k steps of
// mr values) and a packed B micro-panel (k steps of nr values) and adds it to,
// or with overwrite stores it into, the row-major tile c with row stride ldc.
type gemmKernel[T float] struct {
	mr, nr     int
	kc, mc, nc int
	fn         func(k int, a, b, c []T, ldc int, overwrite bool)
	// speed is the kernel's relative speed per padded tile element (1 when
	// unset); pickKernel weighs padding against it.
	speed float64
	// pack4, if not nil, packs 4 rows of A for p < 8n:
	// dst[p*mr+r] = alpha * a[r*lda+p].
	pack4 func(n int, a []T, lda int, dst []T, mr int, alpha T)
	// pack16, if not nil, transposes 16 rows for p < 16n:
	// dst[p*ld+r] = b[r*ldb+p]; packB uses it for a transposed B.
	pack16 func(n int, b []T, ldb int, dst []T, ld int)
	// rowsB, if not nil, packs panels full micro-panels of a B that is not
	// transposed, each rows steps of nr values from rows of b at stride
	// ldb: dst[q*rows*nr+p*nr+j] = b[p*ldb+q*nr+j] for q < panels,
	// p < rows, j < nr.
	rowsB func(rows, panels int, b []T, ldb int, dst []T)
	// rowsA, if not nil, packs panels full micro-panels of a transposed A,
	// scaled: dst[q*rows*mr+p*mr+r] = alpha * a[p*lda+q*mr+r] for
	// q < panels, p < rows, r < mr.
	rowsA func(rows, panels int, a []T, lda int, dst []T, alpha T)
	// direct, if not nil, is fn reading A in place, row i at a[i*lda:],
	// instead of a packed panel, and B with row stride ldb: for p < k,
	// i < mr, j < nr it sees a[i*lda+p] and b[p*ldb+j] where fn sees
	// a[p*mr+i] and b[p*nr+j], and gives bitwise the same tile.
	direct func(k int, a []T, lda int, b []T, ldb int, c []T, ldc int, overwrite bool)
}

// pickKernel returns the kernel whose register tiles cover the m×n product
// with the least padding, the first such on ties. It depends on m and n only,
// never on the thread count.
func pickKernel[T float](kerns []gemmKernel[T], m, n int) *gemmKernel[T] {
	best, bestArea := 0, -1.0
	for i := range kerns {
		area := float64(roundUp(m, kerns[i].mr) * roundUp(n, kerns[i].nr))
		if s := kerns[i].speed; s > 0 {
			area /= s
		}
		if bestArea < 0 || area < bestArea {
			best, bestArea = i, area
		}
	}
	return &kerns[best]
}

// minThreadWork is the number of multiply-adds below which a product gets no
// extra goroutine. Below coldWorkFactor times as many (about 200³, some
// 100 µs on one thread), it gets them only if the team's workers are awake
// (polling after a recent product): waking a parked one costs tens of
// microseconds, which such a product does not win back.
var minThreadWork = 1 << 19

const coldWorkFactor = 16

// directMaxPanels is the widest product, in column panels of the register
// tile, whose A is read in place rather than packed.
const directMaxPanels = 2

func gemmDriver[T float](kerns []gemmKernel[T], threads int, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if beta != 0 && beta != 1 {
		scaleC(m, n, beta, c, ldc)
		beta = 1
	}
	kern := pickKernel(kerns, m, n)
	work := m * n * k
	if w := work / minThreadWork; w < threads {
		threads = max(1, w)
	}
	if threads > 1 && work < coldWorkFactor*minThreadWork && !teamAwake(threads-1) {
		threads = 1
	}
	ow := beta == 0
	// Narrow products read A, and B unless transposed, in place: packing
	// them would cost as much as the few tiles they serve. Packing with
	// alpha 1 is exact, so this changes no result.
	direct := kern.direct != nil && !transA && alpha == 1 && n <= directMaxPanels*kern.nr
	if threads <= 1 {
		gemmBlock(kern, direct, transA, transB, 0, m, 0, n, k, alpha, a, lda, b, ldb, ow, c, ldc)
		return
	}
	// Split one side of C into blocks aligned to the register tile: the side
	// whose largest block is the smaller share of the padded product, the
	// longer side on ties (for n = 256 and the 48-wide tile, columns split
	// 144 + 112 but rows 128 + 128). Each goroutine packs the other
	// operand's blocks for itself. Sharing one packed B between the
	// goroutines instead (packed once, panel by panel) was tried: for
	// n = 256…1,024 it used more CPU time per product on this 2-core
	// machine, its B block no longer fitting one core's L2, while the
	// repacking it saves is under 1% of the work.
	split, unit := n, kern.nr
	byRows := splitShare(m, kern.mr, threads) * roundUp(n, kern.nr)
	byCols := splitShare(n, kern.nr, threads) * roundUp(m, kern.mr)
	if byRows < byCols || byRows == byCols && m > n {
		split, unit = m, kern.mr
	}
	units := (split + unit - 1) / unit
	threads = min(threads, units)
	parallel(threads, func(t int) {
		lo := units * t / threads * unit
		hi := min(split, units*(t+1)/threads*unit)
		if split == n {
			gemmBlock(kern, direct, transA, transB, 0, m, lo, hi, k, alpha, a, lda, b, ldb, ow, c, ldc)
		} else {
			gemmBlock(kern, direct, transA, transB, lo, hi, 0, n, k, alpha, a, lda, b, ldb, ow, c, ldc)
		}
	})
}

// splitShare returns the largest of the blocks that parallel's split of a
// side of length size into threads runs of whole tiles of width unit gives,
// rounded up to whole tiles.
func splitShare(size, unit, threads int) int {
	units := (size + unit - 1) / unit
	threads = min(threads, units)
	return (units + threads - 1) / threads * unit
}

// scaleC sets C = beta·C, overwriting C with zeros when beta is 0.
func scaleC[T float](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemmBlock computes rows [m0,m1) and columns [n0,n1) of C. The k dimension
// is always cut at multiples of kern.kc from 0, so each element of C is summed
// in the same order whatever block computes it. If direct, A is not
// transposed, alpha is 1, and kern.direct reads the full register tiles of
// A, and of B unless transposed, in place; a last partial tile of rows is
// copied, zero-padded, to ap (row-major, stride kc), and B's partial or
// transposed panels are packed.
func gemmBlock[T float](kern *gemmKernel[T], direct bool, transA, transB bool, m0, m1, n0, n1, k int, alpha T, a []T, lda int, b []T, ldb int, overwrite bool, c []T, ldc int) {
	mr, nr := kern.mr, kern.nr
	kcMax := min(kern.kc, k)
	mcMax := min(kern.mc, roundUp(m1-m0, mr))
	ncMax := min(kern.nc, roundUp(n1-n0, nr))
	// One buffer holds the packed A block, the packed B block and a tile for
	// partial results, each starting on a 64-byte boundary.
	sa, sb := roundUp(mcMax*kcMax, 16), roundUp(ncMax*kcMax, 16)
	buf := getBuf[T](sa + sb + mr*nr)
	defer putBuf(buf)
	ap, bp, tile := (*buf)[:sa], (*buf)[sa:sa+sb], (*buf)[sa+sb:]

	for jc := n0; jc < n1; jc += kern.nc {
		nc := min(kern.nc, n1-jc)
		for pc := 0; pc < k; pc += kern.kc {
			kc := min(kern.kc, k-pc)
			ow := overwrite && pc == 0
			bInPlace := direct && !transB
			if !bInPlace {
				packB(kern, transB, kc, nc, b, ldb, pc, jc, bp)
			} else if r := nc % nr; r != 0 {
				packB(kern, false, kc, r, b, ldb, pc, jc+nc-r, bp[(nc-r)*kc:])
			}
			for ic := m0; ic < m1; ic += kern.mc {
				mc := min(kern.mc, m1-ic)
				if !direct {
					packA(kern, transA, mc, kc, alpha, a, lda, ic, pc, ap)
				} else if r := mc % mr; r != 0 {
					for i := 0; i < mr; i++ {
						row := ap[i*kc : (i+1)*kc]
						if i < r {
							copy(row, a[(ic+mc-r+i)*lda+pc:])
						} else {
							clear(row)
						}
					}
				}
				for jr := 0; jr < nc; jr += nr {
					bpanel := bp[jr*kc : (jr+nr)*kc]
					nn := min(nr, nc-jr)
					for ir := 0; ir < mc; ir += mr {
						mm := min(mr, mc-ir)
						off := (ic+ir)*ldc + jc + jr
						full := mm == mr && nn == nr
						dst, ldd, dow := c[off:], ldc, ow
						if !full {
							dst, ldd, dow = tile, nr, true
						}
						if direct {
							as, ald := a[(ic+ir)*lda+pc:], lda
							if mm < mr {
								as, ald = ap, kc
							}
							bs, bld := bpanel, nr
							if bInPlace && nn == nr {
								bs, bld = b[pc*ldb+jc+jr:], ldb
							}
							kern.direct(kc, as, ald, bs, bld, dst, ldd, dow)
						} else {
							kern.fn(kc, ap[ir*kc:(ir+mr)*kc], bpanel, dst, ldd, dow)
						}
						if full {
							continue
						}
						for i := 0; i < mm; i++ {
							row := c[off+i*ldc : off+i*ldc+nn]
							src := tile[i*nr : i*nr+nn]
							if ow {
								copy(row, src)
							} else {
								for j, v := range src {
									row[j] += v
								}
							}
						}
					}
				}
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// packA copies alpha·op(A)[ic:ic+mc, pc:pc+kc] into ap as micro-panels of mr
// rows: panel q holds, for each p, the mr values opA(ic+q·mr+r, pc+p), with
// rows past mc set to zero. A plain A's panels are transposes of mr rows of
// a (packT); a transposed A's hold, for each p, mr consecutive values of row
// pc+p of a, copied by kern.rowsA for the full panels.
func packA[T float](kern *gemmKernel[T], trans bool, mc, kc int, alpha T, a []T, lda, ic, pc int, ap []T) {
	mr := kern.mr
	q0 := 0
	if trans && kern.rowsA != nil {
		// The full panels, packAGroup at a time. Reading whole rows of the
		// block at once, as packB does, writes 4 to 16 values to each of
		// up to 36 panels a row, and packed a cold source some 20% slower.
		full := mc / mr
		for g := 0; g < full; g += packAGroup {
			kern.rowsA(kc, min(packAGroup, full-g), a[pc*lda+ic+g*mr:], lda, ap[g*mr*kc:], alpha)
		}
		q0 = full * mr
	}
	for q := q0; q < mc; q += mr {
		panel := ap[q*kc : (q+mr)*kc]
		rows := min(mr, mc-q)
		if rows < mr {
			clear(panel)
		}
		if trans {
			// opA(i, p) = a[p*lda+i]: rows of the panel are contiguous in a.
			packRowsGo(kc, rows, alpha, a[pc*lda+ic+q:], lda, panel, mr)
			continue
		}
		packT(kern.pack4, rows, kc, alpha, a[(ic+q)*lda+pc:], lda, panel, mr)
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into bp as micro-panels of nr
// columns: panel q holds, for each p, the nr values opB(pc+p, jc+q·nr+j), with
// columns past nc set to zero. When B is transposed, column j of op(B) is row
// j of b, and the panel is a transpose of nr rows of b: kern.pack16 and
// kern.pack4 (with alpha 1, exact) transpose 16×16 and 4×8 blocks in
// registers. Otherwise a panel holds, for each p, nr consecutive values of
// row pc+p of b, copied by kern.rowsB for the full panels.
func packB[T float](kern *gemmKernel[T], trans bool, kc, nc int, b []T, ldb, pc, jc int, bp []T) {
	nr := kern.nr
	q0 := 0
	if !trans && kern.rowsB != nil {
		// All full panels at once, reading whole rows of the block.
		kern.rowsB(kc, nc/nr, b[pc*ldb+jc:], ldb, bp)
		q0 = nc / nr * nr
	}
	for q := q0; q < nc; q += nr {
		panel := bp[q*kc : (q+nr)*kc]
		cols := min(nr, nc-q)
		if cols < nr {
			clear(panel)
		}
		if !trans {
			src := b[pc*ldb+jc+q:]
			for p := 0; p < kc; p++ {
				copy(panel[p*nr:p*nr+cols], src[p*ldb:])
			}
			continue
		}
		src := b[(jc+q)*ldb+pc:]
		r16, p16 := 0, 0
		if kern.pack16 != nil && kc >= 16 {
			r16, p16 = cols&^15, kc&^15
			for ps := 0; ps < p16; ps += packStep {
				steps := min(packStep, p16-ps)
				for j := 0; j < r16; j += 16 {
					kern.pack16(steps/16, src[j*ldb+ps:], ldb, panel[ps*nr+j:], nr)
				}
			}
		}
		// What pack16 left: the last kc%16 steps of its rows, and the other
		// rows.
		if p16 < kc {
			packT(kern.pack4, r16, kc-p16, 1, src[p16:], ldb, panel[p16*nr:], nr)
		}
		if r16 < cols {
			packT(kern.pack4, cols-r16, kc, 1, src[r16*ldb:], ldb, panel[r16:], nr)
		}
	}
}

// packRowsGo is one panel of rowsA in Go, for w values a row and any row
// stride of dst: dst[p*stride+r] = alpha * src[p*ld+r] for p < rows, r < w.
// packA uses it for a transposed A's partial panel and where kern.rowsA is
// nil.
func packRowsGo[T float](rows, w int, alpha T, src []T, ld int, dst []T, stride int) {
	for p := 0; p < rows; p++ {
		s := src[p*ld : p*ld+w]
		d := dst[p*stride : p*stride+w]
		for r, v := range s {
			d[r] = alpha * v
		}
	}
}

// packAGroup is the number of micro-panels of a transposed A that packA
// packs at a time.
const packAGroup = 4

// packStep is the number of k steps packT transposes at a time.
const packStep = 64

// packT transposes rows rows of kc values, row r at src[r*ld:], into dst
// with row stride stride, scaling by alpha: for r < rows, p < kc:
// dst[p*stride+r] = alpha * src[r*ld+p]. pack4, if not nil, does strips of 4
// rows by 8 steps in registers (alpha 1 is exact); the steps go in blocks of
// packStep so that the rows of dst written by one strip stay in L1 for the
// next.
func packT[T float](pack4 func(n int, a []T, lda int, dst []T, mr int, alpha T), rows, kc int, alpha T, src []T, ld int, dst []T, stride int) {
	r0, p0 := 0, 0
	if pack4 != nil && kc >= 8 && rows >= 4 {
		r0, p0 = rows, kc&^7
		for ps := 0; ps < p0; ps += packStep {
			steps := min(packStep, p0-ps)
			for r := 0; r < rows; r += 4 {
				// When rows%4 != 0 the last strip overlaps the one
				// before, writing the same values again.
				s := min(r, rows-4)
				pack4(steps/8, src[s*ld+ps:], ld, dst[ps*stride+s:], stride, alpha)
			}
		}
	}
	// The rows pack4 left (all when it is nil) and the last kc%8 steps of
	// the others.
	for r := 0; r < rows; r++ {
		p1 := 0
		if r < r0 {
			if p0 == kc {
				continue
			}
			p1 = p0
		}
		row := src[r*ld+p1 : r*ld+kc]
		d := dst[p1*stride+r:]
		for p, v := range row {
			d[p*stride] = alpha * v
		}
	}
}

var (
	pool32 sync.Pool
	pool64 sync.Pool
)

// getBuf returns a buffer of at least n elements whose first element is
// 64-byte aligned.
func getBuf[T float](n int) *[]T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	pool := &pool32
	if size == 8 {
		pool = &pool64
	}
	if v := pool.Get(); v != nil {
		p := v.(*[]T)
		if cap(*p) >= n {
			*p = (*p)[:n]
			return p
		}
	}
	raw := make([]T, n+64/size)
	off := 0
	if r := uintptr(unsafe.Pointer(&raw[0])) % 64; r != 0 {
		off = int(64-r) / size
	}
	s := raw[off : off+n : off+n]
	return &s
}

func putBuf[T float](p *[]T) {
	var zero T
	if unsafe.Sizeof(zero) == 8 {
		pool64.Put(p)
	} else {
		pool32.Put(p)
	}
}
