package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// fileKind is what the first argument of a command names, told by content.
type fileKind int

const (
	kindONNX      fileKind = iota // a serialized ONNX ModelProto
	kindPredictor                 // a fitted predictor saved by --out
)

// sniff reads the start of path and tells what kind of file it is.
func sniff(path string) (fileKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, inputErr(path, err)
	}
	defer f.Close()
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, inputErr(path, err)
	}
	head = head[:n]
	if n == 0 {
		return 0, withHint(fmt.Errorf("%s: the file is empty", path), modelHint)
	}
	if gpadapt.IsPredictorFile(head) {
		return kindPredictor, nil
	}
	return kindONNX, nil
}

const modelHint = "Give an ONNX model file (.onnx); 'onnx-adapt inspect MODEL.onnx' shows what onnx-adapt makes of one."

// inputErr names path in err (once) and marks it as a bad model.
func inputErr(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %v", path, pe.Err)
	} else if !strings.Contains(err.Error(), path) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return withHint(err, modelHint)
}

// loadModel imports the ONNX model at path.
func loadModel(path string) (*autodiff.Graph, error) { return loadModelWith(path, nil) }

// loadModelWith is loadModel with import options.
func loadModelWith(path string, opts *onnximport.Options) (*autodiff.Graph, error) {
	kind, err := sniff(path)
	if err != nil {
		return nil, err
	}
	if kind == kindPredictor {
		return nil, withHint(fmt.Errorf("%s is a saved predictor, not an ONNX model", path),
			"This command takes the ONNX model the predictor was fitted from.")
	}
	g, err := onnximport.Load(path, opts)
	if err != nil {
		var ue *onnximport.UnsupportedError
		if errors.As(err, &ue) {
			if !strings.Contains(err.Error(), path) {
				err = fmt.Errorf("%s: %w", path, err)
			}
			return nil, withHint(err,
				"onnx-adapt cannot run this model. Re-export it using the supported ops listed above (for PyTorch: torch.onnx.export with opset 13 to 17, do_constant_folding=True).")
		}
		return nil, inputErr(path, err)
	}
	return g, nil
}

// modelInput describes the model's one data input.
type modelInput struct {
	name string
	// shape of one example, without the batch dimension.
	shape []int
	// fixedBatch is set when the model's first dimension is a fixed 1:
	// rows are then run one at a time.
	fixedBatch bool
}

// inputOf checks that g has one input with a known shape and returns it.
func inputOf(g *autodiff.Graph, path string) (*modelInput, error) {
	if len(g.Inputs) != 1 {
		return nil, withHint(fmt.Errorf("%s: the model has %d inputs; onnx-adapt handles models with exactly one", path, len(g.Inputs)),
			"Export the model with a single input tensor.")
	}
	v := g.Values[g.Inputs[0]]
	if len(v.Shape) < 1 {
		return nil, withHint(fmt.Errorf("%s: the shape of input %q is unknown", path, v.Name),
			"Export the model with a declared input shape, e.g. [batch, features].")
	}
	mi := &modelInput{name: v.Name, shape: append([]int(nil), v.Shape[1:]...)}
	switch b := v.Shape[0]; {
	case b == autodiff.Batch:
	case b == 1:
		mi.fixedBatch = true
	default:
		return nil, withHint(fmt.Errorf("%s: input %q has shape %s: its first dimension must be the batch", path, v.Name, autodiff.ShapeString(v.Shape)),
			"Export the model with a dynamic batch dimension (dynamic_axes in torch.onnx.export).")
	}
	for _, d := range mi.shape {
		if d < 0 {
			return nil, withHint(fmt.Errorf("%s: input %q has shape %s: only the first (batch) dimension may be unknown", path, v.Name, autodiff.ShapeString(v.Shape)),
				"Export the model with fixed sizes for every dimension but the batch.")
		}
	}
	return mi, nil
}

// batchFor returns the rows per sweep for the model and a requested size.
func (mi *modelInput) batchFor(requested int) int {
	if mi.fixedBatch {
		return 1
	}
	if requested <= 0 {
		return 256
	}
	return requested
}

// outputSize is K, the number of values per example of the first graph
// output, from its static shape; 0 when unknown.
func outputSize(g *autodiff.Graph) int {
	if len(g.Outputs) == 0 {
		return 0
	}
	s := g.Values[g.Outputs[0]].Shape
	if len(s) < 1 {
		return 0
	}
	k := 1
	for _, d := range s[1:] {
		if d < 0 {
			return 0
		}
		k *= d
	}
	return k
}

// rowsOf returns rows [i0, i1) of x, sharing its data.
func rowsOf[T autodiff.Float](x *autodiff.Tensor[T], i0, i1 int) *autodiff.Tensor[T] {
	n := x.Shape[0]
	row := 0
	if n > 0 {
		row = len(x.Data) / n
	}
	shape := append([]int{i1 - i0}, x.Shape[1:]...)
	return autodiff.FromData(x.Data[i0*row:i1*row], shape...)
}

// forwardRows runs the network over the rows of x, batch rows at a time,
// and returns its first output as n rows of K values.
func forwardRows(e *autodiff.Engine[float32], x *autodiff.Tensor[float32], batch int) ([][]float64, error) {
	n := x.Shape[0]
	var out [][]float64
	for i0 := 0; i0 < n; i0 += batch {
		i1 := min(i0+batch, n)
		t, err := e.Forward(rowsOf(x, i0, i1))
		if err != nil {
			return nil, err
		}
		y := t.Outputs()[0]
		if y.Rank() < 1 || y.Shape[0] != i1-i0 {
			return nil, fmt.Errorf("the model's output has shape %v for a batch of %d rows: its first dimension is not the batch", y.Shape, i1-i0)
		}
		k := y.Len() / (i1 - i0)
		flat := make([]float64, y.Len())
		for j, v := range y.Data {
			flat[j] = float64(v)
		}
		for r := 0; r < i1-i0; r++ {
			out = append(out, flat[r*k:(r+1)*k:(r+1)*k])
		}
	}
	return out, nil
}

// nonFiniteRow reports output j of the network, v, not finite on row i of
// tab, with where it arose (a node, or the model's weights: then a bad
// model, exit 2) from a forward sweep of that row alone.
func nonFiniteRow(e *autodiff.Engine[float32], tab *dataset.Table, i, j int, v float64) error {
	where := fmt.Sprintf("line %d of %s", tab.Lines[i], tab.File)
	if t, err := e.Forward(rowsOf(tab.X, i, i+1)); err == nil {
		var nf *autodiff.NonFiniteError
		if err := t.NonFinite(); errors.As(err, &nf) {
			if nf.Kind == autodiff.Param || nf.Kind == autodiff.Const {
				return withHint(fmt.Errorf("%w (the network's output %d is %v on %s)", err, j, v, where), weightsHint)
			}
			nf.Row = -1 // a sweep of this row alone
			return withHint(fmt.Errorf("%w: the network's output %d is %v on %s: %w", gpadapt.ErrNumerical, j, v, where, err), networkNaNHint)
		}
	}
	return numericalf("the network's output %d is %v on %s", j, v, where)
}

// Advice for a network whose weights, or whose outputs on the data, are
// not finite.
const (
	weightsHint    = "The model's weights are not finite: re-export it from a network that runs."
	networkNaNHint = "The network itself gives NaN or Inf on this row: check it for values far outside the range the network was trained on."
)

// outputHeader returns name for one output, name_0..name_{K-1} for K.
func outputHeader(name string, k int) []string {
	if k == 1 {
		return []string{name}
	}
	h := make([]string, k)
	for i := range h {
		h[i] = fmt.Sprintf("%s_%d", name, i)
	}
	return h
}
