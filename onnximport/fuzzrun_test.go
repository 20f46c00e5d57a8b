package onnximport

import (
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// FuzzRun checks that a model that decodes also runs without panicking: a
// forward sweep on two rows, a JVP of one random direction of the
// parameters and inputs, and a VJP of one random cotangent either succeed
// or return an error (the kernels' JVP and VJP rules trust the shapes the
// forward sweep checked).
// Seeds: those of FuzzDecode.
func FuzzRun(f *testing.F) {
	addDecodeSeeds(f)
	opts := &Options{MaxElements: 1 << 14, MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data, opts)
		if err != nil {
			return
		}
		within(t, "the sweeps", func() { sweep(t, g) })
	})
}

// sweep runs the forward, JVP and VJP sweeps of g on small random inputs
// and reports whether all three ran; inputs whose shapes it cannot size
// are skipped.
func sweep(t *testing.T, g *autodiff.Graph) bool {
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(shape []int) *autodiff.Tensor[float32] {
		x := autodiff.New[float32](shape...)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		return x
	}
	var inputs []*autodiff.Tensor[float32]
	for _, id := range g.Inputs {
		shape := append([]int(nil), g.Values[id].Shape...)
		size := 1
		for i, d := range shape {
			switch {
			case d == autodiff.Batch:
				shape[i] = 2
			case d <= 0:
				shape[i] = 1
			}
			size *= shape[i]
		}
		if size > 1<<14 {
			return false
		}
		inputs = append(inputs, fill(shape))
	}
	tape, err := e.Forward(inputs...)
	if err != nil {
		return false
	}
	active := e.Active()
	tan := make([]*autodiff.Tensor[float32], len(active))
	for j, id := range active {
		tan[j] = fill(append([]int{1}, tape.Value(id).Shape...))
	}
	var inTan []*autodiff.Tensor[float32]
	for _, x := range inputs {
		inTan = append(inTan, fill(append([]int{1}, x.Shape...)))
	}
	if _, err := e.JVP(tape, 1, tan, inTan); err != nil {
		return false
	}
	var cots []*autodiff.Tensor[float32]
	for _, y := range tape.Outputs() {
		if y == nil {
			return false
		}
		cots = append(cots, fill(append([]int{1}, y.Shape...)))
	}
	_, _, err = e.VJP(tape, 1, cots)
	return err == nil
}
