package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The elementwise map kernels of simd/maps.go. Each evaluates, lane by
// lane, the float32 operations of its pure-Go twin in the same order, with
// no fused multiply-adds, so the results are bitwise those of the twin.
// Every kernel handles n elements, n a multiple of the vector width; the
// Go wrappers finish the tail with the twin.

// mapConsts are the constants of the kernels, as in simd/maps.go.
var mapConsts = map[string]float32{
	"zero":       0,
	"one":        1,
	"two":        2,
	"expLo":      -104,
	"expHi":      89,
	"expm1Lo":    -30,
	"log2e":      1.44269504088896341,
	"roundMagic": 12582912,
	"ln2Hi":      0.693359375,
	"ln2Lo":      -2.12194440e-4,
	"expP0":      1.9875691500e-4,
	"expP1":      1.3981999507e-3,
	"expP2":      8.3334519073e-3,
	"expP3":      4.1665795894e-2,
	"expP4":      1.6666665459e-1,
	"expP5":      5.0000001201e-1,
	"tanhSmall":  0.625,
	"tanhP0":     -5.70498872745e-3,
	"tanhP1":     2.06390887954e-2,
	"tanhP2":     -5.37397155531e-2,
	"tanhP3":     1.33314422036e-1,
	"tanhP4":     -3.33332819422e-1,
	"erfSplit":   1,
	"erfMax":     4,
	"erfP0":      1.2837916613e-01,
	"erfP1":      -3.7612625957e-01,
	"erfP2":      1.1283597350e-01,
	"erfP3":      -2.6854328811e-02,
	"erfP4":      5.1893121563e-03,
	"erfP5":      -8.0188550055e-04,
	"erfP6":      7.8824974480e-05,
	"erfQ0":      2.6352709392e-04,
	"erfQ1":      5.5914390087e-01,
	"erfQ2":      4.1355110705e-02,
	"erfQ3":      -4.6925136447e-01,
	"erfQ4":      4.9155047536e-01,
	"erfQ5":      -2.3427069187e-01,
	"erfQ6":      1.7212811857e-02,
	"erfQ7":      3.1655542552e-02,
	"erfQ8":      -1.0075770319e-02,
}

// mapBits are the integer constants, as 32-bit lanes.
var mapBits = map[string]uint32{
	"signBit": 1 << 31,
	"absMask": 1<<31 - 1,
	"bias":    127,
}

// Comparison predicates of VCMPPS: ordered and quiet, so false for NaN.
const (
	cmpGE = 0x1d
	cmpGT = 0x1e
)

// vgen emits the vector operations of one instruction set on virtual
// registers. Operand a is a register, b a register or memory operand, as
// the instructions require.
type vgen struct {
	avx512 bool
	lanes  int
	isa    string
}

var constMem = map[string]Mem{}

// k returns the named constant replicated across a 64-byte vector in
// memory.
func (g vgen) k(name string) Mem {
	if m, ok := constMem[name]; ok {
		return m
	}
	bits, ok := mapBits[name]
	if !ok {
		f, ok := mapConsts[name]
		if !ok {
			panic("unknown constant " + name)
		}
		bits = math.Float32bits(f)
	}
	m := GLOBL("maps_"+name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(bits))
	}
	constMem[name] = m
	return m
}

func (g vgen) reg() VecVirtual {
	if g.avx512 {
		return ZMM()
	}
	return YMM()
}

// c loads a constant into a register.
func (g vgen) c(name string) Op { r := g.reg(); VMOVUPS(g.k(name), r); return r }

func (g vgen) add(a, b Op) Op { r := g.reg(); VADDPS(b, a, r); return r } // a + b
func (g vgen) sub(a, b Op) Op { r := g.reg(); VSUBPS(b, a, r); return r } // a − b
func (g vgen) mul(a, b Op) Op { r := g.reg(); VMULPS(b, a, r); return r } // a·b
func (g vgen) div(a, b Op) Op { r := g.reg(); VDIVPS(b, a, r); return r } // a/b

// maxx is a > b ? a : b and minx a < b ? a : b: b when either is NaN.
func (g vgen) maxx(a, b Op) Op { r := g.reg(); VMAXPS(b, a, r); return r }
func (g vgen) minx(a, b Op) Op { r := g.reg(); VMINPS(b, a, r); return r }

func (g vgen) and(a, b Op) Op {
	r := g.reg()
	if g.avx512 {
		VPANDD(b, a, r)
	} else {
		VANDPS(b, a, r)
	}
	return r
}

func (g vgen) or(a, b Op) Op {
	r := g.reg()
	if g.avx512 {
		VPORD(b, a, r)
	} else {
		VORPS(b, a, r)
	}
	return r
}

func (g vgen) isub(a, b Op) Op    { r := g.reg(); VPSUBD(b, a, r); return r }              // int32 a − b
func (g vgen) iadd(a, b Op) Op    { r := g.reg(); VPADDD(b, a, r); return r }              // int32 a + b
func (g vgen) sra(s int, a Op) Op { r := g.reg(); VPSRAD(Imm(uint64(s)), a, r); return r } // a >> s
func (g vgen) sll(s int, a Op) Op { r := g.reg(); VPSLLD(Imm(uint64(s)), a, r); return r } // a << s

// cmp is the lane mask of a <pred> b: a K register on AVX-512, a vector of
// all-ones lanes on AVX2.
func (g vgen) cmp(pred int, a, b Op) Op {
	if g.avx512 {
		k := K()
		VCMPPS(Imm(uint64(pred)), b, a, k)
		return k
	}
	r := YMM()
	VCMPPS(Imm(uint64(pred)), b, a, r)
	return r
}

// sel is mask ? b : a, lane by lane.
func (g vgen) sel(mask, a, b Op) Op {
	r := g.reg()
	if g.avx512 {
		VBLENDMPS(b, a, mask, r)
	} else {
		VBLENDVPS(mask, b, a, r)
	}
	return r
}

// reduce is maps.go's reduce: x = n·ln2 + r; it returns r and n (int32).
func (g vgen) reduce(x Op) (r, n Op) {
	t := g.add(g.mul(x, g.k("log2e")), g.k("roundMagic"))
	nf := g.sub(t, g.k("roundMagic"))
	n = g.isub(t, g.k("roundMagic"))
	r = g.sub(x, g.mul(nf, g.k("ln2Hi")))
	r = g.sub(r, g.mul(nf, g.k("ln2Lo")))
	return r, n
}

// expm1Reduced is eʳ − 1 = r + r²·P(r).
func (g vgen) expm1Reduced(r Op) Op {
	p := g.add(g.mul(r, g.k("expP0")), g.k("expP1"))
	for _, c := range []string{"expP2", "expP3", "expP4", "expP5"} {
		p = g.add(g.mul(p, r), g.k(c))
	}
	return g.add(g.mul(p, g.mul(r, r)), r)
}

// pow2 is 2ⁿ from the int32 lanes n.
func (g vgen) pow2(n Op) Op { return g.sll(23, g.iadd(n, g.k("bias"))) }

// exp is maps.go's exp32.
func (g vgen) exp(x Op) Op {
	x = g.minx(g.c("expHi"), g.maxx(g.c("expLo"), x))
	r, n := g.reduce(x)
	y := g.add(g.expm1Reduced(r), g.k("one"))
	n1 := g.sra(1, n)
	return g.mul(g.mul(y, g.pow2(n1)), g.pow2(g.isub(n, n1)))
}

// expm1Neg is maps.go's expm1Neg.
func (g vgen) expm1Neg(x Op) Op {
	x = g.maxx(g.c("expm1Lo"), g.minx(g.c("zero"), x))
	r, n := g.reduce(x)
	u := g.expm1Reduced(r)
	s := g.pow2(n)
	return g.add(g.mul(s, u), g.sub(s, g.k("one")))
}

// tanh is maps.go's tanh32.
func (g vgen) tanh(x Op) Op {
	a := g.and(x, g.k("absMask"))
	e := g.exp(g.add(a, a))
	big := g.sub(g.c("one"), g.div(g.c("two"), g.add(e, g.k("one"))))
	big = g.or(big, g.and(x, g.k("signBit")))
	z := g.mul(x, x)
	p := g.add(g.mul(z, g.k("tanhP0")), g.k("tanhP1"))
	for _, c := range []string{"tanhP2", "tanhP3", "tanhP4"} {
		p = g.add(g.mul(p, z), g.k(c))
	}
	small := g.add(g.mul(g.mul(p, z), x), x)
	return g.sel(g.cmp(cmpGT, a, g.k("tanhSmall")), small, big)
}

// sigmoid is maps.go's sigmoid32.
func (g vgen) sigmoid(x Op) Op {
	e := g.exp(g.or(x, g.k("signBit")))
	num := g.sel(g.cmp(cmpGE, x, g.k("zero")), e, g.c("one"))
	return g.div(num, g.add(e, g.k("one")))
}

// erf is maps.go's erf32.
func (g vgen) erf(x Op) Op {
	a := g.and(x, g.k("absMask"))
	b := g.minx(g.c("erfMax"), a)
	s := g.div(g.c("one"), b)
	q := g.add(g.mul(s, g.k("erfQ8")), g.k("erfQ7"))
	for _, c := range []string{"erfQ6", "erfQ5", "erfQ4", "erfQ3", "erfQ2", "erfQ1", "erfQ0"} {
		q = g.add(g.mul(q, s), g.k(c))
	}
	e := g.exp(g.or(g.mul(b, b), g.k("signBit")))
	big := g.sub(g.c("one"), g.mul(e, q))
	big = g.or(big, g.and(x, g.k("signBit")))
	z := g.mul(x, x)
	p := g.add(g.mul(z, g.k("erfP6")), g.k("erfP5"))
	for _, c := range []string{"erfP4", "erfP3", "erfP2", "erfP1", "erfP0"} {
		p = g.add(g.mul(p, z), g.k(c))
	}
	small := g.add(g.mul(x, p), x)
	return g.sel(g.cmp(cmpGE, a, g.k("erfSplit")), small, big)
}

// logistic is maps.go's logistic32 for parameters a and s.
func (g vgen) logistic(x, a, s Op) Op {
	m := g.or(g.mul(a, g.and(x, g.k("absMask"))), g.k("signBit"))
	e := g.exp(m)
	d := g.add(e, g.k("one"))
	return g.div(g.mul(s, e), g.mul(d, d))
}

// mapText emits the kernel name<ISA> with the given pointer arguments
// (dst first) and float32 parameters, looping over n elements one vector
// at a time: dst = body(loads of the other pointers, parameters).
func (g vgen) mapText(name string, ptrs, params []string, doc string, body func(in, par []Op) Op) {
	fn := name + g.isa
	sig := fmt.Sprintf("func(n int, %s *float32", join(ptrs))
	if len(params) > 0 {
		sig += ", " + join(params) + " float32"
	}
	TEXT(fn, NOSPLIT, sig+")")
	Doc(fmt.Sprintf("%s is %s for n elements, n a multiple of %d.", fn, doc, g.lanes))
	n := Load(Param("n"), GP64())
	p := make([]Register, len(ptrs))
	for i, s := range ptrs {
		p[i] = Load(Param(s), GP64())
	}
	par := make([]Op, len(params))
	for i, s := range params {
		x := XMM()
		Load(Param(s), x)
		par[i] = g.reg()
		VBROADCASTSS(x, par[i])
	}
	Label(fn + "_loop")
	TESTQ(n, n)
	JE(LabelRef(fn + "_done"))
	in := make([]Op, len(ptrs)-1)
	for i := range in {
		r := g.reg()
		VMOVUPS(Mem{Base: p[i+1]}, r)
		in[i] = r
	}
	VMOVUPS(body(in, par), Mem{Base: p[0]})
	for _, q := range p {
		ADDQ(Imm(uint64(4*g.lanes)), q)
	}
	SUBQ(Imm(uint64(g.lanes)), n)
	JMP(LabelRef(fn + "_loop"))
	Label(fn + "_done")
	VZEROUPPER()
	RET()
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func genMaps() {
	for _, g := range []vgen{{avx512: true, lanes: 16, isa: "AVX512"}, {lanes: 8, isa: "AVX2"}} {
		dx := []string{"dst", "x"}
		g.mapText("relu", dx, nil, "dst[i] = x86max(0, x[i])", func(in, _ []Op) Op {
			return g.maxx(g.c("zero"), in[0])
		})
		g.mapText("reluMul", []string{"dst", "x", "t"}, nil, "dst[i] = x[i] > 0 ? t[i] : 0", func(in, _ []Op) Op {
			return g.sel(g.cmp(cmpGT, in[0], g.k("zero")), g.c("zero"), in[1])
		})
		g.mapText("mul", []string{"dst", "c", "t"}, nil, "dst[i] = c[i]·t[i]", func(in, _ []Op) Op {
			return g.mul(in[0], in[1])
		})
		g.mapText("exp", dx, nil, "dst[i] = exp32(x[i])", func(in, _ []Op) Op { return g.exp(in[0]) })
		g.mapText("tanh", dx, nil, "dst[i] = tanh32(x[i])", func(in, _ []Op) Op { return g.tanh(in[0]) })
		g.mapText("sigmoid", dx, nil, "dst[i] = sigmoid32(x[i])", func(in, _ []Op) Op { return g.sigmoid(in[0]) })
		g.mapText("erf", dx, nil, "dst[i] = erf32(x[i])", func(in, _ []Op) Op { return g.erf(in[0]) })
		as := []string{"a", "s"}
		g.mapText("elu", dx, as, "dst[i] = x[i] > 0 ? s·x[i] : a·expm1Neg(x[i])", func(in, par []Op) Op {
			x := in[0]
			return g.sel(g.cmp(cmpGT, x, g.k("zero")), g.mul(par[0], g.expm1Neg(x)), g.mul(par[1], x))
		})
		g.mapText("logistic", dx, as, "dst[i] = logistic32(x[i], a, s)", func(in, par []Op) Op {
			return g.logistic(in[0], par[0], par[1])
		})
		g.mapText("eluDeriv", dx, as, "dst[i] = x[i] > 0 ? s : a·exp32(x[i])", func(in, par []Op) Op {
			x := in[0]
			return g.sel(g.cmp(cmpGT, x, g.k("zero")), g.mul(par[0], g.exp(x)), par[1])
		})
		g.dotText()
		g.axpyText()
		g.f64To32Text()
		g.addF32To64Text()
	}
}
