package main

import (
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
