package fvp_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
)

// TestFisherMatchesJThenJT checks in float32 that GaussNewton and
// SoftmaxFisher, which keep J·v in the sweeps' precision batch by batch,
// equal bitwise Jᵀ·(J·v) and Jᵀ·H·(J·v) through the float64 vectors of J
// and JT, with batches that do not divide n and direction counts that
// change between calls (the operator reuses its direction buffers), and
// that a product leaves v untouched.
func TestFisherMatchesJThenJT(t *testing.T) {
	ctx := context.Background()
	e, err := autodiff.NewEngine[float32](testnet.MLP(1, 3, 5, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	op, err := fvp.New(ctx, e, testnet.Inputs(2, 7, 3), 3)
	if err != nil {
		t.Fatal(err)
	}
	p, nk := op.P(), op.N()*op.K()
	rng := rand.New(rand.NewPCG(5, 6))
	probs := make([]float64, nk)
	for i := 0; i < nk; i += 2 {
		a := rng.Float64()
		probs[i], probs[i+1] = a, 1-a
	}
	for _, r := range []int{3, 1, 4, 3} {
		v := randVec(rng, r*p)
		v0 := append([]float64(nil), v...)
		u := make([]float64, r*nk)
		if err := op.J(ctx, u, v, r); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, r*p)
		if err := op.JT(ctx, want, u, r); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, r*p)
		for i := range got {
			got[i] = math.NaN() // overwritten, not added into
		}
		if err := op.GaussNewton(ctx, got, v, r); err != nil {
			t.Fatal(err)
		}
		expectBitwise(t, "JᵀJ·v", got, want)
		fvp.ApplySoftmaxHessian(u, probs, op.K(), r)
		if err := op.JT(ctx, want, u, r); err != nil {
			t.Fatal(err)
		}
		if err := op.SoftmaxFisher(ctx, got, v, probs, r); err != nil {
			t.Fatal(err)
		}
		expectBitwise(t, "JᵀHJ·v", got, want)
		expectBitwise(t, "v after the products", v, v0)
	}
}

func expectBitwise(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d] = %v, want %v exactly", what, i, got[i], want[i])
		}
	}
}
