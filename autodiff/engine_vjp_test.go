package autodiff_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// vjpTestGraph is a small CNN whose reverse sweep exercises what the engine
// does beyond the kernels: kernels that skip unwanted inputs (Conv, Gemm,
// Add with a constant), values with several consumers (a fresh kernel
// result and a shared one, Identity's, summed into one cotangent), an op
// fed the same value twice (Mul(x, x)), and a batch of images that the conv
// routines unfold in chunks.
func vjpTestGraph() *autodiff.Graph {
	b := newGraphBuilder(9)
	g, add, param, node := b.g, b.add, b.param, b.node
	x := add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: []int{autodiff.Batch, 2, 5, 5}})
	g.Inputs = []int{x}
	pads := autodiff.Attrs{"pads": {Kind: autodiff.AttrInts, Ints: []int64{1, 1, 1, 1}}}
	c1 := node("Conv", pads, x, param("w1", 3, 2, 3, 3), param("b1", 3))
	h := node("Tanh", nil, c1)
	sq := node("Mul", nil, h, h)
	half := add(autodiff.Value{Name: "half", Kind: autodiff.Const, Shape: []int{}, Data: []float64{0.5}})
	sh := node("Add", nil, sq, half)
	id := node("Identity", nil, sh)
	s := node("Add", nil, sh, id)
	c2 := node("Conv", nil, s, param("w2", 4, 3, 1, 1), param("b2", 4))
	f := node("Flatten", nil, c2)
	y := node("Gemm", autodiff.Attrs{"transB": {Kind: autodiff.AttrInt, I: 1}}, f, param("w3", 3, 100), param("b3", 3))
	g.Outputs = []int{y}
	return g
}

// TestEngineVJPAdjoint checks the engine's reverse sweep against its
// forward one, ⟨ȳ, J·v⟩ = ⟨Jᵀ·ȳ, v⟩ for parameters and inputs together,
// for a block of directions, and that VJPParams returns VJP's parameter
// cotangents.
func TestEngineVJPAdjoint(t *testing.T) {
	g := vjpTestGraph()
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randn := func(shape ...int) *autodiff.Tensor[float64] {
		v := autodiff.New[float64](shape...)
		for i := range v.Data {
			v.Data[i] = rng.NormFloat64()
		}
		return v
	}
	const r, batch = 3, 7
	x := randn(batch, 2, 5, 5)
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	var dp []*autodiff.Tensor[float64]
	for _, id := range e.Active() {
		dp = append(dp, randn(autodiff.BlockShape(r, e.Param(id).Shape)...))
	}
	dx := randn(autodiff.BlockShape(r, x.Shape)...)
	jv, err := e.JVP(tape, r, dp, []*autodiff.Tensor[float64]{dx})
	if err != nil {
		t.Fatal(err)
	}
	w := randn(jv[0].Shape...)
	wCopy := w.Clone()
	pb, xb, err := e.VJP(tape, r, []*autodiff.Tensor[float64]{w})
	if err != nil {
		t.Fatal(err)
	}
	for d := 0; d < r; d++ {
		lhs, rhs := 0.0, 0.0
		per := w.Len() / r
		for i := d * per; i < (d+1)*per; i++ {
			lhs += w.Data[i] * jv[0].Data[i]
		}
		for j := range dp {
			per := dp[j].Len() / r
			for i := d * per; i < (d+1)*per; i++ {
				rhs += pb[j].Data[i] * dp[j].Data[i]
			}
		}
		per = dx.Len() / r
		for i := d * per; i < (d+1)*per; i++ {
			rhs += xb[0].Data[i] * dx.Data[i]
		}
		if math.Abs(lhs-rhs) > 1e-9*(1+math.Abs(lhs)) {
			t.Errorf("direction %d: <w, Jv> = %v, <Jᵀw, v> = %v", d, lhs, rhs)
		}
	}
	for i := range w.Data {
		if w.Data[i] != wCopy.Data[i] {
			t.Fatal("VJP modified the output cotangent")
		}
	}
	only, err := e.VJPParams(tape, r, []*autodiff.Tensor[float64]{w})
	if err != nil {
		t.Fatal(err)
	}
	for j := range only {
		for i := range only[j].Data {
			if only[j].Data[i] != pb[j].Data[i] {
				t.Fatalf("parameter %d: VJPParams differs from VJP at %d: %v, %v", j, i, only[j].Data[i], pb[j].Data[i])
			}
		}
	}
}

func TestAllFiniteTangents(t *testing.T) {
	g := vjpTestGraph()
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	x := autodiff.New[float32](2, 2, 5, 5)
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, at := range []int{0, 5, 6, 99} { // each lane of the unrolled loop
			dx := autodiff.New[float32](1, 2, 2, 5, 5)
			dx.Data[at] = bad
			if _, err := e.JVP(tape, 1, nil, []*autodiff.Tensor[float32]{dx}); err == nil {
				t.Errorf("tangent with %v at %d: no error", bad, at)
			}
		}
		db := autodiff.New[float32](1, 3) // b1: three elements, the loop's tail
		db.Data[2] = bad
		if _, err := e.JVP(tape, 1, []*autodiff.Tensor[float32]{nil, db}, nil); err == nil {
			t.Errorf("bias tangent with %v: no error", bad)
		}
	}
	dx := autodiff.New[float32](1, 2, 2, 5, 5)
	dx.Data[3] = -math.MaxFloat32
	if _, err := e.JVP(tape, 1, nil, []*autodiff.Tensor[float32]{dx}); err != nil {
		t.Errorf("finite tangent: %v", err)
	}
}

// TestBroadcastSumToRuns checks Broadcast and SumTo, which walk coalesced
// runs, against the element map of BroadcastIndex, exactly (SumTo adds in
// the same order).
func TestBroadcastSumToRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for it := 0; it < 500; it++ {
		out := make([]int, rng.IntN(5))
		for i := range out {
			out[i] = rng.IntN(4) // 0 too: empty shapes
		}
		in := append([]int(nil), out[rng.IntN(len(out)+1):]...)
		for i := range in {
			if rng.IntN(2) == 0 {
				in[i] = 1
			}
		}
		x := autodiff.New[float64](in...)
		for i := range x.Data {
			x.Data[i] = rng.NormFloat64()
		}
		idx := autodiff.BroadcastIndex(in, out)
		got := autodiff.Broadcast(x, out)
		for k := range got.Data {
			j := k
			if idx != nil {
				j = idx[k]
			}
			if got.Data[k] != x.Data[j] {
				t.Fatalf("Broadcast %v to %v: element %d is %v, want %v", in, out, k, got.Data[k], x.Data[j])
			}
		}
		y := autodiff.New[float64](out...)
		for i := range y.Data {
			y.Data[i] = rng.NormFloat64()
		}
		want := make([]float64, autodiff.Size(in))
		for k, v := range y.Data {
			j := k
			if idx != nil {
				j = idx[k]
			}
			want[j] += v
		}
		sum := autodiff.SumTo(y, in)
		for j := range want {
			if sum.Data[j] != want[j] {
				t.Fatalf("SumTo %v to %v: element %d is %v, want %v", out, in, j, sum.Data[j], want[j])
			}
		}
	}
}
