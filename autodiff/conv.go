package autodiff

import (
	"fmt"
	"unsafe"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// Convolutions: Conv and ConvTranspose, by im2col and GEMM.
//
// Both ops share one geometry: a convolution from a "wide" tensor Z
// [B, Cz, zs...] to a "narrow" one Y [B, Cy, ys...] with a weight
// W [Cy, Cz/group, k...]. Conv is Y = conv(Z, W); ConvTranspose is the
// adjoint of that map in Z, Z = convᵀ(Y, W), with the same weight layout
// (ONNX's ConvTranspose weight [C, M/group, k...] is a Conv weight from M
// channels to C). So five routines cover both ops' forward, JVP and VJP:
//
//	convForward      Y  = conv(Z, W)                 im2col, then W·cols
//	convBackData     Z  = convᵀ(Y, W)                Wᵀ·Y, then col2im
//	convWeightFwd    Y += conv(Z, dW_j)  per direction j
//	convWeightBack   Z += convᵀ(Y, dW_j) per direction j
//	convWeightAdj    W̄ += Ȳ·colsᵀ, the adjoint of W ↦ conv(Z, W)

func init() {
	Register(OpSpec{Type: "Conv", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newConv[float32], newConv[float64])
	Register(OpSpec{Type: "ConvTranspose", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newConvTranspose[float32], newConvTranspose[float64])
}

// convGeom is the geometry of one convolution, its spatial axes padded to
// three (leading axes of size 1 for 1-D and 2-D).
type convGeom struct {
	group  int
	cz, cy int    // channels of Z (conv input) and Y (conv output)
	zs, ys [3]int // spatial sizes of Z and Y
	k, s   [3]int // kernel size and stride
	d, p   [3]int // dilation and padding at the beginning of Z's axes
	kprod  int    // k[0]·k[1]·k[2]
	zsz    int    // zs[0]·zs[1]·zs[2]
	ysz    int    // ys[0]·ys[1]·ys[2]
	czg    int    // cz / group
	cyg    int    // cy / group
	ckg    int    // czg·kprod: the inner dimension of each group's GEMM
	direct bool   // 1×1 kernel, unit stride, no padding: cols are Z itself
}

func (g *convGeom) finish() {
	g.kprod = g.k[0] * g.k[1] * g.k[2]
	g.zsz = g.zs[0] * g.zs[1] * g.zs[2]
	g.ysz = g.ys[0] * g.ys[1] * g.ys[2]
	g.czg, g.cyg = g.cz/g.group, g.cy/g.group
	g.ckg = g.czg * g.kprod
	g.direct = g.kprod == 1 && g.zs == g.ys && g.s == [3]int{1, 1, 1} && g.p == [3]int{}
}

// colRange returns the output positions o in [lo, hi) whose input
// coordinate o·s + off lies in [0, n), for o in [0, ny).
func colRange(off, s, n, ny int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if n-off <= 0 {
		return 0, 0
	}
	hi = min((n-off+s-1)/s, ny)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col writes one image z [cz, zs...] as cols [cz·kprod, ysz] with row
// stride ld (ysz for one image alone): row (c, kd, kh, kw), column
// (od, oh, ow) holds z[c, od·s+kd·d−p, ...], or 0 outside z.
func im2col[T Float](g *convGeom, z, cols []T, ld int) {
	for c := 0; c < g.cz; c++ {
		zc := z[c*g.zsz : (c+1)*g.zsz]
		for k0 := 0; k0 < g.k[0]; k0++ {
			for k1 := 0; k1 < g.k[1]; k1++ {
				for k2 := 0; k2 < g.k[2]; k2++ {
					row := ((c*g.k[0]+k0)*g.k[1]+k1)*g.k[2] + k2
					dst := cols[row*ld : row*ld+g.ysz]
					off2 := k2*g.d[2] - g.p[2]
					lo, hi := colRange(off2, g.s[2], g.zs[2], g.ys[2])
					for o0 := 0; o0 < g.ys[0]; o0++ {
						i0 := o0*g.s[0] + k0*g.d[0] - g.p[0]
						for o1 := 0; o1 < g.ys[1]; o1++ {
							i1 := o1*g.s[1] + k1*g.d[1] - g.p[1]
							seg := dst[(o0*g.ys[1]+o1)*g.ys[2] : (o0*g.ys[1]+o1+1)*g.ys[2]]
							if i0 < 0 || i0 >= g.zs[0] || i1 < 0 || i1 >= g.zs[1] {
								clear(seg)
								continue
							}
							src := zc[(i0*g.zs[1]+i1)*g.zs[2]:]
							clear(seg[:lo])
							if g.s[2] == 1 {
								if lo < hi {
									copy(seg[lo:hi], src[lo+off2:hi+off2])
								}
							} else {
								for o2 := lo; o2 < hi; o2++ {
									seg[o2] = src[o2*g.s[2]+off2]
								}
							}
							clear(seg[hi:])
						}
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds cols [cz·kprod, ysz] (row
// stride ld) into one image z [cz, zs...],
// z[c, od·s+kd·d−p, ...] += cols[(c, kd, ...), (od, ...)].
func col2im[T Float](g *convGeom, cols, z []T, ld int) {
	for c := 0; c < g.cz; c++ {
		zc := z[c*g.zsz : (c+1)*g.zsz]
		for k0 := 0; k0 < g.k[0]; k0++ {
			for k1 := 0; k1 < g.k[1]; k1++ {
				for k2 := 0; k2 < g.k[2]; k2++ {
					row := ((c*g.k[0]+k0)*g.k[1]+k1)*g.k[2] + k2
					src := cols[row*ld : row*ld+g.ysz]
					off2 := k2*g.d[2] - g.p[2]
					lo, hi := colRange(off2, g.s[2], g.zs[2], g.ys[2])
					for o0 := 0; o0 < g.ys[0]; o0++ {
						i0 := o0*g.s[0] + k0*g.d[0] - g.p[0]
						if i0 < 0 || i0 >= g.zs[0] {
							continue
						}
						for o1 := 0; o1 < g.ys[1]; o1++ {
							i1 := o1*g.s[1] + k1*g.d[1] - g.p[1]
							if i1 < 0 || i1 >= g.zs[1] {
								continue
							}
							seg := src[(o0*g.ys[1]+o1)*g.ys[2]:]
							dst := zc[(i0*g.zs[1]+i1)*g.zs[2]:]
							if g.s[2] == 1 && lo < hi {
								d := dst[lo+off2 : hi+off2]
								for e, v := range seg[lo:hi] {
									d[e] += v
								}
								continue
							}
							for o2 := lo; o2 < hi; o2++ {
								dst[o2*g.s[2]+off2] += seg[o2]
							}
						}
					}
				}
			}
		}
	}
}

// colsOf returns image z as columns [cz·kprod, ysz]: z itself for a direct
// geometry, else im2col into buf.
func colsOf[T Float](g *convGeom, z, buf []T) []T {
	if g.direct {
		return z
	}
	im2col(g, z, buf, g.ysz)
	return buf
}

func (g *convGeom) colsLen() int {
	if g.direct {
		return 0
	}
	return g.cz * g.kprod * g.ysz
}

// Small images make narrow GEMMs (a 3×3 conv of 8×8 images is 8×64 by
// 64 columns), so the routines below unfold a chunk of images side by
// side, cols [cz·kprod, nb·ysz], and run one GEMM per chunk (and group)
// instead of one per image; the results are laid back per image. A chunk
// aims at convChunkCols columns and keeps each buffer under
// convChunkElems elements; images of convChunkCols positions or more go
// one at a time, as they lie.
const (
	convChunkCols  = 2048
	convChunkElems = 1 << 21
)

// chunk returns the number of images of b to unfold together when the
// widest buffer holds rows rows of nb·ysz columns.
func (g *convGeom) chunk(b, rows int) int {
	if g.ysz == 0 {
		return 1
	}
	nb := convChunkCols / g.ysz
	nb = min(nb, convChunkElems/max(1, rows*g.ysz))
	return max(1, min(nb, b))
}

// colIndex returns the source of every element of one image's cols:
// idx[row·ysz + o] is the index in the image z of cols[row, o], or −1 in
// the padding. Small images have rows of a few elements, where im2col's
// loops cost more than the copying; a table does it in one pass. It is
// nil for a direct geometry or a large table (then im2col runs).
func (g *convGeom) colIndex() []int32 {
	n := g.cz * g.kprod * g.ysz
	if g.direct || n > convIndexMax {
		return nil
	}
	idx := make([]int32, 0, n)
	for c := 0; c < g.cz; c++ {
		for k0 := 0; k0 < g.k[0]; k0++ {
			for k1 := 0; k1 < g.k[1]; k1++ {
				for k2 := 0; k2 < g.k[2]; k2++ {
					for o0 := 0; o0 < g.ys[0]; o0++ {
						i0 := o0*g.s[0] + k0*g.d[0] - g.p[0]
						for o1 := 0; o1 < g.ys[1]; o1++ {
							i1 := o1*g.s[1] + k1*g.d[1] - g.p[1]
							for o2 := 0; o2 < g.ys[2]; o2++ {
								i2 := o2*g.s[2] + k2*g.d[2] - g.p[2]
								j := int32(-1)
								if i0 >= 0 && i0 < g.zs[0] && i1 >= 0 && i1 < g.zs[1] && i2 >= 0 && i2 < g.zs[2] {
									j = int32(c*g.zsz + (i0*g.zs[1]+i1)*g.zs[2] + i2)
								}
								idx = append(idx, j)
							}
						}
					}
				}
			}
		}
	}
	return idx
}

// convIndexMax bounds colIndex's table (and so the image's zsz, which
// fits an int32 below it).
const convIndexMax = 1 << 18

// unfolder writes chunks of images as columns (unfold), by the cheapest
// of four ways for the geometry:
//
//   - direct geometries copy each channel's plane;
//   - with unit stride along the last axis and no negative padding, the
//     chunk is first copied into padded images zp, zero outside the input
//     (seg), and every row of cols is then a set of contiguous segments of
//     ys[2] elements of zp: no bounds to test per element;
//   - other small images gather through colIndex's table (idx);
//   - the rest run im2col per image.
type unfolder[T Float] struct {
	g   *convGeom
	idx []int32
	zp  *[]T // seg: nb padded images [cz, pz...], from the scratch pool
	pz  [3]int
}

// newUnfolder prepares the unfolding of chunks of at most nb images; the
// caller calls release when done.
func newUnfolder[T Float](g *convGeom, nb int) *unfolder[T] {
	u := &unfolder[T]{g: g}
	if g.direct {
		return u
	}
	seg := g.s[2] == 1 && g.p[0] >= 0 && g.p[1] >= 0 && g.p[2] >= 0
	if seg {
		// The padded extent of axis i holds the input, offset by the
		// padding, and the furthest tap of the last output.
		n := nb * g.cz
		for i := range u.pz {
			u.pz[i] = max(g.zs[i]+g.p[i], (g.ys[i]-1)*g.s[i]+(g.k[i]-1)*g.d[i]+1)
			n *= u.pz[i]
		}
		if n <= convChunkElems {
			u.zp = getScratch[T](n)
			clear(*u.zp) // the padding stays zero: chunks write only the inside
			return u
		}
	}
	u.idx = g.colIndex()
	return u
}

func (u *unfolder[T]) release() {
	if u.zp != nil {
		putScratch(u.zp)
		u.zp = nil
	}
}

// unfold writes images i0 … i0+nb−1 of z as cols [cz·kprod, nb·ysz],
// image i's columns starting at column i·ysz.
func (u *unfolder[T]) unfold(z []T, i0, nb int, cols []T) {
	g := u.g
	ld, img := nb*g.ysz, g.cz*g.zsz
	if u.zp != nil {
		u.unfoldSeg(z[i0*img:(i0+nb)*img], nb, cols)
		return
	}
	var zp []T
	if u.idx != nil {
		zp = make([]T, img+1)
	}
	for i := 0; i < nb; i++ {
		zi := z[(i0+i)*img : (i0+i+1)*img]
		switch {
		case g.direct:
			for c := 0; c < g.cz; c++ {
				copy(cols[c*ld+i*g.ysz:c*ld+(i+1)*g.ysz], zi[c*g.zsz:(c+1)*g.zsz])
			}
		case u.idx != nil:
			// zp is the image followed by a zero, which the padding's
			// −1 reads as −1 + len(zp): a gather without branches.
			copy(zp, zi)
			for row := 0; row*g.ysz < len(u.idx); row++ {
				gatherPad(cols[row*ld+i*g.ysz:row*ld+(i+1)*g.ysz], zp, u.idx[row*g.ysz:(row+1)*g.ysz])
			}
		default:
			im2col(g, zi, cols[i*g.ysz:], ld)
		}
	}
}

// unfoldSeg is unfold through the padded images: z holds the nb images,
// and cols[(c, k), (i, o)] = zp[i, c, o·s + k·d] (padded coordinates),
// ys[2] consecutive elements of zp for each (c, k, i, o0, o1).
func (u *unfolder[T]) unfoldSeg(z []T, nb int, cols []T) {
	g, pz := u.g, u.pz
	psz := pz[0] * pz[1] * pz[2]
	zp := *u.zp
	// The inside of the padded images: rows of zs[2] elements.
	for ic := 0; ic < nb*g.cz; ic++ {
		src := z[ic*g.zsz : (ic+1)*g.zsz]
		for a0 := 0; a0 < g.zs[0]; a0++ {
			dst := zp[ic*psz+((a0+g.p[0])*pz[1]+g.p[1])*pz[2]+g.p[2]:]
			copyRuns(dst, src[a0*g.zs[1]*g.zs[2]:], g.zs[2], 1, g.zs[1], 0, pz[2], 0, g.zs[2])
		}
	}
	ld := nb * g.ysz
	row := 0
	for c := 0; c < g.cz; c++ {
		for k0 := 0; k0 < g.k[0]; k0++ {
			for k1 := 0; k1 < g.k[1]; k1++ {
				for k2 := 0; k2 < g.k[2]; k2++ {
					dst := cols[row*ld : (row+1)*ld]
					for o0 := 0; o0 < g.ys[0]; o0++ {
						off := c*psz + ((o0*g.s[0]+k0*g.d[0])*pz[1]+k1*g.d[1])*pz[2] + k2*g.d[2]
						// (image i, o1) → dst[i·ysz + (o0·ys1 + o1)·ys2], zp[off + i·cz·psz + o1·s1·pz2]
						copyRuns(dst[o0*g.ys[1]*g.ys[2]:], zp[off:], g.ys[2], nb, g.ys[1], g.ysz, g.ys[2], g.cz*psz, g.s[1]*pz[2])
					}
					row++
				}
			}
		}
	}
}

// copyRuns copies n1·n2 runs of w elements: the run (a, b) from
// src[a·ss1 + b·ss2] to dst[a·ds1 + b·ds2] (strides ≥ 0). Runs of 16 or
// 32 bytes, the rows of small images, move as 16-byte words, the longer
// of the two loops inside; the bounds are checked once, for the last run.
func copyRuns[T Float](dst, src []T, w, n1, n2, ds1, ds2, ss1, ss2 int) {
	if n1 <= 0 || n2 <= 0 || w <= 0 {
		return
	}
	_ = dst[(n1-1)*ds1+(n2-1)*ds2+w-1]
	_ = src[(n1-1)*ss1+(n2-1)*ss2+w-1]
	size := int(unsafe.Sizeof(T(0)))
	bytes := w * size
	if bytes != 16 && bytes != 32 {
		for a := 0; a < n1; a++ {
			d, s := dst[a*ds1:], src[a*ss1:]
			for b := 0; b < n2; b++ {
				copy(d[b*ds2:b*ds2+w], s[b*ss2:b*ss2+w])
			}
		}
		return
	}
	if n1 > n2 {
		n1, n2, ds1, ds2, ss1, ss2 = n2, n1, ds2, ds1, ss2, ss1
	}
	ds1, ds2, ss1, ss2 = ds1*size, ds2*size, ss1*size, ss2*size
	d0, s0 := unsafe.Pointer(unsafe.SliceData(dst)), unsafe.Pointer(unsafe.SliceData(src))
	type word = [16]byte
	// The pointers step to existing runs only (never one past the last,
	// which checkptr rejects).
	for a := 0; a < n1; a++ {
		d, s := unsafe.Add(d0, a*ds1), unsafe.Add(s0, a*ss1)
		for b := 1; ; b++ {
			*(*word)(d) = *(*word)(s)
			if bytes == 32 {
				*(*word)(unsafe.Add(d, 16)) = *(*word)(unsafe.Add(s, 16))
			}
			if b == n2 {
				break
			}
			d, s = unsafe.Add(d, ds2), unsafe.Add(s, ss2)
		}
	}
}

// gatherPad sets d[o] = src[idx[o]], an idx of −1 reading the last
// element of src. It is a function of its own so that its loop keeps its
// few variables in registers.
//
//go:noinline
func gatherPad[T Float](d, src []T, idx []int32) {
	d = d[:len(idx)]
	n := len(src)
	for o, j := range idx {
		d[o] = src[int(j)+int(j>>31)&n]
	}
}

// fold is unfold's adjoint for one image: it adds cols [cz·kprod, ysz]
// (row stride ld) into the image z.
func fold[T Float](g *convGeom, cols, z []T, ld int, idx []int32) {
	if idx == nil {
		col2im(g, cols, z, ld)
		return
	}
	for row := 0; row*g.ysz < len(idx); row++ {
		s := cols[row*ld : row*ld+g.ysz]
		for o, j := range idx[row*g.ysz : (row+1)*g.ysz] {
			if j >= 0 {
				z[j] += s[o]
			}
		}
	}
}

// gatherImages copies images i0 … i0+nb−1 of x (each [ch, sp]) into
// dst [ch, nb·sp], image i at column i·sp.
func gatherImages[T Float](x []T, i0, nb, ch, sp int, dst []T) {
	ld := nb * sp
	for i := 0; i < nb; i++ {
		xi := x[(i0+i)*ch*sp:]
		for c := 0; c < ch; c++ {
			copy(dst[c*ld+i*sp:c*ld+(i+1)*sp], xi[c*sp:(c+1)*sp])
		}
	}
}

// scatterImages is the inverse of gatherImages: it writes (add=false) or
// adds (add=true) src [ch, nb·sp] into images i0 … i0+nb−1 of x. With a
// bias b [ch] (nil for none), it writes src + b[c] instead.
func scatterImages[T Float](src, x []T, i0, nb, ch, sp int, add bool, b []T) {
	ld := nb * sp
	if b != nil && scatterBias32(src, x, i0, nb, ch, sp, b) {
		return
	}
	for i := 0; i < nb; i++ {
		xi := x[(i0+i)*ch*sp:]
		for c := 0; c < ch; c++ {
			s, d := src[c*ld+i*sp:c*ld+(i+1)*sp], xi[c*sp:(c+1)*sp]
			switch {
			case b != nil:
				v := b[c]
				d = d[:len(s)]
				for e, u := range s {
					d[e] = u + v
				}
			case add:
				d = d[:len(s)]
				for e, u := range s {
					d[e] += u
				}
			default:
				copy(d, s)
			}
		}
	}
}

// scatterBias32 is scatterImages with a bias in float32, each image's
// channels in one simd.SaffineRows: x[i, c, o] = 1·src[c, i·sp + o] + b[c],
// which is src + b[c] exactly. It reports false, having done nothing, for
// float64.
func scatterBias32[T Float](src, x []T, i0, nb, ch, sp int, b []T) bool {
	s32, ok := any(src).([]float32)
	if !ok {
		return false
	}
	x32, b32 := any(x).([]float32), any(b).([]float32)[:ch]
	ones := make([]float32, ch)
	for c := range ones {
		ones[c] = 1
	}
	for i := 0; i < nb; i++ {
		simd.SaffineRows(x32[(i0+i)*ch*sp:(i0+i+1)*ch*sp], s32[i*sp:], ones, b32, sp, sp, nb*sp)
	}
	return true
}

// convForward sets y = conv(z, w) + bias for every image of z (b
// images [cz, zs...] into y's [cy, ys...]); bias [cy] may be nil. The bias
// is added to the finished products, as convAddBias does.
func convForward[T Float](g *convGeom, z, w, bias, y []T) {
	b := len(z) / (g.cz * g.zsz)
	if nb := g.chunk(b, max(g.cz*g.kprod, g.cy)); nb > 1 {
		colsp := getScratch[T](g.cz * g.kprod * nb * g.ysz)
		defer putScratch(colsp)
		cols := *colsp
		tmpp := getScratch[T](g.cy * nb * g.ysz)
		defer putScratch(tmpp)
		tmp := *tmpp
		u := newUnfolder[T](g, nb)
		defer u.release()
		for i0 := 0; i0 < b; i0 += nb {
			n := min(nb, b-i0)
			ld := n * g.ysz
			u.unfold(z, i0, n, cols)
			for gr := 0; gr < g.group; gr++ {
				gemm(false, false, g.cyg, ld, g.ckg, 1, w[gr*g.cyg*g.ckg:], g.ckg, cols[gr*g.ckg*ld:], ld, 0, tmp[gr*g.cyg*ld:], ld)
			}
			scatterImages(tmp, y, i0, n, g.cy, g.ysz, false, bias)
		}
		return
	}
	bufp := getScratch[T](g.colsLen())
	defer putScratch(bufp)
	buf := *bufp
	for i := 0; i < b; i++ {
		cols := colsOf(g, z[i*g.cz*g.zsz:(i+1)*g.cz*g.zsz], buf)
		yi := y[i*g.cy*g.ysz:]
		for gr := 0; gr < g.group; gr++ {
			gemm(false, false, g.cyg, g.ysz, g.ckg, 1, w[gr*g.cyg*g.ckg:], g.ckg, cols[gr*g.ckg*g.ysz:], g.ysz, 0, yi[gr*g.cyg*g.ysz:], g.ysz)
		}
	}
	if bias != nil {
		convAddBias(y[:b*g.cy*g.ysz], bias, g.cy, g.ysz, 0)
	}
}

// convBackData sets z = convᵀ(y, w) for every image of y, the adjoint of
// convForward in z: Wᵀ·y per group, then col2im.
func convBackData[T Float](g *convGeom, y, w, z []T) {
	b := len(y) / (g.cy * g.ysz)
	clear(z[:b*g.cz*g.zsz])
	if nb := g.chunk(b, max(g.cz*g.kprod, g.cy)); nb > 1 {
		colsp := getScratch[T](g.cz * g.kprod * nb * g.ysz)
		defer putScratch(colsp)
		cols := *colsp
		ysp := getScratch[T](g.cy * nb * g.ysz)
		defer putScratch(ysp)
		ys := *ysp
		idx := g.colIndex()
		for i0 := 0; i0 < b; i0 += nb {
			n := min(nb, b-i0)
			ld := n * g.ysz
			gatherImages(y, i0, n, g.cy, g.ysz, ys)
			for gr := 0; gr < g.group; gr++ {
				gemm(true, false, g.ckg, ld, g.cyg, 1, w[gr*g.cyg*g.ckg:], g.ckg, ys[gr*g.cyg*ld:], ld, 0, cols[gr*g.ckg*ld:], ld)
			}
			if g.direct { // cols are the images themselves, side by side
				scatterImages(cols, z, i0, n, g.cz, g.zsz, true, nil)
				continue
			}
			for i := 0; i < n; i++ {
				fold(g, cols[i*g.ysz:], z[(i0+i)*g.cz*g.zsz:(i0+i+1)*g.cz*g.zsz], ld, idx)
			}
		}
		return
	}
	bufp := getScratch[T](g.colsLen())
	defer putScratch(bufp)
	buf := *bufp
	for i := 0; i < b; i++ {
		zi := z[i*g.cz*g.zsz : (i+1)*g.cz*g.zsz]
		convBackImage(g, y[i*g.cy*g.ysz:], w, zi, buf)
	}
}

// convBackImage adds convᵀ(y, w) into one image z; buf holds cols.
func convBackImage[T Float](g *convGeom, y, w, z, buf []T) {
	cols := buf
	if g.direct {
		cols = z // Wᵀ·y accumulates straight into z
	}
	beta := T(0)
	if g.direct {
		beta = 1
	}
	for gr := 0; gr < g.group; gr++ {
		gemm(true, false, g.ckg, g.ysz, g.cyg, 1, w[gr*g.cyg*g.ckg:], g.ckg, y[gr*g.cyg*g.ysz:], g.ysz, beta, cols[gr*g.ckg*g.ysz:], g.ysz)
	}
	if !g.direct {
		col2im(g, cols, z, g.ysz)
	}
}

// convWeightFwd adds conv(z, dw_j) into dy[j] for each of the r weight
// directions dw [r, cy, czg, k...]; z holds nb images, dy is [r, nb, cy, ys...].
// Each image is unfolded once for all directions.
func convWeightFwd[T Float](g *convGeom, z, dw, dy []T, r int) {
	nb := len(z) / (g.cz * g.zsz)
	wsz := g.cy * g.ckg
	if cn := g.chunk(nb, max(g.cz*g.kprod, r*g.cy)); cn > 1 {
		// One GEMM per chunk for every direction (group 1): the r weight
		// blocks stack into the rows, [r·cy, ckg].
		colsp := getScratch[T](g.cz * g.kprod * cn * g.ysz)
		defer putScratch(colsp)
		cols := *colsp
		tmpp := getScratch[T](r * g.cy * cn * g.ysz)
		defer putScratch(tmpp)
		tmp := *tmpp
		u := newUnfolder[T](g, cn)
		defer u.release()
		for i0 := 0; i0 < nb; i0 += cn {
			n := min(cn, nb-i0)
			ld := n * g.ysz
			u.unfold(z, i0, n, cols)
			if g.group == 1 {
				gemm(false, false, r*g.cy, ld, g.ckg, 1, dw, g.ckg, cols, ld, 0, tmp, ld)
			} else {
				for j := 0; j < r; j++ {
					for gr := 0; gr < g.group; gr++ {
						gemm(false, false, g.cyg, ld, g.ckg, 1, dw[j*wsz+gr*g.cyg*g.ckg:], g.ckg, cols[gr*g.ckg*ld:], ld, 0, tmp[(j*g.cy+gr*g.cyg)*ld:], ld)
					}
				}
			}
			for j := 0; j < r; j++ {
				scatterImages(tmp[j*g.cy*ld:], dy[j*nb*g.cy*g.ysz:], i0, n, g.cy, g.ysz, true, nil)
			}
		}
		return
	}
	bufp := getScratch[T](g.colsLen())
	defer putScratch(bufp)
	buf := *bufp
	for i := 0; i < nb; i++ {
		cols := colsOf(g, z[i*g.cz*g.zsz:(i+1)*g.cz*g.zsz], buf)
		for j := 0; j < r; j++ {
			yi := dy[(j*nb+i)*g.cy*g.ysz:]
			for gr := 0; gr < g.group; gr++ {
				gemm(false, false, g.cyg, g.ysz, g.ckg, 1, dw[j*wsz+gr*g.cyg*g.ckg:], g.ckg, cols[gr*g.ckg*g.ysz:], g.ysz, 1, yi[gr*g.cyg*g.ysz:], g.ysz)
			}
		}
	}
}

// convWeightBack adds convᵀ(y, dw_j) into dz[j] for each of the r weight
// directions; y holds nb images, dz is [r, nb, cz, zs...].
func convWeightBack[T Float](g *convGeom, y, dw, dz []T, r int) {
	nb := len(y) / (g.cy * g.ysz)
	wsz := g.cy * g.ckg
	bufp := getScratch[T](g.colsLen())
	defer putScratch(bufp)
	buf := *bufp
	for j := 0; j < r; j++ {
		for i := 0; i < nb; i++ {
			zi := dz[(j*nb+i)*g.cz*g.zsz : (j*nb+i+1)*g.cz*g.zsz]
			convBackImage(g, y[i*g.cy*g.ysz:], dw[j*wsz:], zi, buf)
		}
	}
}

// convWeightAdj adds into gw_j (of [r, cy, czg, k...]) the adjoint of
// W ↦ conv(z, W) applied to gy, summed over the nb images:
// gw_j += Σ_i gy_{j,i}·cols(z_{j,i})ᵀ. z and gy are either one set of nb
// images shared by every direction (zShared, gyShared) or [r, nb, ...].
func convWeightAdj[T Float](g *convGeom, z, gy, gw []T, r, nb int, zShared, gyShared bool) {
	wsz := g.cy * g.ckg
	imgZ, imgY := g.cz*g.zsz, g.cy*g.ysz
	if cn := g.chunk(nb, max(g.cz*g.kprod, r*g.cy)); zShared && !gyShared && cn > 1 {
		// Per chunk: cols once, the r cotangent blocks side by side in the
		// rows [r·cy, n·ysz], and (group 1) one GEMM into every gw_j.
		colsp := getScratch[T](g.cz * g.kprod * cn * g.ysz)
		defer putScratch(colsp)
		cols := *colsp
		ysp := getScratch[T](r * g.cy * cn * g.ysz)
		defer putScratch(ysp)
		ys := *ysp
		u := newUnfolder[T](g, cn)
		defer u.release()
		for i0 := 0; i0 < nb; i0 += cn {
			n := min(cn, nb-i0)
			ld := n * g.ysz
			u.unfold(z, i0, n, cols)
			for j := 0; j < r; j++ {
				gatherImages(gy[j*nb*imgY:], i0, n, g.cy, g.ysz, ys[j*g.cy*ld:])
			}
			if g.group == 1 {
				gemm(false, true, r*g.cy, g.ckg, ld, 1, ys, ld, cols, ld, 1, gw, g.ckg)
				continue
			}
			for j := 0; j < r; j++ {
				for gr := 0; gr < g.group; gr++ {
					gemm(false, true, g.cyg, g.ckg, ld, 1, ys[(j*g.cy+gr*g.cyg)*ld:], ld, cols[gr*g.ckg*ld:], ld, 1, gw[j*wsz+gr*g.cyg*g.ckg:], g.ckg)
				}
			}
		}
		return
	}
	bufp := getScratch[T](g.colsLen())
	defer putScratch(bufp)
	buf := *bufp
	for i := 0; i < nb; i++ {
		var cols []T
		if zShared { // unfold once for all directions
			cols = colsOf(g, z[i*imgZ:(i+1)*imgZ], buf)
		}
		for j := 0; j < r; j++ {
			if !zShared {
				cols = colsOf(g, z[(j*nb+i)*imgZ:(j*nb+i+1)*imgZ], buf)
			}
			yi := gy[i*imgY:]
			if !gyShared {
				yi = gy[(j*nb+i)*imgY:]
			}
			for gr := 0; gr < g.group; gr++ {
				gemm(false, true, g.cyg, g.ckg, g.ysz, 1, yi[gr*g.cyg*g.ysz:], g.ysz, cols[gr*g.ckg*g.ysz:], g.ysz, 1, gw[j*wsz+gr*g.cyg*g.ckg:], g.ckg)
			}
		}
	}
}

// convAddBias adds b[c] to every position of channel c of x [nimg, ch, sp].
// With per = 0, b is [ch] and serves every image; with per > 0, b is a
// block [r, ch] and image i (of [r, per, ...]) takes row i / per.
func convAddBias[T Float](x, b []T, ch, sp, per int) {
	nimg := len(x) / (ch * sp)
	for i := 0; i < nimg; i++ {
		row := b
		if per > 0 {
			row = b[(i/per)*ch : (i/per+1)*ch]
		}
		for c := 0; c < ch; c++ {
			v := row[c]
			seg := x[(i*ch+c)*sp : (i*ch+c+1)*sp]
			for e := range seg {
				seg[e] += v
			}
		}
	}
}

// convSumChannels returns [r, ch]: the sum of x [r, nb, ch, sp] over images and space.
func convSumChannels[T Float](x []T, r, ch, sp int) *Tensor[T] {
	out := New[T](r, ch)
	nb := len(x) / (r * ch * sp)
	for j := 0; j < r; j++ {
		for i := 0; i < nb; i++ {
			for c := 0; c < ch; c++ {
				s := T(0)
				for _, v := range x[((j*nb+i)*ch+c)*sp : ((j*nb+i)*ch+c+1)*sp] {
					s += v
				}
				out.Data[j*ch+c] += s
			}
		}
	}
	return out
}

// convAttrs are the attributes Conv and ConvTranspose share.
type convAttrs struct {
	autoPad                  string
	group                    int
	kernel, strides, dils    []int
	pads, outPadding, outShp []int
}

func readConvAttrs(n *Node) (convAttrs, error) {
	a := convAttrs{
		autoPad:    n.Attrs.String("auto_pad", "NOTSET"),
		group:      int(n.Attrs.Int("group", 1)),
		kernel:     n.Attrs.Ints("kernel_shape"),
		strides:    n.Attrs.Ints("strides"),
		dils:       n.Attrs.Ints("dilations"),
		pads:       n.Attrs.Ints("pads"),
		outPadding: n.Attrs.Ints("output_padding"),
		outShp:     n.Attrs.Ints("output_shape"),
	}
	switch a.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	case "":
		a.autoPad = "NOTSET"
	default:
		return a, fmt.Errorf("unknown auto_pad %q", a.autoPad)
	}
	if a.group < 1 {
		return a, fmt.Errorf("group %d < 1", a.group)
	}
	return a, nil
}

// checkSpatial checks x [N, C, s...] and w [·, ·, k...] against the
// attributes and returns the number of spatial axes and the per-axis
// kernel, strides and dilations (defaults filled in).
func (a *convAttrs) checkSpatial(op string, xs, ws []int) (nsp int, k, s, d []int, err error) {
	nsp = len(xs) - 2
	if nsp < 1 || nsp > 3 || len(ws) != len(xs) {
		return 0, nil, nil, nil, fmt.Errorf("%s: input %v and weight %v must both have rank 3, 4 or 5", op, xs, ws)
	}
	k = ws[2:]
	if a.kernel != nil && !SameShape(a.kernel, k) {
		return 0, nil, nil, nil, fmt.Errorf("%s: kernel_shape %v differs from weight %v", op, a.kernel, ws)
	}
	fill := func(name string, v []int) ([]int, error) {
		if v == nil {
			v = make([]int, nsp)
			for i := range v {
				v[i] = 1
			}
		}
		if len(v) != nsp {
			return nil, fmt.Errorf("%s: %s %v for %d spatial axes", op, name, v, nsp)
		}
		for _, e := range v {
			if e < 1 {
				return nil, fmt.Errorf("%s: %s %v must be positive", op, name, v)
			}
		}
		return v, nil
	}
	if s, err = fill("strides", a.strides); err != nil {
		return
	}
	if d, err = fill("dilations", a.dils); err != nil {
		return
	}
	if a.pads != nil && len(a.pads) != 2*nsp {
		return 0, nil, nil, nil, fmt.Errorf("%s: pads %v for %d spatial axes", op, a.pads, nsp)
	}
	for _, p := range a.pads {
		if p < 0 && op == "Conv" {
			return 0, nil, nil, nil, fmt.Errorf("%s: negative pads %v", op, a.pads)
		}
	}
	return nsp, k, s, d, nil
}

// setAxis stores the values of spatial axis i (of nsp) in the geometry's
// three slots, right-aligned.
func (g *convGeom) setAxis(i, nsp, zs, ys, k, s, d, p int) {
	j := 3 - nsp + i
	g.zs[j], g.ys[j], g.k[j], g.s[j], g.d[j], g.p[j] = zs, ys, k, s, d, p
}

func newGeom(group int) convGeom {
	return convGeom{group: group, zs: [3]int{1, 1, 1}, ys: [3]int{1, 1, 1}, k: [3]int{1, 1, 1}, s: [3]int{1, 1, 1}, d: [3]int{1, 1, 1}}
}

// ---------------------------------------------------------------------------
// Conv

// conv is ONNX Conv (opsets 1, 11, 22) in 1, 2 or 3 spatial dimensions:
// X [N, C, s...], W [M, C/group, k...], optional B [M],
//
//	Y[n, m, o] = Σ_{c∈group(m), t} W[m, c, t]·X[n, c, o·stride + t·dilation − pad_begin] + B[m]
//
// with auto_pad SAME_UPPER/SAME_LOWER giving ceil(s/stride) outputs (the
// odd pad at the end/beginning) and VALID no padding.
//
//	JVP: dY = conv(dX, W) + conv(X, dW) + dB
//	VJP: X̄ = convᵀ(Ȳ, W) (col2im), W̄ = Σ_n Ȳ_n·cols(X_n)ᵀ, B̄ = Σ_{n,o} Ȳ
type conv[T Float] struct {
	limited
	a convAttrs
}

func newConv[T Float](n *Node) (*conv[T], error) {
	a, err := readConvAttrs(n)
	if err != nil {
		return nil, err
	}
	return &conv[T]{a: a}, nil
}

func (c *conv[T]) geom(in []*Tensor[T]) (convGeom, []int, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return convGeom{}, nil, fmt.Errorf("Conv needs inputs X and W")
	}
	x, w := in[0], in[1]
	nsp, k, s, d, err := c.a.checkSpatial("Conv", x.Shape, w.Shape)
	if err != nil {
		return convGeom{}, nil, err
	}
	g := newGeom(c.a.group)
	g.cz, g.cy = x.Shape[1], w.Shape[0]
	if g.cz != w.Shape[1]*g.group || g.cy%g.group != 0 {
		return g, nil, fmt.Errorf("Conv: input %v, weight %v and group %d do not match", x.Shape, w.Shape, g.group)
	}
	if len(in) > 2 && in[2] != nil && !SameShape(in[2].Shape, []int{g.cy}) {
		return g, nil, fmt.Errorf("Conv: bias %v for %d output channels", in[2].Shape, g.cy)
	}
	out := []int{x.Shape[0], g.cy}
	for i := 0; i < nsp; i++ {
		in, ext := x.Shape[2+i], (k[i]-1)*d[i]+1
		var o, pb int
		switch c.a.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = (in + s[i] - 1) / s[i]
			total := max(0, (o-1)*s[i]+ext-in)
			pb = total / 2
			if c.a.autoPad == "SAME_LOWER" {
				pb = total - total/2
			}
		case "VALID":
			o = (in-ext)/s[i] + 1
			if in < ext {
				o = 0
			}
		default:
			pe := 0
			if c.a.pads != nil {
				pb, pe = c.a.pads[i], c.a.pads[nsp+i]
			}
			o = (in+pb+pe-ext)/s[i] + 1
			if in+pb+pe < ext {
				o = 0
			}
		}
		if o < 1 {
			return g, nil, fmt.Errorf("Conv: input %v too small for kernel %v (dilations %v, pads %v)", x.Shape, k, d, c.a.pads)
		}
		g.setAxis(i, nsp, in, o, k[i], s[i], d[i], pb)
		out = append(out, o)
	}
	g.finish()
	return g, out, nil
}

func (c *conv[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	return c.forwardAlloc(in, newZero[T])
}

// forwardAlloc is Forward with y from alloc, which convForward overwrites.
func (c *conv[T]) forwardAlloc(in []*Tensor[T], alloc func(...int) *Tensor[T]) ([]*Tensor[T], error) {
	g, shape, err := c.geom(in)
	if err != nil {
		return nil, err
	}
	// The output, and the column buffer of one image.
	if err := c.checkOut(shape, []int{g.ckg, max(g.ysz, g.zsz)}); err != nil {
		return nil, err
	}
	var bias []T
	if len(in) > 2 && in[2] != nil {
		bias = in[2].Data
	}
	y := alloc(shape...)
	convForward(&g, in[0].Data, in[1].Data, bias, y.Data)
	return []*Tensor[T]{y}, nil
}

func (c *conv[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	return c.jvpAlloc(in, out, tin, r, newZero[T])
}

// jvpAlloc is JVP with dy from alloc: the input tangent's conv overwrites
// it, otherwise it is cleared for the sums of the other terms.
func (c *conv[T]) jvpAlloc(in, out, tin []*Tensor[T], r int, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	g, shape, _ := c.geom(in)
	var dy *Tensor[T]
	start := func() {
		if dy == nil {
			dy = alloc(BlockShape(r, shape)...)
			clear(dy.Data)
		}
	}
	if dx := tin[0]; dx != nil { // the r·N tangent images go through one conv
		dy = alloc(BlockShape(r, shape)...)
		convForward(&g, dx.Data, in[1].Data, nil, dy.Data)
	}
	if dw := tin[1]; dw != nil {
		start()
		convWeightFwd(&g, in[0].Data, dw.Data, dy.Data, r)
	}
	if len(tin) > 2 && tin[2] != nil {
		start()
		convAddBias(dy.Data, tin[2].Data, g.cy, g.ysz, shape[0])
	}
	return []*Tensor[T]{dy}
}

func (c *conv[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return c.VJPNeeded(in, out, gout, r, nil)
}

// VJPNeeded computes the cotangents of the wanted inputs only (a first
// layer's X̄ costs as much as its forward pass).
func (c *conv[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	return c.vjpAlloc(in, out, gout, r, need, newZero[T])
}

// vjpAlloc is VJPNeeded with X̄ and W̄ from alloc (convBackData clears X̄;
// W̄, a sum, is cleared here).
func (c *conv[T]) vjpAlloc(in, out, gout []*Tensor[T], r int, need []bool, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	res := make([]*Tensor[T], len(in))
	gy := gout[0]
	if gy == nil {
		return res
	}
	g, _, _ := c.geom(in)
	if wants(need, 0) {
		gx := alloc(BlockShape(r, in[0].Shape)...)
		convBackData(&g, gy.Data, in[1].Data, gx.Data)
		res[0] = gx
	}
	if wants(need, 1) {
		gw := alloc(BlockShape(r, in[1].Shape)...)
		clear(gw.Data)
		convWeightAdj(&g, in[0].Data, gy.Data, gw.Data, r, in[0].Shape[0], true, false)
		res[1] = gw
	}
	if len(in) > 2 && in[2] != nil && wants(need, 2) {
		res[2] = convSumChannels(gy.Data, r, g.cy, g.ysz)
	}
	return res
}

// ---------------------------------------------------------------------------
// ConvTranspose

// convTranspose is ONNX ConvTranspose (opsets 1, 11, 22): X [N, C, s...],
// W [C, M/group, k...], optional B [M]; the adjoint in X of a Conv from
// M channels to C with weight W, plus B:
//
//	Y = convᵀ(X, W) + B,  out = stride·(in−1) + output_padding + (k−1)·dilation + 1 − pads
//
// output_shape, when given, fixes the output size and the pads follow from
// it (the odd pad at the end for SAME_UPPER, at the beginning otherwise);
// auto_pad SAME_* without output_shape gives in·stride outputs.
//
//	JVP: dY = convᵀ(dX, W) + convᵀ(X, dW) + dB
//	VJP: X̄ = conv(Ȳ, W),  W̄ = Σ_n X_n·cols(Ȳ_n)ᵀ,  B̄ = Σ_{n,o} Ȳ
type convTranspose[T Float] struct {
	limited
	a convAttrs
}

func newConvTranspose[T Float](n *Node) (*convTranspose[T], error) {
	a, err := readConvAttrs(n)
	if err != nil {
		return nil, err
	}
	return &convTranspose[T]{a: a}, nil
}

func (c *convTranspose[T]) geom(in []*Tensor[T]) (convGeom, []int, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return convGeom{}, nil, fmt.Errorf("ConvTranspose needs inputs X and W")
	}
	x, w := in[0], in[1]
	nsp, k, s, d, err := c.a.checkSpatial("ConvTranspose", x.Shape, w.Shape)
	if err != nil {
		return convGeom{}, nil, err
	}
	g := newGeom(c.a.group)
	g.cy, g.cz = x.Shape[1], w.Shape[1]*g.group
	if w.Shape[0] != g.cy || g.cy%g.group != 0 {
		return g, nil, fmt.Errorf("ConvTranspose: input %v, weight %v and group %d do not match", x.Shape, w.Shape, g.group)
	}
	if len(in) > 2 && in[2] != nil && !SameShape(in[2].Shape, []int{g.cz}) {
		return g, nil, fmt.Errorf("ConvTranspose: bias %v for %d output channels", in[2].Shape, g.cz)
	}
	op := c.a.outPadding
	if op == nil {
		op = make([]int, nsp)
	}
	if len(op) != nsp {
		return g, nil, fmt.Errorf("ConvTranspose: output_padding %v for %d spatial axes", op, nsp)
	}
	outShp := c.a.outShp
	if outShp != nil {
		if len(outShp) < nsp {
			return g, nil, fmt.Errorf("ConvTranspose: output_shape %v for %d spatial axes", outShp, nsp)
		}
		outShp = outShp[len(outShp)-nsp:] // some exporters give [N, C, s...]
	}
	out := []int{x.Shape[0], g.cz}
	for i := 0; i < nsp; i++ {
		in, ext := x.Shape[2+i], (k[i]-1)*d[i]+1
		if op[i] < 0 || op[i] >= max(s[i], d[i]) {
			return g, nil, fmt.Errorf("ConvTranspose: output_padding %v must be below strides %v or dilations %v", op, s, d)
		}
		full := s[i]*(in-1) + op[i] + ext // output size without padding
		var o, pb int
		switch {
		case outShp != nil || c.a.autoPad == "SAME_UPPER" || c.a.autoPad == "SAME_LOWER":
			if outShp != nil {
				o = outShp[i]
			} else {
				o = in * s[i]
			}
			// total < 0 (output_shape above the natural size) leaves
			// positions that nothing reaches; halves round down, as in
			// the ONNX reference, so an extra position goes to the end.
			total := full - o
			half := total / 2
			if total < 0 && total%2 != 0 {
				half--
			}
			pb = total - half
			if c.a.autoPad == "SAME_UPPER" {
				pb = half
			}
		case c.a.autoPad == "VALID":
			o = full
		default:
			pe := 0
			if c.a.pads != nil {
				pb, pe = c.a.pads[i], c.a.pads[nsp+i]
			}
			o = full - pb - pe
		}
		if o < 1 {
			return g, nil, fmt.Errorf("ConvTranspose: output size %d < 1 (input %v, kernel %v, pads %v)", o, x.Shape, k, c.a.pads)
		}
		g.setAxis(i, nsp, o, in, k[i], s[i], d[i], pb)
		out = append(out, o)
	}
	g.finish()
	return g, out, nil
}

func (c *convTranspose[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	g, shape, err := c.geom(in)
	if err != nil {
		return nil, err
	}
	// The output, and the column buffer of one image.
	if err := c.checkOut(shape, []int{g.ckg, max(g.ysz, g.zsz)}); err != nil {
		return nil, err
	}
	y := New[T](shape...)
	convBackData(&g, in[0].Data, in[1].Data, y.Data)
	if len(in) > 2 && in[2] != nil {
		convAddBias(y.Data, in[2].Data, g.cz, g.zsz, 0)
	}
	return []*Tensor[T]{y}, nil
}

func (c *convTranspose[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	g, shape, _ := c.geom(in)
	var dy *Tensor[T]
	if dx := tin[0]; dx != nil {
		dy = New[T](BlockShape(r, shape)...)
		convBackData(&g, dx.Data, in[1].Data, dy.Data)
	}
	if dw := tin[1]; dw != nil {
		if dy == nil {
			dy = New[T](BlockShape(r, shape)...)
		}
		convWeightBack(&g, in[0].Data, dw.Data, dy.Data, r)
	}
	if len(tin) > 2 && tin[2] != nil {
		if dy == nil {
			dy = New[T](BlockShape(r, shape)...)
		}
		convAddBias(dy.Data, tin[2].Data, g.cz, g.zsz, shape[0])
	}
	return []*Tensor[T]{dy}
}

func (c *convTranspose[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	res := make([]*Tensor[T], len(in))
	gy := gout[0]
	if gy == nil {
		return res
	}
	g, _, _ := c.geom(in)
	gx := New[T](BlockShape(r, in[0].Shape)...)
	convForward(&g, gy.Data, in[1].Data, nil, gx.Data)
	// W̄_j = Σ_n X_n·cols(Ȳ_{j,n})ᵀ: the conv weight adjoint with the roles
	// of image and cotangent exchanged; X is shared by every direction.
	gw := New[T](BlockShape(r, in[1].Shape)...)
	convWeightAdj(&g, gy.Data, in[0].Data, gw.Data, r, in[0].Shape[0], false, true)
	res[0], res[1] = gx, gw
	if len(in) > 2 && in[2] != nil {
		res[2] = convSumChannels(gy.Data, r, g.cz, g.zsz)
	}
	return res
}
