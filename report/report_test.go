package report

import (
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
)

// checkPNG decodes path and checks its size, and that it is not blank.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a valid PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %d×%d, want %d×%d", path, b.Dx(), b.Dy(), w, h)
	}
	colors := map[color.RGBA]bool{}
	for y := 0; y < h; y += 3 {
		for x := 0; x < w; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colors[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}] = true
		}
	}
	if len(colors) < 8 {
		t.Errorf("%s has %d colours: nothing was drawn", path, len(colors))
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestCurve1D(t *testing.T) {
	c := &Curve{Title: "t", XLabel: "x", YLabel: "y", BandLabel: "95% predictive band"}
	for i := range 200 {
		x := -5 + 10*float64(i)/199
		m := math.Sin(x)
		s := 0.1 + 0.05*math.Abs(x)
		c.Grid = append(c.Grid, x)
		c.Base = append(c.Base, math.Sin(x+1))
		c.Mean = append(c.Mean, m)
		c.Lower = append(c.Lower, m-1.96*s)
		c.Upper = append(c.Upper, m+1.96*s)
	}
	for i := range 20 {
		x := -4 + 8*float64(i)/19
		c.TrainX, c.TrainY = append(c.TrainX, x), append(c.TrainY, math.Sin(x)+0.05)
		c.TestX, c.TestY = append(c.TestX, x+0.1), append(c.TestY, math.Sin(x+0.1))
	}
	p, err := Curve1D(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "curve.png")
	if err := WritePNG(path, 900, 560, p); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 900, 560)

	c.Mean = c.Mean[:10]
	if _, err := Curve1D(c); err == nil {
		t.Error("Curve1D with a short mean: no error")
	}
}

func TestCoverage(t *testing.T) {
	// Residuals at 0.5, 1.5 and 2.5 standard deviations: inside the 50%
	// interval (z = 0.674) only the first, inside 95% (z = 1.96) two.
	mean := [][]float64{{0}, {0}, {0}}
	std := [][]float64{{2}, {2}, {2}}
	y := [][]float64{{1}, {-3}, {5}}
	got, err := Coverage(mean, std, y, []float64{0.5, 0.95, 0.999})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.0 / 3, 2.0 / 3, 1}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("coverage at level %d: got %g, want %g", i, got[i], want[i])
		}
	}
	if _, err := Coverage(mean, std, y, []float64{1}); err == nil {
		t.Error("level 1: no error")
	}
	if _, err := Coverage(mean[:2], std, y, []float64{0.5}); err == nil {
		t.Error("mismatched rows: no error")
	}
}

func TestReliabilityBins(t *testing.T) {
	probs := [][]float64{{0.95, 0.05}, {0.9, 0.1}, {0.3, 0.7}, {0.45, 0.55}, {0.5, 0.5}}
	labels := []int{0, 1, 1, 0, 0}
	bins, err := ReliabilityBins(probs, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	// 0.5 and 0.55 go to bins 4 and 5, 0.7 to 6, 0.9 to 8, 0.95 to 9.
	for b, want := range map[int]struct {
		n        int
		conf, ac float64
	}{4: {1, 0.5, 1}, 5: {1, 0.55, 0}, 6: {1, 0.7, 1}, 8: {1, 0.9, 0}, 9: {1, 0.95, 1}} {
		got := bins[b]
		if got.Count != want.n || math.Abs(got.Confidence-want.conf) > 1e-12 || got.Accuracy != want.ac {
			t.Errorf("bin %d: got %+v, want count %d, confidence %g, accuracy %g", b, got, want.n, want.conf, want.ac)
		}
	}
	wantECE := (0.5 + 0.55 + 0.3 + 0.9 + 0.05) / 5
	if e := ECE(bins); math.Abs(e-wantECE) > 1e-12 {
		t.Errorf("ECE %g, want %g", e, wantECE)
	}
	if _, err := ReliabilityBins(probs, []int{0, 1, 2, 0, 0}, 10); err == nil {
		t.Error("label 2 of 2 classes: no error")
	}
}

// TestTwoPanels renders each side-by-side figure of the CLI.
func TestTwoPanels(t *testing.T) {
	levels := NominalLevels()
	if len(levels) != 19 || math.Abs(levels[0]-0.05) > 1e-12 || math.Abs(levels[18]-0.95) > 1e-12 {
		t.Fatalf("levels %v", levels)
	}
	under := make([]float64, len(levels))
	for i, a := range levels {
		under[i] = a * a
	}
	cal, err := Calibration("calibration", Series{Label: "base", X: levels, Y: under}, Series{Label: "adapted", X: levels, Y: levels})
	if err != nil {
		t.Fatal(err)
	}
	y := []float64{0, 1, 2, 3, 4}
	base := []float64{0.5, 0.5, 2.5, 2, 5}
	pvt, err := PredictedVsTrue("pred", "true", "predicted", y,
		Points{Label: "base", Pred: base},
		Points{Label: "adapted", Pred: y, Lower: []float64{-1, 0, 1, 2, 3}, Upper: []float64{1, 2, 3, 4, 5}})
	if err != nil {
		t.Fatal(err)
	}
	var probs [][]float64
	var labels []int
	for i := range 100 {
		c := 0.3 + 0.7*float64(i)/100
		probs = append(probs, []float64{c, 1 - c})
		labels = append(labels, i%3/2)
	}
	bins, err := ReliabilityBins(probs, labels, 10)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Reliability("reliability", BinSeries{Label: "base", Bins: bins}, BinSeries{Label: "adapted", Bins: bins})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := ConfidenceHistogram("confidence", BinSeries{Label: "base", Bins: bins}, BinSeries{Label: "adapted", Bins: bins})
	if err != nil {
		t.Fatal(err)
	}
	for name, panels := range map[string][]*plot.Plot{"regression": {cal, pvt}, "classification": {rel, hist}} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name+".png")
			if err := WritePNG(path, 1400, 600, panels...); err != nil {
				t.Fatal(err)
			}
			checkPNG(t, path, 1400, 600)
		})
	}
}

func TestWritePNGErrors(t *testing.T) {
	if err := WritePNG(filepath.Join(t.TempDir(), "x.png"), 800, 600); err == nil {
		t.Error("no panels: no error")
	}
	if _, err := Render(10, 10, plot.New()); err == nil {
		t.Error("10×10 pixels: no error")
	}
	// A directory that does not exist: an error, and no file.
	dir := t.TempDir()
	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), 800, 600, plot.New()); err == nil {
		t.Error("missing directory: no error")
	}
}
