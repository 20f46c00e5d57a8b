package simd

import "fmt"

// Kernels for the forward pass of small convolutional networks: a per-row
// affine map (a bias or an inference batch normalization) and 2×2 max
// pooling with stride 2. Each has a pure-Go twin, the reference of its doc
// comment; the assembly computes bitwise the twin's results (NaN payloads
// aside).

// poolKernels are the kernels of one implementation; they trust their
// arguments (the exported functions check them).
type poolKernels struct {
	affine func(dst, x []float32, a, b float32)
	// affineRows is SaffineRows on checked arguments, rows = len(a) > 0
	// and n > 0.
	affineRows func(dst, x, a, b []float32, n, ldd, ldx int)
	maxPool2   func(dst, x []float32, w int)
	// maxPool2Fast is whether maxPool2 is vectorized (else it is the twin,
	// slower than a caller's own loops may be).
	maxPool2Fast bool
}

var poolGeneric = poolKernels{affine: affineGeneric, affineRows: rowsOf(affineGeneric), maxPool2: maxPool2Generic}

func init() { genericImpl.pool = poolGeneric }

// Saffine sets dst[i] = float32(a·x[i]) + b for i < len(x): the product
// is rounded before the sum (no fused multiply-add), so a = 1 gives
// x[i] + b exactly. dst may be x itself but must not otherwise overlap
// it. It panics if len(dst) < len(x).
func Saffine(dst, x []float32, a, b float32) {
	checkMap("Saffine", dst, x)
	active.pool.affine(dst, x, a, b)
}

// SaffineRows is Saffine on rows = len(a) rows of n elements, row r of
// x at x[r·ldx:] and of dst at dst[r·ldd:], with a[r] and b[r]:
//
//	dst[r·ldd + e] = float32(a[r]·x[r·ldx + e]) + b[r],  r < len(a), e < n
//
// in one call (a bias over the channels of an image, a normalization
// over its rows). The rows of dst must not overlap x's unless they are
// the same. It panics unless n >= 0, ldd >= n, ldx >= n,
// len(b) >= len(a) and dst and x hold the rows.
func SaffineRows(dst, x, a, b []float32, n, ldd, ldx int) {
	rows := len(a)
	if n < 0 || ldd < n || ldx < n || len(b) < rows ||
		(rows > 0 && n > 0 && (len(dst) < (rows-1)*ldd+n || len(x) < (rows-1)*ldx+n)) {
		panic(fmt.Sprintf("simd.SaffineRows: rows=%d n=%d ldd=%d ldx=%d len(dst)=%d len(x)=%d len(b)=%d", rows, n, ldd, ldx, len(dst), len(x), len(b)))
	}
	if rows > 0 && n > 0 {
		active.pool.affineRows(dst, x, a, b, n, ldd, ldx)
	}
}

// rowsOf runs an affine kernel row by row: SaffineRows without a kernel
// of its own.
func rowsOf(affine func(dst, x []float32, a, b float32)) func(dst, x, a, b []float32, n, ldd, ldx int) {
	return func(dst, x, a, b []float32, n, ldd, ldx int) {
		for r, ar := range a {
			affine(dst[r*ldd:r*ldd+n], x[r*ldx:r*ldx+n], ar, b[r])
		}
	}
}

// SmaxPool2 is 2×2 max pooling with stride 2 of row pairs: x holds
// len(x)/(2w) pairs of rows of w elements (w even), a = x[2rw:] and
// b = x[2rw+w:] the pair r, and for j < w/2
//
//	dst[r·w/2 + j] = M(b[2j+1], M(b[2j], M(a[2j+1], a[2j]))),  M(s, t) = s > t ? s : t
//
// the first maximum of the window in row-major order, a NaN in a[2j]
// kept and any other NaN skipped (as a loop of strict comparisons from
// the first tap does). It panics unless w is even and positive, len(x) is
// a multiple of 2w and len(dst) >= len(x)/4.
func SmaxPool2(dst, x []float32, w int) {
	if w <= 0 || w%2 != 0 || len(x)%(2*w) != 0 || len(dst) < len(x)/4 {
		panic(fmt.Sprintf("simd.SmaxPool2: w=%d, len(x)=%d, len(dst)=%d", w, len(x), len(dst)))
	}
	if len(x) > 0 {
		active.pool.maxPool2(dst, x, w)
	}
}

// MaxPool2Fast reports whether SmaxPool2 runs vectorized here.
func MaxPool2Fast() bool { return active.pool.maxPool2Fast }

// affineGeneric is for i, v := range x { dst[i] = float32(a·v) + b }.
func affineGeneric(dst, x []float32, a, b float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = float32(a*v) + b
	}
}

// maxPool2Generic is SmaxPool2's reference, x86max(s, t) being M(s, t).
func maxPool2Generic(dst, x []float32, w int) {
	h := w / 2
	for r := 0; r < len(x)/(2*w); r++ {
		a, b, d := x[2*r*w:(2*r+1)*w], x[(2*r+1)*w:(2*r+2)*w], dst[r*h:(r+1)*h]
		for j := range d {
			d[j] = x86max(b[2*j+1], x86max(b[2*j], x86max(a[2*j+1], a[2*j])))
		}
	}
}
