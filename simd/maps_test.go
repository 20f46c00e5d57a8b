package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mapCase is one elementwise kernel with its float64 reference and the
// largest error allowed, in float32 ulps of the exact result. Measured on
// mapPoints (the same on every path): exp 0.95, tanh 1.24, sigmoid 2.22,
// erf 1.13, elu 0.85, selu 1.64, eluDeriv 0.95, seluDeriv 1.54 ulp; the bounds leave
// half an ulp for the points between. The derivative kernels sigmoidDeriv
// (3.81 ulp) and tanhDeriv (3.52 ulp) are held to 5 ulp, a relative error
// below 5·2⁻²³ = 6e-7.
type mapCase struct {
	name   string
	run    func(dst, x []float32)
	ref    func(x float64) float64
	maxULP float64
}

// SELU's constants, as float32 kernel parameters.
const (
	seluGamma float32 = 1.05070102214813232421875
	seluGA    float32 = 1.05070102214813232421875 * 1.67326319217681884765625
)

func mapCases() []mapCase {
	sigmoid := func(x float64) float64 {
		if x >= 0 {
			return 1 / (1 + math.Exp(-x))
		}
		e := math.Exp(x)
		return e / (1 + e)
	}
	elu := func(a, s float32) func(x float64) float64 {
		return func(x float64) float64 {
			if x > 0 {
				return float64(s) * x
			}
			return float64(a) * math.Expm1(x)
		}
	}
	eluDeriv := func(a, s float32) func(x float64) float64 {
		return func(x float64) float64 {
			if x > 0 {
				return float64(s)
			}
			return float64(a) * math.Exp(x)
		}
	}
	return []mapCase{
		{"relu", Srelu, func(x float64) float64 {
			if x < 0 {
				return 0
			}
			return x
		}, 0},
		{"exp", Sexp, math.Exp, 1.5},
		{"tanh", Stanh, math.Tanh, 2},
		{"sigmoid", Ssigmoid, sigmoid, 3},
		{"erf", Serf, math.Erf, 1.5},
		{"sigmoidDeriv", SsigmoidDeriv, func(x float64) float64 {
			e := math.Exp(-math.Abs(x))
			return e / ((1 + e) * (1 + e))
		}, 5},
		{"tanhDeriv", StanhDeriv, func(x float64) float64 {
			e := math.Exp(-2 * math.Abs(x))
			return 4 * e / ((1 + e) * (1 + e))
		}, 5},
		// ELU (α = 1) is eˣ − 1 for x <= 0; SELU's products a·(eˣ−1) and
		// a·eˣ add a rounding.
		{"elu", func(dst, x []float32) { SElu(dst, x, 1, 1) }, elu(1, 1), 1.5},
		{"selu", func(dst, x []float32) { SElu(dst, x, seluGA, seluGamma) }, elu(seluGA, seluGamma), 2.5},
		{"eluDeriv", func(dst, x []float32) { SEluDeriv(dst, x, 1, 1) }, eluDeriv(1, 1), 1.5},
		{"seluDeriv", func(dst, x []float32) { SEluDeriv(dst, x, seluGA, seluGamma) }, eluDeriv(seluGA, seluGamma), 2.5},
	}
}

// ulpErr is |got − want| in ulps of float32 at want: the spacing of float32
// numbers around want, 2⁻¹⁴⁹ among the subnormals. ±Inf count as ±2¹²⁸,
// the next power of two past MaxFloat32, and so does a want beyond it. A
// NaN must match a NaN.
func ulpErr(got float32, want float64) float64 {
	if math.IsNaN(want) || math.IsNaN(float64(got)) {
		if math.IsNaN(want) && math.IsNaN(float64(got)) {
			return 0
		}
		return math.Inf(1)
	}
	const top = 0x1p128
	clamp := func(v float64) float64 {
		if v > top {
			return top
		}
		if v < -top {
			return -top
		}
		return v
	}
	g, w := clamp(float64(got)), clamp(want)
	ulp := 0x1p-149
	if a := math.Abs(w); a >= 0x1p-126 {
		e := int(math.Float64bits(a)>>52) - 1023 // 2ᵉ <= a < 2ᵉ⁺¹
		ulp = math.Float64frombits(uint64(min(e, 127)-23+1023) << 52)
	}
	return math.Abs(g-w) / ulp
}

// TestULPErr checks the error measure itself.
func TestULPErr(t *testing.T) {
	for _, c := range []struct {
		got  float32
		want float64
		ulps float64
	}{
		{1, 1, 0}, {1, 1 + 0x1p-23, 1}, {1, 1 - 0x1p-24, 1}, {0.75, 0.75 + 0x1p-23, 2},
		{0, 0x1p-149, 1}, {0x1p-149, 0x1.8p-148, 2}, {-3, -3 - 0x1p-23, 0.5},
		{float32(math.Inf(1)), math.MaxFloat32, 1}, {math.MaxFloat32, 1e39, 1}, {float32(math.Inf(1)), 1e300, 0},
		{float32(math.Inf(-1)), math.Inf(-1), 0}, {nan32, math.NaN(), 0}, {1, math.NaN(), math.Inf(1)}, {nan32, 1, math.Inf(1)},
	} {
		if e := ulpErr(c.got, c.want); e != c.ulps {
			t.Errorf("ulpErr(%v, %v) = %v, want %v", c.got, c.want, e, c.ulps)
		}
	}
}

// mapPoints returns the edge cases (0, ±tiny, subnormals, the branch points
// of the kernels, overflow, underflow, ±Inf, NaN), every 1021st float32 of
// either sign (every 16381st with -short), and a fine grid of [−20, 20].
func mapPoints() []float32 {
	pts := []float32{0, float32(math.Copysign(0, -1)), nan32, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	for _, v := range []float64{1e-45, 1e-40, 0x1p-126, 1e-30, 1e-10, 1e-8, 1e-7, 1e-4, 1e-2, 0.1, 0.3465, 0.3466, 0.5,
		0.625, 0.6931, 0.6932, 1, 1.04, 2, 9, 9.01, 10, 17, 18, 30, 31, 44, 87.3, 88.72, 88.7228, 88.7229, 88.73, 89, 89.5,
		103.27, 103.28, 103.97, 103.98, 104, 105, 150, 1e10} {
		f := float32(v)
		for _, w := range []float32{f, math.Nextafter32(f, 0), math.Nextafter32(f, float32(math.Inf(1)))} {
			pts = append(pts, w, -w)
		}
	}
	stride := uint32(1021)
	if testing.Short() {
		stride = 16381
	}
	for b := uint32(0); b < 0x7f800000; b += stride {
		v := math.Float32frombits(b)
		pts = append(pts, v, -v)
	}
	for v := -20.0; v <= 20; v += 1.0 / 4096 {
		pts = append(pts, float32(v))
	}
	return pts
}

// TestMapsAccuracy checks every kernel against its float64 reference under
// the first implementation, and that the others agree with it bitwise.
func TestMapsAccuracy(t *testing.T) {
	x := mapPoints()
	x0 := append([]float32(nil), x...)
	for _, c := range mapCases() {
		want := make([]float64, len(x))
		for i, v := range x {
			want[i] = c.ref(float64(v))
		}
		var ref []float32
		t.Run(c.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				got := make([]float32, len(x))
				c.run(got, x)
				checkSame(t, c.name+" input", x, x0)
				if ref != nil { // the paths agree bitwise: the error is ref's
					checkSame(t, c.name, got, ref)
					return
				}
				ref = got
				worst, at := 0.0, 0
				for i, g := range got {
					if e := ulpErr(g, want[i]); e > worst {
						worst, at = e, i
					}
				}
				t.Logf("%s: max error %.3g ulp at x=%g (got %g, want %g)", c.name, worst, x[at], got[at], want[at])
				if worst > c.maxULP {
					t.Errorf("%s: error %.3g ulp > %g at x=%g: got %g, want %g", c.name, worst, c.maxULP, x[at], got[at], want[at])
				}
			})
		})
	}
}

// checkSame fails unless got and want hold the same bits (any NaN matching
// any NaN).
func checkSame(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			t.Fatalf("%s: element %d is %v (%#x), want %v (%#x)", name, i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

// TestReluSigns checks that Srelu passes NaN and −0 and zeroes negatives.
func TestReluSigns(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := make([]float32, 37)
		for i := range x {
			x[i] = []float32{nan32, float32(math.Copysign(0, -1)), -1, 2, -math.SmallestNonzeroFloat32}[i%5]
		}
		dst := make([]float32, len(x))
		Srelu(dst, x)
		for i, v := range x {
			want := v
			if v < 0 {
				want = 0
			}
			if math.Float32bits(dst[i]) != math.Float32bits(want) && !(v != v && dst[i] != dst[i]) {
				t.Fatalf("Srelu(%v) = %v (%#x)", v, dst[i], math.Float32bits(dst[i]))
			}
		}
	})
}

// mapInput fills x with values that reach every branch: a spread over
// [−100, 100] with some 0, ±Inf and NaN.
func mapInput(rng *rand.Rand, x []float32) {
	for i := range x {
		switch rng.IntN(16) {
		case 0:
			x[i] = []float32{0, nan32, float32(math.Inf(1)), float32(math.Inf(-1))}[rng.IntN(4)]
		case 1, 2, 3:
			x[i] = float32(rng.NormFloat64())
		default:
			x[i] = float32(200*rng.Float64() - 100)
		}
	}
}

// TestMaps runs the unary kernels under every implementation at every
// length 0..80 (past each unroll width and tail) and offsets 0..3, with NaN
// guard bands around the output and a read-only input: each must match the
// generic twin bitwise, in place too.
func TestMaps(t *testing.T) {
	for _, c := range mapCases() {
		t.Run(c.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(4, 4))
				for n := 0; n <= 80; n++ {
					for off := 0; off < 4; off++ {
						xall := make([]float32, n+off+guard)
						for i := range xall {
							xall[i] = nan32
						}
						x := xall[off : off+n]
						mapInput(rng, x)
						x0 := append([]float32(nil), xall...)
						want := make([]float32, n)
						func() {
							defer setImpl("generic")()
							c.run(want, x)
						}()
						dst, dall := guarded(rng, n, (off+1)%4)
						c.run(dst, x)
						checkSame(t, c.name, dst, want)
						checkGuards(t, c.name, dall, (off+1)%4, n)
						checkSame(t, c.name+" input", xall, x0)
						c.run(x, x) // in place
						checkSame(t, c.name+" in place", x, want)
					}
				}
			})
		})
	}
}

// blockCase is a kernel applying a per-element factor to blocks.
type blockCase struct {
	name string
	run  func(dst, x, t []float32)
	ref  func(x, t float32) float32
}

var blockCases = []blockCase{
	{"SreluMul", SreluMul, func(x, t float32) float32 {
		if x > 0 {
			return t
		}
		return 0
	}},
	{"SmulBlocks", SmulBlocks, func(c, t float32) float32 { return c * t }},
}

// TestBlocks checks SreluMul and SmulBlocks against their reference loops
// for 0..3 blocks of every length 0..80 and offsets 0..3, with guard bands
// and read-only inputs.
func TestBlocks(t *testing.T) {
	for _, c := range blockCases {
		t.Run(c.name, func(t *testing.T) {
			forEachImpl(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(5, 5))
				for n := 0; n <= 80; n++ {
					for r := 0; r <= 3; r++ {
						off := (n + r) % 4
						x, xall := guarded(rng, n, off)
						mapInput(rng, x)
						tt, tall := guarded(rng, n*r, (off+1)%4)
						mapInput(rng, tt)
						x0, t0 := append([]float32(nil), xall...), append([]float32(nil), tall...)
						dst, dall := guarded(rng, n*r, (off+2)%4)
						c.run(dst, x, tt)
						for i := range dst {
							want := c.ref(x[i%n], tt[i])
							if math.Float32bits(dst[i]) != math.Float32bits(want) && !(want != want && dst[i] != dst[i]) {
								t.Fatalf("%s n=%d r=%d: dst[%d] = %v, want %v", c.name, n, r, i, dst[i], want)
							}
						}
						checkGuards(t, c.name, dall, (off+2)%4, n*r)
						checkSame(t, c.name+" x", xall, x0)
						checkSame(t, c.name+" t", tall, t0)
						c.run(tt, x, tt) // in place
						checkSame(t, c.name+" in place", tt, dst)
					}
				}
			})
		})
	}
}

func TestMapsPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Sexp(make([]float32, 2), make([]float32, 3)) },
		func() { SElu(make([]float32, 2), make([]float32, 3), 1, 1) },
		func() { SreluMul(make([]float32, 6), make([]float32, 4), make([]float32, 6)) },
		func() { SreluMul(make([]float32, 6), nil, make([]float32, 6)) },
		func() { SmulBlocks(make([]float32, 4), make([]float32, 3), make([]float32, 6)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
}

// FuzzMaps pits every implementation against the generic twin, bitwise, on
// arbitrary float32 bit patterns.
func FuzzMaps(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f, 1, 0, 0, 0, 0, 0, 0xb2, 0x42}, uint8(0))
	f.Add([]byte{0xff, 0xff, 0x7f, 0x7f, 0, 0, 0x80, 0x80, 0x3f, 0x1f, 0x31, 0xbf}, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		x := make([]float32, len(b)/4)
		for i := range x {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		cases := mapCases()
		c := cases[int(k)%len(cases)]
		want := make([]float32, len(x))
		func() {
			defer setImpl("generic")()
			c.run(want, x)
		}()
		forEachImpl(t, func(t *testing.T) {
			got := make([]float32, len(x))
			c.run(got, x)
			checkSame(t, c.name, got, want)
			if c.maxULP > 0 {
				for i, v := range x {
					if e := ulpErr(got[i], c.ref(float64(v))); e > c.maxULP {
						t.Fatalf("%s(%v) = %v: %.3g ulp", c.name, v, got[i], e)
					}
				}
			}
			bc := blockCases[int(k)%len(blockCases)]
			h := len(x) / 2
			got = make([]float32, h)
			bc.run(got, x[:h], x[h:2*h])
			for i := range got {
				if w := bc.ref(x[i], x[h+i]); math.Float32bits(got[i]) != math.Float32bits(w) && !(w != w && got[i] != got[i]) {
					t.Fatalf("%s: %v, want %v", bc.name, got[i], w)
				}
			}
		})
	})
}
