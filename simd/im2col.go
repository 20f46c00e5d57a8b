package simd

import "fmt"

// Conv2D is the geometry of a 2-D convolution over one image of C channels of
// H×W pixels (row-major, channel-major: pixel (c, y, x) at c·H·W + y·W + x)
// with a KH×KW kernel, strides, dilations and zero padding.
type Conv2D struct {
	C, H, W                              int
	KH, KW                               int
	StrideH, StrideW                     int // 0 means 1
	DilationH, DilationW                 int // 0 means 1
	PadTop, PadLeft, PadBottom, PadRight int
}

func or1(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// OutH returns the output height ⌊(H + PadTop + PadBottom − DilationH·(KH−1) − 1) / StrideH⌋ + 1.
func (g Conv2D) OutH() int {
	return (g.H+g.PadTop+g.PadBottom-or1(g.DilationH)*(g.KH-1)-1)/or1(g.StrideH) + 1
}

// OutW returns the output width ⌊(W + PadLeft + PadRight − DilationW·(KW−1) − 1) / StrideW⌋ + 1.
func (g Conv2D) OutW() int {
	return (g.W+g.PadLeft+g.PadRight-or1(g.DilationW)*(g.KW-1)-1)/or1(g.StrideW) + 1
}

// ColRows is C·KH·KW, ColCols is OutH·OutW: the shape of the column matrix.
func (g Conv2D) ColRows() int { return g.C * g.KH * g.KW }

// ColCols returns OutH·OutW.
func (g Conv2D) ColCols() int { return g.OutH() * g.OutW() }

func (g Conv2D) check(fn string, lim, lcol int) {
	if g.C < 0 || g.H < 0 || g.W < 0 || g.KH <= 0 || g.KW <= 0 || g.StrideH < 0 || g.StrideW < 0 ||
		g.DilationH < 0 || g.DilationW < 0 || g.PadTop < 0 || g.PadLeft < 0 || g.PadBottom < 0 || g.PadRight < 0 {
		panic(fmt.Sprintf("simd.%s: invalid geometry %+v", fn, g))
	}
	if g.OutH() <= 0 || g.OutW() <= 0 {
		panic(fmt.Sprintf("simd.%s: empty output for %+v", fn, g))
	}
	if lim < g.C*g.H*g.W || lcol < g.ColRows()*g.ColCols() {
		panic(fmt.Sprintf("simd.%s: len(im)=%d (want %d) or len(col)=%d (want %d) too short", fn, lim, g.C*g.H*g.W, lcol, g.ColRows()*g.ColCols()))
	}
}

// Im2col writes the column matrix of im: the (C·KH·KW)×(OutH·OutW) row-major
// matrix with
//
//	col[((c·KH + i)·KW + j)·OutH·OutW + y·OutW + x] = im[c·H·W + v·W + u]
//	v = y·StrideH − PadTop + i·DilationH,  u = x·StrideW − PadLeft + j·DilationW
//
// and 0 where (v, u) falls in the padding. A convolution with weights w
// (M×C·KH·KW) is then the product w·col (M×OutH·OutW).
func Im2col[T float32 | float64](g Conv2D, im, col []T) {
	g.check("Im2col", len(im), len(col))
	oh, ow := g.OutH(), g.OutW()
	sh, sw, dh, dw := or1(g.StrideH), or1(g.StrideW), or1(g.DilationH), or1(g.DilationW)
	row := 0
	for c := 0; c < g.C; c++ {
		plane := im[c*g.H*g.W : (c+1)*g.H*g.W]
		for i := 0; i < g.KH; i++ {
			for j := 0; j < g.KW; j++ {
				dst := col[row*oh*ow : (row+1)*oh*ow]
				row++
				for y := 0; y < oh; y++ {
					v := y*sh - g.PadTop + i*dh
					out := dst[y*ow : (y+1)*ow]
					if v < 0 || v >= g.H {
						clear(out)
						continue
					}
					src := plane[v*g.W : (v+1)*g.W]
					u := j*dw - g.PadLeft
					for x := range out {
						if u >= 0 && u < g.W {
							out[x] = src[u]
						} else {
							out[x] = 0
						}
						u += sw
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds each column-matrix entry back into
// the pixel it was copied from,
//
//	im[c·H·W + v·W + u] += col[((c·KH + i)·KW + j)·OutH·OutW + y·OutW + x]
//
// with v, u as in Im2col, skipping padding, so ⟨Im2col(x), y⟩ = ⟨x, Col2im(y)⟩
// when im starts at zero. It accumulates into im; clear im first for a plain
// transpose.
func Col2im[T float32 | float64](g Conv2D, col, im []T) {
	g.check("Col2im", len(im), len(col))
	oh, ow := g.OutH(), g.OutW()
	sh, sw, dh, dw := or1(g.StrideH), or1(g.StrideW), or1(g.DilationH), or1(g.DilationW)
	row := 0
	for c := 0; c < g.C; c++ {
		plane := im[c*g.H*g.W : (c+1)*g.H*g.W]
		for i := 0; i < g.KH; i++ {
			for j := 0; j < g.KW; j++ {
				src := col[row*oh*ow : (row+1)*oh*ow]
				row++
				for y := 0; y < oh; y++ {
					v := y*sh - g.PadTop + i*dh
					if v < 0 || v >= g.H {
						continue
					}
					dst := plane[v*g.W : (v+1)*g.W]
					in := src[y*ow : (y+1)*ow]
					u := j*dw - g.PadLeft
					for x := range in {
						if u >= 0 && u < g.W {
							dst[u] += in[x]
						}
						u += sw
					}
				}
			}
		}
	}
}
