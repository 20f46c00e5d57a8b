package autodiff_test

// Engine benchmarks (issue 3): Forward, JVP, VJP and block JVP at batch 256
// in float32 on the shipped models and on an MLP 784-512-512-10 (ReLU), the
// issue's main case. Run them on one thread:
//
//	go test ./autodiff -run '^$' -bench BenchmarkEngine -cpu 1 -count 5
//
// The benchmarks live in the external test package so that they can load
// the ONNX files with onnximport (which imports autodiff).
//
// Each JVP, VJP and block JVP starts from a stored forward sweep, as in an
// adaptation. vjp is Engine.VJP (input cotangents included), vjp-params is
// Engine.VJPParams, what the Jᵀ products of package fvp run. Besides ns/op
// they report x-forward, the time divided by the model's forward time, and
// block sweeps report x-single, the time divided by r times the
// single-direction time; both references are taken in the same process
// (the median of a short timed loop), so the ratios hold within one run.
//
// On a shared machine the wall clock measures the load as much as the
// code, so every benchmark also reports cpu-ns/op, the process's CPU time
// per operation (getrusage; with -cpu 1 that is the one thread's work plus
// the garbage collector's), and the ratios are taken from CPU times where
// they are available.

import (
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"github.com/onnx-adapt/onnx-adapt/simd"
)

const benchBatch = 256

type benchModel struct {
	name string
	load func(b *testing.B) *autodiff.Graph
}

func shippedModel(name string) benchModel {
	return benchModel{name: name, load: func(b *testing.B) *autodiff.Graph {
		g, err := onnximport.Load(filepath.Join("..", "models", name, "model.onnx"), nil)
		if err != nil {
			b.Fatal(err)
		}
		return g
	}}
}

var benchModels = []benchModel{
	{name: "mlp784", load: func(*testing.B) *autodiff.Graph { return testnet.ReLUMLP(1, 784, 512, 512, 10) }},
	shippedModel("sine-mlp"),
	shippedModel("drift-lnmlp"),
	shippedModel("digits-cnn"),
}

// benchSetup is one model's engine, a stored forward sweep of a batch and
// random tangent and cotangent blocks.
type benchSetup struct {
	e      *autodiff.Engine[float32]
	x      *autodiff.Tensor[float32]
	tape   *autodiff.Tape[float32]
	params map[int][]*autodiff.Tensor[float32] // tangent blocks by r
	gout   []*autodiff.Tensor[float32]         // one cotangent block (r = 1)
	rng    *rand.Rand
	fwd    float64 // ns of one forward, measured here
	jvp1   float64 // ns of one single-direction JVP
}

func randBlock(rng *rand.Rand, shape []int) *autodiff.Tensor[float32] {
	t := autodiff.New[float32](shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func newBenchSetup(b *testing.B, g *autodiff.Graph) *benchSetup {
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 5))
	in := g.Values[g.Inputs[0]].Shape
	shape := append([]int{benchBatch}, in[1:]...)
	s := &benchSetup{e: e, x: randBlock(rng, shape), params: map[int][]*autodiff.Tensor[float32]{}}
	if s.tape, err = e.Forward(s.x); err != nil {
		b.Fatal(err)
	}
	s.rng = rng
	for _, y := range s.tape.Outputs() {
		s.gout = append(s.gout, randBlock(rng, autodiff.BlockShape(1, y.Shape)))
	}
	s.fwd = medianNs(func() {
		if _, err := e.Forward(s.x); err != nil {
			b.Fatal(err)
		}
	})
	s.jvp1 = medianNs(func() { s.jvp(b, 1) })
	return s
}

// tangents returns random tangent blocks of r directions for every active
// parameter, made on first use.
func (s *benchSetup) tangents(r int) []*autodiff.Tensor[float32] {
	if s.params[r] == nil {
		for _, id := range s.e.Active() {
			s.params[r] = append(s.params[r], randBlock(s.rng, autodiff.BlockShape(r, s.e.Param(id).Shape)))
		}
	}
	return s.params[r]
}

// cotangents returns random output cotangent blocks of r directions.
func (s *benchSetup) cotangents(r int) []*autodiff.Tensor[float32] {
	if r == 1 {
		return s.gout
	}
	var g []*autodiff.Tensor[float32]
	for _, y := range s.tape.Outputs() {
		g = append(g, randBlock(s.rng, autodiff.BlockShape(r, y.Shape)))
	}
	return g
}

func (s *benchSetup) vjpParams(b *testing.B, r int) {
	if _, err := s.e.VJPParams(s.tape, r, s.cotangents(r)); err != nil {
		b.Fatal(err)
	}
}

func (s *benchSetup) jvp(b *testing.B, r int) {
	if _, err := s.e.JVP(s.tape, r, s.tangents(r), nil); err != nil {
		b.Fatal(err)
	}
}

// medianNs times f: the median of at least 5 calls, and of as many as fit
// in about 300 ms, in CPU time (wall time where that is unavailable).
func medianNs(f func()) float64 {
	f() // warm-up
	var ts []float64
	start := time.Now()
	for len(ts) < 5 || (time.Since(start) < 300*time.Millisecond && len(ts) < 200) {
		t0, c0 := time.Now(), cpuNs()
		f()
		if c := cpuNs() - c0; c > 0 {
			ts = append(ts, c)
		} else {
			ts = append(ts, float64(time.Since(t0).Nanoseconds()))
		}
	}
	slices.Sort(ts)
	return ts[len(ts)/2]
}

// timed runs the benchmark loop of f and returns its time per operation,
// reporting the CPU time per operation as cpu-ns/op: CPU time where
// available, wall time otherwise.
func timed(b *testing.B, f func()) float64 {
	b.ReportAllocs()
	var c0 float64
	for first := true; b.Loop(); first = false {
		if first {
			c0 = cpuNs()
		}
		f()
	}
	n := float64(b.N)
	if c := cpuNs() - c0; c > 0 && c0 > 0 {
		b.ReportMetric(c/n, "cpu-ns/op")
		return c / n
	}
	return float64(b.Elapsed().Nanoseconds()) / n
}

func BenchmarkEngine(b *testing.B) {
	simd.SetThreads(1)
	defer simd.SetThreads(0)
	for _, m := range benchModels {
		b.Run(m.name, func(b *testing.B) {
			s := newBenchSetup(b, m.load(b))
			runtime.GC()
			b.Run("forward", func(b *testing.B) {
				timed(b, func() {
					if _, err := s.e.Forward(s.x); err != nil {
						b.Fatal(err)
					}
				})
			})
			// forward-reuse releases each tape: its sweeps run on the
			// engine's buffers instead of fresh memory.
			b.Run("forward-reuse", func(b *testing.B) {
				timed(b, func() {
					t, err := s.e.Forward(s.x)
					if err != nil {
						b.Fatal(err)
					}
					t.Release()
				})
			})
			b.Run("jvp", func(b *testing.B) {
				t := timed(b, func() { s.jvp(b, 1) })
				b.ReportMetric(t/s.fwd, "x-forward")
			})
			b.Run("vjp", func(b *testing.B) {
				t := timed(b, func() {
					if _, _, err := s.e.VJP(s.tape, 1, s.gout); err != nil {
						b.Fatal(err)
					}
				})
				b.ReportMetric(t/s.fwd, "x-forward")
			})
			b.Run("vjp-params", func(b *testing.B) {
				t := timed(b, func() { s.vjpParams(b, 1) })
				b.ReportMetric(t/s.fwd, "x-forward")
			})
			b.Run("blockvjp-params/r=16", func(b *testing.B) {
				g := s.cotangents(16)
				vjp1 := medianNs(func() { s.vjpParams(b, 1) })
				t := timed(b, func() {
					if _, err := s.e.VJPParams(s.tape, 16, g); err != nil {
						b.Fatal(err)
					}
				})
				b.ReportMetric(t/s.fwd, "x-forward")
				b.ReportMetric(t/(16*vjp1), "x-single")
			})
			for _, r := range []int{1, 4, 16, 64} {
				b.Run("blockjvp/r="+strconv.Itoa(r), func(b *testing.B) {
					s.tangents(r)
					t := timed(b, func() { s.jvp(b, r) })
					b.ReportMetric(t/s.fwd, "x-forward")
					b.ReportMetric(t/(float64(r)*s.jvp1), "x-single")
				})
			}
		})
	}
}
