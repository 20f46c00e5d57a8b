package main

import (
	"context"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/metrics"
	fig "github.com/onnx-adapt/onnx-adapt/report"
)

// Figure sizes in pixels.
const (
	curveWidth, curveHeight   = 1200, 720
	panelsWidth, panelsHeight = 1600, 680
	gridPoints                = 400
	reliabilityBins           = 10
)

// plotInput is what --plot draws from.
type plotInput struct {
	path     string
	model    string
	p        *gpadapt.Predictor
	task     gpadapt.Task
	train    *dataset.Table
	rows     *dataset.Table      // the rows to evaluate on: --test, else the --target rows
	pred     *gpadapt.Prediction // the predictions at rows, or nil
	inSample bool                // rows are the training rows
	predict  func(x *autodiff.Tensor[float32]) (*gpadapt.Prediction, error)
	logf     func(format string, args ...any)
}

// writePlot draws --plot: for one input feature and regression, the curve;
// otherwise calibration beside predicted-against-true (regression) or the
// reliability diagram beside the confidence histogram (classification).
func writePlot(ctx context.Context, in *plotInput) error {
	if in.rows == nil || in.rows.K == 0 {
		if in.rows != nil && !in.inSample {
			in.logf("--plot: %s has no target columns; plotting on the %d --target rows (in-sample)", in.rows.File, in.train.N)
		}
		in.rows, in.pred, in.inSample = in.train, nil, true
	} else if in.inSample {
		in.logf("--plot: no --test file; plotting on the %d --target rows (in-sample)", in.train.N)
	}
	if in.predict == nil {
		in.predict = func(x *autodiff.Tensor[float32]) (*gpadapt.Prediction, error) { return in.p.PredictContext(ctx, x) }
	}
	var err error
	if in.pred == nil {
		if in.pred, err = in.predict(in.rows.X); err != nil {
			return err
		}
	}
	base, err := in.p.Base(in.rows.X)
	if err != nil {
		return err
	}
	noise := in.p.Report().Noise
	where := fmt.Sprintf("%d test rows of %s", in.rows.N, in.rows.File)
	if in.inSample {
		where = fmt.Sprintf("the %d target rows (in-sample: no --test)", in.rows.N)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case in.task == gpadapt.Regression && in.train.X.Len() == in.train.N:
		err = plotCurve(in, noise)
	case in.task == gpadapt.Regression:
		err = plotRegression(in, base, noise, where)
	default:
		err = plotClassification(in, base, where)
	}
	if err != nil {
		return withHint(fmt.Errorf("writing the plot %s: %w", in.path, err), "Check that the directory exists and is writable.")
	}
	return nil
}

// plotCurve draws the 1-D picture of output 0 over a grid spanning the
// training and evaluation inputs.
func plotCurve(in *plotInput, noise float64) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range []*dataset.Table{in.train, in.rows} {
		for _, v := range t.X.Data {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	if !(hi > lo) {
		lo, hi = lo-1, hi+1
	}
	pad := 0.05 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	grid := autodiff.New[float32](gridPoints, 1)
	xs := make([]float64, gridPoints)
	for i := range xs {
		xs[i] = lo + (hi-lo)*float64(i)/float64(gridPoints-1)
		grid.Data[i] = float32(xs[i])
	}
	gp, err := in.predict(grid)
	if err != nil {
		return err
	}
	gb, err := in.p.Base(grid)
	if err != nil {
		return err
	}
	rep := in.p.Report()
	c := &fig.Curve{
		Title: fmt.Sprintf("%s adapted to %d points of %s (σ² = %.3g, s = %.3g)",
			in.model, in.train.N, in.train.File, rep.Noise, rep.PriorScale),
		XLabel:    in.train.FeatureNames[0],
		YLabel:    in.train.TargetNames[0],
		BandLabel: "95% predictive band: mean ± 1.96·√(latent var + σ²)",
		Grid:      xs,
	}
	if in.train.K > 1 {
		c.YLabel += fmt.Sprintf(" (output 1 of %d)", in.train.K)
	}
	for i := range xs {
		m := gp.Mean[i][0]
		half := 1.96 * math.Sqrt(gp.Std[i][0]*gp.Std[i][0]+noise)
		c.Base = append(c.Base, gb[i][0])
		c.Mean = append(c.Mean, m)
		c.Lower = append(c.Lower, m-half)
		c.Upper = append(c.Upper, m+half)
	}
	for i := range in.train.N {
		c.TrainX = append(c.TrainX, float64(in.train.X.Data[i]))
		c.TrainY = append(c.TrainY, in.train.Y[i][0])
	}
	if !in.inSample {
		for i := range in.rows.N {
			c.TestX = append(c.TestX, float64(in.rows.X.Data[i]))
			c.TestY = append(c.TestY, in.rows.Y[i][0])
		}
	}
	p, err := fig.Curve1D(c)
	if err != nil {
		return err
	}
	return fig.WritePNG(in.path, curveWidth, curveHeight, p)
}

// plotRegression draws coverage against nominal level, and predicted
// against true values of the first output.
func plotRegression(in *plotInput, base [][]float64, noise float64, where string) error {
	y := in.rows.Y
	baseStd := make([][]float64, len(y))
	predStd := make([][]float64, len(y))
	for i := range y {
		baseStd[i] = make([]float64, len(y[i]))
		predStd[i] = make([]float64, len(y[i]))
		for j := range y[i] {
			baseStd[i][j] = math.Sqrt(noise)
			predStd[i][j] = math.Sqrt(in.pred.Std[i][j]*in.pred.Std[i][j] + noise)
		}
	}
	levels := fig.NominalLevels()
	bc, err := fig.Coverage(base, baseStd, y, levels)
	if err != nil {
		return err
	}
	ac, err := fig.Coverage(in.pred.Mean, predStd, y, levels)
	if err != nil {
		return err
	}
	cal, err := fig.Calibration("calibration on "+where,
		fig.Series{Label: "base network (predictive variance σ²)", Color: fig.BaseColor, X: levels, Y: bc},
		fig.Series{Label: "adapted (latent variance + σ²)", Color: fig.AdaptedColor, X: levels, Y: ac})
	if err != nil {
		return err
	}
	truth := make([]float64, len(y))
	bp := make([]float64, len(y))
	ap := make([]float64, len(y))
	lo := make([]float64, len(y))
	hi := make([]float64, len(y))
	for i := range y {
		truth[i], bp[i], ap[i] = y[i][0], base[i][0], in.pred.Mean[i][0]
		lo[i], hi[i] = ap[i]-1.96*predStd[i][0], ap[i]+1.96*predStd[i][0]
	}
	name := in.rows.TargetNames[0]
	title := "predicted against true"
	if len(in.rows.TargetNames) > 1 {
		title += fmt.Sprintf(" (%s, output 1 of %d)", name, len(in.rows.TargetNames))
	}
	pvt, err := fig.PredictedVsTrue(title, "true "+name, "predicted "+name, truth,
		fig.Points{Label: "base network", Color: fig.BaseColor, Pred: bp},
		fig.Points{Label: "adapted mean, 95% predictive interval", Color: fig.AdaptedColor, Pred: ap, Lower: lo, Upper: hi})
	if err != nil {
		return err
	}
	return fig.WritePNG(in.path, panelsWidth, panelsHeight, cal, pvt)
}

// plotClassification draws the reliability diagram and the confidence
// histogram of the base network and the adapted predictor.
func plotClassification(in *plotInput, base [][]float64, where string) error {
	lab := labels(in.rows.Y)
	bb, err := fig.ReliabilityBins(metrics.Softmax(base), lab, reliabilityBins)
	if err != nil {
		return err
	}
	ab, err := fig.ReliabilityBins(in.pred.Probs, lab, reliabilityBins)
	if err != nil {
		return err
	}
	bacc, _ := metrics.Accuracy(metrics.Softmax(base), lab)
	aacc, _ := metrics.Accuracy(in.pred.Probs, lab)
	bs := fig.BinSeries{Label: fmt.Sprintf("base network (accuracy %.3f, ECE %.3f)", bacc, fig.ECE(bb)), Color: fig.BaseColor, Bins: bb}
	as := fig.BinSeries{Label: fmt.Sprintf("adapted (accuracy %.3f, ECE %.3f)", aacc, fig.ECE(ab)), Color: fig.AdaptedColor, Bins: ab}
	rel, err := fig.Reliability(fmt.Sprintf("reliability on %s (%d bins)", where, reliabilityBins), bs, as)
	if err != nil {
		return err
	}
	bs.Label, as.Label = "base network", "adapted"
	hist, err := fig.ConfidenceHistogram("confidence of the predictions", bs, as)
	if err != nil {
		return err
	}
	return fig.WritePNG(in.path, panelsWidth, panelsHeight, rel, hist)
}
