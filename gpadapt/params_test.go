package gpadapt

import (
	"context"
	"math"
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

// TestParamsAuto checks that Params "auto" keeps, among last:1 … last:3
// (all) of a three-layer MLP, the fit of the largest log marginal
// likelihood, each fitted on its own, and reports which.
func TestParamsAuto(t *testing.T) {
	g, d, xs := problem(30)
	ctx := context.Background()
	p, err := Fit(ctx, g, d, &Options{Params: "auto", Float64: true})
	if err != nil {
		t.Fatal(err)
	}
	best, bestSpec, evs := math.Inf(-1), "", map[string]float64{}
	for _, spec := range []string{"last:1", "last:2", "last:3"} {
		q, err := Fit(ctx, g, d, &Options{Params: spec, Float64: true})
		if err != nil {
			t.Fatal(err)
		}
		evs[spec] = q.Report().LogMarginal
		if ev := q.Report().LogMarginal; ev > best {
			best, bestSpec = ev, spec
		}
	}
	r := p.Report()
	if r.Params != bestSpec || r.LogMarginal != best {
		t.Errorf("auto chose %s (evidence %g); the evidences are %v", r.Params, r.LogMarginal, evs)
	}
	want, _ := SelectParams(g, bestSpec)
	size := 0
	for _, id := range want {
		size += len(g.Values[id].Data)
	}
	if r.P != size {
		t.Errorf("auto adapted %d parameters, %s has %d", r.P, bestSpec, size)
	}
	if _, err := p.Predict(xs); err != nil {
		t.Fatal(err)
	}
	if evs["last:1"] == evs["last:3"] {
		t.Error("the candidates' evidences coincide: the test cannot tell them apart")
	}
}
