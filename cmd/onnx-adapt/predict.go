package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

const predictUsage = `Usage: onnx-adapt predict MODEL.onnx --input DATA.csv [--predictions OUT.csv] [--batch N]
       onnx-adapt predict PREDICTOR --input DATA.csv [--predictions OUT.csv] [--batch N]

With an ONNX model, runs the network on the rows of DATA.csv and writes its
outputs: a header, then one row per input row, with a column mean for a model
with one output, or mean_0 ... mean_{K-1} for K outputs.

With a predictor saved by 'onnx-adapt MODEL.onnx --target TRAIN.csv --out
PREDICTOR', writes the adapted predictions in the columns of --predictions:
regression mean,std (mean_k,std_k for K outputs; std is the latent standard
deviation), classification label,prob_0,...,prob_{C-1}.

Target columns of DATA.csv (y, y0, y1, ...) are ignored, so a training file
can be given. The kind of the first argument is told by its content.

Flags:
  --input FILE         the data (CSV; 'onnx-adapt help data'), required
  --predictions FILE   write the outputs to FILE (atomically) instead of stdout
  --target-cols A,B    columns to ignore as targets (default: y, y0, y1, ...)
  --batch N            rows per sweep (default 256)
`

func cmdPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	input := fs.String("input", "", "")
	predictions := fs.String("predictions", "", "")
	targetCols := fs.String("target-cols", "", "")
	batch := fs.Int("batch", 256, "")
	pos, err := parseCommand(fs, args, predictUsage, stdout, 1, 1)
	if err != nil {
		return err
	}
	if err := requireFlag("predict", "input", *input); err != nil {
		return err
	}
	if *batch < 1 {
		return usagef("predict: --batch %d: want a positive number of rows", *batch)
	}
	kind, err := sniff(pos[0])
	if err != nil {
		return err
	}
	if kind == kindPredictor {
		return predictSaved(ctx, pos[0], *input, *predictions, *targetCols, *batch, stdout)
	}
	g, err := loadModel(pos[0])
	if err != nil {
		return err
	}
	mi, err := inputOf(g, pos[0])
	if err != nil {
		return err
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return inputErr(pos[0], err)
	}
	r, err := dataset.Open(*input, dataset.Options{NoTargets: true, TargetCols: splitList(*targetCols), InputShape: mi.shape})
	if err != nil {
		return err
	}
	defer r.Close()
	write := func(w io.Writer) error {
		err := streamPredictions(ctx, e, r, mi.batchFor(*batch), w)
		var nf *autodiff.NonFiniteError
		if errors.As(err, &nf) {
			err = fmt.Errorf("%s: %w", pos[0], err)
		}
		return err
	}
	if *predictions == "" || *predictions == "-" {
		return write(stdout)
	}
	return atomicfile.WriteFile(*predictions, write)
}

// streamPredictions reads r batch rows at a time, runs the network and
// writes its outputs to w.
func streamPredictions(ctx context.Context, e *autodiff.Engine[float32], r *dataset.Reader, batch int, w io.Writer) error {
	var cw *dataset.Writer
	k := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		tab, err := r.Next(batch)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		out, err := forwardRows(e, tab.X, batch)
		if err != nil {
			return withHint(fmt.Errorf("running the network on %s: %w", tab.File, err), "")
		}
		if cw == nil {
			k = len(out[0])
			if cw, err = dataset.NewWriter(w, outputHeader("mean", k)); err != nil {
				return err
			}
		}
		for i, row := range out {
			for j, v := range row {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nonFiniteRow(e, tab, i, j, v)
				}
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	if cw == nil {
		return &dataset.Error{File: r.File(), Msg: "a header but no data rows"}
	}
	return cw.Flush()
}

// predictSaved runs a saved predictor over the rows of input.
func predictSaved(ctx context.Context, path, input, predictions, targetCols string, batch int, stdout io.Writer) error {
	saved, g, p, err := loadPredictor(path)
	if err != nil {
		return err
	}
	mi, err := inputOf(g, path)
	if err != nil {
		return err
	}
	task := gpadapt.Regression
	if saved.Meta["task"] == gpadapt.Classification.String() {
		task = gpadapt.Classification
	}
	cols := splitList(targetCols)
	if cols == nil {
		cols = splitList(saved.Meta["target_cols"])
	}
	r, err := dataset.Open(input, dataset.Options{NoTargets: true, TargetCols: cols, InputShape: mi.shape})
	if err != nil {
		return err
	}
	defer r.Close()
	write := func(w io.Writer) error {
		var cw *dataset.Writer
		var row []float64
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			tab, err := r.Next(batch)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			pred, err := p.PredictContext(ctx, tab.X)
			if err != nil {
				return err
			}
			if cw == nil {
				k := len(pred.Mean[0])
				if task == gpadapt.Classification {
					k = len(pred.Probs[0])
				}
				if cw, err = dataset.NewWriter(w, predictionHeader(task, k)); err != nil {
					return err
				}
			}
			for i := range pred.Mean {
				row = predictionRow(task, pred, i, row)
				for _, v := range row {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return numericalf("the prediction is %v on line %d of %s", v, tab.Lines[i], tab.File)
					}
				}
				if err := cw.Write(row); err != nil {
					return err
				}
			}
		}
		if cw == nil {
			return &dataset.Error{File: r.File(), Msg: "a header but no data rows"}
		}
		return cw.Flush()
	}
	if predictions == "" || predictions == "-" {
		return write(stdout)
	}
	return atomicfile.WriteFile(predictions, write)
}

// loadPredictor reads a predictor file, decodes the model inside it and
// binds the two.
func loadPredictor(path string) (*gpadapt.Saved, *autodiff.Graph, *gpadapt.Predictor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, inputErr(path, err)
	}
	saved, err := gpadapt.Load(f)
	f.Close()
	savedHint := "Save the predictor again with 'onnx-adapt MODEL.onnx --target TRAIN.csv --out FILE'."
	if err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("%s: %w", path, err), savedHint)
	}
	if len(saved.ModelBytes) == 0 {
		return nil, nil, nil, withHint(fmt.Errorf("%s: the predictor file holds no model", path), savedHint)
	}
	g, err := onnximport.Decode(saved.ModelBytes, nil)
	if err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("%s: the model inside the predictor file: %w", path, err), savedHint)
	}
	p, err := saved.Bind(g)
	if err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("%s: %w", path, err), savedHint)
	}
	return saved, g, p, nil
}
