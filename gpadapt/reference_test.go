package gpadapt_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// gpReference is the dense float64 GP that models/make_models.py computes
// with PyTorch: explicit Jacobian, fixed σ² and s.
type gpReference struct {
	GP struct {
		TrainRows []int       `json:"train_rows"`
		TestRows  []int       `json:"test_rows"`
		Sigma2    float64     `json:"sigma2"`
		S         float64     `json:"s"`
		Mean      [][]float64 `json:"mean"`
		Std       [][]float64 `json:"std"`
		LogML     float64     `json:"log_marginal_likelihood"`
	} `json:"gp"`
}

// rowsOf returns the chosen rows of a table's features and targets.
func rowsOf(tab *dataset.Table, rows []int) (*autodiff.Tensor[float32], [][]float64) {
	per := tab.X.Len() / tab.X.Shape[0]
	x := autodiff.New[float32](append([]int{len(rows)}, tab.X.Shape[1:]...)...)
	var y [][]float64
	for i, r := range rows {
		copy(x.Data[i*per:(i+1)*per], tab.X.Data[r*per:(r+1)*per])
		y = append(y, tab.Y[r])
	}
	return x, y
}

// TestAgainstPyTorchGP checks the posterior mean and latent std of every
// shipped regression model against PyTorch's dense computation, within
// 1e-4 (float64 sweeps) and 1e-3 (float32 sweeps) of the largest reference
// value, in both forms, and the log marginal likelihood.
func TestAgainstPyTorchGP(t *testing.T) {
	for _, name := range []string{"sine-mlp", "drift-lnmlp"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "models", name)
			var ref gpReference
			data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			g, err := onnximport.Load(filepath.Join(dir, "model.onnx"), nil)
			if err != nil {
				t.Fatal(err)
			}
			shape := g.Values[g.Inputs[0]].Shape[1:]
			train, err := dataset.Read(filepath.Join(dir, "target.csv"), dataset.Options{InputShape: shape})
			if err != nil {
				t.Fatal(err)
			}
			test, err := dataset.Read(filepath.Join(dir, "test.csv"), dataset.Options{InputShape: shape})
			if err != nil {
				t.Fatal(err)
			}
			x, y := rowsOf(train, ref.GP.TrainRows)
			xs, _ := rowsOf(test, ref.GP.TestRows)
			var wantMean, wantStd []float64
			for i := range ref.GP.Mean {
				wantMean = append(wantMean, ref.GP.Mean[i]...)
				wantStd = append(wantStd, ref.GP.Std[i]...)
			}
			methods := []string{"function", "parameter"}
			if testing.Short() || name == "sine-mlp" {
				// p = 4,353 ≫ nK = 20: the dense p×p parameter-space solve
				// takes a minute here and adds nothing drift-lnmlp does not check.
				methods = methods[:1]
			}
			for _, method := range methods {
				for _, f64 := range []bool{true, false} {
					tol := 1e-3
					if f64 {
						tol = 1e-4
					}
					p, err := gpadapt.Fit(context.Background(), g, &gpadapt.Data{X: x, Y: y},
						&gpadapt.Options{Noise: ref.GP.Sigma2, PriorScale: ref.GP.S, Method: method, Float64: f64})
					if err != nil {
						t.Fatalf("%s: %v", method, err)
					}
					pred, err := p.Predict(xs)
					if err != nil {
						t.Fatal(err)
					}
					var mean, std []float64
					for i := range pred.Mean {
						mean = append(mean, pred.Mean[i]...)
						std = append(std, pred.Std[i]...)
					}
					if e := relToMax(mean, wantMean); e > tol {
						t.Errorf("%s float64=%v: mean off by %.3g of the largest reference value", method, f64, e)
					}
					if e := relToMax(std, wantStd); e > tol {
						t.Errorf("%s float64=%v: std off by %.3g of the largest reference value", method, f64, e)
					}
					lml := p.Report().LogMarginal
					if d := math.Abs(lml - ref.GP.LogML); d > tol*math.Abs(ref.GP.LogML) {
						t.Errorf("%s float64=%v: log marginal likelihood %.8g, PyTorch %.8g", method, f64, lml, ref.GP.LogML)
					}
				}
			}
		})
	}
}

func relToMax(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	if len(a) != len(b) {
		return math.Inf(1)
	}
	return num / den
}
