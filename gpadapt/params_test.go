package gpadapt

import (
	"context"
	"os"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnximport"

	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
)

// TestSelectParams checks all, last:N and regular expressions, and that
// the products act on the chosen subset only: adapting the last layer
// leaves the earlier parameters' δ out of the predictor.
func TestSelectParams(t *testing.T) {
	g := testnet.MLP(1, 2, 4, 3, 1) // params w1 b1 w2 b2 w3 b3
	names := func(ids []int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, g.Values[id].Name)
		}
		return out
	}
	for spec, want := range map[string]string{
		"all":    "[w1 b1 w2 b2 w3 b3]",
		"last:1": "[w3 b3]",
		"last:2": "[w2 b2 w3 b3]",
		"last:9": "[w1 b1 w2 b2 w3 b3]",
		"^w":     "[w1 w2 w3]",
		"b2|w3":  "[b2 w3]",
	} {
		ids, err := SelectParams(g, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := names(ids); fmtList(got) != want {
			t.Errorf("%s: got %v, want %s", spec, got, want)
		}
	}
	for _, bad := range []string{"last:0", "last:x", "(", "nomatch"} {
		if _, err := SelectParams(g, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// A tf2onnx-style dense layer, MatMul then Add of the bias, is one layer.
	if keras := "../../shared/models/sine-keras/model.onnx"; fileExists(keras) {
		kg, err := onnximport.Load(keras, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := SelectParams(kg, "last:1")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, id := range ids {
			n += len(kg.Values[id].Data)
		}
		if n != 16+1 {
			t.Errorf("last:1 of sine-keras selects %d values, want 17 (weight and bias)", n)
		}
	}
	_, d, _ := problem(6)
	gp := testnet.MLP(5, 2, 6, 5, 2)
	p, err := Fit(context.Background(), gp, d, &Options{Noise: 0.1, PriorScale: 1, Params: "last:1"})
	if err != nil {
		t.Fatal(err)
	}
	if delta, _ := p.Delta(); len(delta) != 5*2+2 {
		t.Errorf("last:1 of a 2-6-5-2 MLP adapted %d values, want 12", len(delta))
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func fmtList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}
