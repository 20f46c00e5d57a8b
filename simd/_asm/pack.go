package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// genPack emits
//
//	func packA4x8AVX(n int, a *float32, lda int, dst *float32, mr int, alpha float32)
//
// which packs a 4-row strip of A for the micro-kernels, transposing 4×8
// blocks in registers: for r < 4, p < 8n: dst[p*mr+r] = alpha * a[r*lda+p].
func genPack() {
	TEXT("packA4x8AVX", NOSPLIT, "func(n int, a *float32, lda int, dst *float32, mr int, alpha float32)")
	Doc("packA4x8AVX packs 4 rows of A: for r < 4, p < 8n: dst[p*mr+r] = alpha * a[r*lda+p].")
	n := Load(Param("n"), RCX)
	a := Load(Param("a"), RSI)
	lda := Load(Param("lda"), RAX)
	SHLQ(Imm(2), lda)
	dst := Load(Param("dst"), RDI)
	mr := Load(Param("mr"), RDX)
	SHLQ(Imm(2), mr)
	alpha := Y15
	al, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(al.Addr, alpha)
	a1, a2, a3 := R8, R9, R10
	LEAQ(Mem{Base: a, Index: lda, Scale: 1}, a1)
	LEAQ(Mem{Base: a, Index: lda, Scale: 2}, a2)
	LEAQ(Mem{Base: a1, Index: lda, Scale: 2}, a3)
	mr3 := R11
	LEAQ(Mem{Base: mr, Index: mr, Scale: 2}, mr3)
	d4 := R12 // dst + 4 rows of output

	Label("packA4x8_loop")
	TESTQ(n, n)
	JE(LabelRef("packA4x8_done"))
	r0, r1, r2, r3 := Y0, Y1, Y2, Y3
	VMULPS(Mem{Base: a}, alpha, r0)
	VMULPS(Mem{Base: a1}, alpha, r1)
	VMULPS(Mem{Base: a2}, alpha, r2)
	VMULPS(Mem{Base: a3}, alpha, r3)
	t0, t1, t2, t3 := Y4, Y5, Y6, Y7
	VUNPCKLPS(r1, r0, t0) // r0[0] r1[0] r0[1] r1[1] | +4
	VUNPCKHPS(r1, r0, t1) // r0[2] r1[2] r0[3] r1[3] | +4
	VUNPCKLPS(r3, r2, t2)
	VUNPCKHPS(r3, r2, t3)
	u0, u1, u2, u3 := Y8, Y9, Y10, Y11
	VUNPCKLPD(t2, t0, u0) // p=0 | p=4
	VUNPCKHPD(t2, t0, u1) // p=1 | p=5
	VUNPCKLPD(t3, t1, u2) // p=2 | p=6
	VUNPCKHPD(t3, t1, u3) // p=3 | p=7
	LEAQ(Mem{Base: dst, Index: mr, Scale: 4}, d4)
	VMOVUPS(u0.AsX(), Mem{Base: dst})
	VMOVUPS(u1.AsX(), Mem{Base: dst, Index: mr, Scale: 1})
	VMOVUPS(u2.AsX(), Mem{Base: dst, Index: mr, Scale: 2})
	VMOVUPS(u3.AsX(), Mem{Base: dst, Index: mr3, Scale: 1})
	VEXTRACTF128(Imm(1), u0, Mem{Base: d4})
	VEXTRACTF128(Imm(1), u1, Mem{Base: d4, Index: mr, Scale: 1})
	VEXTRACTF128(Imm(1), u2, Mem{Base: d4, Index: mr, Scale: 2})
	VEXTRACTF128(Imm(1), u3, Mem{Base: d4, Index: mr3, Scale: 1})
	ADDQ(Imm(32), a)
	ADDQ(Imm(32), a1)
	ADDQ(Imm(32), a2)
	ADDQ(Imm(32), a3)
	LEAQ(Mem{Base: d4, Index: mr, Scale: 4}, dst)
	DECQ(n)
	JMP(LabelRef("packA4x8_loop"))
	Label("packA4x8_done")
	VZEROUPPER()
	RET()
}

// genPack16 emits
//
//	func packT16x16AVX512(n int, b *float32, ldb int, dst *float32, ld int)
//
// which transposes a 16-row strip of b in 16×16 blocks in registers, for
// packing a transposed B: for r < 16, p < 16n: dst[p*ld+r] = b[r*ldb+p].
// Each block is 16 loads, four rounds of 16 shuffles (pairs of floats, then
// of doubles, then two of 128-bit lanes) and 16 stores of full cache lines.
func genPack16() {
	TEXT("packT16x16AVX512", NOSPLIT, "func(n int, b *float32, ldb int, dst *float32, ld int)")
	Doc("packT16x16AVX512 transposes 16 rows of b: for r < 16, p < 16n: dst[p*ld+r] = b[r*ldb+p].")
	n := Load(Param("n"), RCX)
	Load(Param("b"), RSI)
	ldb := Load(Param("ldb"), RAX)
	SHLQ(Imm(2), ldb)
	dst := Load(Param("dst"), RDI)
	ld := Load(Param("ld"), RDX)
	SHLQ(Imm(2), ld)
	ldb3, ld3, ld4 := R11, R8, R9
	LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	LEAQ(Mem{Base: ld3, Index: ld, Scale: 1}, ld4)
	// Rows 4g+0..3 of b at bases[g] + 0, ldb, 2·ldb, 3·ldb bytes.
	bases := []GPPhysical{RSI, RBX, R12, R13}
	for g := 1; g < 4; g++ {
		LEAQ(Mem{Base: bases[g-1], Index: ldb, Scale: 4}, bases[g])
	}
	row := func(base GPPhysical, idx Register, i int) Mem {
		m := Mem{Base: base}
		switch i % 4 {
		case 1:
			m.Index, m.Scale = idx, 1
		case 2:
			m.Index, m.Scale = idx, 2
		case 3:
			m.Index, m.Scale = idx, 1
		}
		return m
	}
	z := func(i int) VecPhysical {
		return [...]VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
			Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
	}
	in, t := func(i int) VecPhysical { return z(i) }, func(i int) VecPhysical { return z(16 + i) }

	Label("packT16_loop")
	TESTQ(n, n)
	JE(LabelRef("packT16_done"))
	for r := 0; r < 16; r++ {
		idx := ldb
		if r%4 == 3 {
			idx = ldb3
		}
		VMOVUPS(row(bases[r/4], idx, r), in(r))
	}
	// Round 1: t[2i] lanes = a0 b0 a1 b1, t[2i+1] = a2 b2 a3 b3, for rows
	// a = 2i, b = 2i+1.
	for i := 0; i < 8; i++ {
		VUNPCKLPS(in(2*i+1), in(2*i), t(2*i))
		VUNPCKHPS(in(2*i+1), in(2*i), t(2*i+1))
	}
	// Round 2: v(g, j) holds, in each 128-bit lane L, rows 4g..4g+3 at step
	// 4L+j.
	v := func(g, j int) VecPhysical { return in(4*g + j) }
	for g := 0; g < 4; g++ {
		lo0, hi0, lo1, hi1 := t(4*g), t(4*g+1), t(4*g+2), t(4*g+3)
		VUNPCKLPD(lo1, lo0, v(g, 0))
		VUNPCKHPD(lo1, lo0, v(g, 1))
		VUNPCKLPD(hi1, hi0, v(g, 2))
		VUNPCKHPD(hi1, hi0, v(g, 3))
	}
	// Rounds 3 and 4: a 4×4 transpose of 128-bit lanes for each j gives
	// output row p = 4L+j, lane g = rows 4g..4g+3.
	for j := 0; j < 4; j++ {
		w0, w1, w2, w3 := t(4*j), t(4*j+1), t(4*j+2), t(4*j+3)
		VSHUFF32X4(Imm(0x44), v(1, j), v(0, j), w0)
		VSHUFF32X4(Imm(0xEE), v(1, j), v(0, j), w1)
		VSHUFF32X4(Imm(0x44), v(3, j), v(2, j), w2)
		VSHUFF32X4(Imm(0xEE), v(3, j), v(2, j), w3)
	}
	out := func(p int) VecPhysical { return in(p) } // row p of the block
	for j := 0; j < 4; j++ {
		w0, w1, w2, w3 := t(4*j), t(4*j+1), t(4*j+2), t(4*j+3)
		VSHUFF32X4(Imm(0x88), w2, w0, out(0*4+j))
		VSHUFF32X4(Imm(0xDD), w2, w0, out(1*4+j))
		VSHUFF32X4(Imm(0x88), w3, w1, out(2*4+j))
		VSHUFF32X4(Imm(0xDD), w3, w1, out(3*4+j))
	}
	// Store rows 0..15 of the block, 4 at a time from dst, then step dst on.
	for p := 0; p < 16; p++ {
		idx := ld
		if p%4 == 3 {
			idx = ld3
		}
		VMOVUPS(out(p), row(dst.(GPPhysical), idx, p))
		if p%4 == 3 {
			ADDQ(ld4, dst)
		}
	}
	for _, r := range bases {
		ADDQ(Imm(64), r)
	}
	DECQ(n)
	JMP(LabelRef("packT16_loop"))
	Label("packT16_done")
	VZEROUPPER()
	RET()
}

// Row widths of the packers genRows emits: the B micro-panel widths of the
// kernels (plain copies) and their A micro-panel heights (scaled copies,
// for a transposed A).
var (
	rowsCopyWidths  = []int{8, 16, 24, 32, 48}
	rowsScaleWidths = []int{4, 6, 8, 12, 16}
)

// rowsAhead is how many rows ahead of the one it packs genRows prefetches
// (0, 4 and 12 were tried, 4 and 12 alike).
const rowsAhead = 4

// genRows emits, for each width W of rowsCopyWidths,
//
//	func packRows<W>AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int)
//
// which packs panels adjacent micro-panels of W columns of a row-major
// matrix (a B that is not transposed), each a contiguous block of rows·W
// values: for p < rows, q < panels, j < W:
// dst[q*pstride+p*W+j] = src[p*ld+q*W+j]; and for each W of rowsScaleWidths
//
//	func packRowsScale<W>AVX(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)
//
// which stores alpha * src[p*ld+q*W+j] instead (micro-panels of a transposed
// A). They go through src row by row, each row whole (panels·W values in a
// row), so that the hardware prefetchers see one sequential stream a row,
// and prefetch the row rowsAhead further on. Chunks of 8, 4 and 2 floats,
// AVX only, so the AVX2 kernels use them too.
func genRows() {
	for _, w := range rowsCopyWidths {
		genRowsW(w, false)
	}
	for _, w := range rowsScaleWidths {
		genRowsW(w, true)
	}
}

func genRowsW(w int, scale bool) {
	name := fmt.Sprintf("packRows%dAVX", w)
	if scale {
		name = fmt.Sprintf("packRowsScale%dAVX", w)
		TEXT(name, NOSPLIT, "func(rows, panels int, src *float32, ld int, dst *float32, pstride int, alpha float32)")
		Doc(fmt.Sprintf("%s packs panels of rows of %d floats, scaled: dst[q*pstride+p*%d+j] = alpha * src[p*ld+q*%d+j].", name, w, w, w))
	} else {
		TEXT(name, NOSPLIT, "func(rows, panels int, src *float32, ld int, dst *float32, pstride int)")
		Doc(fmt.Sprintf("%s packs panels of rows of %d floats: dst[q*pstride+p*%d+j] = src[p*ld+q*%d+j].", name, w, w, w))
	}
	n := Load(Param("rows"), RCX)
	panels := Load(Param("panels"), RDX)
	src := Load(Param("src"), RSI)
	ld := Load(Param("ld"), RAX)
	SHLQ(Imm(2), ld)
	dst := Load(Param("dst"), RDI)
	ps := Load(Param("pstride"), RBX)
	SHLQ(Imm(2), ps)
	ahead := R13
	IMUL3Q(Imm(uint64(rowsAhead)), ld, ahead)
	alpha := Y15
	if scale {
		al, err := Param("alpha").Resolve()
		if err != nil {
			panic(err)
		}
		VBROADCASTSS(al.Addr, alpha)
	}
	// chunks of the row: (offset, floats).
	var chunks [][2]int
	for off := 0; off < w; {
		c := 8
		for c > w-off {
			c /= 2
		}
		chunks = append(chunks, [2]int{off, c})
		off += c
	}
	s, d, q := R10, R11, R12
	ys := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14}
	Label(name + "_row")
	TESTQ(n, n)
	JE(LabelRef(name + "_done"))
	MOVQ(src, s)
	MOVQ(dst, d)
	MOVQ(panels, q)
	Label(name + "_panel")
	// The lines of this stretch of the row rowsAhead rows on.
	for off := 0; off < 4*w; off += 64 {
		PREFETCHT0(Mem{Base: s, Index: ahead, Scale: 1, Disp: off})
	}
	PREFETCHT0(Mem{Base: s, Index: ahead, Scale: 1, Disp: 4*w - 1})
	for i, ch := range chunks {
		var r Register = ys[i]
		if ch[1] <= 4 {
			r = ys[i].AsX()
		}
		sm, dm := Mem{Base: s, Disp: 4 * ch[0]}, Mem{Base: d, Disp: 4 * ch[0]}
		switch ch[1] {
		case 8, 4:
			if scale && ch[1] == 8 {
				VMULPS(sm, alpha, r)
			} else if scale {
				VMULPS(sm, alpha.AsX(), r)
			} else {
				VMOVUPS(sm, r)
			}
			VMOVUPS(r, dm)
		case 2:
			VMOVSD(sm, r)
			if scale {
				VMULPS(r, alpha.AsX(), r)
			}
			VMOVSD(r, dm)
		default:
			panic("odd width")
		}
	}
	ADDQ(U32(4*w), s)
	ADDQ(ps, d)
	DECQ(q)
	JNE(LabelRef(name + "_panel"))
	ADDQ(ld, src)
	ADDQ(U32(4*w), dst)
	DECQ(n)
	JMP(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
