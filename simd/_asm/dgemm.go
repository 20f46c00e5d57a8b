package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// dgemm shapes generated: rows × vector registers per row (8 doubles in a
// zmm, 4 in a ymm).
var (
	dgemmAVX512Shapes = [][2]int{{8, 3}, {12, 2}, {16, 1}}
	dgemmAVX2Shapes   = [][2]int{{4, 3}, {6, 2}, {12, 1}}
)

func genDgemm() {
	for _, s := range dgemmAVX512Shapes {
		genDKernel(true, s[0], s[1])
	}
	for _, s := range dgemmAVX2Shapes {
		genDKernel(false, s[0], s[1])
	}
}

// genDKernel emits the float64 micro-kernel
//
//	func dgemmKernel<MR>x<NR><ISA>(k int, a, b, c *float64, ldc int, overwrite bool)
//
// which computes the MR×NR product of a packed A micro-panel (k steps of MR
// consecutive values) and a packed B micro-panel (k steps of NR consecutive
// values) and adds it to (or, if overwrite, stores it into) the row-major C
// tile at c with row stride ldc elements. Each C element is the sum
// fma(a[k-1], b[k-1], ... fma(a1, b1, a0·b0)) evaluated in order of p, then
// added to C once: the sum order of the generic kernel, with each
// multiply-add rounded once instead of twice.
func genDKernel(avx512 bool, mr, nv int) {
	const size = 8 // bytes per float64
	lanes, isa, bytesPerVec, nregs := 4, "AVX2", 32, 16
	if avx512 {
		lanes, isa, bytesPerVec, nregs = 8, "AVX512", 64, 32
	}
	nr := nv * lanes
	name := fmt.Sprintf("dgemmKernel%dx%d%s", mr, nr, isa)
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float64, ldc int, overwrite bool)")
	Doc(fmt.Sprintf("%s adds the %d×%d product of packed panels a and b to the tile c (stores it if overwrite).", name, mr, nr),
		"Reference: for p := 0; p < k; p++ { for i, j: acc[i][j] = fma(a[p*MR+i], b[p*NR+j], acc[i][j]) };",
		"then c[i*ldc+j] = acc[i][j] if overwrite, else c[i*ldc+j] += acc[i][j].")

	vec := func(i int) VecPhysical { return vecReg(avx512, i) }
	if mr*nv+nv+1 > nregs {
		panic("too many registers")
	}
	acc := func(i, j int) VecPhysical { return vec(i*nv + j) }
	bv := func(j int) VecPhysical { return vec(mr*nv + j) }
	// Broadcasts rotate through the registers left over, so that a row's
	// broadcast need not wait for the previous row's multiply-adds.
	nbc := nregs - mr*nv - nv
	bc := func(i int) VecPhysical { return vec(mr*nv + nv + i%nbc) }

	k := Load(Param("k"), RCX)
	a := Load(Param("a"), RSI)
	b := Load(Param("b"), RDI)

	prefetchTile(mr, nr*size, 3)

	Comment("Zero the accumulators.")
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			if avx512 {
				VPXORQ(acc(i, j), acc(i, j), acc(i, j))
			} else {
				VXORPD(acc(i, j), acc(i, j), acc(i, j))
			}
		}
	}

	const (
		unroll = 4
		// aAhead is how far ahead of the current step, in bytes, the
		// A micro-panel is prefetched: one cache line per line consumed.
		aAhead = 1024
	)
	astep, bstep := mr*size, nr*size
	body := func(u int) {
		// Prefetch the A lines whose start falls in this step.
		for d := 0; d < unroll*astep; d += 64 {
			if d >= u*astep && d < (u+1)*astep {
				PREFETCHT0(Mem{Base: a, Disp: aAhead + d})
			}
		}
		for j := 0; j < nv; j++ {
			VMOVUPD(Mem{Base: b, Disp: u*bstep + j*bytesPerVec}, bv(j))
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSD(Mem{Base: a, Disp: u*astep + size*i}, bc(i))
			for j := 0; j < nv; j++ {
				VFMADD231PD(bv(j), bc(i), acc(i, j))
			}
		}
	}

	Label(name + "_loop4")
	CMPQ(k, Imm(unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < unroll; u++ {
		body(u)
	}
	ADDQ(I32(unroll*astep), a)
	ADDQ(I32(unroll*bstep), b)
	SUBQ(Imm(unroll), k)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + "_store"))
	body(0)
	ADDQ(I32(astep), a)
	ADDQ(I32(bstep), b)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))

	storeTile(name, mr, nv, bytesPerVec, 3, acc, VADDPD, VMOVUPD)
}
