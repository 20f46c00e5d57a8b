package fvp_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
)

// TestJT64 checks the streamed float64 Jᵀ·w of a float32 operator against
// Float64().JT bitwise: n = 7 in batches of 3, two cotangents, K = 2.
func TestJT64(t *testing.T) {
	ctx := context.Background()
	e, err := autodiff.NewEngine[float32](testnet.MLP(1, 3, 5, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	op, err := fvp.New(ctx, e, testnet.Inputs(2, 7, 3), 3)
	if err != nil {
		t.Fatal(err)
	}
	const r = 2
	w := randVec(rand.New(rand.NewPCG(1, 2)), r*op.N()*op.K())
	op64, err := op.Float64(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, r*op.P())
	if err := op64.JT(ctx, want, w, r); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, r*op.P())
	if err := op.JT64(ctx, got, w, r); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	if err := op.JT64(ctx, got[:1], w, r); err == nil {
		t.Error("JT64 accepted a short dst")
	}
}
