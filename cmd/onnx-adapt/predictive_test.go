package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPredictiveFlags checks --predictive and --mc-samples: bad values are
// usage errors; Monte Carlo predictions are the same for a seed and differ
// for another; the Newton-CG Laplace (--solver cg) runs from the CLI.
func TestPredictiveFlags(t *testing.T) {
	for _, args := range [][]string{
		{"m.onnx", "--target", "t.csv", "--predictive", "exact"},
		{"m.onnx", "--target", "t.csv", "--mc-samples", "0"},
		{"m.onnx", "--target", "t.csv", "--mc-samples", "many"},
	} {
		if code, _, errs := cli(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %s", args, code, exitUsage, errs)
		}
	}
	m := model(t, "digits-cnn", "model.onnx")
	train := model(t, "digits-cnn", "target.csv")
	test := model(t, "digits-cnn", "test.csv")
	head := func(path string, n int) string {
		lines := strings.SplitAfter(string(mustRead(t, path)), "\n")
		return writeFile(t, filepath.Base(path), strings.Join(lines[:n+1], ""))
	}
	tr, te := head(train, 30), head(test, 10)
	predict := func(extra ...string) string {
		t.Helper()
		preds := filepath.Join(t.TempDir(), "p.csv")
		args := append([]string{m, "--target", tr, "--test", te, "--params", "last:1", "--prior-scale", "0.1", "--predictions", preds, "--quiet"}, extra...)
		if code, _, errs := cli(t, args...); code != 0 {
			t.Fatalf("%q: exit %d: %s", extra, code, errs)
		}
		b, err := os.ReadFile(preds)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a := predict("--predictive", "mc", "--mc-samples", "200", "--seed", "3")
	if b := predict("--predictive", "mc", "--mc-samples", "200", "--seed", "3"); a != b {
		t.Error("--predictive mc: two runs with --seed 3 differ")
	}
	if c := predict("--predictive", "mc", "--mc-samples", "200", "--seed", "4"); a == c {
		t.Error("--predictive mc: --seed 3 and --seed 4 gave the same predictions")
	}
	dense, cg := predict(), predict("--solver", "cg")
	_, rd := readCSV(t, dense)
	_, rc := readCSV(t, cg)
	for i := range rd {
		for j := range rd[i] {
			if d := rd[i][j] - rc[i][j]; d > 1e-3 || d < -1e-3 {
				t.Errorf("row %d column %d: dense %g, Newton-CG %g", i, j, rd[i][j], rc[i][j])
			}
		}
	}
}
