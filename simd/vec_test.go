package simd

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// guarded returns a slice of n random values at offset off inside a larger
// NaN-filled slice, and the whole backing slice.
func guarded(rng *rand.Rand, n, off int) (x, all []float32) {
	all = make([]float32, off+n+guard)
	for i := range all {
		all[i] = nan32
	}
	x = all[off : off+n : off+n]
	for i := range x {
		x[i] = float32(rng.IntN(2001)-1000) / 1000
	}
	return x, all
}

func checkGuards(t *testing.T, name string, all []float32, off, n int) {
	t.Helper()
	for i, v := range all {
		if (i < off || i >= off+n) && !math.IsNaN(float64(v)) {
			t.Fatalf("%s: element %d outside the vector written", name, i)
		}
	}
}

// TestVec checks the vector kernels under every implementation against their
// reference loops at every length 0..100 and offsets 0..3. Sdot is a reduction
// and may be summed in another order: |got − ref| <= 2·n·u·Σ|x||y|.
func TestVec(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		for n := 0; n <= 100; n++ {
			off := n % 4
			x, xall := guarded(rng, n, off)
			y, yall := guarded(rng, n, (n+1)%4)
			x0 := append([]float32(nil), xall...)
			var ref, abs float64
			for i := range x {
				ref += float64(x[i]) * float64(y[i])
				abs += math.Abs(float64(x[i]) * float64(y[i]))
			}
			if got := Sdot(x, y); math.Abs(float64(got)-ref) > 2*float64(n)*eps32*abs {
				t.Fatalf("Sdot n=%d: %v, want %v", n, got, ref)
			}
			want := append([]float32(nil), y...)
			axpyGeneric(-1.5, x, want)
			Saxpy(-1.5, x, y)
			for i := range y {
				if y[i] != want[i] {
					t.Fatalf("Saxpy n=%d: y[%d]=%v, want %v", n, i, y[i], want[i])
				}
			}
			checkGuards(t, "Saxpy", yall, (n+1)%4, n)
			for i := range xall {
				if math.Float32bits(xall[i]) != math.Float32bits(x0[i]) {
					t.Fatalf("Saxpy n=%d changed x", n)
				}
			}
			Sscal(2, x)
			for i := range x {
				if x[i] != 2*x0[off+i] {
					t.Fatalf("Sscal n=%d: x[%d]=%v", n, i, x[i])
				}
			}
			checkGuards(t, "Sscal", xall, off, n)
			var s float32
			m := float32(math.Inf(-1))
			for _, v := range x {
				s += v
				m = max(m, v)
			}
			if got := Ssum(x); got != s {
				t.Fatalf("Ssum n=%d: %v, want %v", n, got, s)
			}
			if got := Smax(x); got != m {
				t.Fatalf("Smax n=%d: %v, want %v", n, got, m)
			}
		}
	})
	if v := Smax([]float32{1, nan32, 2}); !math.IsNaN(float64(v)) {
		t.Errorf("Smax with NaN = %v", v)
	}
}

// TestDotAxpy checks Sdot and Saxpy under every implementation at every
// length 0..300 and a few longer ones, at every pair of offsets 0..3 of x
// and y, with y longer than x. Sdot must be within the bound of TestVec,
// ignore y past len(x) (NaN there) and change neither input; Saxpy must be
// bitwise axpyGeneric, leave x and everything around y[:len(x)] (a
// non-NaN sentinel) as they were.
func TestDotAxpy(t *testing.T) {
	var lengths []int
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 511, 512, 513, 1000, 2000, 2003)
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(10, 10))
		for _, n := range lengths {
			for ox := range 4 {
				for oy := range 4 {
					checkDot(t, rng, n, ox, oy)
					checkAxpy(t, rng, n, ox, oy)
				}
			}
		}
	})
}

// checkDot runs Sdot on x of length n at offset ox and y of length n + n%3
// at offset oy, both in NaN-guarded memory: y[n:] is NaN.
func checkDot(t *testing.T, rng *rand.Rand, n, ox, oy int) {
	t.Helper()
	x, xall := guarded(rng, n, ox)
	_, yall := guarded(rng, n, oy)
	y := yall[oy : oy+n+n%3]
	x0, y0 := slices.Clone(xall), slices.Clone(yall)
	var ref, abs float64
	for i := range x {
		ref += float64(x[i]) * float64(y[i])
		abs += math.Abs(float64(x[i]) * float64(y[i]))
	}
	if got := Sdot(x, y); !(math.Abs(float64(got)-ref) <= 2*float64(n)*eps32*abs) {
		t.Fatalf("Sdot n=%d offsets %d,%d: %v, want %v", n, ox, oy, got, ref)
	}
	if !sameBits(xall, x0) || !sameBits(yall, y0) {
		t.Fatalf("Sdot n=%d offsets %d,%d changed its inputs", n, ox, oy)
	}
}

// checkAxpy runs Saxpy with a random alpha on x of length n at offset ox
// (NaN around it) and y of length n + n%3 at offset oy, every element of
// its backing array but y[:n] a sentinel that must stay.
func checkAxpy(t *testing.T, rng *rand.Rand, n, ox, oy int) {
	t.Helper()
	const sentinel = -777
	x, xall := guarded(rng, n, ox)
	_, yall := guarded(rng, n, oy)
	for i := range yall {
		if i < oy || i >= oy+n {
			yall[i] = sentinel
		}
	}
	alpha := float32(rng.NormFloat64())
	x0, want := slices.Clone(xall), slices.Clone(yall)
	axpyGeneric(alpha, x, want[oy:oy+n])
	Saxpy(alpha, x, yall[oy:oy+n+n%3])
	for i := range yall {
		if math.Float32bits(yall[i]) != math.Float32bits(want[i]) {
			t.Fatalf("Saxpy n=%d offsets %d,%d: y[%d]=%v, want %v", n, ox, oy, i-oy, yall[i], want[i])
		}
	}
	if !sameBits(xall, x0) {
		t.Fatalf("Saxpy n=%d offsets %d,%d changed x", n, ox, oy)
	}
}

// sameBits reports whether a and b hold bitwise the same values.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) })
}

func TestVecPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Sdot(make([]float32, 3), make([]float32, 2)) },
		func() { Saxpy(1, make([]float32, 3), make([]float32, 2)) },
		func() { F64To32(make([]float32, 3), make([]float64, 2)) },
		func() { AddF32To64(make([]float64, 3), make([]float32, 2)) },
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

// convLengths are the lengths of the conversion tests: every length 0..300,
// covering each tail and loop of both instruction sets, and a few longer.
func convLengths() []int {
	var s []int
	for n := 0; n <= 300; n++ {
		s = append(s, n)
	}
	return append(s, 511, 512, 513, 1000, 4099)
}

// f64Special are float64 values the conversions must get right: signed
// zeros, infinities, NaNs with payloads (quiet and signaling, the latter
// quieted by the conversion), values beyond the largest float32 and at its
// rounding boundary, float32 subnormals and the ties between them, values
// that underflow to ±0, and ties between normal float32s.
var f64Special = []float64{
	0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1),
	math.NaN(), math.Float64frombits(0x7ff8000020000000), math.Float64frombits(0xfff8000000000123),
	math.Float64frombits(0x7ff0000020000000), // signaling NaN
	1e39, -1e39, math.MaxFloat64, -math.MaxFloat64,
	math.MaxFloat32, -math.MaxFloat32, math.MaxFloat32 + 0x1p103, math.Nextafter(math.MaxFloat32+0x1p103, 0),
	0x1p-149, -0x1p-149, 0x1p-150, 3 * 0x1p-150, -0x1p-151, 1e-40, -1e-42, 0x1p-126, math.Nextafter(0x1p-126, 0),
	1e-300, -1e-300, math.SmallestNonzeroFloat64,
	1 + 0x1p-24, 1 + 3*0x1p-24, -(1 + 0x1p-24 + 0x1p-50),
}

// f32Special are float32 values for AddF32To64's source.
var f32Special = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	nan32, math.Float32frombits(0x7fc00123), math.Float32frombits(0xff800001), // the last signaling
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
	1e-40, 0x1p-126, 1, -1, 0x1p-30, 3e38,
}

// f64Value is a random float64 for the conversion tests: a special value
// of f64Special, a random bit pattern, or a value of order 10^±3.
func f64Value(rng *rand.Rand) float64 {
	switch rng.IntN(4) {
	case 0:
		return f64Special[rng.IntN(len(f64Special))]
	case 1:
		return math.Float64frombits(rng.Uint64())
	}
	return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
}

// f32Value is f64Value for float32.
func f32Value(rng *rand.Rand) float32 {
	switch rng.IntN(4) {
	case 0:
		return f32Special[rng.IntN(len(f32Special))]
	case 1:
		return math.Float32frombits(rng.Uint32())
	}
	return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
}

// sentinel64 and sentinel32 fill the memory around the vectors of the
// conversion tests: NaNs with payloads no conversion produces.
var (
	sentinel64 = math.Float64frombits(0x7ff4_dead_beef_0001)
	sentinel32 = math.Float32frombits(0x7fa5_beef)
)

// convSlices returns a vector of n random values from value at offset off
// of its backing array, whose other elements (off before it, guard after)
// are sent.
func convSlices[T float32 | float64](rng *rand.Rand, n, off int, sent T, value func(*rand.Rand) T) (x, all []T) {
	all = make([]T, off+n+guard)
	for i := range all {
		all[i] = sent
	}
	x = all[off : off+n : off+n]
	for i := range x {
		x[i] = value(rng)
	}
	return x, all
}

// bits returns the bit patterns of x.
func bits[T float32 | float64](x []T) []uint64 {
	b := make([]uint64, len(x))
	for i, v := range x {
		if f, ok := any(v).(float32); ok {
			b[i] = uint64(math.Float32bits(f))
		} else {
			b[i] = math.Float64bits(float64(v))
		}
	}
	return b
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []uint64) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestF64To32 checks F64To32 under every implementation, at every length
// 0..300 and a few longer, at every pair of offsets 0..3 of dst and src
// (src n%3 longer than dst), with random and special values: dst must be
// bitwise f64To32Generic's, the memory around dst and all of src unchanged.
func TestF64To32(t *testing.T) {
	checkConv(t, 11, F64To32, f64To32Generic, sentinel32, sentinel64, f32Value, f64Value, nil)
}

// TestAddF32To64 is TestF64To32 for AddF32To64, with random and special
// values in both dst and src: NaN + NaN, Inf − Inf, sums that round; a
// NaN result only needs to be a NaN (Go does not say which NaN an
// operation on NaNs gives: the twin under -race keeps dst's, optimized
// src's). The guards stay bitwise.
func TestAddF32To64(t *testing.T) {
	checkConv(t, 12, AddF32To64, addF32To64Generic, sentinel64, sentinel32, f64Value, f32Value, func(x float64) bool { return math.IsNaN(x) })
}

// checkConv runs conv against its twin under every implementation, at
// convLengths and offsets 0..3 of dst and src (src n%3 longer), dst
// starting from values of dv and src from sv: dst bitwise the twin's
// (or both anyNaN, when that is not nil), its guards and all of src
// unchanged.
func checkConv[D, S float32 | float64](t *testing.T, seed uint64, conv, twin func([]D, []S), dsent D, ssent S, dv func(*rand.Rand) D, sv func(*rand.Rand) S, anyNaN func(D) bool) {
	forEachImpl(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(seed, seed))
		for _, n := range convLengths() {
			for od := range 4 {
				for os := range 4 {
					_, dall := convSlices(rng, n, od, dsent, dv)
					src, sall := convSlices(rng, n+n%3, os, ssent, sv)
					want, s0 := slices.Clone(dall), bits(sall)
					twin(want[od:od+n], src)
					conv(dall[od:od+n], src)
					for i := od; anyNaN != nil && i < od+n; i++ {
						if anyNaN(dall[i]) && anyNaN(want[i]) {
							dall[i] = want[i]
						}
					}
					if i := firstDiff(bits(dall), bits(want)); i >= 0 {
						t.Fatalf("n=%d offsets %d,%d: dst[%d] = %v (%#x) for src %v, want %v (%#x)",
							n, od, os, i-od, dall[i], bits(dall[i : i+1])[0], src[min(i-od, len(src)-1)], want[i], bits(want[i : i+1])[0])
					}
					if firstDiff(bits(sall), s0) >= 0 {
						t.Fatalf("n=%d offsets %d,%d changed src", n, od, os)
					}
				}
			}
		}
	})
}

// TestConvValues checks the conversions' arithmetic under every
// implementation on values whose results are known: ties to even between
// normal and subnormal float32s, overflow to ±Inf at the rounding boundary,
// underflow to ±0, NaN; sums whose float32 source is widened exactly. Each
// value sits at every position of a 21-element vector, so that it passes
// through the vector loops and the tails.
func TestConvValues(t *testing.T) {
	to32 := []struct {
		x    float64
		want float32
	}{
		{1 + 0x1p-24, 1},                     // tie: down to the even 1
		{1 + 3*0x1p-24, 1 + 0x1p-22},         // tie: up to the even 1 + 2⁻²²
		{1 + 0x1p-24 + 0x1p-50, 1 + 0x1p-23}, // just above the tie
		{math.MaxFloat32, math.MaxFloat32},
		{math.MaxFloat32 + 0x1p103, inf32(1)},                         // tie between MaxFloat32 and 2¹²⁸: Inf
		{math.Nextafter(math.MaxFloat32+0x1p103, 0), math.MaxFloat32}, // just below it
		{-1e39, inf32(-1)},
		{0x1p-149, 0x1p-149},                       // the smallest subnormal
		{0x1p-150, 0},                              // tie: down to the even 0
		{3 * 0x1p-150, 0x1p-148},                   // tie: up to the even 2⁻¹⁴⁸
		{0x1p-150 + 0x1p-200, 0x1p-149},            // just above the tie
		{-0x1p-151, float32(math.Copysign(0, -1))}, // underflow keeps the sign
		{math.Inf(-1), inf32(-1)},
	}
	add := []struct {
		dst  float64
		src  float32
		want float64
	}{
		{1, 0x1p-30, 1 + 0x1p-30},                         // exact in float64, not in float32
		{0, math.SmallestNonzeroFloat32, 0x1p-149},        // subnormal source widened exactly
		{1e300, math.MaxFloat32, 1e300 + math.MaxFloat32}, // one rounding
		{math.Copysign(0, -1), float32(math.Copysign(0, -1)), math.Copysign(0, -1)},
		{math.Copysign(0, -1), 0, 0},
		{0x1p52, 0.5, 0x1p52},         // tie: down to the even 2⁵²
		{0x1p52 + 1, 0.5, 0x1p52 + 2}, // tie: up to the even 2⁵² + 2
		{math.Inf(1), math.MaxFloat32, math.Inf(1)},
	}
	const n = 21
	forEachImpl(t, func(t *testing.T) {
		for _, c := range to32 {
			for p := range n {
				src := make([]float64, n)
				src[p] = c.x
				dst := make([]float32, n)
				F64To32(dst, src)
				if math.Float32bits(dst[p]) != math.Float32bits(c.want) {
					t.Fatalf("F64To32(%v) at %d = %v, want %v", c.x, p, dst[p], c.want)
				}
			}
		}
		for _, c := range add {
			for p := range n {
				src := make([]float32, n)
				dst := make([]float64, n)
				src[p], dst[p] = c.src, c.dst
				AddF32To64(dst, src)
				if math.Float64bits(dst[p]) != math.Float64bits(c.want) {
					t.Fatalf("AddF32To64(%v, %v) at %d = %v, want %v", c.dst, c.src, p, dst[p], c.want)
				}
			}
		}
		d32 := make([]float32, 1)
		if F64To32(d32, []float64{math.NaN()}); !math.IsNaN(float64(d32[0])) {
			t.Errorf("F64To32(NaN) = %v", d32[0])
		}
		d64 := []float64{math.Inf(1)}
		if AddF32To64(d64, []float32{inf32(-1)}); !math.IsNaN(d64[0]) {
			t.Errorf("AddF32To64: Inf − Inf = %v", d64[0])
		}
	})
}

func inf32(sign int) float32 { return float32(math.Inf(sign)) }

// TestConvAllocs checks that the conversions allocate nothing.
func TestConvAllocs(t *testing.T) {
	d32, s64 := make([]float32, 1003), make([]float64, 1003)
	d64, s32 := make([]float64, 1003), make([]float32, 1003)
	forEachImpl(t, func(t *testing.T) {
		if a := testing.AllocsPerRun(10, func() { F64To32(d32, s64); AddF32To64(d64, s32) }); a != 0 {
			t.Errorf("%v allocations per run", a)
		}
	})
}
