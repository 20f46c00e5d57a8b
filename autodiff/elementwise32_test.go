package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestUnary32 checks the float32 unary ops that use package simd's kernels
// against float64 on the same (float32) inputs, element by element, over a
// range wide enough to reach every branch (saturation, underflow, ±Inf,
// NaN): the forward within 4 ulp (relative), JVP and VJP of 3 directions
// within 4 ulp of the largest element of each direction's result (the
// derivatives of Tanh and Sigmoid come from y, whose rounding dominates
// where they are tiny).
func TestUnary32(t *testing.T) {
	const u = 1.0 / (1 << 24)
	rng := rand.New(rand.NewPCG(7, 7))
	const n, r = 203, 3
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(float32(60*rng.Float64() - 30))
	}
	copy(xs, []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e-30, -1e-30, 100, -100, 90, -90})
	ts := make([]float64, r*n)
	for i := range ts {
		ts[i] = float64(float32(rng.NormFloat64()))
	}
	for _, nd := range []*Node{
		{OpType: "Relu"}, {OpType: "Exp"}, {OpType: "Tanh"}, {OpType: "Sigmoid"}, {OpType: "Erf"},
		{OpType: "Elu"}, {OpType: "Elu", Attrs: Attrs{"alpha": aFloat(0.5)}},
		{OpType: "Selu"}, {OpType: "Selu", Attrs: Attrs{"alpha": aFloat(2), "gamma": aFloat(3)}},
	} {
		nd.Opset = 17
		k64, err := NewKernel[float64](nd)
		if err != nil {
			t.Fatal(err)
		}
		k32, err := NewKernel[float32](nd)
		if err != nil {
			t.Fatal(err)
		}
		x64 := FromData(append([]float64(nil), xs...), n)
		x32 := Convert[float32](x64)
		t64 := FromData(append([]float64(nil), ts...), r, n)
		t32 := Convert[float32](t64)
		y64, err := k64.Forward([]*Tensor[float64]{x64})
		if err != nil {
			t.Fatal(err)
		}
		y32, err := k32.Forward([]*Tensor[float32]{x32})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range y64[0].Data {
			g := float64(y32[0].Data[i])
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && math.Abs(g-float64(float32(w))) > 4*u*math.Abs(w)+0x1p-149) {
				t.Errorf("%s %v: f(%v) = %v in float32, %v in float64", nd.OpType, nd.Attrs, xs[i], g, w)
			}
		}
		// The rules away from the non-finite inputs.
		xf64, xf32 := x64.Clone(), x32.Clone()
		for i := range xf64.Data[:11] {
			xf64.Data[i], xf32.Data[i] = 0.5, 0.5
		}
		yf64, _ := k64.Forward([]*Tensor[float64]{xf64})
		yf32, _ := k32.Forward([]*Tensor[float32]{xf32})
		for _, mode := range []string{"JVP", "VJP"} {
			var d64 *Tensor[float64]
			var d32 *Tensor[float32]
			if mode == "JVP" {
				d64 = k64.JVP([]*Tensor[float64]{xf64}, yf64, []*Tensor[float64]{t64}, r)[0]
				d32 = k32.JVP([]*Tensor[float32]{xf32}, yf32, []*Tensor[float32]{t32}, r)[0]
			} else {
				d64 = k64.VJP([]*Tensor[float64]{xf64}, yf64, []*Tensor[float64]{t64}, r)[0]
				d32 = k32.VJP([]*Tensor[float32]{xf32}, yf32, []*Tensor[float32]{t32}, r)[0]
			}
			for d := 0; d < r; d++ {
				var big float64
				for _, v := range d64.Data[d*n : (d+1)*n] {
					big = max(big, math.Abs(v))
				}
				for i := d * n; i < (d+1)*n; i++ {
					if e := math.Abs(float64(d32.Data[i]) - d64.Data[i]); !(e <= 4*u*big) {
						t.Errorf("%s %v %s: direction %d element %d (x=%v): %v in float32, %v in float64",
							nd.OpType, nd.Attrs, mode, d, i-d*n, xf64.Data[i-d*n], d32.Data[i], d64.Data[i])
					}
				}
			}
		}
	}
}

// TestReluRuleMask checks that Relu's rule masks: 0 where x <= 0 even for
// an Inf or NaN tangent, in both precisions.
func TestReluRuleMask(t *testing.T) {
	x := []float64{-1, 0, 2, -3, 4, math.NaN()}
	tg := []float64{math.NaN(), math.Inf(1), 5, math.Inf(-1), math.NaN(), 7}
	want := []float64{0, 0, 5, 0, math.NaN(), 0}
	check := func(name string, got []float64) {
		for i, w := range want {
			if g := got[i]; g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("%s: element %d = %v, want %v", name, i, g, w)
			}
		}
	}
	nd := &Node{OpType: "Relu", Opset: 14}
	k64, _ := NewKernel[float64](nd)
	k32, _ := NewKernel[float32](nd)
	x64, t64 := FromData(x, len(x)), FromData(tg, 1, len(x))
	y64, _ := k64.Forward([]*Tensor[float64]{x64})
	check("float64", k64.VJP([]*Tensor[float64]{x64}, y64, []*Tensor[float64]{t64}, 1)[0].Data)
	x32, t32 := Convert[float32](x64), Convert[float32](t64)
	y32, _ := k32.Forward([]*Tensor[float32]{x32})
	check("float32", Convert[float64](k32.JVP([]*Tensor[float32]{x32}, y32, []*Tensor[float32]{t32}, 1)[0]).Data)
}
