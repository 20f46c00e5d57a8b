package fvp

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"github.com/onnx-adapt/onnx-adapt/simd"
	"gonum.org/v1/gonum/mat"
)

// crossUnblocked is J_a·J_bᵀ by the unblocked formula: each term's full
// products G_a·G_bᵀ and X_a·X_bᵀ (in float32 by simd.Sgemm with single),
// then Σ α²·(X_a·X_bᵀ ⊗ 1_K) ⊙ (G_a·G_bᵀ) + R_a·R_bᵀ.
func crossUnblocked(a, b *Factors, single bool) *mat.Dense {
	k := a.K
	out := mat.NewDense(a.N*k, b.N*k, nil)
	mul := func(x, y *mat.Dense) *mat.Dense {
		var c mat.Dense
		if !single {
			c.Mul(x, y.T())
			return &c
		}
		m, w := x.Dims()
		n, _ := y.Dims()
		c32 := make([]float32, m*n)
		simd.Sgemm(false, true, m, n, w, 1, toFloat32(nil, x), w, toFloat32(nil, y), w, 0, c32, n)
		d := make([]float64, m*n)
		for i, v := range c32 {
			d[i] = float64(v)
		}
		return mat.NewDense(m, n, d)
	}
	for li := range a.Layers {
		la, lb := a.Layers[li], b.Layers[li]
		gg := mul(la.G, lb.G)
		var xx *mat.Dense
		if la.X != nil {
			xx = mul(la.X, lb.X)
		}
		for i := 0; i < a.N*k; i++ {
			row, grow := out.RawRowView(i), gg.RawRowView(i)
			for j, v := range grow {
				if xx == nil {
					row[j] += la.Scale * v
				} else {
					row[j] += la.Scale * xx.At(i/k, j/k) * v
				}
			}
		}
	}
	if a.Rows != nil {
		out.Add(out, mul(a.Rows, b.Rows))
	}
	return out
}

// TestCrossBlocked checks the row-panel kernel against the unblocked
// formula, bitwise: panels of 1, 2, 3 and 4 points (N = 7 and 5, not
// multiples), a ≠ b, K = 2 outputs with biases, explicit rows, float64
// and float32 products; Gram against Cross(f, f) and for symmetry.
func TestCrossBlocked(t *testing.T) {
	ctx := context.Background()
	factors := func(seed uint64, n int, rows bool) *Factors {
		e, err := autodiff.NewEngine[float64](testnet.MLP(1, 3, 5, 4, 2))
		if err != nil {
			t.Fatal(err)
		}
		op, err := New(ctx, e, autodiff.Convert[float64](testnet.Inputs(seed, n, 3)), 3)
		if err != nil {
			t.Fatal(err)
		}
		f, err := op.Factors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rows {
			rng := rand.New(rand.NewPCG(seed, 9))
			f.Rows = mat.NewDense(n*f.K, 3, nil)
			for i := range f.Rows.RawMatrix().Data {
				f.Rows.RawMatrix().Data[i] = float64(float32(rng.NormFloat64()))
			}
		}
		return f
	}
	// A Gemm's weight and bias share one G.
	f := factors(1, 2, false)
	if len(f.Layers) != 6 || f.Layers[0].G != f.Layers[1].G || f.Layers[2].G == f.Layers[0].G {
		t.Fatalf("the MLP's %d layers do not share G by node", len(f.Layers))
	}
	for _, rows := range []bool{false, true} {
		a, b := factors(2, 7, rows), factors(5, 5, rows)
		for _, single := range []bool{false, true} {
			checkCross(t, a, b, single)
		}
	}
}

// TestCrossBlockedConv does the same for the digits CNN, whose convolution
// weights are explicit gradient rows, with float32 factors.
func TestCrossBlockedConv(t *testing.T) {
	ctx := context.Background()
	g, err := onnximport.Load("../models/digits-cnn/model.onnx", nil)
	if err != nil {
		t.Fatal(err)
	}
	factors := func(seed uint64, n int) *Factors {
		e, err := autodiff.NewEngine[float32](g)
		if err != nil {
			t.Fatal(err)
		}
		x := autodiff.New[float32](n, 1, 8, 8)
		copy(x.Data, testnet.Inputs(seed, n, 64).Data)
		op, err := New(ctx, e, x, 4)
		if err != nil {
			t.Fatal(err)
		}
		f, err := op.Factors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Rows == nil || !f.Single {
			t.Fatal("the CNN's factors have no explicit rows or are not float32")
		}
		return f
	}
	a, b := factors(3, 6), factors(4, 5)
	for _, single := range []bool{false, true} {
		checkCross(t, a, b, single)
	}
}

// TestCrossBlockedLarge checks random factors big enough for panels of
// the default height and for the multi-threaded and packed simd paths:
// N = 300 and 170 points, K = 3, layers of several widths and a bias.
func TestCrossBlockedLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	mk := func(n, rows int) *mat.Dense {
		m := mat.NewDense(n, rows, nil)
		for i := range m.RawMatrix().Data {
			m.RawMatrix().Data[i] = float64(float32(rng.NormFloat64()))
		}
		return m
	}
	factors := func(n int) *Factors {
		const k = 3
		f := &Factors{N: n, K: k, Single: true, Rows: mk(n*k, 5)}
		for _, w := range [][2]int{{17, 40}, {40, 0}, {0, 9}} {
			l := Layer{Scale: 0.5 + rng.Float64(), G: mk(n*k, w[1]+1)}
			if w[0] > 0 {
				l.X = mk(n, w[0])
			}
			f.Layers = append(f.Layers, l)
		}
		return f
	}
	a, b := factors(300), factors(170)
	for _, single := range []bool{false, true} {
		for _, rows := range []int{panelRows, 100} {
			want := crossUnblocked(a, b, single)
			got := mat.NewDense(a.N*a.K, b.N*b.K, nil)
			cross(got.RawMatrix().Data, a, b, false, single, rows)
			if !mat.Equal(got, want) {
				t.Errorf("Cross(a, b) with panels of %d rows (single %v) differs from the unblocked formula by %g", rows, single, maxDiff(got, want))
			}
			want = crossUnblocked(a, a, single)
			got = mat.NewDense(a.N*a.K, a.N*a.K, nil)
			cross(got.RawMatrix().Data, a, a, true, single, rows)
			mirrorLower(got.RawMatrix().Data, a.N*a.K)
			if !mat.Equal(got, want) {
				t.Errorf("Gram(a) with panels of %d rows (single %v) differs from the unblocked formula by %g", rows, single, maxDiff(got, want))
			}
		}
	}
}

func maxDiff(a, b *mat.Dense) float64 {
	var d mat.Dense
	d.Sub(a, b)
	return mat.Norm(&d, math.Inf(1))
}

func checkCross(t *testing.T, a, b *Factors, single bool) {
	t.Helper()
	same := func(what string, got, want *mat.Dense) {
		t.Helper()
		r, c := want.Dims()
		if gr, gc := got.Dims(); gr != r || gc != c {
			t.Fatalf("%s: %d×%d, want %d×%d", what, gr, gc, r, c)
		}
		for i := range r {
			for j := range c {
				if g, w := got.At(i, j), want.At(i, j); g != w {
					t.Fatalf("%s (single %v): entry (%d, %d) is %v, want %v", what, single, i, j, g, w)
				}
			}
		}
	}
	k := a.K
	for _, pts := range []int{1, 2, 3, 4} {
		want := crossUnblocked(a, b, single)
		got := mat.NewDense(a.N*k, b.N*k, nil)
		cross(got.RawMatrix().Data, a, b, false, single, pts*k)
		same("Cross(a, b)", got, want)
		want = crossUnblocked(a, a, single)
		got = mat.NewDense(a.N*k, a.N*k, nil)
		cross(got.RawMatrix().Data, a, a, true, single, pts*k)
		mirrorLower(got.RawMatrix().Data, a.N*k)
		same("Gram(a)", got, want)
		same("Gram(a) transposed", mat.DenseCopyOf(got.T()), want)
	}
	// The exported forms pick the precision by useSingle.
	want := crossUnblocked(a, b, useSingle(a, b))
	got, err := Cross(a, b)
	if err != nil {
		t.Fatal(err)
	}
	same("Cross", got, want)
	sym, err := Gram(a)
	if err != nil {
		t.Fatal(err)
	}
	same("Gram", mat.DenseCopyOf(sym), crossUnblocked(a, a, useSingle(a, a)))
}
