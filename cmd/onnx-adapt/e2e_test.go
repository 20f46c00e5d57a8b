package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestEndToEnd runs the CLI on every shipped model and its target CSV:
// adapt and save, predict from the saved file (identical bytes), export the
// adapted mean as ONNX, and run the exported model with our own engine
// (the same means to 1e-5 relative to the largest).
func TestEndToEnd(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
	}{
		{"sine-mlp", nil},
		{"drift-lnmlp", nil},
		// Classification: the last layer only, to keep the test short.
		{"digits-cnn", []string{"--params", "last:1", "--prior-scale", "0.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.name == "digits-cnn" {
				t.Skip("short mode")
			}
			m := model(t, c.name, "model.onnx")
			train := model(t, c.name, "target.csv")
			dir := t.TempDir()
			preds := filepath.Join(dir, "pred.csv")
			saved := filepath.Join(dir, "p.pred")
			exported := filepath.Join(dir, "adapted.onnx")
			args := append([]string{m, "--target", train, "--predictions", preds, "--out", saved, "--quiet"}, c.extra...)
			if code, _, errs := cli(t, args...); code != 0 {
				t.Fatalf("adapt: exit %d: %s", code, errs)
			}
			b, err := os.ReadFile(preds)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := cli(t, "predict", saved, "--input", train)
			if code != 0 {
				t.Fatalf("predict: exit %d: %s", code, errs)
			}
			if out != string(b) {
				t.Fatal("the saved predictor's predictions differ from the adapting run's")
			}
			if code, _, errs := cli(t, "export", saved, "--onnx", exported); code != 0 {
				t.Fatalf("export: exit %d: %s", code, errs)
			}
			code, out, errs = cli(t, "predict", exported, "--input", train)
			if code != 0 {
				t.Fatalf("predict with the exported model: exit %d: %s", code, errs)
			}
			_, got := readCSV(t, out)
			header, adapted := readCSV(t, string(b))
			// Regression rows hold mean_k then std_k; classification rows a
			// label then probabilities, and the exported model gives logits,
			// so compare the means only for regression.
			if header[0] == "label" {
				if len(got) != len(adapted) {
					t.Fatalf("%d exported rows, %d adapted", len(got), len(adapted))
				}
				return
			}
			k := len(got[0])
			worst, largest := 0.0, 0.0
			for i := range got {
				for j := 0; j < k; j++ {
					worst = math.Max(worst, math.Abs(got[i][j]-adapted[i][j]))
					largest = math.Max(largest, math.Abs(adapted[i][j]))
				}
			}
			if worst > 1e-5*largest {
				t.Errorf("exported mean off by %.3g (largest |mean| %.3g)", worst, largest)
			}
		})
	}
}
