package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestLastLayerNA: a model whose output is not a dense layer (y = tanh(x·W
// + B)) has no last-layer baseline: the summary says n/a, no error.
func TestLastLayerNA(t *testing.T) {
	m := writeModel(t, "tanh.onnx", gemmModel(0.8, 0.1, "Tanh"))
	train := writeFile(t, "train.csv", "x0,y\n1,0.7\n-1,-0.5\n0.5,0.4\n0,0.1\n2,0.9\n")
	test := writeFile(t, "test.csv", "x0,y\n0.3,0.3\n-0.4,-0.2\n")
	code, out, errs := cli(t, m, "--target", train, "--test", test, "--noise", "0.01", "--prior-scale", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"last layer", "n/a", "no dense last layer"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	code, out, errs = cli(t, m, "--target", train, "--test", test, "--noise", "0.01", "--prior-scale", "1", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errs)
	}
	var s struct {
		Metrics map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Metrics["last_layer"]; ok {
		t.Errorf("metrics.last_layer present: %v", s.Metrics)
	}
	if note, _ := s.Metrics["last_layer_note"].(string); !strings.Contains(note, "n/a") {
		t.Errorf("metrics.last_layer_note %q", note)
	}
}
