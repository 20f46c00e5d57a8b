package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// The conversion kernels F64To32 and AddF32To64 of simd/vec.go, between
// float64 and float32 vectors. They take the Go slices and handle any length
// n = len(dst) (the caller checks len(src) >= n): a loop of four vectors per
// step, a loop of one vector per step, then the last n mod w elements (w
// float64 lanes: 8 on AVX-512, 4 on AVX2), masked on AVX-512 and one at a
// time on AVX2. Every conversion rounds under MXCSR, round to nearest even in
// Go, as Go's conversions do, so the kernels are bitwise their twins.

// f64Lanes is the number of float64 lanes of a vector.
func (g vgen) f64Lanes() int { return g.lanes / 2 }

// f64To32Text emits f64To32<ISA>(dst []float32, src []float64):
// dst[i] = float32(src[i]) for i < len(dst), len(src) >= len(dst).
func (g vgen) f64To32Text() {
	fn := "f64To32" + g.isa
	w := g.f64Lanes()
	TEXT(fn, NOSPLIT, "func(dst []float32, src []float64)")
	Doc(fmt.Sprintf("%s computes dst[i] = float32(src[i]) over i < len(dst), len(src) >= len(dst),", fn),
		fmt.Sprintf("%d lanes at a time, rounded to nearest even (VCVTPD2PS under Go's MXCSR).", w))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())

	blockLoops(fn, n, g.f64Lanes(), dst, src, 4, 8, func(count int) {
		if !g.avx512 {
			for i := 0; i < count; i++ {
				t := XMM()
				VCVTPD2PSY(Mem{Base: src, Disp: 32 * i}, t)
				VMOVUPS(t, Mem{Base: dst, Disp: 16 * i})
			}
			return
		}
		if count == 1 {
			t := YMM()
			VCVTPD2PS(Mem{Base: src}, t)
			VMOVUPS(t, Mem{Base: dst})
			return
		}
		// Pairs of conversions joined into one 64-byte store: about 15%
		// faster in L1 than a 32-byte store each.
		for i := 0; i < count; i += 2 {
			lo, hi := YMM(), YMM()
			VCVTPD2PS(Mem{Base: src, Disp: 64 * i}, lo)
			VCVTPD2PS(Mem{Base: src, Disp: 64 * (i + 1)}, hi)
			VINSERTF64X4(Imm(1), hi, lo.AsZ(), lo.AsZ())
			VMOVUPS(lo.AsZ(), Mem{Base: dst, Disp: 32 * i})
		}
	})

	TESTQ(n, n)
	JE(LabelRef(fn + "_done"))
	if g.avx512 {
		// The last n < 8 elements under a mask of n lanes: masked-off
		// lanes are neither read nor written.
		k := K()
		KMOVW(g.tailMask(n, 2, 0), k)
		z, y := ZMM(), YMM()
		VMOVUPD_Z(Mem{Base: src}, k, z)
		VCVTPD2PS(z, y)
		VMOVUPS(y.AsZ(), k, Mem{Base: dst})
	} else {
		// The last n < 4 elements, one at a time.
		x := XMM()
		VXORPS(x, x, x) // the scalar conversions merge into x: no stale dependency
		Label(fn + "_scalar")
		VCVTSD2SS(Mem{Base: src}, x, x)
		VMOVSS(x, Mem{Base: dst})
		ADDQ(Imm(4), dst)
		ADDQ(Imm(8), src)
		DECQ(n)
		JNE(LabelRef(fn + "_scalar"))
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

// addF32To64Text emits addF32To64<ISA>(dst []float64, src []float32):
// dst[i] += float64(src[i]) for i < len(dst), len(src) >= len(dst): the
// exact widening, then one rounded float64 sum float64(src[i]) + dst[i].
func (g vgen) addF32To64Text() {
	fn := "addF32To64" + g.isa
	w := g.f64Lanes()
	TEXT(fn, NOSPLIT, "func(dst []float64, src []float32)")
	Doc(fmt.Sprintf("%s computes dst[i] += float64(src[i]) over i < len(dst), len(src) >= len(dst),", fn),
		fmt.Sprintf("%d lanes at a time: exact widening, then one float64 add (src's NaN first, as in the twin).", w))
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("dst").Len(), GP64())

	blockLoops(fn, n, g.f64Lanes(), dst, src, 8, 4, func(count int) {
		for i := 0; i < count; i++ {
			t := g.reg()
			VCVTPS2PD(Mem{Base: src, Disp: 4 * w * i}, t)
			VADDPD(Mem{Base: dst, Disp: 8 * w * i}, t, t)
			VMOVUPD(t, Mem{Base: dst, Disp: 8 * w * i})
		}
	})

	TESTQ(n, n)
	JE(LabelRef(fn + "_done"))
	if g.avx512 {
		// The last n < 8 elements under a mask of n lanes: masked-off
		// lanes are neither read nor written.
		k := K()
		KMOVW(g.tailMask(n, 2, 0), k)
		s, t, d := ZMM(), ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: src}, k, s)
		VCVTPS2PD(s.AsY(), t)
		VMOVUPD_Z(Mem{Base: dst}, k, d)
		VADDPD(d, t, t)
		VMOVUPD(t, k, Mem{Base: dst})
	} else {
		// The last n < 4 elements, one at a time.
		x := XMM()
		VXORPS(x, x, x) // the scalar conversions merge into x: no stale dependency
		Label(fn + "_scalar")
		VCVTSS2SD(Mem{Base: src}, x, x)
		VADDSD(Mem{Base: dst}, x, x)
		VMOVSD(x, Mem{Base: dst})
		ADDQ(Imm(8), dst)
		ADDQ(Imm(4), src)
		DECQ(n)
		JNE(LabelRef(fn + "_scalar"))
	}
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}
