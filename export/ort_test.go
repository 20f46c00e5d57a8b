//go:build ort

// This file runs only with -tags ort: it needs ONNX Runtime's shared
// library, named by $ONNXRUNTIME_LIB (scripts/test-ort.sh fetches one).

package export

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// TestORTShippedModels adapts each shipped model, exports the adapted mean
// and runs it in ONNX Runtime on every row of the model's test set, against
// Predict's mean, to 1e-5 relative to the largest |mean|.
func TestORTShippedModels(t *testing.T) {
	lib := os.Getenv("ONNXRUNTIME_LIB")
	if lib == "" {
		t.Fatal("set ONNXRUNTIME_LIB to the path of libonnxruntime.so (scripts/test-ort.sh fetches one)")
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		t.Fatalf("ONNX Runtime from %s: %v", lib, err)
	}
	defer ort.DestroyEnvironment()
	t.Logf("ONNX Runtime %s", ort.GetVersion())
	for _, m := range shipped {
		t.Run(m.name, func(t *testing.T) {
			dir := filepath.Join("..", "models", m.name)
			g, err := onnximport.Load(filepath.Join(dir, "model.onnx"), nil)
			if err != nil {
				t.Fatal(err)
			}
			train, err := dataset.Read(filepath.Join(dir, "target.csv"), dataset.Options{InputShape: m.shape, FirstRows: m.rows})
			if err != nil {
				t.Fatal(err)
			}
			test, err := dataset.Read(filepath.Join(dir, "test.csv"), dataset.Options{InputShape: m.shape, NoTargets: true})
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
			pred, err := p.Predict(test.X)
			if err != nil {
				t.Fatal(err)
			}
			got := runORT(t, data, test.X)
			k := len(pred.Mean[0])
			if len(got) != len(pred.Mean)*k {
				t.Fatalf("ONNX Runtime returned %d values, want %d×%d", len(got), len(pred.Mean), k)
			}
			scale, worst, worstRel := 0.0, 0.0, 0.0
			for _, row := range pred.Mean {
				for _, v := range row {
					scale = max(scale, math.Abs(v))
				}
			}
			for i, row := range pred.Mean {
				for j, v := range row {
					d := math.Abs(float64(got[i*k+j]) - v)
					worst = max(worst, d)
					worstRel = max(worstRel, d/max(math.Abs(v), 1e-3*scale))
				}
			}
			t.Logf("%d rows × %d outputs (%d bytes of ONNX): max |ORT − Predict| = %.3g, max |mean| = %.3g, relative %.2g (elementwise, floored at 1e-3·max: %.2g)",
				len(pred.Mean), k, len(data), worst, scale, worst/scale, worstRel)
			if !(worst <= 1e-5*scale) {
				t.Errorf("ONNX Runtime's mean differs from Predict by %.3g, more than 1e-5 × %.3g", worst, scale)
			}
		})
	}
}

// runORT runs the exported model on x in ONNX Runtime and returns its one
// output, flattened.
func runORT(t *testing.T, data []byte, x *autodiff.Tensor[float32]) []float32 {
	t.Helper()
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		t.Fatalf("ONNX Runtime cannot read the exported model: %v", err)
	}
	if len(ins) != 1 || len(outs) != 1 || outs[0].Name != OutputName {
		t.Fatalf("exported model has inputs %v and outputs %v, want one input and one output %q", ins, outs, OutputName)
	}
	t.Logf("input %s %v, output %s %v", ins[0].Name, ins[0].Dimensions, outs[0].Name, outs[0].Dimensions)
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{ins[0].Name}, []string{OutputName}, nil)
	if err != nil {
		t.Fatalf("ONNX Runtime session: %v", err)
	}
	defer s.Destroy()
	shape := make(ort.Shape, len(x.Shape))
	for i, d := range x.Shape {
		shape[i] = int64(d)
	}
	in, err := ort.NewTensor(shape, x.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out := []ort.Value{nil}
	if err := s.Run([]ort.Value{in}, out); err != nil {
		t.Fatalf("ONNX Runtime run: %v", err)
	}
	defer out[0].Destroy()
	res, ok := out[0].(*ort.Tensor[float32])
	if !ok {
		t.Fatalf("ONNX Runtime output is %T, want a float32 tensor", out[0])
	}
	return append([]float32(nil), res.GetData()...)
}
