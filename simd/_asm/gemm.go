package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gemm shapes generated: rows × vector registers per row.
var (
	avx512Shapes = [][2]int{{8, 3}, {12, 2}, {16, 1}}
	avx2Shapes   = [][2]int{{4, 3}, {6, 2}, {12, 1}}
)

func genGemm() {
	for _, direct := range []bool{false, true} {
		for _, s := range avx512Shapes {
			genKernel(true, direct, s[0], s[1])
		}
		for _, s := range avx2Shapes {
			genKernel(false, direct, s[0], s[1])
		}
	}
	genPack()
	genPack16()
	genRows()
}

// genKernel emits the micro-kernel
//
//	func sgemmKernel<MR>x<NR><ISA>(k int, a, b, c *float32, ldc int, overwrite bool)
//
// which computes the MR×NR product of a packed A micro-panel (k steps of MR
// consecutive values) and a packed B micro-panel (k steps of NR consecutive
// values) and adds it to (or, if overwrite, stores it into) the row-major C
// tile at c with row stride ldc elements. Each C element is the sum
// ((a0·b0 + a1·b1) + a2·b2) + ... evaluated left to right with fused
// multiply-adds, then added to C once.
//
// With direct, it emits instead
//
//	func sgemmDirect<MR>x<NR><ISA>(k int, a *float32, lda int, b, c *float32, ldc int, overwrite bool)
//
// which reads A unpacked, row i at a + i·lda elements (a[i*lda+p] in place
// of a[p*MR+i]), and B with row stride ldb (a packed panel is ldb = NR), and
// is otherwise the same, bitwise.
func genKernel(avx512, direct bool, mr, nv int) {
	lanes, isa, bytesPerVec := 8, "AVX2", 32
	if avx512 {
		lanes, isa, bytesPerVec = 16, "AVX512", 64
	}
	nr := nv * lanes
	name := fmt.Sprintf("sgemmKernel%dx%d%s", mr, nr, isa)
	if direct {
		name = fmt.Sprintf("sgemmDirect%dx%d%s", mr, nr, isa)
		TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, overwrite bool)")
		Doc(fmt.Sprintf("%s adds the %d×%d product of the rows of a (stride lda) and of b (stride ldb) to the tile c (stores it if overwrite).", name, mr, nr),
			"Reference: for p := 0; p < k; p++ { for i, j: acc[i][j] = fma(a[i*lda+p], b[p*ldb+j], acc[i][j]) };",
			"then c[i*ldc+j] = acc[i][j] if overwrite, else c[i*ldc+j] += acc[i][j].")
	} else {
		TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, overwrite bool)")
		Doc(fmt.Sprintf("%s adds the %d×%d product of packed panels a and b to the tile c (stores it if overwrite).", name, mr, nr),
			"Reference: for p := 0; p < k; p++ { for i, j: acc[i][j] = fma(a[p*MR+i], b[p*NR+j], acc[i][j]) };",
			"then c[i*ldc+j] = acc[i][j] if overwrite, else c[i*ldc+j] += acc[i][j].")
	}

	vec := func(i int) VecPhysical { return vecReg(avx512, i) }
	nregs := 16
	if avx512 {
		nregs = 32
	}
	if mr*nv+nv+1 > nregs {
		panic("too many registers")
	}
	acc := func(i, j int) VecPhysical { return vec(i*nv + j) }
	bv := func(j int) VecPhysical { return vec(mr*nv + j) }
	bc := vec(mr*nv + nv)

	k := Load(Param("k"), RCX)
	a := Load(Param("a"), RSI)
	b := Load(Param("b"), RDI)
	// aAt(u, i) addresses A's value for row i at step u of the unrolled loop,
	// bAt(u, j) B's vector j.
	aAt := func(u, i int) Mem { return Mem{Base: a, Disp: u*mr*4 + 4*i} }
	advanceA := func(steps int) { ADDQ(I32(steps*mr*4), a) }
	bAt := func(u, j int) Mem { return Mem{Base: b, Disp: u*nr*4 + j*bytesPerVec} }
	advanceB := func(steps int) { ADDQ(I32(steps*nr*4), b) }
	if direct {
		// Rows 4g+0..3 at bases[g] + 0, lda, 2·lda, 3·lda bytes.
		lda, lda3 := RAX, R11
		Load(Param("lda"), lda)
		SHLQ(Imm(2), lda)
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
		bases := []GPPhysical{RSI, RBX, R12, R13}[:(mr+3)/4]
		for g := 1; g < len(bases); g++ {
			LEAQ(Mem{Base: bases[g-1], Index: lda, Scale: 4}, bases[g])
		}
		aAt = func(u, i int) Mem {
			m := Mem{Base: bases[i/4], Disp: 4 * u}
			switch i % 4 {
			case 1:
				m.Index, m.Scale = lda, 1
			case 2:
				m.Index, m.Scale = lda, 2
			case 3:
				m.Index, m.Scale = lda3, 1
			}
			return m
		}
		advanceA = func(steps int) {
			for _, r := range bases {
				ADDQ(I32(steps*4), r)
			}
		}
		// B's step u at b + 0, ldb, 2·ldb, 3·ldb bytes.
		ldb, ldb3 := R10, R9
		Load(Param("ldb"), ldb)
		SHLQ(Imm(2), ldb)
		LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, ldb3)
		bAt = func(u, j int) Mem {
			m := Mem{Base: b, Disp: j * bytesPerVec}
			switch u {
			case 1:
				m.Index, m.Scale = ldb, 1
			case 2:
				m.Index, m.Scale = ldb, 2
			case 3:
				m.Index, m.Scale = ldb3, 1
			}
			return m
		}
		advanceB = func(steps int) {
			if steps == 1 {
				ADDQ(ldb, b)
			} else {
				LEAQ(Mem{Base: b, Index: ldb, Scale: uint8(steps)}, b)
			}
		}
	}

	prefetchTile(mr, nr*4, 2)

	Comment("Zero the accumulators.")
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			if avx512 {
				VPXORD(acc(i, j), acc(i, j), acc(i, j))
			} else {
				VXORPS(acc(i, j), acc(i, j), acc(i, j))
			}
		}
	}

	const unroll = 4
	astep := mr * 4
	body := func(u int) {
		for j := 0; j < nv; j++ {
			VMOVUPS(bAt(u, j), bv(j))
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSS(aAt(u, i), bc)
			for j := 0; j < nv; j++ {
				VFMADD231PS(bv(j), bc, acc(i, j))
			}
		}
	}

	Label(name + "_loop4")
	CMPQ(k, Imm(unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < unroll; u++ {
		if u%2 == 0 && !direct {
			PREFETCHT0(Mem{Base: a, Disp: 512 + u*astep})
		}
		body(u)
	}
	advanceA(unroll)
	advanceB(unroll)
	SUBQ(Imm(unroll), k)
	JMP(LabelRef(name + "_loop4"))

	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + "_store"))
	body(0)
	advanceA(1)
	advanceB(1)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))

	storeTile(name, mr, nv, bytesPerVec, 2, acc, VADDPS, VMOVUPS)
}

// vecReg is vector register i: Z0…Z31 for AVX-512, Y0…Y15 for AVX2.
func vecReg(avx512 bool, i int) VecPhysical {
	if avx512 {
		return [...]VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
			Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
	}
	return [...]VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// prefetchTile emits the prefetch of the C tile (mr rows of rowBytes bytes
// from the parameter c, row stride ldc elements of 1<<shift bytes), which
// the stores at the end read, so that its misses overlap the products
// instead of stalling the end.
func prefetchTile(mr, rowBytes int, shift uint64) {
	Comment("Prefetch the C tile, which the stores at the end read, so that its",
		"misses overlap the products instead of stalling the end.")
	c := Load(Param("c"), RDX)
	ldc := Load(Param("ldc"), R8)
	SHLQ(Imm(shift), ldc)
	for i := 0; i < mr; i++ {
		for d := 0; d < rowBytes; d += 64 {
			PREFETCHT0(Mem{Base: c, Disp: d})
		}
		PREFETCHT0(Mem{Base: c, Disp: rowBytes - 1})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
}

// storeTile emits a kernel's epilogue at label name+"_store": the
// accumulators acc(i, j) (mr rows of nv vectors of bytesPerVec bytes) are
// added into the C tile (row stride ldc elements of 1<<shift bytes) with
// add and mov, or stored over it with mov when overwrite is set.
func storeTile(name string, mr, nv, bytesPerVec int, shift uint64, acc func(i, j int) VecPhysical, add, mov func(...Op)) {
	Label(name + "_store")
	c := Load(Param("c"), RDX)
	ldc := Load(Param("ldc"), R8)
	SHLQ(Imm(shift), ldc)
	ow := Load(Param("overwrite"), R9B)
	TESTB(ow, ow)
	JNE(LabelRef(name + "_overwrite"))
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			m := Mem{Base: c, Disp: j * bytesPerVec}
			add(m, acc(i, j), acc(i, j))
			mov(acc(i, j), m)
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_overwrite")
	for i := 0; i < mr; i++ {
		for j := 0; j < nv; j++ {
			mov(acc(i, j), Mem{Base: c, Disp: j * bytesPerVec})
		}
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
