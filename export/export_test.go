package export

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// compareMean checks the exported model's output on x against the
// predictor's mean within tol relative to the largest |mean|.
func compareMean(t *testing.T, p *gpadapt.Predictor, data []byte, x *autodiff.Tensor[float32], tol float64) {
	t.Helper()
	pred, err := p.Predict(x)
	if err != nil {
		t.Fatal(err)
	}
	got := runExported(t, data, x)
	k := len(pred.Mean[0])
	if got.Len() != len(pred.Mean)*k {
		t.Fatalf("exported output has %d elements (shape %v), want %d×%d", got.Len(), got.Shape, len(pred.Mean), k)
	}
	scale, worst := 0.0, 0.0
	for _, row := range pred.Mean {
		for _, v := range row {
			scale = max(scale, math.Abs(v))
		}
	}
	for i, row := range pred.Mean {
		for j, v := range row {
			worst = max(worst, math.Abs(float64(got.Data[i*k+j])-v))
		}
	}
	t.Logf("%d rows × %d outputs: max |exported − Predict| = %.3g, max |mean| = %.3g (relative %.2g)", len(pred.Mean), k, worst, scale, worst/scale)
	if !(worst <= tol*scale) {
		t.Errorf("exported mean differs from Predict by %.3g, more than %g × %.3g", worst, tol, scale)
	}
}

func TestMLP(t *testing.T) {
	g := testnet.MLP(5, 2, 6, 5, 2)
	x := testnet.Inputs(6, 40, 2)
	y := make([][]float64, 40)
	for i := range y {
		a, b := float64(x.Data[2*i]), float64(x.Data[2*i+1])
		y[i] = []float64{math.Sin(a) + 0.3*b, math.Cos(b) - 0.2*a}
	}
	for _, params := range []string{"all", "last:1", "w2"} {
		t.Run(params, func(t *testing.T) {
			p, err := gpadapt.Fit(context.Background(), g, &gpadapt.Data{X: x, Y: y}, &gpadapt.Options{Noise: 0.01, PriorScale: 1, Params: params})
			if err != nil {
				t.Fatal(err)
			}
			data, err := Mean(p)
			if err != nil {
				t.Fatal(err)
			}
			compareMean(t, p, data, testnet.Inputs(7, 25, 2), 1e-5)
		})
	}
}

func TestNotLinear(t *testing.T) {
	g := testnet.MLP(5, 2, 4, 2)
	x := testnet.Inputs(6, 10, 2)
	y := make([][]float64, 10)
	for i := range y {
		y[i] = []float64{1, 2}
	}
	p, err := gpadapt.Fit(context.Background(), g, &gpadapt.Data{X: x, Y: y}, &gpadapt.Options{Noise: 0.01, PriorScale: 1, Independent: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Mean(p); err == nil || !strings.Contains(err.Error(), "cannot export") {
		t.Errorf("Mean of an independent-outputs predictor: got %v, want a cannot-export error", err)
	}
	if _, err := WithStd(p); !errors.Is(err, ErrStdUnsupported) {
		t.Errorf("WithStd: got %v, want ErrStdUnsupported", err)
	}
}

func TestUnsupportedOp(t *testing.T) {
	n := newNet(13, []int{3}, 1)
	n.op("Relu", nil, n.h)
	n.g.Nodes[1].OpType = "Shrink" // an op with no rule
	_, err := meanModel(n.g, n.g.Params, make([]float64, 3))
	if err == nil || !strings.Contains(err.Error(), "cannot export") || !strings.Contains(err.Error(), "Shrink") || !strings.Contains(err.Error(), "n1_Relu") {
		t.Errorf("got %v, want a cannot-export error naming the op and the node", err)
	}
}

// shippedModel is one of the models in ../models.
type shippedModel struct {
	name  string
	shape []int // one example's input shape
	task  gpadapt.Task
	rows  int     // training rows used
	scale float64 // prior scale s (digits-cnn: the Laplace fit fails at s = 1)
}

var shipped = []shippedModel{
	{name: "sine-mlp", shape: []int{1}, task: gpadapt.Regression, rows: 20, scale: 1},
	{name: "drift-lnmlp", shape: []int{4}, task: gpadapt.Regression, rows: 60, scale: 1},
	{name: "digits-cnn", shape: []int{1, 8, 8}, task: gpadapt.Classification, rows: 60, scale: 0.1},
}

func TestShippedModels(t *testing.T) {
	for _, m := range shipped {
		t.Run(m.name, func(t *testing.T) {
			if testing.Short() && m.task == gpadapt.Classification {
				t.Skip("the Laplace fit takes seconds")
			}
			dir := filepath.Join("..", "models", m.name)
			path := filepath.Join(dir, "model.onnx")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not found", path)
			}
			g, err := onnximport.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			train, err := dataset.Read(filepath.Join(dir, "target.csv"), dataset.Options{InputShape: m.shape, FirstRows: m.rows})
			if err != nil {
				t.Fatal(err)
			}
			test, err := dataset.Read(filepath.Join(dir, "test.csv"), dataset.Options{InputShape: m.shape, NoTargets: true, FirstRows: 50})
			if err != nil {
				t.Fatal(err)
			}
			p, err := gpadapt.Fit(context.Background(), g, &gpadapt.Data{X: train.X, Y: train.Y}, &gpadapt.Options{Task: m.task, Noise: 0.01, PriorScale: m.scale})
			if err != nil {
				t.Fatal(err)
			}
			data, err := Mean(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exported %d bytes", len(data))
			compareMean(t, p, data, test.X, 1e-5)
		})
	}
}

// TestMNIST7 exports the ONNX model zoo's MNIST CNN (opset 7: Conv, Relu,
// MaxPool, Reshape, MatMul, Add) with a random δ, when ../shared has it.
func TestMNIST7(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "models", "mnist-7", "model.onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not found", path)
	}
	g, err := onnximport.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := autodiff.New[float64](2, 1, 28, 28)
	in := testnet.Inputs(3, 2, 28*28)
	for i, v := range in.Data {
		x.Data[i] = float64(max(v, 0)) * 100
	}
	checkExport(t, g, x, 9)
}

// TestShippedRandomDelta exports each shipped model with a random δ for
// every parameter, so that J·δ is as large as f, against the float64
// engine's forward and JVP.
func TestShippedRandomDelta(t *testing.T) {
	for _, m := range shipped {
		t.Run(m.name, func(t *testing.T) {
			dir := filepath.Join("..", "models", m.name)
			path := filepath.Join(dir, "model.onnx")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not found", path)
			}
			g, err := onnximport.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			test, err := dataset.Read(filepath.Join(dir, "test.csv"), dataset.Options{InputShape: m.shape, NoTargets: true, FirstRows: 20})
			if err != nil {
				t.Fatal(err)
			}
			checkExport(t, g, autodiff.Convert[float64](test.X), 11)
		})
	}
}
