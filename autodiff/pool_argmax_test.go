package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPoolArgmaxReference checks MaxPool's argmax (run through the
// forward value and the VJP's routing) against the plain first-maximum
// loop over each window's taps, on inputs full of ties, ±0, NaN and
// infinities, with padding, strides, dilations and ceil_mode, alternating
// input shapes so that the kept geometry of the last shape is replaced.
func TestMaxPoolArgmaxReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for _, attrs := range []Attrs{
		{"kernel_shape": aInts(2, 2), "strides": aInts(2, 2)},
		{"kernel_shape": aInts(3, 3), "pads": aInts(1, 1, 1, 1)},
		{"kernel_shape": aInts(3, 2), "strides": aInts(2, 1), "dilations": aInts(1, 2), "ceil_mode": aInt(1)},
	} {
		a, err := newPoolAttrs(&Node{OpType: "MaxPool", Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		k, err := newMaxPool[float32](&Node{OpType: "MaxPool", Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		for _, shape := range [][]int{{3, 2, 7, 6}, {2, 1, 5, 5}, {3, 2, 7, 6}, {1, 3, 4, 9}} {
			x := New[float32](shape...)
			for i := range x.Data {
				x.Data[i] = vals[rng.IntN(len(vals))]
			}
			g, err := a.geometry(shape)
			if err != nil {
				t.Fatal(err)
			}
			_, arg, err := k.argmax(x)
			if err != nil {
				t.Fatal(err)
			}
			for p := 0; p < g.planes; p++ {
				plane := x.Data[p*g.inN : (p+1)*g.inN]
				for o := 0; o < g.outN; o++ {
					best := -1
					for _, t := range g.window(o) {
						if best < 0 || plane[t] > plane[best] {
							best = t
						}
					}
					if best >= 0 {
						best += p * g.inN
					}
					if got := arg[p*g.outN+o]; got != best {
						t.Fatalf("%v, shape %v: plane %d output %d: argmax %d, want %d", attrs, shape, p, o, got, best)
					}
				}
			}
		}
	}
}
