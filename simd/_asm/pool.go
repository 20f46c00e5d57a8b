package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The kernels of simd/pool.go: Saffine, a per-row affine map, and
// SmaxPool2, 2×2 max pooling with stride 2. Both compute bitwise their
// pure-Go twins (NaN payloads aside): no fused multiply-adds, and the
// maxima taken in the twin's order with the x86 MAXPS rule.

func genPool() {
	for _, g := range []vgen{{avx512: true, lanes: 16, isa: "AVX512"}, {lanes: 8, isa: "AVX2"}} {
		g.mapText("affine", []string{"dst", "x"}, []string{"a", "b"}, "dst[i] = float32(a·x[i]) + b", func(in, par []Op) Op {
			return g.add(g.mul(par[0], in[0]), par[1])
		})
	}
	maxPool2Text()
	affineRowsText()
}

// affineRowsText emits affineRowsAVX512(rows, n, ldd, ldx int, dst, x, a,
// b *float32): for r < rows and e < n,
//
//	dst[r·ldd + e] = float32(a[r]·x[r·ldx + e]) + b[r]
//
// sixteen elements per step, the last n mod 16 of each row under a mask.
func affineRowsText() {
	g := vgen{avx512: true, lanes: 16, isa: "AVX512"}
	fn := "affineRowsAVX512"
	TEXT(fn, NOSPLIT, "func(rows, n, ldd, ldx int, dst, x, a, b *float32)")
	Doc(fn + " is dst[r·ldd+e] = float32(a[r]·x[r·ldx+e]) + b[r] for r < rows, e < n.")
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	ldd := Load(Param("ldd"), GP64())
	ldx := Load(Param("ldx"), GP64())
	dst := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	SHLQ(Imm(2), ldd)
	SHLQ(Imm(2), ldx)
	full := GP64()
	MOVQ(n, full)
	SHRQ(Imm(4), full)
	rem := GP64()
	MOVQ(n, rem)
	ANDQ(Imm(15), rem)
	k := K()
	KMOVW(g.tailMask(rem, 2, 0), k)

	pd, px, j := GP64(), GP64(), GP64()
	Label(fn + "_row")
	TESTQ(rows, rows)
	JE(LabelRef(fn + "_done"))
	va, vb := ZMM(), ZMM()
	VBROADCASTSS(Mem{Base: a}, va)
	VBROADCASTSS(Mem{Base: b}, vb)
	MOVQ(dst, pd)
	MOVQ(x, px)
	MOVQ(full, j)
	Label(fn + "_step")
	TESTQ(j, j)
	JE(LabelRef(fn + "_tail"))
	v := ZMM()
	VMOVUPS(Mem{Base: px}, v)
	VMOVUPS(g.add(g.mul(va, v), vb), Mem{Base: pd})
	ADDQ(Imm(64), px)
	ADDQ(Imm(64), pd)
	DECQ(j)
	JMP(LabelRef(fn + "_step"))
	Label(fn + "_tail")
	TESTQ(rem, rem)
	JE(LabelRef(fn + "_next"))
	t := ZMM()
	VMOVUPS_Z(Mem{Base: px}, k, t)
	VMOVUPS(g.add(g.mul(va, t), vb), k, Mem{Base: pd})
	Label(fn + "_next")
	ADDQ(ldd, dst)
	ADDQ(ldx, x)
	ADDQ(Imm(4), a)
	ADDQ(Imm(4), b)
	DECQ(rows)
	JMP(LabelRef(fn + "_row"))
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// poolIndex returns a 64-byte vector of int32 lanes 2i+odd (i < 8),
// repeated in both halves: VPERMPS's indices picking the even (or odd)
// elements of a vector into its low eight lanes.
func poolIndex(odd int) Mem {
	name := fmt.Sprintf("pool_idx%d", odd)
	if m, ok := constMem[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(uint32(2*(i%8)+odd)))
	}
	constMem[name] = m
	return m
}

// maxPool2Text emits maxPool2AVX512(rows, w int, dst, x *float32): for
// each of rows pairs of input rows a = x[2rw:], b = a[w:] (w even) and
// j < w/2,
//
//	dst[r·w/2 + j] = M(b[2j+1], M(b[2j], M(a[2j+1], a[2j]))),  M(s, t) = s > t ? s : t
//
// eight outputs per step, the last w/2 mod 8 of each row under masks.
func maxPool2Text() {
	g := vgen{avx512: true, lanes: 16, isa: "AVX512"}
	fn := "maxPool2AVX512"
	TEXT(fn, NOSPLIT, "func(rows, w int, dst, x *float32)")
	Doc(fn+" is 2×2 max pooling, stride 2, of rows pairs of rows of w elements (w even):",
		"dst[r·w/2+j] = M(b[2j+1], M(b[2j], M(a[2j+1], a[2j]))), a = x[2rw:], b = a[w:], M(s, t) = s > t ? s : t.")
	rows := Load(Param("rows"), GP64())
	w := Load(Param("w"), GP64())
	dst := Load(Param("dst"), GP64())
	x := Load(Param("x"), GP64())

	even, odd := ZMM(), ZMM()
	VMOVUPS(poolIndex(0), even)
	VMOVUPS(poolIndex(1), odd)
	half := GP64() // outputs per row pair
	MOVQ(w, half)
	SHRQ(Imm(1), half)
	full := GP64() // steps of eight outputs per row pair
	MOVQ(half, full)
	SHRQ(Imm(3), full)
	rem := GP64() // outputs left after them
	MOVQ(half, rem)
	ANDQ(Imm(7), rem)
	kin, kout := K(), K()
	KMOVW(g.tailMask(rem, 2, 0), kout)
	KMOVW(g.tailMask(rem, 4, 0), kin) // entry 2·rem
	wb := GP64()                      // bytes of one row
	MOVQ(w, wb)
	SHLQ(Imm(2), wb)
	hb := GP64() // bytes of one output row
	MOVQ(half, hb)
	SHLQ(Imm(2), hb)

	body := func(za, zb VecVirtual) VecVirtual {
		a0, a1, b0, b1 := ZMM(), ZMM(), ZMM(), ZMM()
		VPERMPS(za, even, a0)
		VPERMPS(za, odd, a1)
		VPERMPS(zb, even, b0)
		VPERMPS(zb, odd, b1)
		return g.maxx(b1, g.maxx(b0, g.maxx(a1, a0))).(VecVirtual)
	}

	pa, pb, pd, j := GP64(), GP64(), GP64(), GP64()
	Label(fn + "_row")
	TESTQ(rows, rows)
	JE(LabelRef(fn + "_done"))
	MOVQ(x, pa)
	LEAQ(Mem{Base: x, Index: wb, Scale: 1}, pb)
	MOVQ(dst, pd)
	MOVQ(full, j)
	Label(fn + "_step")
	TESTQ(j, j)
	JE(LabelRef(fn + "_tail"))
	za, zb := ZMM(), ZMM()
	VMOVUPS(Mem{Base: pa}, za)
	VMOVUPS(Mem{Base: pb}, zb)
	VMOVUPS(body(za, zb).AsY(), Mem{Base: pd})
	ADDQ(Imm(64), pa)
	ADDQ(Imm(64), pb)
	ADDQ(Imm(32), pd)
	DECQ(j)
	JMP(LabelRef(fn + "_step"))

	Label(fn + "_tail")
	TESTQ(rem, rem)
	JE(LabelRef(fn + "_next"))
	ta, tb := ZMM(), ZMM()
	VMOVUPS_Z(Mem{Base: pa}, kin, ta)
	VMOVUPS_Z(Mem{Base: pb}, kin, tb)
	VMOVUPS(body(ta, tb), kout, Mem{Base: pd})

	Label(fn + "_next")
	LEAQ(Mem{Base: x, Index: wb, Scale: 2}, x)
	ADDQ(hb, dst)
	DECQ(rows)
	JMP(LabelRef(fn + "_row"))
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}
