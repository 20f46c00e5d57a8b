package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cli runs the command line and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// want checks the exit code and that stderr holds each of the substrings.
func want(t *testing.T, code int, stderr string, wantCode int, substr ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, wantCode, stderr)
	}
	for _, s := range substr {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

// model returns the path of a shipped model's file, skipping the test when
// it is not there yet.
func model(t *testing.T, name, file string) string {
	t.Helper()
	p := filepath.Join("..", "..", "models", name, file)
	if name == "sine-keras" || name == "mnist-7" {
		p = filepath.Join("..", "..", "..", "shared", "models", name, file)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is not there yet (models/make_models.py makes the shipped models): %v", p, err)
	}
	return p
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readCSV parses a CSV of numbers written by the CLI.
func readCSV(t *testing.T, s string) ([]string, [][]float64) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	header := strings.Split(lines[0], ",")
	var rows [][]float64
	for _, l := range lines[1:] {
		var row []float64
		for _, c := range strings.Split(l, ",") {
			v, err := strconv.ParseFloat(c, 64)
			if err != nil {
				t.Fatalf("cell %q: %v", c, err)
			}
			row = append(row, v)
		}
		if len(row) != len(header) {
			t.Fatalf("row %q has %d cells, header %d", l, len(row), len(header))
		}
		rows = append(rows, row)
	}
	return header, rows
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errs := cli(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errs != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	for _, c := range []string{"inspect", "predict", "gradcheck"} {
		code, out, _ := cli(t, c, "--help")
		if code != 0 || !strings.Contains(out, "Usage: onnx-adapt "+c) {
			t.Errorf("%s --help: code %d, stdout %q", c, code, out)
		}
		code, out2, _ := cli(t, "help", c)
		if code != 0 || out2 != out {
			t.Errorf("help %s differs from %s --help", c, c)
		}
	}
	if code, out, _ := cli(t, "help", "data"); code != 0 || !strings.Contains(out, "header") {
		t.Errorf("help data: %d %q", code, out)
	}
	// Every flag of the adaptation is documented.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var f adaptFlags
	f.define(fs)
	fs.VisitAll(func(fl *flag.Flag) {
		if !strings.Contains(mainUsage, "--"+fl.Name+" ") {
			t.Errorf("flag --%s is not in the usage text", fl.Name)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"--bogus"},
		{"m.onnx"}, // no --target
		{"m.onnx", "--target"},
		{"m.onnx", "--target", "t.csv", "--noise", "-1"},
		{"m.onnx", "--target", "t.csv", "--noise", "zero"},
		{"m.onnx", "--target", "t.csv", "--prior-scale", "0"},
		{"m.onnx", "--target", "t.csv", "--task", "ranking"},
		{"m.onnx", "--target", "t.csv", "--method", "fast"},
		{"m.onnx", "--target", "t.csv", "--prior-mean", "one"},
		{"m.onnx", "--target", "t.csv", "--batch", "0"},
		{"m.onnx", "--target", "t.csv", "--batch", "many"},
		{"m.onnx", "--target", "t.csv", "--threads", "-2"},
		{"m.onnx", "--target", "t.csv", "--json", "--predictions", "-"},
		{"m.onnx", "n.onnx", "--target", "t.csv"},
		{"inspect"},
		{"inspect", "a.onnx", "b.onnx"},
		{"inspect", "--x", "a.onnx"},
		{"predict", "m.onnx"},
		{"predict", "m.onnx", "--input", "d.csv", "--batch", "-1"},
		{"gradcheck", "m.onnx"},
		{"gradcheck", "m.onnx", "--input", "d.csv", "--tol", "0"},
		{"gradcheck", "m.onnx", "--input", "d.csv", "--rows", "0"},
		{"help", "nothing"},
	}
	for _, args := range cases {
		code, out, errs := cli(t, args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d; stderr %s", args, code, exitUsage, errs)
		}
		if !strings.Contains(errs, "onnx-adapt") || !strings.Contains(errs, "help") {
			t.Errorf("%q: stderr does not point to help: %s", args, errs)
		}
		if strings.Contains(out, "mean") {
			t.Errorf("%q: wrote to stdout: %s", args, out)
		}
	}
	code, _, errs := cli(t, "inpsect", "m.onnx")
	want(t, code, errs, exitUsage, `unknown command "inpsect"`)
}

func TestBadModel(t *testing.T) {
	data := writeFile(t, "d.csv", "x0,y\n1,2\n")
	missing := filepath.Join(t.TempDir(), "missing.onnx")
	garbage := writeFile(t, "garbage.onnx", "\x08\x07\x12\x00\xff\xff\xff this is not a model")
	empty := writeFile(t, "empty.onnx", "")
	text := writeFile(t, "text.onnx", "x0,y\n1,2\n")
	for _, m := range []string{missing, garbage, empty, text} {
		for _, args := range [][]string{
			{"inspect", m},
			{"predict", m, "--input", data},
			{"gradcheck", m, "--input", data},
			{m, "--target", data},
		} {
			code, _, errs := cli(t, args...)
			want(t, code, errs, exitInput, m)
		}
	}
	code, _, errs := cli(t, "inspect", missing)
	want(t, code, errs, exitInput, "no such file")
	// A bad predictor file.
	bad := writeFile(t, "bad.pred", "onnx-adapt predictor\n\x01\x00")
	code, _, errs = cli(t, "predict", bad, "--input", data)
	want(t, code, errs, exitInput, bad, "predictor")
}

func TestBadCSV(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	cases := []struct {
		content string
		substr  []string
	}{
		{"x0,y\n1,2\n3,abc\n", []string{"line 3", `column 2 ("y")`, `"abc" is not a number`}},
		{"x0,y\n1,2\nNaN,3\n", []string{"line 3", `column 1 ("x0")`, "not a finite number"}},
		{"x0,y\n1\n", []string{"line 2", "missing cell"}},
		{"x0,y\n1,2,3\n", []string{"line 2", "extra cell"}},
		{"x0,x1,y\n1,2,3\n", []string{"2 feature columns", "takes 1"}},
		{"x0,y\n", []string{"no data rows"}},
		{"", []string{"empty"}},
	}
	for _, c := range cases {
		p := writeFile(t, "bad.csv", c.content)
		code, _, errs := cli(t, m, "--target", p)
		want(t, code, errs, exitInput, append([]string{p}, c.substr...)...)
		code, _, errs = cli(t, "predict", m, "--input", p)
		if !strings.Contains(c.content, "y\n1,2\n3,abc") { // predict ignores the target column
			want(t, code, errs, exitInput, p)
		}
	}
	// A training file without targets, and targets that do not match the outputs.
	p := writeFile(t, "nt.csv", "x0\n1\n")
	code, _, errs := cli(t, m, "--target", p)
	want(t, code, errs, exitInput, "no target column")
	p = writeFile(t, "two.csv", "x0,y0,y1\n1,2,3\n")
	code, _, errs = cli(t, m, "--target", p, "--target-cols", "y0,y1")
	want(t, code, errs, exitInput, "2 target column(s)", "1 output")
	p = writeFile(t, "one.csv", "x0,y\n1,2\n")
	code, _, errs = cli(t, m, "--target", p, "--task", "classification")
	want(t, code, errs, exitInput, "classification needs a model with one output (logit) per class")
}

func TestInspect(t *testing.T) {
	cases := map[string][]string{
		"sine-mlp":    {"[N,1]", "Gemm", "Tanh", "fc1.weight", "[64,1]", "4353"},
		"digits-cnn":  {"[N,1,8,8]", "[N,10]", "Conv", "MaxPool", "conv1.weight", "1434"},
		"drift-lnmlp": {"[N,4]", "[N,2]", "LayerNormalization", "ln1.weight"},
		"sine-keras":  {"MatMul", "[16,16]"},
	}
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			code, out, errs := cli(t, "inspect", model(t, name, "model.onnx"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// reference is the part of models/*/reference.json that predict checks:
// rows of inputs (nested arrays of any depth) and rows of outputs.
type reference struct {
	Inputs  [][]float64
	Outputs [][]float64
}

// flatten appends the numbers of a nested JSON array.
func flatten(dst []float64, v any) []float64 {
	switch x := v.(type) {
	case float64:
		return append(dst, x)
	case []any:
		for _, e := range x {
			dst = flatten(dst, e)
		}
	}
	return dst
}

func loadReference(t *testing.T, path string) reference {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no reference: %v", err)
	}
	var raw struct {
		Inputs  []any `json:"inputs"`
		Outputs []any `json:"outputs"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var r reference
	for _, row := range raw.Inputs {
		r.Inputs = append(r.Inputs, flatten(nil, row))
	}
	for _, row := range raw.Outputs {
		r.Outputs = append(r.Outputs, flatten(nil, row))
	}
	return r
}

// referenceCSV writes the reference inputs as a data file.
func referenceCSV(t *testing.T, r reference) string {
	var b strings.Builder
	for j := range r.Inputs[0] {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "x%d", j)
	}
	b.WriteByte('\n')
	for _, row := range r.Inputs {
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return writeFile(t, "ref.csv", b.String())
}

func TestPredictMatchesReference(t *testing.T) {
	for _, name := range []string{"sine-mlp", "digits-cnn", "drift-lnmlp", "sine-keras", "mnist-7"} {
		t.Run(name, func(t *testing.T) {
			m := model(t, name, "model.onnx")
			refPath := filepath.Join("..", "..", "models", name, "reference.json")
			if name == "sine-keras" || name == "mnist-7" {
				refPath = filepath.Join("..", "..", "models", "external", name+".reference.json")
			}
			ref := loadReference(t, refPath)
			code, out, errs := cli(t, "predict", m, "--input", referenceCSV(t, ref), "--batch", "3")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			header, rows := readCSV(t, out)
			k := len(ref.Outputs[0])
			if k == 1 && fmt.Sprint(header) != "[mean]" || k > 1 && (len(header) != k || header[0] != "mean_0") {
				t.Errorf("header %v for %d outputs", header, k)
			}
			if len(rows) != len(ref.Outputs) {
				t.Fatalf("%d rows, want %d", len(rows), len(ref.Outputs))
			}
			for i := range rows {
				for j := range rows[i] {
					if d := math.Abs(rows[i][j] - ref.Outputs[i][j]); d > 1e-4*(1+math.Abs(ref.Outputs[i][j])) {
						t.Errorf("row %d output %d: %v, reference %v", i, j, rows[i][j], ref.Outputs[i][j])
					}
				}
			}
		})
	}
}

func TestPredictFileAndTargetsIgnored(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	test := model(t, "sine-mlp", "test.csv")
	code, out, errs := cli(t, "predict", m, "--input", test)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	dst := filepath.Join(t.TempDir(), "p.csv")
	// Flags before the model.
	code, out2, errs := cli(t, "predict", "--predictions", dst, m, "--input", test, "--batch", "7")
	if code != 0 || out2 != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out2, errs)
	}
	b, _ := os.ReadFile(dst)
	if string(b) != out {
		t.Error("--predictions file differs from stdout (or batching changes the result)")
	}
}

// fitSummary is the part of the --json summary the tests read.
type fitSummary struct {
	Task    string `json:"task"`
	Outputs int    `json:"outputs"`
	Fit     struct {
		N      int     `json:"n"`
		P      int     `json:"parameters"`
		Noise  float64 `json:"noise"`
		Method string  `json:"method"`
	} `json:"fit"`
	Metrics struct {
		Base      map[string]float64 `json:"base"`
		Adapted   map[string]float64 `json:"adapted"`
		LastLayer map[string]float64 `json:"last_layer"`
	} `json:"metrics"`
	Predictions string `json:"predictions"`
	Out         string `json:"out"`
}

func TestAdaptSine(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	test := model(t, "sine-mlp", "test.csv")
	dir := t.TempDir()
	preds := filepath.Join(dir, "pred.csv")
	saved := filepath.Join(dir, "sine.pred")
	// Flags on both sides of the model.
	code, out, errs := cli(t, "--target", train, m, "--test", test, "--json", "--predictions", preds, "--out", saved, "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s fitSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if s.Task != "regression" || s.Outputs != 1 || s.Fit.N != 20 || !(s.Fit.Noise > 0) {
		t.Errorf("summary %+v", s)
	}
	if !(s.Metrics.Adapted["rmse"] < s.Metrics.Base["rmse"]) {
		t.Errorf("adaptation did not lower the test RMSE: %v vs %v", s.Metrics.Adapted, s.Metrics.Base)
	}
	for _, k := range []string{"rmse", "nll", "coverage95"} {
		if _, ok := s.Metrics.Adapted[k]; !ok {
			t.Errorf("metric %s missing", k)
		}
	}
	// The last-layer baseline (ridge) beats the adapted predictor on this
	// model's RMSE (0.075 against 0.171 when written): recorded, not asserted.
	checkLastLayer(t, &s)
	b, err := os.ReadFile(preds)
	if err != nil {
		t.Fatal(err)
	}
	header, rows := readCSV(t, string(b))
	if fmt.Sprint(header) != "[mean std]" || len(rows) != 200 {
		t.Errorf("predictions: header %v, %d rows", header, len(rows))
	}
	for _, r := range rows {
		if !(r[1] > 0) {
			t.Fatalf("std %v not positive", r[1])
		}
	}
	// The saved predictor predicts the same.
	code, out, errs = cli(t, "predict", saved, "--input", test)
	if code != 0 {
		t.Fatalf("predict with the saved predictor: exit %d: %s", code, errs)
	}
	if out != string(b) {
		t.Error("the saved predictor's predictions differ from --predictions")
	}
	// Text summary, with fixed hyperparameters.
	code, out, errs = cli(t, m, "--target", train, "--test", test, "--noise", "0.01", "--prior-scale", "0.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"0.01 (given)", "0.5 (given)", "RMSE", "coverage", "base network", "fitted noise", "last layer", "ridge on the last layer's inputs"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errs, "read 20 rows") {
		t.Errorf("no progress on stderr: %s", errs)
	}
	// --quiet prints nothing.
	code, out, errs = cli(t, m, "--target", train, "--quiet")
	if code != 0 || out != "" || errs != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A bad --params is a usage error.
	code, _, errs = cli(t, m, "--target", train, "--params", "nomatch")
	want(t, code, errs, exitUsage, "nomatch")
}

func TestAdaptTwoOutputs(t *testing.T) {
	m := model(t, "drift-lnmlp", "model.onnx")
	train := model(t, "drift-lnmlp", "target.csv")
	test := model(t, "drift-lnmlp", "test.csv")
	preds := filepath.Join(t.TempDir(), "p.csv")
	code, out, errs := cli(t, m, "--target", train, "--test", test, "--params", "last:1", "--json", "--predictions", preds)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s fitSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Outputs != 2 || s.Fit.P != 66 {
		t.Errorf("summary %+v", s)
	}
	// With the last layer only, ridge beats the GP (0.0622 against 0.0657
	// when written): recorded, not asserted.
	checkLastLayer(t, &s)
	b, _ := os.ReadFile(preds)
	header, rows := readCSV(t, string(b))
	if fmt.Sprint(header) != "[mean_0 mean_1 std_0 std_1]" || len(rows) != 300 {
		t.Errorf("predictions: header %v, %d rows", header, len(rows))
	}
}

// TestAdaptTwoOutputsAll adapts every parameter of drift-lnmlp: there the
// adapted predictor's test RMSE is below the last-layer baseline's (0.0576
// against 0.0622 when written).
func TestAdaptTwoOutputsAll(t *testing.T) {
	m := model(t, "drift-lnmlp", "model.onnx")
	train := model(t, "drift-lnmlp", "target.csv")
	test := model(t, "drift-lnmlp", "test.csv")
	code, out, errs := cli(t, m, "--target", train, "--test", test, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s fitSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if checkLastLayer(t, &s) {
		if a, l := s.Metrics.Adapted["rmse"], s.Metrics.LastLayer["rmse"]; !(a < l) {
			t.Errorf("adapted RMSE %g is not below the last-layer baseline's %g", a, l)
		}
	}
}

// checkLastLayer checks that the summary holds the last-layer baseline's
// regression metrics, logs how the adapted predictor compares with it, and
// reports whether they were all there.
func checkLastLayer(t *testing.T, s *fitSummary) bool {
	t.Helper()
	ok := true
	for _, k := range []string{"rmse", "nll", "coverage95"} {
		if v, found := s.Metrics.LastLayer[k]; !found || math.IsNaN(v) {
			t.Errorf("metrics.last_layer.%s missing (%v)", k, s.Metrics.LastLayer)
			ok = false
		}
	}
	if ok {
		a, l := s.Metrics.Adapted, s.Metrics.LastLayer
		t.Logf("test RMSE adapted %.4g, last layer %.4g (adapted better: %v); NLL %.4g vs %.4g (adapted better: %v)",
			a["rmse"], l["rmse"], a["rmse"] < l["rmse"], a["nll"], l["nll"], a["nll"] < l["nll"])
	}
	return ok
}

func TestAdaptSineKeras(t *testing.T) {
	m := model(t, "sine-keras", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	code, out, errs := cli(t, m, "--target", train, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s fitSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.Outputs != 1 {
		t.Fatalf("%v %+v", err, s)
	}
}

func TestGradcheck(t *testing.T) {
	for _, name := range []string{"sine-mlp", "drift-lnmlp", "digits-cnn"} {
		t.Run(name, func(t *testing.T) {
			m := model(t, name, "model.onnx")
			data := model(t, name, "test.csv")
			code, out, errs := cli(t, "gradcheck", m, "--input", data, "--rows", "4")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, out, errs)
			}
			if !strings.Contains(out, "ok: every relative error") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
	// An impossible tolerance fails with the numerical exit code.
	m := model(t, "sine-mlp", "model.onnx")
	data := model(t, "sine-mlp", "test.csv")
	code, out, errs := cli(t, "gradcheck", m, "--input", data, "--tol", "1e-30")
	want(t, code, errs, exitNumerical, "above the tolerance")
	if !strings.Contains(out, "FAIL") {
		t.Errorf("no FAIL in the table:\n%s", out)
	}
}

func TestCompareFD(t *testing.T) {
	// f(x) = (x, |x|) at x = 0 with v = 1: the second output is a kink.
	h := 1e-5
	y0 := []float64{0, 0}
	yp := []float64{h, h}
	ym := []float64{-h, h}
	r := compareFD([]float64{1, 1}, yp, ym, y0, h)
	if r.kinks != 1 || r.err > 1e-12 {
		t.Errorf("%+v", r)
	}
	// A wrong derivative is caught.
	r = compareFD([]float64{2, 1}, yp, ym, y0, h)
	if r.err < 0.5 {
		t.Errorf("%+v", r)
	}
}

// panicWriter panics on every write, standing in for a bug.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("boom") }

func TestPanicIsInternalError(t *testing.T) {
	var errb bytes.Buffer
	code := run([]string{"help"}, panicWriter{}, &errb)
	if code != exitInternal || !strings.Contains(errb.String(), "internal error") || !strings.Contains(errb.String(), "report") {
		t.Errorf("exit %d, stderr %s", code, errb.String())
	}
}

func TestParseFlagsInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	a := fs.String("a", "", "")
	b := fs.Bool("b", false, "")
	pos, err := parseFlags(fs, []string{"-a", "1", "p1", "--b", "p2", "--", "--a", "p3"})
	if err != nil || *a != "1" || !*b || fmt.Sprint(pos) != "[p1 p2 --a p3]" {
		t.Errorf("pos %v a %q b %v err %v", pos, *a, *b, err)
	}
}
