package autodiff_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// bufTestGraph has kernels that draw on the sweep buffers (Gemm, Elu,
// Tanh, Relu) and results that share memory with such blocks: an output
// that is a view of one (Flatten of a Relu), a value both consumed further
// and returned, and a parameter block that is a Gemm's fresh B̄.
func bufTestGraph() *autodiff.Graph {
	b := newGraphBuilder(4)
	g, add, param, node := b.g, b.add, b.param, b.node
	x := add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: []int{autodiff.Batch, 5}})
	g.Inputs = []int{x}
	h1 := node("Elu", nil, node("Gemm", nil, x, param("w1", 5, 7), param("b1", 7)))
	h2 := node("Tanh", nil, node("Gemm", autodiff.Attrs{"transB": {Kind: autodiff.AttrInt, I: 1}}, h1, param("w2", 6, 7), param("b2", 6)))
	y1 := node("Gemm", nil, h2, param("w3", 6, 3), param("b3", 3))
	y2 := node("Flatten", nil, node("Relu", nil, y1))
	g.Outputs = []int{y1, y2}
	return g
}

// TestSweepBuffersReused checks that sweeps on an engine that reuses its
// sweep buffers give bitwise the results of a fresh engine, round after
// round with new directions (a kernel that left part of a reused block
// unwritten would show the last round's values), that results still held
// are not overwritten by later sweeps, and that Release takes back only
// what the last sweep returned; on bufTestGraph and on vjpTestGraph's CNN.
func TestSweepBuffersReused(t *testing.T) {
	t.Run("mlp", func(t *testing.T) { testSweepBuffers(t, bufTestGraph()) })
	t.Run("cnn", func(t *testing.T) { testSweepBuffers(t, vjpTestGraph()) })
}

func testSweepBuffers(t *testing.T, g *autodiff.Graph) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) *autodiff.Tensor[float32] {
		x := autodiff.New[float32](shape...)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		return x
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	in := append([]int{9}, g.Values[g.Inputs[0]].Shape[1:]...)
	x := rnd(in...)
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	type held struct {
		ts   []*autodiff.Tensor[float32]
		want [][]float32
	}
	var kept []held
	keep := func(ts []*autodiff.Tensor[float32]) {
		h := held{ts: ts}
		for _, t := range ts {
			h.want = append(h.want, slices.Clone(t.Data))
		}
		kept = append(kept, h)
	}
	same := func(what string, got, want []*autodiff.Tensor[float32]) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d blocks, want %d", what, len(got), len(want))
		}
		for i := range want {
			if !slices.EqualFunc(got[i].Data, want[i].Data, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
				t.Fatalf("%s: block %d differs from a fresh engine's", what, i)
			}
		}
	}
	for round := range 6 {
		r := 1 + round%3
		fresh, err := autodiff.NewEngine[float32](g)
		if err != nil {
			t.Fatal(err)
		}
		ftape, err := fresh.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		var dirs []*autodiff.Tensor[float32]
		for _, id := range e.Active() {
			dirs = append(dirs, rnd(autodiff.BlockShape(r, e.Param(id).Shape)...))
		}
		xdir := []*autodiff.Tensor[float32]{rnd(autodiff.BlockShape(r, in)...)}
		var gout []*autodiff.Tensor[float32]
		for _, y := range tape.Outputs() {
			gout = append(gout, rnd(autodiff.BlockShape(r, y.Shape)...))
		}

		dirs0, gout0 := cloneAll(dirs), cloneAll(gout)
		outs, err := e.JVP(tape, r, dirs, xdir)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := fresh.JVP(ftape, r, dirs, xdir)
		same("JVP", outs, want)
		if round%2 == 0 {
			keep(outs)
		} else {
			e.Release(outs...)
		}

		params, inputs, err := e.VJP(tape, r, gout)
		if err != nil {
			t.Fatal(err)
		}
		wantP, wantI, _ := fresh.VJP(ftape, r, gout)
		same("VJP parameters", params, wantP)
		same("VJP inputs", inputs, wantI)
		if round%2 == 0 {
			keep(append(params, inputs...))
		} else {
			e.Release(append(params, inputs...)...)
		}

		pp, err := e.VJPParams(tape, r, gout)
		if err != nil {
			t.Fatal(err)
		}
		same("VJPParams", pp, wantP)
		e.Release(pp...)
		// Foreign tensors are ignored, the directions included.
		e.Release(dirs...)
		e.Release(gout...)

		for _, h := range kept {
			for i, t0 := range h.ts {
				if !slices.Equal(t0.Data, h.want[i]) {
					t.Fatalf("round %d: a result held from an earlier sweep changed", round)
				}
			}
		}
		same("directions after Release", dirs, dirs0)
		same("cotangents after Release", gout, gout0)
	}
}

func cloneAll(ts []*autodiff.Tensor[float32]) []*autodiff.Tensor[float32] {
	out := make([]*autodiff.Tensor[float32], len(ts))
	for i, t := range ts {
		out[i] = t.Clone()
	}
	return out
}

// TestSweepBuffersConcurrent runs sweeps on one engine from several
// goroutines (each with its own directions, releasing what it gets back)
// and checks every result against a fresh engine's; run it with -race.
func TestSweepBuffersConcurrent(t *testing.T) {
	g := vjpTestGraph()
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	x := autodiff.New[float32](4, 2, 5, 5)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	ftape, err := fresh.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	dirs := make([][]*autodiff.Tensor[float32], workers)
	want := make([][]*autodiff.Tensor[float32], workers)
	for w := range workers {
		for _, id := range e.Active() {
			d := autodiff.New[float32](autodiff.BlockShape(2, e.Param(id).Shape)...)
			for i := range d.Data {
				d.Data[i] = float32(rng.NormFloat64())
			}
			dirs[w] = append(dirs[w], d)
		}
		u, err := fresh.JVP(ftape, 2, dirs[w], nil)
		if err != nil {
			t.Fatal(err)
		}
		if want[w], err = fresh.VJPParams(ftape, 2, u); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 20 {
				u, err := e.JVP(tape, 2, dirs[w], nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				p, err := e.VJPParams(tape, 2, u)
				if err != nil {
					errs <- err.Error()
					return
				}
				for j := range p {
					if !slices.Equal(p[j].Data, want[w][j].Data) {
						errs <- "a concurrent sweep's result differs from a fresh engine's"
						return
					}
				}
				e.Release(p...)
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
}

// TestForwardBuffersReused checks forward sweeps on released tapes'
// buffers and on NaN-filled ones: each gives bitwise a fresh engine's
// values (a kernel that left part of a reused block unwritten would show
// a NaN or the last sweep's values),
// tapes still held keep their values through later sweeps, and JVPs on a
// held tape are unaffected; on bufTestGraph, vjpTestGraph's CNN and the
// shipped digits CNN (Conv, BatchNormalization, MaxPool, Gemm).
func TestForwardBuffersReused(t *testing.T) {
	cnn, err := onnximport.Load(filepath.Join("..", "models", "digits-cnn", "model.onnx"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*autodiff.Graph{"mlp": bufTestGraph(), "cnn": vjpTestGraph(), "digits-cnn": cnn} {
		t.Run(name, func(t *testing.T) { testForwardBuffers(t, g) })
	}
}

func testForwardBuffers(t *testing.T, g *autodiff.Graph) {
	rng := rand.New(rand.NewPCG(6, 1))
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	input := func(b int) *autodiff.Tensor[float32] {
		x := autodiff.New[float32](append([]int{b}, g.Values[g.Inputs[0]].Shape[1:]...)...)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		return x
	}
	values := func(tp *autodiff.Tape[float32]) [][]float32 {
		var vs [][]float32
		for id := range g.Values {
			if v := tp.Value(id); v != nil {
				vs = append(vs, slices.Clone(v.Data))
			}
		}
		return vs
	}
	bits := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	held, err := e.Forward(input(5))
	if err != nil {
		t.Fatal(err)
	}
	heldVals := values(held)
	dirs := make([]*autodiff.Tensor[float32], len(e.Active()))
	for j, id := range e.Active() {
		dirs[j] = autodiff.New[float32](autodiff.BlockShape(1, e.Param(id).Shape)...)
		for i := range dirs[j].Data {
			dirs[j].Data[i] = float32(rng.NormFloat64())
		}
	}
	heldJVP, err := e.JVP(held, 1, dirs, nil)
	if err != nil {
		t.Fatal(err)
	}
	heldJVP = cloneAll(heldJVP)
	for round := range 6 {
		fresh, err := autodiff.NewEngine[float32](g)
		if err != nil {
			t.Fatal(err)
		}
		x := input(5 + round%2) // shapes alternate: blocks of both sizes are kept
		want, err := fresh.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		var lens []int
		for _, v := range values(want) {
			lens = append(lens, len(v))
		}
		autodiff.PoisonBuffers(e, lens...)
		got, err := e.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		wv, gv := values(want), values(got)
		for i := range wv {
			if !slices.EqualFunc(gv[i], wv[i], bits) {
				t.Fatalf("round %d: value %d differs from a fresh engine's", round, i)
			}
		}
		if round%3 != 2 {
			got.Release()
			got.Release() // a second release gives nothing back twice
		}
		for i, v := range values(held) {
			if !slices.Equal(v, heldVals[i]) {
				t.Fatalf("round %d: a value of a held tape changed", round)
			}
		}
		u, err := e.JVP(held, 1, dirs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range u {
			if !slices.EqualFunc(u[i].Data, heldJVP[i].Data, bits) {
				t.Fatalf("round %d: JVP on the held tape changed", round)
			}
		}
		e.Release(u...)
	}
}
