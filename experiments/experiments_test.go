package experiments

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// TestSineQuick runs the quick sinusoid comparison on 2 tasks: every
// method must succeed, and ours must beat the unadapted network.
func TestSineQuick(t *testing.T) {
	g, err := onnximport.Load("../models/sine-mlp/model.onnx", nil)
	if err != nil {
		t.Skipf("sine-mlp: %v", err)
	}
	start := time.Now()
	tasks := sineTasks(1, 2, 10, -5, 5)
	r := runRegression(context.Background(), "sine-mlp", g, tasks, RegMethods, DefaultGrid, 1, t.Logf)
	for _, m := range r.Methods {
		for i, s := range r.Scores[m] {
			if s.Err != "" || math.IsNaN(s.RMSE) || math.IsNaN(s.NLL) {
				t.Errorf("%s, task %d: %+v", m, i, s)
			}
		}
	}
	ours, _ := meanSE([]float64{r.Scores[MOurs][0].RMSE, r.Scores[MOurs][1].RMSE})
	base, _ := meanSE([]float64{r.Scores[MBase][0].RMSE, r.Scores[MBase][1].RMSE})
	if !(ours < base) {
		t.Errorf("ours RMSE %.3f is not below the base network's %.3f", ours, base)
	}
	t.Logf("2 tasks in %v", time.Since(start))
}

// TestMLPSpec checks the layer chain handed to the peers against the engine.
func TestMLPSpec(t *testing.T) {
	for _, path := range []string{"../models/sine-mlp/model.onnx", "../../shared/models/sine-keras/model.onnx", ""} {
		g := MLP(3, 2, 5, 4, 1)
		if path != "" {
			var err error
			if g, err = onnximport.Load(path, nil); err != nil {
				t.Logf("%s: %v (skipped)", path, err)
				continue
			}
		}
		spec, err := mlpSpec(g)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		d := len(spec[0].W)
		x := make([][]float64, 5)
		for i := range x {
			x[i] = make([]float64, d)
			for j := range x[i] {
				x[i][j] = 0.7*float64(i) - 1.3 + 0.2*float64(j)
			}
		}
		f, err := forwardGraph(g, rows2tensor(x))
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if got := mlpForward(spec, x[i])[0]; math.Abs(got-f[i][0]) > 1e-4*(1+math.Abs(got)) {
				t.Errorf("%s row %d: chain %g, engine %g", path, i, got, f[i][0])
			}
		}
	}
}

// TestRBFFit checks that the fitted hyperparameters beat a default point.
func TestRBFFit(t *testing.T) {
	x := [][]float64{{0.1, 0.3}, {0.5, -0.2}, {-0.7, 0.4}, {0.9, 0.9}, {-0.3, -0.8}}
	y := []float64{0.3, -0.1, 0.8, 0.2, -0.5}
	gp, err := fitRBF(x, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	// At the optimum the log marginal likelihood is at least that of the start.
	h := RBFHyper{Lengthscales: []float64{1, 1}, Signal: 1, Noise: 0.1, Mean: gp.h.Mean}
	l0, _, _, _ := rbfLogML(x, y, h)
	if gp.h.LogML < l0-1e-6 {
		t.Errorf("fitted log ML %g below a default point's %g", gp.h.LogML, l0)
	}
}
