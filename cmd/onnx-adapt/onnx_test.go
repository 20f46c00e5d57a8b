package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// Small ONNX models built field by field (onnx.proto's field numbers), for
// cases the shipped models do not cover.

func pbBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func pbString(b []byte, num protowire.Number, s string) []byte { return pbBytes(b, num, []byte(s)) }

func pbInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// valueInfo is a float tensor with dims (-1 for a symbolic "N").
func valueInfo(name string, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		if d < 0 {
			dim = pbString(nil, 2, "N")
		} else {
			dim = pbInt(nil, 1, d)
		}
		shape = pbBytes(shape, 1, dim)
	}
	tensor := pbInt(nil, 1, 1) // FLOAT
	tensor = pbBytes(tensor, 2, shape)
	typ := pbBytes(nil, 1, tensor)
	v := pbString(nil, 1, name)
	return pbBytes(v, 2, typ)
}

// oneNodeModel is a model y = op(x) with x, y of shape [N, width].
func oneNodeModel(op string, width int64) []byte {
	node := pbString(nil, 1, "x")
	node = pbString(node, 2, "y")
	node = pbString(node, 3, "n0")
	node = pbString(node, 4, op)
	graph := pbBytes(nil, 1, node)
	graph = pbString(graph, 2, "g")
	graph = pbBytes(graph, 11, valueInfo("x", -1, width))
	graph = pbBytes(graph, 12, valueInfo("y", -1, width))
	m := pbInt(nil, 1, 8)
	m = pbString(m, 2, "onnx-adapt test")
	m = pbBytes(m, 7, graph)
	opset := pbString(nil, 1, "")
	opset = pbInt(opset, 2, 13)
	return pbBytes(m, 8, opset)
}

func writeModel(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnsupportedOp(t *testing.T) {
	m := writeModel(t, "odd.onnx", oneNodeModel("FrobnicateV9", 2))
	data := writeFile(t, "d.csv", "a,b,y\n1,2,3\n")
	for _, args := range [][]string{{"predict", m, "--input", data}, {m, "--target", data}} {
		code, _, errs := cli(t, args...)
		want(t, code, errs, exitInput, m, "FrobnicateV9", "Re-export")
	}
	// inspect describes the model and lists what it cannot run.
	code, out, errs := cli(t, "inspect", m)
	if code != 0 || !strings.Contains(out, "unsupported ops: 1 node(s)") || !strings.Contains(out, "FrobnicateV9") || !strings.Contains(out, "inputs:") {
		t.Errorf("inspect: exit %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
}

// A model with no parameters runs in predict and cannot be adapted.
func TestParameterFreeModel(t *testing.T) {
	m := writeModel(t, "relu.onnx", oneNodeModel("Relu", 2))
	data := writeFile(t, "d.csv", "a,b,y\n1,-2,3\n-0.5,4,1\n")
	code, out, errs := cli(t, "predict", m, "--input", data)
	if code != 0 || out != "mean_0,mean_1\n1,0\n0,4\n" {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	code, _, errs = cli(t, m, "--target", data)
	want(t, code, errs, exitInput)
	if strings.Contains(errs, "internal error") {
		t.Errorf("stderr: %s", errs)
	}
	// Its op check has nothing to perturb but its input.
	code, out, errs = cli(t, "gradcheck", m, "--input", data)
	if code != 0 || !strings.Contains(out, "Relu") {
		t.Errorf("gradcheck: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestClassificationCLI(t *testing.T) {
	m := model(t, "digits-cnn", "model.onnx")
	train := model(t, "digits-cnn", "target.csv")
	test := model(t, "digits-cnn", "test.csv")
	// A small subset keeps the test fast.
	head := func(path string, n int) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		return writeFile(t, filepath.Base(path), strings.Join(lines[:n+1], ""))
	}
	tr, te := head(train, 30), head(test, 20)
	preds := filepath.Join(t.TempDir(), "p.csv")
	code, out, errs := cli(t, m, "--target", tr, "--test", te, "--params", "last:1", "--prior-scale", "0.1", "--predictions", preds)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{"(classification)", "accuracy", "ECE (10 bins)", "last layer", "logistic regression on the last layer's inputs"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
	b, _ := os.ReadFile(preds)
	header, rows := readCSV(t, string(b))
	if len(header) != 11 || header[0] != "label" || header[1] != "prob_0" || header[10] != "prob_9" || len(rows) != 20 {
		t.Fatalf("header %v, %d rows", header, len(rows))
	}
	for _, r := range rows {
		sum, best := 0.0, 1
		for j := 1; j < len(r); j++ {
			sum += r[j]
			if r[j] > r[best] {
				best = j
			}
		}
		if math.Abs(sum-1) > 1e-5 || r[0] != float64(best-1) {
			t.Errorf("row %v: probabilities sum to %v, label %v, argmax %d", r, sum, r[0], best-1)
		}
	}
	// A label outside the classes is bad input, located.
	bad := writeFile(t, "bad.csv", string(mustRead(t, tr))+strings.Repeat("0,", 64)+"12\n")
	code, _, errs = cli(t, m, "--target", bad, "--task", "classification")
	want(t, code, errs, exitInput, "label 12", "line 32", `column 65 ("y")`)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
