package simd

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIm2col checks that w·Im2col(x) is the direct convolution, and that
// Col2im is the adjoint of Im2col: ⟨Im2col(x), y⟩ = ⟨x, Col2im(y)⟩.
func TestIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for it := 0; it < 200; it++ {
		g := Conv2D{C: 1 + rng.IntN(3), H: 1 + rng.IntN(7), W: 1 + rng.IntN(7), KH: 1 + rng.IntN(3), KW: 1 + rng.IntN(3),
			StrideH: rng.IntN(3), StrideW: rng.IntN(3), DilationH: rng.IntN(3), DilationW: rng.IntN(3),
			PadTop: rng.IntN(3), PadLeft: rng.IntN(3), PadBottom: rng.IntN(3), PadRight: rng.IntN(3)}
		if g.OutH() <= 0 || g.OutW() <= 0 {
			continue
		}
		x := make([]float64, g.C*g.H*g.W)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		col := make([]float64, g.ColRows()*g.ColCols())
		Im2col(g, x, col)
		// One output channel with random weights, convolved directly.
		w := make([]float64, g.ColRows())
		for i := range w {
			w[i] = rng.NormFloat64()
		}
		oh, ow := g.OutH(), g.OutW()
		out := make([]float64, oh*ow)
		Dgemm(false, false, 1, oh*ow, g.ColRows(), 1, w, g.ColRows(), col, oh*ow, 0, out, oh*ow)
		for y := 0; y < oh; y++ {
			for xo := 0; xo < ow; xo++ {
				var s float64
				for c := 0; c < g.C; c++ {
					for i := 0; i < g.KH; i++ {
						for j := 0; j < g.KW; j++ {
							v := y*or1(g.StrideH) - g.PadTop + i*or1(g.DilationH)
							u := xo*or1(g.StrideW) - g.PadLeft + j*or1(g.DilationW)
							if v >= 0 && v < g.H && u >= 0 && u < g.W {
								s += w[(c*g.KH+i)*g.KW+j] * x[(c*g.H+v)*g.W+u]
							}
						}
					}
				}
				if math.Abs(out[y*ow+xo]-s) > 1e-12*(1+math.Abs(s)) {
					t.Fatalf("%+v: out[%d,%d]=%v, want %v", g, y, xo, out[y*ow+xo], s)
				}
			}
		}
		yv := make([]float64, len(col))
		for i := range yv {
			yv[i] = rng.NormFloat64()
		}
		back := make([]float64, len(x))
		Col2im(g, yv, back)
		var l, r float64
		for i := range col {
			l += col[i] * yv[i]
		}
		for i := range x {
			r += x[i] * back[i]
		}
		if math.Abs(l-r) > 1e-10*(1+math.Abs(l)) {
			t.Fatalf("%+v: <Im2col x, y> = %v, <x, Col2im y> = %v", g, l, r)
		}
		// The float32 version agrees with the float64 one.
		x32 := make([]float32, len(x))
		for i := range x {
			x32[i] = float32(x[i])
		}
		col32 := make([]float32, len(col))
		Im2col(g, x32, col32)
		for i := range col {
			if col32[i] != float32(col[i]) {
				t.Fatalf("%+v: float32 col[%d]=%v, float64 %v", g, i, col32[i], col[i])
			}
		}
	}
}
