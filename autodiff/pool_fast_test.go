package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/simd"
)

// fastPoolValues fills n values with ties, signed zeros, infinities and
// NaNs among normal ones: the cases where the order of the comparisons
// shows.
func fastPoolValues[T Float](rng *rand.Rand, n int) []T {
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN()}
	x := make([]T, n)
	for i := range x {
		if rng.IntN(3) == 0 {
			x[i] = T(special[rng.IntN(len(special))])
		} else {
			x[i] = T(rng.NormFloat64())
		}
	}
	return x
}

// sameValue reports whether a and b are the same value, sign of zero
// included, any NaN matching any NaN.
func sameValue[T Float](a, b T) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return a == b && math.Signbit(float64(a)) == math.Signbit(float64(b))
}

// checkMaxPool2 runs MaxPool's forward on x and compares it with the
// general path, maxPoolPlanes, value for value; it reports whether the
// 2×2 fast path applied.
func checkMaxPool2[T Float](t *testing.T, attrs Attrs, shape []int, rng *rand.Rand) bool {
	t.Helper()
	k, err := newMaxPool[T](&Node{OpType: "MaxPool", Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	x := FromData(fastPoolValues[T](rng, Size(shape)), shape...)
	out, err := k.Forward([]*Tensor[T]{x})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newPoolAttrs(&Node{OpType: "MaxPool", Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.geometry(shape)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]T, g.planes*g.outN)
	maxPoolPlanes(g, x.Data, nil, want)
	if out[0].Len() != len(want) {
		t.Fatalf("%v: %d outputs, want %d", shape, out[0].Len(), len(want))
	}
	for i, w := range want {
		if !sameValue(out[0].Data[i], w) {
			t.Fatalf("%T %v: y[%d] = %v, want %v", w, shape, i, out[0].Data[i], w)
		}
	}
	return maxPool2(&a, g, x.Data, make([]T, len(want)))
}

// TestMaxPool2Fast compares the 2×2 stride-2 fast path with the general
// one on odd heights, widths of one partial vector and several, batch 1
// and channel counts off the vector widths, in float32 (the fast path
// where SIMD has it) and float64 (the general path); and checks that it
// declines padding, ceil mode, odd widths and other windows.
func TestMaxPool2Fast(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	k22 := Attrs{"kernel_shape": {Kind: AttrInts, Ints: []int64{2, 2}}, "strides": {Kind: AttrInts, Ints: []int64{2, 2}}}
	shapes := [][]int{{1, 1, 2, 2}, {1, 3, 5, 6}, {2, 5, 7, 10}, {1, 17, 4, 34}, {3, 1, 9, 32}, {1, 9, 8, 8}, {2, 1, 3, 18}}
	for _, sh := range shapes {
		if got := checkMaxPool2[float32](t, k22, sh, rng); got != simd.MaxPool2Fast() {
			t.Errorf("float32 %v: fast path %v, want %v", sh, got, simd.MaxPool2Fast())
		}
		if checkMaxPool2[float64](t, k22, sh, rng) {
			t.Errorf("float64 %v: took the float32 fast path", sh)
		}
	}
	with := func(name string, v Attr) Attrs {
		a := Attrs{name: v}
		for k, x := range k22 {
			a[k] = x
		}
		return a
	}
	declined := []struct {
		attrs Attrs
		shape []int
	}{
		{with("pads", Attr{Kind: AttrInts, Ints: []int64{1, 1, 1, 1}}), []int{1, 2, 6, 6}},
		{with("pads", Attr{Kind: AttrInts, Ints: []int64{0, 0, 1, 1}}), []int{1, 2, 5, 5}},
		{with("ceil_mode", Attr{Kind: AttrInt, I: 1}), []int{1, 2, 5, 6}},
		{with("auto_pad", Attr{Kind: AttrString, S: "SAME_UPPER"}), []int{1, 2, 5, 5}},
		{with("dilations", Attr{Kind: AttrInts, Ints: []int64{2, 2}}), []int{1, 2, 8, 8}},
		{k22, []int{2, 3, 6, 7}}, // odd width
		{Attrs{"kernel_shape": {Kind: AttrInts, Ints: []int64{2, 2}}}, []int{1, 2, 6, 6}},
		{Attrs{"kernel_shape": {Kind: AttrInts, Ints: []int64{3, 3}}, "strides": {Kind: AttrInts, Ints: []int64{2, 2}}}, []int{1, 2, 7, 7}},
	}
	for _, c := range declined {
		if checkMaxPool2[float32](t, c.attrs, c.shape, rng) {
			t.Errorf("%v on %v: took the fast path", c.attrs, c.shape)
		}
	}
	// Padding and ceil mode that add no window keep the fast path.
	for _, a := range []Attrs{with("ceil_mode", Attr{Kind: AttrInt, I: 1}), with("pads", Attr{Kind: AttrInts, Ints: []int64{0, 0, 0, 0}}), with("auto_pad", Attr{Kind: AttrString, S: "VALID"})} {
		if got := checkMaxPool2[float32](t, a, []int{2, 3, 4, 6}, rng); got != simd.MaxPool2Fast() {
			t.Errorf("%v: fast path %v, want %v", a, got, simd.MaxPool2Fast())
		}
	}
}
