package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdaptSolverCG runs the matrix-free path (--solver cg) on sine-mlp:
// the summary names CG and the SLQ evidence; with σ² and s given its
// predictions match the dense path's within 1e-3 relative to the largest
// value (float32 sweeps, predictions written with float32 precision); a
// saved cg predictor predicts the same; bad solver flags are usage errors.
func TestAdaptSolverCG(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	test := model(t, "sine-mlp", "test.csv")
	code, out, errs := cli(t, m, "--target", train, "--solver", "cg", "--probes", "8", "--lanczos-steps", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"function space", "cg", "evidence: slq, 8 probes", "iterations, relative residual"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	// 10 steps on nK = 20: a stochastic estimate (20 would find the whole
	// spectrum, and an exact log det).
	code, out, errs = cli(t, m, "--target", train, "--solver", "cg", "--lanczos-steps", "10", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Fit map[string]any `json:"fit"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Fit["solver"] != "cg" || s.Fit["evidence"] != "slq" || s.Fit["probes"] != 16.0 || !(s.Fit["log_marginal_se"].(float64) > 0) {
		t.Errorf("fit summary %v", s.Fit)
	}
	dir := t.TempDir()
	preds := map[string]string{}
	for _, solver := range []string{"direct", "cg"} {
		preds[solver] = filepath.Join(dir, solver+".csv")
		args := []string{m, "--target", train, "--test", test, "--noise", "0.01", "--prior-scale", "0.5", "--method", "function", "--solver", solver, "--predictions", preds[solver]}
		if solver == "cg" {
			args = append(args, "--out", filepath.Join(dir, "cg.pred"))
		}
		code, out, errs := cli(t, args...)
		if code != 0 {
			t.Fatalf("--solver %s: exit %d: %s", solver, code, errs)
		}
		if solver == "cg" && !strings.Contains(out, "not computed") {
			t.Errorf("the summary does not say the evidence was not computed:\n%s", out)
		}
	}
	read := func(f string) ([]string, [][]float64) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return readCSV(t, string(b))
	}
	_, dense := read(preds["direct"])
	_, cg := read(preds["cg"])
	for c := range 2 {
		num, den := 0.0, 0.0
		for i := range dense {
			num = math.Max(num, math.Abs(cg[i][c]-dense[i][c]))
			den = math.Max(den, math.Abs(dense[i][c]))
		}
		if num > 1e-3*den {
			t.Errorf("column %d: cg and direct differ by %.3g relative to the largest", c, num/den)
		}
	}
	code, out, errs = cli(t, "predict", filepath.Join(dir, "cg.pred"), "--input", test)
	if b, _ := os.ReadFile(preds["cg"]); code != 0 || out != string(b) {
		t.Errorf("the saved cg predictor: exit %d (%s), same predictions: %v", code, errs, out == string(b))
	}
	for _, args := range [][]string{{"--solver", "fast"}, {"--probes", "1"}, {"--lanczos-steps", "0"}} {
		code, _, errs := cli(t, append([]string{m, "--target", train}, args...)...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, errs)
		}
	}
}
