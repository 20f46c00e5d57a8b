package fvp_test

// Fisher product benchmarks: Op.GaussNewton (one JVP and one VJP sweep
// per batch from stored forward sweeps) at batch 256 in float32, one
// direction, on the bench harness's models (bench/run.sh): the MLP
// 784-512-512-10 (ReLU) and the 803k-parameter ELU MLP when bench/models
// holds them (bench/make_models.py writes them), and the shipped digits CNN:
//
//	go test ./fvp -run '^$' -bench BenchmarkGaussNewton -cpu 1 -count 5
//
// Besides ns/op each reports cpu-ns/op (the process's CPU time per
// product, which moves far less with the load of a shared machine) and
// x-sweeps, the product's CPU time divided by that of the engine's JVP
// plus parameter VJP on the same batch, timed in the same process: what
// the product costs beyond its two sweeps.

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"github.com/onnx-adapt/onnx-adapt/simd"
)

func BenchmarkGaussNewton(b *testing.B) {
	simd.SetThreads(1)
	defer simd.SetThreads(0)
	for _, name := range []string{"mlp784", "digits-cnn", "elu803k"} {
		b.Run(name, func(b *testing.B) {
			file := "../bench/models/" + name + ".onnx"
			if name == "digits-cnn" {
				file = "../models/digits-cnn/model.onnx"
			}
			if _, err := os.Stat(file); err != nil {
				b.Skip("no " + file + " (bench/make_models.py writes it)")
			}
			g, err := onnximport.Load(file, nil)
			if err != nil {
				b.Fatal(err)
			}
			e, err := autodiff.NewEngine[float32](g)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 5))
			in := g.Values[g.Inputs[0]].Shape
			x := autodiff.New[float32](append([]int{256}, in[1:]...)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			ctx := context.Background()
			op, err := fvp.New(ctx, e, x, 256)
			if err != nil {
				b.Fatal(err)
			}
			v := make([]float64, op.P())
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			dst := make([]float64, op.P())
			gn := func() {
				if err := op.GaussNewton(ctx, dst, v, 1); err != nil {
					b.Fatal(err)
				}
			}
			sweeps := sweepsNs(b, e, x, rng)
			b.ReportAllocs()
			var c0 float64
			for first := true; b.Loop(); first = false {
				if first {
					c0 = cpuNs()
				}
				gn()
			}
			if c := cpuNs() - c0; c > 0 && c0 > 0 {
				b.ReportMetric(c/float64(b.N), "cpu-ns/op")
				b.ReportMetric(c/float64(b.N)/sweeps, "x-sweeps")
			}
		})
	}
}

// sweepsNs is the median CPU time of one JVP plus one parameter VJP of
// the engine on a stored forward sweep of x, with random blocks.
func sweepsNs(b *testing.B, e *autodiff.Engine[float32], x *autodiff.Tensor[float32], rng *rand.Rand) float64 {
	t, err := e.Forward(x)
	if err != nil {
		b.Fatal(err)
	}
	rnd := func(shape []int) *autodiff.Tensor[float32] {
		r := autodiff.New[float32](autodiff.BlockShape(1, shape)...)
		for i := range r.Data {
			r.Data[i] = float32(rng.NormFloat64())
		}
		return r
	}
	var dirs []*autodiff.Tensor[float32]
	for _, id := range e.Active() {
		dirs = append(dirs, rnd(e.Param(id).Shape))
	}
	gout := []*autodiff.Tensor[float32]{rnd(t.Outputs()[0].Shape)}
	f := func() {
		if _, err := e.JVP(t, 1, dirs, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := e.VJPParams(t, 1, gout); err != nil {
			b.Fatal(err)
		}
	}
	f()
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
