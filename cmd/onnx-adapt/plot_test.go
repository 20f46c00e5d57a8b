package main

import (
	"bufio"
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkPNG checks that path is a PNG of w×h pixels.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if cfg.Width != w || cfg.Height != h {
		t.Errorf("%s is %d×%d, want %d×%d", path, cfg.Width, cfg.Height, w, h)
	}
}

// headCSV writes the header and the first n rows of a CSV to a temp file.
func headCSV(t *testing.T, src string, n int) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; i <= n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	return writeFile(t, filepath.Base(src), b.String())
}

func TestPlot(t *testing.T) {
	sine := model(t, "sine-mlp", "model.onnx")
	dir := t.TempDir()
	t.Run("curve", func(t *testing.T) {
		out := filepath.Join(dir, "sine.png")
		code, _, errs := cli(t, sine, "--target", model(t, "sine-mlp", "target.csv"), "--test", model(t, "sine-mlp", "test.csv"), "--plot", out)
		want(t, code, errs, 0, "wrote the plot to "+out)
		checkPNG(t, out, curveWidth, curveHeight)
	})
	t.Run("in-sample", func(t *testing.T) {
		out := filepath.Join(dir, "sine-train.png")
		code, _, errs := cli(t, sine, "--target", model(t, "sine-mlp", "target.csv"), "--plot", out)
		want(t, code, errs, 0, "no --test file; plotting on the 20 --target rows (in-sample)")
		checkPNG(t, out, curveWidth, curveHeight)
	})
	t.Run("regression", func(t *testing.T) {
		m := model(t, "drift-lnmlp", "model.onnx")
		out := filepath.Join(dir, "drift.png")
		code, _, errs := cli(t, m, "--target", headCSV(t, model(t, "drift-lnmlp", "target.csv"), 40),
			"--test", headCSV(t, model(t, "drift-lnmlp", "test.csv"), 60), "--plot", out, "--quiet")
		want(t, code, errs, 0)
		checkPNG(t, out, panelsWidth, panelsHeight)
	})
	t.Run("classification", func(t *testing.T) {
		m := model(t, "digits-cnn", "model.onnx")
		out := filepath.Join(dir, "digits.png")
		code, _, errs := cli(t, m, "--target", headCSV(t, model(t, "digits-cnn", "target.csv"), 30),
			"--test", headCSV(t, model(t, "digits-cnn", "test.csv"), 40), "--params", "last:1", "--prior-scale", "0.1", "--plot", out, "--quiet")
		want(t, code, errs, 0)
		checkPNG(t, out, panelsWidth, panelsHeight)
	})
	t.Run("unwritable", func(t *testing.T) {
		out := filepath.Join(dir, "no-such-dir", "x.png")
		code, _, errs := cli(t, sine, "--target", model(t, "sine-mlp", "target.csv"), "--plot", out, "--quiet")
		want(t, code, errs, exitInput, "writing the plot", "Check that the directory exists")
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s was written", out)
		}
	})
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	l := newProgressLog(&b, false)
	l.Progress("kernel", 0, 4)
	l.Progress("kernel", 2, 4)
	if b.Len() != 0 {
		t.Errorf("a phase under way printed %q off a terminal", b.String())
	}
	l.Progress("kernel", 4, 4)
	l.Logf("read %d rows", 3)
	l.Close()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "] kernel done") || !strings.HasSuffix(lines[1], "] read 3 rows") {
		t.Errorf("got %q, want a kernel done line and the log line", b.String())
	}
	if strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "\x1b") {
		t.Errorf("control characters off a terminal: %q", b.String())
	}

	b.Reset()
	q := newProgressLog(&b, true)
	q.Progress("kernel", 4, 4)
	q.Logf("x")
	q.Close()
	if b.Len() != 0 {
		t.Errorf("--quiet printed %q", b.String())
	}
}

func TestProgressLine(t *testing.T) {
	s := progressLine("kernel", 13, 25, 12300*time.Millisecond, time.Second, 79)
	for _, w := range []string{"[  12.3s] kernel", " 52%", "13/25", "█"} {
		if !strings.Contains(s, w) {
			t.Errorf("%q lacks %q", s, w)
		}
	}
	if n := len([]rune(s)); n > 79 {
		t.Errorf("%d columns, more than 79: %q", n, s)
	}
	full := strings.Count(progressLine("kernel", 25, 25, 0, 0, 79), "█")
	half := strings.Count(progressLine("kernel", 12, 25, 0, 0, 79), "█")
	if full != 40 || half != 19 {
		t.Errorf("full bar %d cells, 12/25 %d: want 40 and 19", full, half)
	}
	// One step: a moving block, the time in the phase.
	one := progressLine("forward", 0, 1, time.Second, 2500*time.Millisecond, 79)
	if !strings.Contains(one, "█") || !strings.Contains(one, "2.5s") || strings.Contains(one, "%") {
		t.Errorf("one-step phase: %q", one)
	}
	// Too narrow for a bar: still at most width columns.
	if n := len([]rune(progressLine("kernel", 1, 2, 0, 0, 20))); n > 20 {
		t.Errorf("narrow line has %d columns", n)
	}
}
