package benchcmd

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

func sineModel(t *testing.T) string {
	t.Helper()
	path := filepath.Join("..", "..", "models", "sine-mlp", "model.onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no model at %s: %v", path, err)
	}
	return path
}

func TestRunJSON(t *testing.T) {
	model := sineModel(t)
	var out, errb bytes.Buffer
	code := Run([]string{model, "--batch", "32", "--vectors", "4", "--repeat", "2", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"forward_ms", "jvp_ms", "vjp_ms", "fvp_ms", "block_fvp_ms_per_vector"} {
		v, ok := m[k].(float64)
		if !ok || !(v > 0) {
			t.Errorf("%s = %v, want a positive number", k, m[k])
		}
	}
	if m["repeat"].(float64) != 2 || m["vectors"].(float64) != 4 || m["batch"].(float64) != 32 {
		t.Errorf("repeat, vectors, batch = %v, %v, %v", m["repeat"], m["vectors"], m["batch"])
	}
}

func TestRunText(t *testing.T) {
	model := sineModel(t)
	var out, errb bytes.Buffer
	if code := Run([]string{"--repeat", "1", "--threads", "2", model}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"forward", "Fisher product", "× forward", "2 thread(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
	}{
		{nil, 1},
		{[]string{"--batch", "0", "m.onnx"}, 1},
		{[]string{"--nosuchflag", "m.onnx"}, 1},
		{[]string{"--batch", "x", "m.onnx"}, 1},
		{[]string{"a.onnx", "b.onnx"}, 1},
		{[]string{filepath.Join(t.TempDir(), "missing.onnx")}, 2},
		{[]string{bad, "--repeat", "1"}, 2},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if got := Run(c.args, &out, &errb); got != c.code {
			t.Errorf("Run(%q) = %d, want %d (stderr %q)", c.args, got, c.code, errb.String())
		} else if errb.Len() == 0 {
			t.Errorf("Run(%q) printed no message", c.args)
		}
	}
	var out, errb bytes.Buffer
	if got := Run([]string{"--help"}, &out, &errb); got != 0 || !strings.Contains(out.String(), "usage") {
		t.Errorf("--help: exit %d, %q", got, out.String())
	}
}

func TestRunAdapt(t *testing.T) {
	model := sineModel(t)
	var out, errb bytes.Buffer
	code := RunAdapt([]string{model, "--n", "50", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r AdaptResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.N != 50 || r.Params <= 0 || r.Method != "function" || !(r.Seconds > 0) || !(r.PeakRSSMB >= r.BaselineRSSMB) {
		t.Errorf("result %+v", r)
	}
	if code := RunAdapt([]string{model, "--n", "5", "--data", filepath.Join(t.TempDir(), "none.f32")}, &out, &errb); code != 2 {
		t.Errorf("missing data file: exit %d, want 2", code)
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	n := fs.Int("n", 0, "")
	j := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"--n", "3", "a", "--json", "b", "--", "--c"})
	if err != nil || *n != 3 || !*j || strings.Join(pos, ",") != "a,b,--c" {
		t.Errorf("pos %q, n %d, json %v, err %v", pos, *n, *j, err)
	}
	if got := median([]float64{3, 1, 2, 10}); got != 2.5 {
		t.Errorf("median = %g, want 2.5", got)
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %g, want 2", got)
	}
}

func TestAdaptDataFile(t *testing.T) {
	model := sineModel(t)
	g, err := onnximport.Load(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := inputShape(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	row := autodiff.Size(shape) / 3
	k, err := outputWidth(g)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i := 0; i < 3*(row+k); i++ {
		binary.Write(&buf, binary.LittleEndian, float32(i))
	}
	file := filepath.Join(t.TempDir(), "rows.f32")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := adaptData(g, 3, file, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.X.Data[row] != float32(row+k) || d.Y[1][0] != float64(2*row+k) {
		t.Errorf("row 1 starts %g, its target %g", d.X.Data[row], d.Y[1][0])
	}
	if _, err := adaptData(g, 4, file, 1); err == nil {
		t.Error("a short file was accepted")
	}
}
