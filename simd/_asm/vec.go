package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The vector kernels Sdot and Saxpy of simd/vec.go. They take the Go slices
// directly and handle any length n = len(x) (the caller checks len(y) >= n):
// a loop of four vectors per step, a loop of one vector per step, then the
// last n mod lanes elements, masked on AVX-512 and a 4-wide step plus scalar
// steps (Saxpy) or a VMASKMOVPS load (Sdot) on AVX2.

// tailMasks returns, on AVX-512, the table of 17 uint16 masks m[r] = 2ʳ − 1
// (the first r lanes), and on AVX2 the 16 int32 lanes: 8 of all ones, 8 of
// zero, whose 8 lanes from index 8 − r are the VMASKMOVPS mask of the first r
// lanes.
func (g vgen) tailMasks() Mem {
	name := "vec_tail" + g.isa
	if m, ok := constMem[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	if g.avx512 {
		for r := 0; r <= 16; r++ {
			DATA(2*r, U16(uint16(1<<r-1)))
		}
	} else {
		for i := 0; i < 16; i++ {
			v := uint32(0)
			if i < 8 {
				v = 1<<32 - 1
			}
			DATA(4*i, U32(v))
		}
	}
	constMem[name] = m
	return m
}

// tailMask addresses the entry disp + scale·i of tailMasks: the Go
// assembler takes no index register with a static symbol, so the table's
// address goes into a register first.
func (g vgen) tailMask(i Register, scale uint8, disp int) Mem {
	base := GP64()
	LEAQ(g.tailMasks(), base)
	return Mem{Base: base, Index: i, Scale: scale, Disp: disp}
}

// zero clears the vector register r.
func (g vgen) zero(r VecVirtual) {
	if g.avx512 {
		VPXORD(r, r, r)
	} else {
		VXORPS(r, r, r)
	}
}

// hsum returns the float32 sum of the lanes of v in the low lane of an XMM
// register, summing halves pairwise.
func (g vgen) hsum(v VecVirtual) Register {
	y := v.AsY()
	if g.avx512 {
		hi := YMM()
		VEXTRACTF64X4(Imm(1), v, hi)
		VADDPS(hi, y, y)
	}
	x := v.AsX()
	hi := XMM()
	VEXTRACTF128(Imm(1), y, hi)
	VADDPS(hi, x, x)
	VMOVHLPS(x, x, hi)
	VADDPS(hi, x, x)
	VMOVSHDUP(x, hi)
	VADDSS(hi, x, x)
	return x
}

// dotText emits dot<ISA>(x, y []float32) float32 = Σ x[i]·y[i], i < len(x),
// summed with fused multiply-adds in four vector accumulators.
// blockLoops emits the two vector loops of a kernel over n elements, w
// per vector: step(count) handles count vectors at a and b, count 4 while
// n ≥ 4w, then 1 while n ≥ w; after each step the pointers advance past
// them (aSize and bSize bytes per element) and n drops by w·count. It
// leaves n < w at the label fn_tail, where the caller's tail follows.
func blockLoops(fn string, n Register, w int, a, b Register, aSize, bSize int, step func(count int)) {
	block := func(count int) {
		step(count)
		ADDQ(I32(aSize*w*count), a)
		ADDQ(I32(bSize*w*count), b)
		SUBQ(I32(w*count), n)
	}
	CMPQ(n, I32(4*w))
	JL(LabelRef(fn + "_one"))
	Label(fn + "_four")
	block(4)
	CMPQ(n, I32(4*w))
	JGE(LabelRef(fn + "_four"))

	Label(fn + "_one")
	CMPQ(n, I32(w))
	JL(LabelRef(fn + "_tail"))
	block(1)
	JMP(LabelRef(fn + "_one"))
	Label(fn + "_tail")
}

func (g vgen) dotText() {
	fn := "dot" + g.isa
	w := g.lanes
	TEXT(fn, NOSPLIT, "func(x, y []float32) float32")
	Doc(fmt.Sprintf("%s returns Σ x[i]·y[i] over i < len(x), len(y) >= len(x): fused multiply-adds", fn),
		fmt.Sprintf("into four accumulators of %d lanes, then a pairwise sum of their lanes.", w))
	x := Load(Param("x").Base(), GP64())
	y := Load(Param("y").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	var acc [4]VecVirtual
	for i := range acc {
		acc[i] = g.reg()
		g.zero(acc[i])
	}

	blockLoops(fn, n, w, x, y, 4, 4, func(count int) {
		for i := range count {
			t := g.reg()
			VMOVUPS(Mem{Base: x, Disp: 4 * w * i}, t)
			VFMADD231PS(Mem{Base: y, Disp: 4 * w * i}, t, acc[i])
		}
	})

	// The last r = n < w elements, the other lanes masked off: masked
	// loads read nothing past the slices.
	TESTQ(n, n)
	JE(LabelRef(fn + "_sum"))
	if g.avx512 {
		k := K()
		KMOVW(g.tailMask(n, 2, 0), k)
		u := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, u)
		VFMADD231PS(Mem{Base: y}, u, k, acc[1])
	} else {
		NEGQ(n)
		m, u, v := YMM(), YMM(), YMM()
		VMOVUPS(g.tailMask(n, 4, 32), m)
		VMASKMOVPS(Mem{Base: x}, m, u)
		VMASKMOVPS(Mem{Base: y}, m, v)
		VFMADD231PS(v, u, acc[1])
	}

	Label(fn + "_sum")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	s := g.hsum(acc[0])
	VZEROUPPER() // before Store's SSE MOVSS: no AVX-SSE transition
	Store(s, ReturnIndex(0))
	RET()
}

// axpyText emits axpy<ISA>(alpha float32, x, y []float32): y[i] += alpha·x[i]
// for i < len(x), len(y) >= len(x), as a product then a sum, both rounded,
// so bitwise the twin axpyGeneric.
func (g vgen) axpyText() {
	fn := "axpy" + g.isa
	w := g.lanes
	TEXT(fn, NOSPLIT, "func(alpha float32, x, y []float32)")
	Doc(fmt.Sprintf("%s computes y[i] += alpha·x[i] over i < len(x), len(y) >= len(x), rounding", fn),
		"the product alpha·x[i] before the sum (no fused multiply-add).")
	x := Load(Param("x").Base(), GP64())
	y := Load(Param("y").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	as := XMM()
	Load(Param("alpha"), as)
	a := g.reg()
	VBROADCASTSS(as, a)

	// Each step computes the vectors y[i·w : (i+1)·w] of the current
	// block, for i < count.
	blockLoops(fn, n, w, x, y, 4, 4, func(count int) {
		for i := range count {
			t := g.reg()
			VMULPS(Mem{Base: x, Disp: 4 * w * i}, a, t)
			VADDPS(Mem{Base: y, Disp: 4 * w * i}, t, t)
			VMOVUPS(t, Mem{Base: y, Disp: 4 * w * i})
		}
	})

	TESTQ(n, n)
	JE(LabelRef(fn + "_done"))
	if g.avx512 {
		// The last n < 16 elements under a mask: masked-off lanes are
		// neither read nor written.
		k := K()
		KMOVW(g.tailMask(n, 2, 0), k)
		t := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, t)
		VMULPS(a, t, t)
		VADDPS_Z(Mem{Base: y}, t, k, t)
		VMOVUPS(t, k, Mem{Base: y})
	} else {
		// The last n < 8 elements: one step of 4 lanes, then one at a time.
		CMPQ(n, Imm(4))
		JL(LabelRef(fn + "_scalar"))
		t := XMM()
		VMULPS(Mem{Base: x}, a.AsX(), t)
		VADDPS(Mem{Base: y}, t, t)
		VMOVUPS(t, Mem{Base: y})
		ADDQ(Imm(16), x)
		ADDQ(Imm(16), y)
		SUBQ(Imm(4), n)
		Label(fn + "_scalar")
		TESTQ(n, n)
		JE(LabelRef(fn + "_done"))
		s := XMM()
		VMULSS(Mem{Base: x}, a.AsX(), s)
		VADDSS(Mem{Base: y}, s, s)
		VMOVSS(s, Mem{Base: y})
		ADDQ(Imm(4), x)
		ADDQ(Imm(4), y)
		DECQ(n)
		JMP(LabelRef(fn + "_scalar"))
	}

	Label(fn + "_done")
	VZEROUPPER()
	RET()
}
