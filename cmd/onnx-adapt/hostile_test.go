package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// Hostile and broken inputs: every one gives its documented exit code and a
// message naming the file, node, parameter, line or column, never a panic.

// clean checks that stderr shows no panic or stack trace.
func clean(t *testing.T, stderr string) {
	t.Helper()
	t.Logf("stderr: %s", stderr)
	for _, s := range []string{"goroutine", "panic", "internal error", ".go:"} {
		if strings.Contains(stderr, s) {
			t.Errorf("stderr shows %q:\n%s", s, stderr)
		}
	}
}

// floatInit is a FLOAT initializer with raw data.
func floatInit(name string, dims []int64, data ...float32) []byte {
	var b []byte
	for _, d := range dims {
		b = pbInt(b, 1, d)
	}
	b = pbInt(b, 2, 1) // FLOAT
	b = pbString(b, 8, name)
	var raw []byte
	for _, v := range data {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return pbBytes(b, 9, raw)
}

// gemmModel is y = op(x·W + B) for x, y of shape [N, 1] (no op: y = x·W + B).
func gemmModel(w, bias float32, op string) []byte {
	node := func(name, typ string, in []string, out string) []byte {
		var n []byte
		for _, s := range in {
			n = pbString(n, 1, s)
		}
		n = pbString(n, 2, out)
		n = pbString(n, 3, name)
		return pbString(n, 4, typ)
	}
	graph := []byte{}
	if op == "" {
		graph = pbBytes(graph, 1, node("fc", "Gemm", []string{"x", "W", "B"}, "y"))
	} else {
		graph = pbBytes(graph, 1, node("fc", "Gemm", []string{"x", "W", "B"}, "h"))
		graph = pbBytes(graph, 1, node("act", op, []string{"h"}, "y"))
	}
	graph = pbString(graph, 2, "g")
	graph = pbBytes(graph, 5, floatInit("W", []int64{1, 1}, w))
	graph = pbBytes(graph, 5, floatInit("B", []int64{1}, bias))
	graph = pbBytes(graph, 11, valueInfo("x", -1, 1))
	graph = pbBytes(graph, 12, valueInfo("y", -1, 1))
	m := pbInt(nil, 1, 8)
	m = pbBytes(m, 7, graph)
	return pbBytes(m, 8, pbInt(pbString(nil, 1, ""), 2, 13))
}

func TestHostileModels(t *testing.T) {
	sine := model(t, "sine-mlp", "model.onnx")
	good, err := os.ReadFile(sine)
	if err != nil {
		t.Fatal(err)
	}
	data := writeFile(t, "d.csv", "x0,y\n1,2\n-1,0.5\n0.5,1\n")
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i*i*31)
	}
	cases := []struct {
		name  string
		bytes []byte
		code  int
		want  []string
	}{
		{"truncated", good[:len(good)/2], exitInput, []string{"malformed"}},
		{"truncated header", good[:7], exitInput, nil},
		{"empty", nil, exitInput, []string{"empty"}},
		{"random", random, exitInput, nil},
		{"unsupported op", oneNodeModel("FrobnicateV9", 1), exitInput, []string{`"n0"`, "FrobnicateV9"}},
		{"NaN weight", gemmModel(float32(math.NaN()), 0, ""), exitInput, []string{`parameter "W" holds NaN`}},
		{"Inf bias", gemmModel(1, float32(math.Inf(-1)), ""), exitInput, []string{`parameter "B" holds -Inf`}},
		{"NaN from a node", gemmModel(1, 0, "Log"), exitNumerical, []string{`node "act" (Log) produced NaN`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := writeModel(t, "m.onnx", c.bytes)
			for _, args := range [][]string{
				{m, "--target", data, "--noise", "0.1", "--prior-scale", "1"},
				{"predict", m, "--input", data},
			} {
				code, _, errs := cli(t, args...)
				want(t, code, errs, c.code, append([]string{m}, c.want...)...)
				clean(t, errs)
			}
		})
	}
	// The node's NaN is located on its line (line 3: x = −1).
	m := writeModel(t, "log.onnx", gemmModel(1, 0, "Log"))
	code, _, errs := cli(t, "predict", m, "--input", data)
	want(t, code, errs, exitNumerical, "line 3 of "+data)
	code, _, errs = cli(t, m, "--target", data, "--noise", "0.1", "--prior-scale", "1")
	want(t, code, errs, exitNumerical, "row 2")
	missing := filepath.Join(t.TempDir(), "missing.onnx")
	code, _, errs = cli(t, missing, "--target", data)
	want(t, code, errs, exitInput, missing, "no such file")
	clean(t, errs)
}

func TestHostileCSV(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	cases := []struct {
		name, content string
		want          []string
	}{
		{"NaN", "x0,y\n1,2\nNaN,3\n", []string{"line 3", `column 1 ("x0")`, "not a finite number"}},
		{"Inf", "x0,y\n1,2\n3,-Inf\n", []string{"line 3", `column 2 ("y")`, "not a finite number"}},
		{"huge", "x0,y\n1,2\n1e999,3\n", []string{"line 3", `column 1 ("x0")`}},
		{"text", "x0,y\n1,2\n3,abc\n", []string{"line 3", `column 2 ("y")`, `"abc" is not a number`}},
		{"missing cell", "x0,y\n1,2\n4\n", []string{"line 3", "missing cell"}},
		{"extra cell", "x0,y\n1,2\n1,2,3\n", []string{"line 3", "extra cell"}},
		{"header only", "x0,y\n", []string{"no data rows"}},
		{"empty", "", []string{"empty"}},
		{"feature columns", "x0,x1,y\n1,2,3\n", []string{"2 feature columns", "takes 1"}},
		{"binary", "x0,y\n\x00\xff\xfe,1\n", []string{"line 2", `column 1 ("x0")`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "bad.csv", c.content)
			code, _, errs := cli(t, m, "--target", p)
			want(t, code, errs, exitInput, append([]string{p}, c.want...)...)
			clean(t, errs)
			// As test data, after a good fit.
			train := model(t, "sine-mlp", "target.csv")
			code, _, errs = cli(t, m, "--target", train, "--test", p, "--quiet")
			want(t, code, errs, exitInput, append([]string{p}, c.want...)...)
			clean(t, errs)
		})
	}
	missing := filepath.Join(t.TempDir(), "none.csv")
	code, _, errs := cli(t, m, "--target", missing)
	want(t, code, errs, exitInput, missing)
	clean(t, errs)
}

func TestHostileFlags(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	for _, c := range [][]string{
		{"--noise", "0"}, {"--noise", "-1"}, {"--noise", "abc"}, {"--noise", "NaN"}, {"--noise", "Inf"},
		{"--prior-scale", "0"}, {"--prior-scale", "-1"}, {"--prior-scale", "abc"},
		{"--batch", "0"}, {"--threads", "-2"}, {"--method", "magic"}, {"--accept-unconverged=maybe"},
	} {
		code, _, errs := cli(t, append([]string{m, "--target", train}, c...)...)
		want(t, code, errs, exitUsage, strings.TrimPrefix(strings.SplitN(c[0], "=", 2)[0], "--"))
		clean(t, errs)
	}
}

func TestHostilePredictorFiles(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	other := model(t, "drift-lnmlp", "model.onnx")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pred")
	if code, _, errs := cli(t, m, "--target", train, "--out", good, "--quiet", "--noise", "0.01", "--prior-scale", "1"); code != 0 {
		t.Fatalf("fit: %s", errs)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	hdr := len("onnx-adapt predictor\n")
	flip := append([]byte(nil), b...)
	flip[len(flip)/2] ^= 0x40
	version := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(version[hdr:], 1)
	future := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(future[hdr:], 99)
	length := append([]byte(nil), b...)
	binary.LittleEndian.PutUint64(length[hdr+4:], 1<<60)
	// A predictor whose model is another network: the parameters do not
	// match its fingerprint.
	f, _ := os.Open(good)
	saved, err := gpadapt.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnximport.Decode(saved.ModelBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := saved.Bind(g)
	if err != nil {
		t.Fatal(err)
	}
	if p.ModelBytes, err = os.ReadFile(other); err != nil {
		t.Fatal(err)
	}
	var swapped bytes.Buffer
	if err := p.Save(&swapped); err != nil {
		t.Fatal(err)
	}
	data := writeFile(t, "in.csv", "x0\n0.5\n")
	for _, c := range []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"corrupt", flip, "checksum mismatch"},
		{"truncated", b[:len(b)-100], "header says"},
		{"header only", b[:hdr+12], "header says"},
		{"old version", version, "format version 1"},
		{"future version", future, "format version 99"},
		{"huge length", length, "payload of"},
		{"another model", swapped.Bytes(), "fitted on another model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".pred")
			if err := os.WriteFile(path, c.bytes, 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errs := cli(t, "predict", path, "--input", data)
			want(t, code, errs, exitInput, path, c.want, "bad predictor file")
			clean(t, errs)
		})
	}
	code, out, errs := cli(t, "predict", good, "--input", data)
	if code != 0 || !strings.HasPrefix(out, "mean,std\n") {
		t.Errorf("the good file: exit %d\n%s%s", code, out, errs)
	}
}

// noTemp checks that dir holds no temporary file of atomicfile.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}

// A failed run leaves no partial output and keeps an existing file.
func TestFailedRunKeepsOutputs(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	dir := t.TempDir()
	out, preds, plot := filepath.Join(dir, "p.pred"), filepath.Join(dir, "p.csv"), filepath.Join(dir, "p.png")
	for _, p := range []string{out, preds, plot} {
		if err := os.WriteFile(p, []byte("GOOD"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		for _, p := range []string{out, preds, plot} {
			if b, _ := os.ReadFile(p); string(b) != "GOOD" {
				t.Errorf("%s: %s was replaced (%d bytes)", what, p, len(b))
			}
		}
		noTemp(t, dir)
	}
	outputs := []string{"--out", out, "--predictions", preds, "--plot", plot, "--quiet"}
	// A numerical failure in the fit.
	logm := writeModel(t, "log.onnx", gemmModel(1, 0, "Log"))
	data := writeFile(t, "d.csv", "x0,y\n1,2\n-1,0.5\n")
	code, _, errs := cli(t, append([]string{logm, "--target", data}, outputs...)...)
	want(t, code, errs, exitNumerical)
	check("numerical failure")
	// Bad test data, read after the fit.
	bad := writeFile(t, "bad.csv", "x0,y\n1,2\n3,x\n")
	code, _, errs = cli(t, append([]string{m, "--target", train, "--test", bad}, outputs...)...)
	want(t, code, errs, exitInput, bad)
	check("bad test data")
	// A run interrupted before it writes.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var so, se bytes.Buffer
	runContext(ctx, append([]string{m, "--target", train}, outputs...), &so, &se)
	check("interrupted")
	// predict streams its rows: a bad row after many good ones must not
	// leave a partial file.
	var sb strings.Builder
	sb.WriteString("x0\n")
	for range 3000 {
		sb.WriteString("0.5\n")
	}
	sb.WriteString("oops\n")
	long := writeFile(t, "long.csv", sb.String())
	code, _, errs = cli(t, "predict", m, "--input", long, "--predictions", preds, "--batch", "16")
	want(t, code, errs, exitInput, "line 3002", `"oops"`)
	check("predict with a bad last row")
	// A directory that does not exist.
	code, _, errs = cli(t, m, "--target", train, "--quiet", "--out", filepath.Join(dir, "no", "such", "p.pred"))
	want(t, code, errs, exitInput, "no such file")
	clean(t, errs)
}

// The same inputs and flags give the same bytes.
func TestDeterministicOutputs(t *testing.T) {
	for _, name := range []string{"sine-mlp", "drift-lnmlp"} {
		t.Run(name, func(t *testing.T) {
			m := model(t, name, "model.onnx")
			train, test := model(t, name, "target.csv"), model(t, name, "test.csv")
			var files [2][2][]byte
			for i := range files {
				dir := t.TempDir()
				out, preds := filepath.Join(dir, "p.pred"), filepath.Join(dir, "p.csv")
				code, _, errs := cli(t, m, "--target", train, "--test", test, "--quiet", "--threads", "2", "--out", out, "--predictions", preds)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				for j, p := range []string{out, preds} {
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					files[i][j] = b
				}
			}
			for j, what := range []string{"predictor file", "predictions"} {
				if !bytes.Equal(files[0][j], files[1][j]) {
					t.Errorf("two runs wrote different %s", what)
				}
			}
		})
	}
}

// TestLayerwiseRegression checks that --prior-scale layerwise, which
// only classification supports, fails on a regression task with an
// error naming it, not silently.
func TestLayerwiseRegression(t *testing.T) {
	m := model(t, "sine-mlp", "model.onnx")
	train := model(t, "sine-mlp", "target.csv")
	code, _, errs := cli(t, m, "--target", train, "--prior-scale", "layerwise", "--quiet")
	if code == 0 || !strings.Contains(errs, "layerwise") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
	clean(t, errs)
}
