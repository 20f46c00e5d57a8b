package onnximport

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

const modelsDir = "../../shared/models"

func loadShared(t *testing.T, name string) *autodiff.Graph {
	t.Helper()
	p := filepath.Join(modelsDir, name, "model.onnx")
	if !fileExists(p) {
		t.Skipf("%s not found (it lives in ../shared beside the repository)", p)
	}
	g, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestMNIST7 reproduces the three reference outputs of the model-zoo MNIST
// CNN, one example at a time and as one batch of three, within
// |got − want| ≤ 1e-4·max|want| (float32 engine; the logits are O(10)).
func TestMNIST7(t *testing.T) {
	g := loadShared(t, "mnist-7")
	if got := autodiff.ShapeString(g.Values[g.Inputs[0]].Shape); got != "[N,1,28,28]" {
		t.Errorf("input shape %s, want [N,1,28,28]", got)
	}
	if got := autodiff.ShapeString(g.Values[g.Outputs[0]].Shape); got != "[N,10]" {
		t.Errorf("output shape %s, want [N,10]", got)
	}
	if len(g.Params) != 6 || g.NumParams() != 5994 {
		t.Errorf("%d params with %d elements, want 6 with 5994", len(g.Params), g.NumParams())
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	var xs, wants []*TensorData
	for i := 0; i < 3; i++ {
		dir := filepath.Join(modelsDir, "mnist-7", fmt.Sprintf("test_data_set_%d", i))
		x, err := ReadTensor(filepath.Join(dir, "input_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := ReadTensor(filepath.Join(dir, "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		xs, wants = append(xs, x), append(wants, w)
		tape, err := e.Forward(Tensor[float32](x))
		if err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		compareScaled(t, fmt.Sprintf("set %d", i), tape.Outputs()[0].Data, w.Data)
	}
	// One batch of the three examples.
	batch := autodiff.New[float32](3, 1, 28, 28)
	for i, x := range xs {
		for j, v := range x.Data {
			batch.Data[i*784+j] = float32(v)
		}
	}
	tape, err := e.Forward(batch)
	if err != nil {
		t.Fatalf("batch of 3: %v", err)
	}
	out := tape.Outputs()[0]
	if !autodiff.SameShape(out.Shape, []int{3, 10}) {
		t.Fatalf("batch output shape %v, want [3 10]", out.Shape)
	}
	for i, w := range wants {
		compareScaled(t, fmt.Sprintf("batch row %d", i), out.Data[i*10:(i+1)*10], w.Data)
	}
}

func compareScaled(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > 1e-4*scale {
			t.Errorf("%s: logit %d is %g, want %g (|d| = %.3g > %.3g)", what, i, got[i], w, d, 1e-4*scale)
		}
	}
}

// TestSineKeras checks that the Keras MLP reproduces sin(x) on [0, 2π]
// with a batch of 64 evenly spaced points. Measured (float32 and float64
// agree): max |f(x) − sin x| = 0.112, reached at the end point x = 2π where
// the 16-unit ReLU fit bends away; elsewhere it stays below 0.05, and the
// RMS error is 0.030. The bounds are max ≤ 0.12 and RMS ≤ 0.035.
func TestSineKeras(t *testing.T) {
	g := loadShared(t, "sine-keras")
	if got := autodiff.ShapeString(g.Values[g.Inputs[0]].Shape); got != "[N,1]" {
		t.Errorf("input shape %s, want [N,1]", got)
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	x := autodiff.New[float32](n, 1)
	for i := range x.Data {
		x.Data[i] = float32(2 * math.Pi * float64(i) / (n - 1))
	}
	tape, err := e.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	y := tape.Outputs()[0]
	if !autodiff.SameShape(y.Shape, []int{n, 1}) {
		t.Fatalf("output shape %v, want [%d 1]", y.Shape, n)
	}
	worst, ss := 0.0, 0.0
	for i, v := range y.Data {
		d := math.Abs(float64(v) - math.Sin(float64(x.Data[i])))
		worst, ss = math.Max(worst, d), ss+d*d
	}
	rms := math.Sqrt(ss / n)
	t.Logf("sine-keras: max |f(x) - sin x| on [0, 2π] = %.4f, RMS %.4f over %d points", worst, rms, n)
	if worst > 0.12 || rms > 0.035 {
		t.Errorf("max |f(x) - sin x| = %.4f (want ≤ 0.12), RMS %.4f (want ≤ 0.035)", worst, rms)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
