package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

const mainUsage = `onnx-adapt adapts a pretrained ONNX network to a few labelled points from a new
domain by exact Bayesian inference in the network's linearization: a Gaussian
process whose mean is the network and whose kernel is its finite neural tangent
kernel. No learning rate, no training loop, and predictive uncertainty.

Usage:
  onnx-adapt MODEL.onnx --target TRAIN.csv [flags]    adapt, evaluate, predict
  onnx-adapt inspect MODEL.onnx                       describe a model
  onnx-adapt predict MODEL.onnx --input DATA.csv      run the network
  onnx-adapt predict PREDICTOR --input DATA.csv       run a saved predictor
  onnx-adapt gradcheck MODEL.onnx --input DATA.csv    check the derivatives
  onnx-adapt export PREDICTOR --onnx OUT.onnx         the adapted mean as ONNX
  onnx-adapt bench MODEL.onnx [--batch 256 --json]    time forward, JVP, VJP, Fisher
  onnx-adapt help [inspect|predict|gradcheck|data]    more help

Flags of the adaptation (before or after MODEL.onnx):
  --target FILE          training data (CSV, required; 'onnx-adapt help data')
  --test FILE            test data: the base network's, the adapted
                         predictor's and the last-layer baseline's metrics
                         side by side (the last dense layer refitted on the
                         target rows: ridge, or logistic regression)
  --target-cols A,B      the target columns (default: y, or y0, y1, ...)
  --task T               regression or classification (default: classification
                         when the target is one integer column and the model has
                         several outputs, else regression)
  --noise V|auto         observation noise variance σ² (default auto: fitted by
                         maximizing the marginal likelihood)
  --prior-scale S|auto|layerwise
                         prior variance s of the weights around the trained
                         ones (default auto: fitted likewise); layerwise
                         (classification, parameter form): one s per layer,
                         each fitted by the Laplace evidence
  --params P             parameters to adapt: all, last:N (those of the last N
                         layers), auto (last:1, last:2, ... all, each fitted,
                         the one of the largest marginal likelihood kept) or a
                         regular expression over their names (default all;
                         'onnx-adapt inspect' lists them)
  --method M             auto, function (nK unknowns) or parameter (p unknowns)
                         (default auto: the smaller)
  --prior-mean M         network (the prior mean is the trained network) or zero
                         (default network)
  --predictions FILE     write predictions for the --test rows (or the --target
                         rows): regression mean,std or mean_k,std_k (std is the
                         latent standard deviation, without noise);
                         classification label,prob_0,...
  --out FILE             save the fitted predictor (with the model inside) for
                         'onnx-adapt predict FILE --input DATA.csv'
  --plot FILE.png        draw the adaptation: for one input feature, the target
                         points, the base network and the adapted mean with its
                         95% predictive band; otherwise calibration beside
                         predicted against true (regression), or the reliability
                         diagram (classification), on the --test rows (else the
                         --target rows)
  --batch N              rows per sweep (default 256)
  --threads N            threads (default 0: every core)
  --seed N               random seed (default 1)
  --float64              compute in float64 (slower; for checks)
  --independent          treat the outputs as independent GPs (drop the
                         coupling through shared parameters)
  --solver S             auto, cg or direct: dense Cholesky while the system
                         fits in memory (nK or p up to 20,000), else conjugate
                         gradients on kernel products that never form the
                         kernel, with the marginal likelihood by stochastic
                         Lanczos quadrature; cg forces the latter, direct the
                         former (default auto)
  --probes N             random probes of the stochastic Lanczos quadrature
                         (default 16)
  --lanczos-steps M      Lanczos steps per probe (default 60)
  --predictive P         classification probabilities from the Gaussian over the
                         logits: mc (Monte Carlo over the logits' joint K×K
                         covariance, seeded by --seed; default), probit (the
                         pairwise probit approximation, no sampling) or map
                         (softmax of the mean logits, ignoring their spread)
  --mc-samples N         logit draws per point for --predictive mc (default 1000)
  --accept-unconverged   keep the last iterate of an iterative solver that hit
                         its iteration cap (default: a numerical failure)
  --quiet                print no progress and no summary
  --json                 print the summary as one JSON object on stdout

Exit status: 0 success, 1 usage error, 2 a model or data file that cannot be
used, 3 numerical failure, 4 internal error (a bug: please report it).
`

const dataUsage = `Data files are CSV with a header row naming the columns.

Target columns are those named y, or y0, y1, ... for several outputs (in the
order of their numbers); --target-cols A,B names them instead. Every other
column is a feature. A row's features, in file order, are reshaped row by row
to the model's input shape without its batch dimension: 64 feature columns
become one [1,8,8] image for a model whose input is [N,1,8,8].

Every cell must hold a finite decimal number; for classification the target is
the class index 0, 1, ... (one column). Errors name the file, the line (the
header is line 1) and the column, by name and 1-based index.

Predictions are written as CSV with a header, one row per input row, numbers
with float32 precision.
`

// adaptFlags are the flags of the adaptation.
type adaptFlags struct {
	target, test, targetCols    string
	task, noise, priorScale     string
	params, method, priorMean   string
	predictions, out, plot      string
	batch, threads              int
	seed                        uint64
	float64, quiet, json        bool
	independent                 bool
	acceptUnconverged           bool
	solver                      string
	probes, lanczosSteps        int
	predictive                  string
	mcSamples                   int
	noiseValue, priorScaleValue float64
	layerwise                   bool // --prior-scale layerwise
}

func (f *adaptFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.target, "target", "", "")
	fs.StringVar(&f.test, "test", "", "")
	fs.StringVar(&f.targetCols, "target-cols", "", "")
	fs.StringVar(&f.task, "task", "", "")
	fs.StringVar(&f.noise, "noise", "auto", "")
	fs.StringVar(&f.priorScale, "prior-scale", "auto", "")
	fs.StringVar(&f.params, "params", "all", "")
	fs.StringVar(&f.method, "method", "auto", "")
	fs.StringVar(&f.priorMean, "prior-mean", "network", "")
	fs.StringVar(&f.predictions, "predictions", "", "")
	fs.StringVar(&f.out, "out", "", "")
	fs.IntVar(&f.batch, "batch", 256, "")
	fs.IntVar(&f.threads, "threads", 0, "")
	fs.Uint64Var(&f.seed, "seed", 1, "")
	fs.BoolVar(&f.float64, "float64", false, "")
	fs.BoolVar(&f.independent, "independent", false, "")
	fs.BoolVar(&f.quiet, "quiet", false, "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.StringVar(&f.plot, "plot", "", "")
	fs.BoolVar(&f.acceptUnconverged, "accept-unconverged", false, "")
	fs.StringVar(&f.solver, "solver", "auto", "")
	fs.IntVar(&f.probes, "probes", 16, "")
	fs.IntVar(&f.lanczosSteps, "lanczos-steps", 60, "")
	fs.StringVar(&f.predictive, "predictive", "mc", "")
	fs.IntVar(&f.mcSamples, "mc-samples", 1000, "")
}

// positiveOrAuto parses a flag that is a positive number or "auto" (0).
func positiveOrAuto(name, s string) (float64, error) {
	if s == "auto" || s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, usagef("--%s %s: want a positive number, or auto to fit it", name, s)
	}
	return v, nil
}

func (f *adaptFlags) validate() error {
	if err := requireFlag("onnx-adapt", "target", f.target); err != nil {
		return err
	}
	switch f.task {
	case "", "auto", "regression", "classification":
	default:
		return usagef("--task %s: want regression or classification", f.task)
	}
	switch f.method {
	case "auto", "function", "parameter":
	default:
		return usagef("--method %s: want auto, function or parameter", f.method)
	}
	switch f.priorMean {
	case "network", "zero":
	default:
		return usagef("--prior-mean %s: want network or zero", f.priorMean)
	}
	var err error
	if f.noiseValue, err = positiveOrAuto("noise", f.noise); err != nil {
		return err
	}
	if f.priorScale == "layerwise" {
		f.layerwise = true
	} else if f.priorScaleValue, err = positiveOrAuto("prior-scale", f.priorScale); err != nil {
		return err
	}
	if f.batch < 1 {
		return usagef("--batch %d: want a positive number of rows", f.batch)
	}
	if f.threads < 0 {
		return usagef("--threads %d: want 0 (every core) or a positive number", f.threads)
	}
	switch f.predictive {
	case "probit", "mc", "map":
	default:
		return usagef("--predictive %q: want mc, probit or map", f.predictive)
	}
	if f.mcSamples < 1 || f.mcSamples > 1<<20 {
		return usagef("--mc-samples %d: want 1 to %d", f.mcSamples, 1<<20)
	}
	switch f.solver {
	case "auto", "cg", "direct":
	default:
		return usagef("--solver %q: want auto, cg or direct", f.solver)
	}
	if f.probes < 2 || f.probes > 1<<16 {
		return usagef("--probes %d: want 2 to 65536 (the standard error needs two)", f.probes)
	}
	if f.lanczosSteps < 1 || f.lanczosSteps > 1<<16 {
		return usagef("--lanczos-steps %d: want 1 to 65536", f.lanczosSteps)
	}
	if f.json && f.predictions == "-" {
		return usagef("--json and --predictions - both write to stdout: name a file for the predictions")
	}
	return nil
}

// dataInfo describes a data file in the summary.
type dataInfo struct {
	File    string   `json:"file"`
	Rows    int      `json:"rows"`
	Targets []string `json:"targets,omitempty"`
}

// scores are the predictors' metrics on the test rows: the base network,
// the adapted predictor and the last-layer retraining baseline (nil when
// the model has no dense last layer; LastLayerNote says why, or how it was
// fitted).
type scores struct {
	Base          any    `json:"base"`
	Adapted       any    `json:"adapted"`
	LastLayer     any    `json:"last_layer,omitempty"`
	Note          string `json:"note,omitempty"`
	LastLayerNote string `json:"last_layer_note,omitempty"`
}

// adaptSummary is what the adaptation prints, as text or JSON.
type adaptSummary struct {
	Model       string         `json:"model"`
	Task        string         `json:"task"`
	Outputs     int            `json:"outputs"`
	Train       dataInfo       `json:"train"`
	Test        *dataInfo      `json:"test,omitempty"`
	ParamsSpec  string         `json:"params"`
	ParamsTotal int            `json:"parameters_total"`
	Fit         gpadapt.Report `json:"fit"`
	Metrics     *scores        `json:"metrics,omitempty"`
	Predictions string         `json:"predictions,omitempty"`
	Out         string         `json:"out,omitempty"`
}

func cmdAdapt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("onnx-adapt", flag.ContinueOnError)
	var f adaptFlags
	f.define(fs)
	pos, err := parseFlags(fs, args)
	if errors.Is(err, errHelpShown) {
		io.WriteString(stdout, mainUsage)
		return err
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no model given: onnx-adapt MODEL.onnx --target TRAIN.csv")
	}
	if len(pos) > 1 {
		switch pos[0] {
		case "inspect", "predict", "gradcheck", "help":
			return usagef("put the command first: onnx-adapt %s [flags] ...", pos[0])
		}
		if _, err := os.Stat(pos[0]); err != nil && !strings.ContainsAny(pos[0], "./\\") {
			return usagef("unknown command %q: the commands are inspect, predict, gradcheck and help, or give MODEL.onnx", pos[0])
		}
		return usagef("unexpected argument %q: give one model (flags are written --name value)", pos[1])
	}
	if err := f.validate(); err != nil {
		return err
	}
	modelPath := pos[0]
	plog := newProgressLog(stderr, f.quiet)
	defer plog.Close()
	logf := plog.Logf

	plog.Progress("loading", 0, 1)
	g, err := loadModel(modelPath)
	if err != nil {
		return err
	}
	mi, err := inputOf(g, modelPath)
	if err != nil {
		return err
	}
	active, err := gpadapt.SelectParams(g, f.params)
	if err != nil {
		return usagef("%v ('onnx-adapt inspect %s' lists the parameters)", err, modelPath)
	}
	if len(active) == 0 {
		return withHint(fmt.Errorf("%s: the model has no parameters to adapt", modelPath),
			"onnx-adapt adapts a network's weights (float initializers); 'onnx-adapt inspect' lists them.")
	}
	cols := splitList(f.targetCols)
	train, err := dataset.Read(f.target, dataset.Options{TargetCols: cols, RequireTargets: true, InputShape: mi.shape})
	if err != nil {
		return err
	}
	plog.Progress("loading", 1, 1)
	logf("read %d rows of %s", train.N, f.target)
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return inputErr(modelPath, err)
	}
	first, err := forwardRows(e, rowsOf(train.X, 0, 1), 1)
	if err != nil {
		return inputErr(modelPath, fmt.Errorf("running the network on line %d of %s: %w", train.Lines[0], f.target, err))
	}
	k := len(first[0])
	task, err := chooseTask(f.task, train, k)
	if err != nil {
		return err
	}
	if task == gpadapt.Classification && lastOp(g) == "Softmax" {
		fmt.Fprintf(stderr, "onnx-adapt: warning: %s ends in Softmax; classification treats the outputs as logits. Export the model without its final Softmax.\n", modelPath)
	}
	if err := checkTargets(train, task, k); err != nil {
		return err
	}
	if task == gpadapt.Classification && f.noiseValue != 0 {
		fmt.Fprintln(stderr, "onnx-adapt: warning: --noise is ignored for classification (its likelihood has no noise variance)")
	}
	opts := &gpadapt.Options{
		Task:        task,
		Noise:       f.noiseValue,
		PriorScale:  f.priorScaleValue,
		Layerwise:   f.layerwise,
		Params:      f.params,
		Method:      f.method,
		PriorMean:   f.priorMean,
		Batch:       mi.batchFor(f.batch),
		Threads:     f.threads,
		Seed:        f.seed,
		Float64:     f.float64,
		Independent: f.independent,
		Logf:        func(format string, args ...any) { logf(format, args...) },
		Progress:    plog.Progress,
	}
	opts.AcceptUnconverged = f.acceptUnconverged
	opts.Solver, opts.Probes, opts.LanczosSteps = f.solver, f.probes, f.lanczosSteps
	opts.Predictive, opts.MCSamples = f.predictive, f.mcSamples
	logf("fitting: %s, %d rows, %d output(s), %d parameter tensor(s)", task, train.N, k, len(active))
	p, err := gpadapt.Fit(ctx, g, &gpadapt.Data{X: train.X, Y: train.Y}, opts)
	if err != nil {
		var nf *autodiff.NonFiniteError
		if errors.As(err, &nf) { // where a NaN or Inf arose in the network
			hint := networkNaNHint
			if nf.Kind == autodiff.Param || nf.Kind == autodiff.Const {
				hint = weightsHint
			}
			return withHint(fmt.Errorf("%s: %w", modelPath, err), hint)
		}
		if errors.Is(err, gpadapt.ErrNumerical) {
			if task == gpadapt.Classification {
				return withHint(err, "Try a smaller --prior-scale (e.g. --prior-scale 0.01), fewer adapted parameters (--params last:1), or the other --method (function or parameter).")
			}
			return withHint(err, "Try a larger --noise (e.g. --noise 0.1), a smaller --prior-scale (e.g. 0.01), fewer adapted parameters (--params last:1), or the other --method (function or parameter).")
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		return withHint(fmt.Errorf("adapting %s to %s: %w", modelPath, f.target, err),
			"Try adapting fewer parameters (--params last:1), the other --method, or fewer rows.")
	}
	rep := p.Report()
	sum := &adaptSummary{
		Model: modelPath, Task: task.String(), Outputs: k,
		Train:      dataInfo{File: f.target, Rows: train.N, Targets: train.TargetNames},
		ParamsSpec: f.params, ParamsTotal: g.NumParams(), Fit: rep,
	}

	// Test metrics, and the rows to predict.
	predRows := train
	if f.test != "" {
		test, err := dataset.Read(f.test, dataset.Options{TargetCols: cols, InputShape: mi.shape})
		if err != nil {
			return err
		}
		sum.Test = &dataInfo{File: f.test, Rows: test.N, Targets: test.TargetNames}
		predRows = test
		if test.K > 0 {
			if err := checkTargets(test, task, k); err != nil {
				return err
			}
		}
	}
	var pred *gpadapt.Prediction
	if f.test != "" || f.predictions != "" {
		logf("predicting %d rows", predRows.N)
		pred, err = predictWithProgress(ctx, p, predRows.X, plog.Progress)
		if err != nil {
			return err
		}
	}
	if f.test != "" && predRows.K > 0 {
		base, err := p.Base(predRows.X)
		if err != nil {
			return err
		}
		if sum.Metrics, err = testScores(task, base, pred, predRows.Y, rep.Noise); err != nil {
			return err
		}
		logf("fitting the last-layer baseline")
		sum.Metrics.LastLayer, sum.Metrics.LastLayerNote = lastLayerScores(g, task, train, predRows, f.seed)
	}
	if f.predictions != "" {
		n, err := writePredictions(f.predictions, stdout, task, pred)
		if err != nil {
			return err
		}
		logf("wrote %d predictions to %s", n, f.predictions)
		sum.Predictions = f.predictions
	}
	if f.plot != "" {
		if err := writePlot(ctx, &plotInput{path: f.plot, model: modelPath, p: p, task: task, train: train, rows: predRows, pred: pred, inSample: f.test == "", logf: logf,
			predict: func(x *autodiff.Tensor[float32]) (*gpadapt.Prediction, error) {
				return predictWithProgress(ctx, p, x, plog.Progress)
			}}); err != nil {
			return err
		}
		logf("wrote the plot to %s", f.plot)
	}
	if f.out != "" {
		if err := savePredictor(f.out, modelPath, p, train, task, mi); err != nil {
			return err
		}
		logf("saved the predictor to %s", f.out)
		sum.Out = f.out
	}

	switch {
	case f.json:
		b, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			// A NaN or Inf, which JSON cannot hold: print those as strings.
			if b, err = json.MarshalIndent(sanitize(sum), "", "  "); err != nil {
				return err
			}
		}
		stdout.Write(append(b, '\n'))
	case !f.quiet:
		w := stdout
		if f.predictions == "-" {
			w = stderr
		}
		printSummary(w, sum)
	}
	return nil
}

// chooseTask applies --task, or its default: classification when the
// target is one integer-valued column and the model has several outputs.
func chooseTask(flagTask string, t *dataset.Table, k int) (gpadapt.Task, error) {
	switch flagTask {
	case "regression":
		return gpadapt.Regression, nil
	case "classification":
		return gpadapt.Classification, nil
	}
	if t.K == 1 && k > 1 {
		integer := true
		for _, row := range t.Y {
			if v := row[0]; v != math.Trunc(v) || v < 0 {
				integer = false
				break
			}
		}
		if integer {
			return gpadapt.Classification, nil
		}
	}
	return gpadapt.Regression, nil
}

// checkTargets checks the targets against the task and the model's K outputs.
func checkTargets(t *dataset.Table, task gpadapt.Task, k int) error {
	names := strings.Join(t.TargetNames, ", ")
	if task == gpadapt.Regression {
		if t.K != k {
			return withHint(fmt.Errorf("%s has %d target column(s) (%s), the model has %d output(s)", t.File, t.K, names, k),
				fmt.Sprintf("Give one target column per output: y for one output, y0 ... y%d for %d (or choose them with --target-cols); for class labels use --task classification.", k-1, k))
		}
		return nil
	}
	if k < 2 {
		return withHint(fmt.Errorf("classification needs a model with one output (logit) per class; this model has %d", k),
			"Use --task regression, or a model whose output is its logits.")
	}
	if t.K != 1 {
		return withHint(fmt.Errorf("%s has %d target columns (%s); classification takes one column of class indices", t.File, t.K, names),
			"Name the label column y, or choose it with --target-cols.")
	}
	for i, row := range t.Y {
		if v := row[0]; v != math.Trunc(v) || v < 0 || v >= float64(k) {
			return &dataset.Error{File: t.File, Line: t.Lines[i], Col: t.TargetIndex[0], ColName: t.TargetNames[0],
				Msg: fmt.Sprintf("label %v is not a class index 0..%d of the model's %d outputs", v, k-1, k)}
		}
	}
	return nil
}

// lastOp is the op type of the node producing the first graph output.
func lastOp(g *autodiff.Graph) string {
	if len(g.Outputs) == 0 {
		return ""
	}
	out := g.Outputs[0]
	for _, n := range g.Nodes {
		for _, id := range n.Out {
			if id == out {
				return n.OpType
			}
		}
	}
	return ""
}

// labels returns the class indices of one-column targets.
func labels(y [][]float64) []int {
	out := make([]int, len(y))
	for i, row := range y {
		out[i] = int(row[0])
	}
	return out
}

// testScores computes the base network's and the adapted predictor's metrics.
func testScores(task gpadapt.Task, base [][]float64, pred *gpadapt.Prediction, y [][]float64, noise float64) (*scores, error) {
	if task == gpadapt.Classification {
		lab := labels(y)
		b, err := metrics.Classification(metrics.Softmax(base), lab)
		if err != nil {
			return nil, err
		}
		a, err := metrics.Classification(pred.Probs, lab)
		if err != nil {
			return nil, err
		}
		return &scores{Base: b, Adapted: a}, nil
	}
	bv := make([][]float64, len(base))
	av := make([][]float64, len(base))
	for i := range base {
		bv[i] = make([]float64, len(base[i]))
		av[i] = make([]float64, len(base[i]))
		for j := range bv[i] {
			bv[i][j] = noise
			av[i][j] = pred.Std[i][j]*pred.Std[i][j] + noise
		}
	}
	b, err := metrics.Regression(base, bv, y)
	if err != nil {
		return nil, err
	}
	a, err := metrics.Regression(pred.Mean, av, y)
	if err != nil {
		return nil, err
	}
	return &scores{Base: b, Adapted: a,
		Note: fmt.Sprintf("the base network's NLL and coverage use the fitted noise σ² = %.6g as its predictive variance; the adapted predictor's add it to the latent variance", noise)}, nil
}

// predictionHeader returns the columns of the predictions file.
func predictionHeader(task gpadapt.Task, k int) []string {
	if task == gpadapt.Classification {
		return append([]string{"label"}, outputHeaderAlways("prob", k)...)
	}
	return append(outputHeader("mean", k), outputHeader("std", k)...)
}

// outputHeaderAlways returns name_0..name_{k-1}, even for k = 1.
func outputHeaderAlways(name string, k int) []string {
	h := make([]string, k)
	for i := range h {
		h[i] = fmt.Sprintf("%s_%d", name, i)
	}
	return h
}

// predictionRow fills dst with row i of the predictions.
func predictionRow(task gpadapt.Task, pred *gpadapt.Prediction, i int, dst []float64) []float64 {
	dst = dst[:0]
	if task == gpadapt.Classification {
		dst = append(dst, float64(metrics.Argmax(pred.Probs[i])))
		return append(dst, pred.Probs[i]...)
	}
	dst = append(dst, pred.Mean[i]...)
	return append(dst, pred.Std[i]...)
}

// writePredictions writes the predictions to path (atomically), or to
// stdout for "-", and returns the number of rows.
func writePredictions(path string, stdout io.Writer, task gpadapt.Task, pred *gpadapt.Prediction) (int, error) {
	n := len(pred.Mean)
	if n == 0 {
		return 0, nil
	}
	k := len(pred.Mean[0])
	if task == gpadapt.Classification {
		k = len(pred.Probs[0])
	}
	header := predictionHeader(task, k)
	row := func(i int, dst []float64) []float64 { return predictionRow(task, pred, i, dst) }
	if path == "-" {
		return n, dataset.WriteRows(stdout, header, n, row)
	}
	if err := dataset.WriteFile(path, header, n, row); err != nil {
		return 0, withHint(fmt.Errorf("writing the predictions: %w", err), "Check that the directory exists and is writable.")
	}
	return n, nil
}

// savePredictor writes the fitted predictor, with the model's bytes and the
// CSV layout inside, to path atomically.
func savePredictor(path, modelPath string, p *gpadapt.Predictor, train *dataset.Table, task gpadapt.Task, mi *modelInput) error {
	mb, err := os.ReadFile(modelPath)
	if err != nil {
		return inputErr(modelPath, err)
	}
	p.ModelBytes = mb
	p.Meta = map[string]string{
		"model":       modelPath,
		"task":        task.String(),
		"target_cols": strings.Join(train.TargetNames, ","),
		"features":    strconv.Itoa(len(train.FeatureNames)),
		"input_shape": autodiff.ShapeString(mi.shape),
	}
	if err := atomicfile.WriteFile(path, p.Save); err != nil {
		return withHint(fmt.Errorf("saving the predictor to %s: %w", path, err), "Check that the directory exists and is writable.")
	}
	return nil
}

// sanitize returns the summary as a map in which the non-finite floats of
// the fit report and the metrics are strings ("NaN", "+Inf").
func sanitize(s *adaptSummary) any {
	c := *s
	c.Fit = gpadapt.Report{}
	m := map[string]any{}
	c.Metrics = nil
	b, _ := json.Marshal(c)
	json.Unmarshal(b, &m)
	m["fit"] = finiteMap(s.Fit)
	if s.Metrics != nil {
		mm := map[string]any{"base": finiteMap(s.Metrics.Base), "adapted": finiteMap(s.Metrics.Adapted), "note": s.Metrics.Note}
		if s.Metrics.LastLayer != nil {
			mm["last_layer"] = finiteMap(s.Metrics.LastLayer)
		}
		if s.Metrics.LastLayerNote != "" {
			mm["last_layer_note"] = s.Metrics.LastLayerNote
		}
		m["metrics"] = mm
	}
	return m
}

// finiteMap turns a struct of numbers into a map, with non-finite floats as strings.
func finiteMap(v any) map[string]any {
	out := map[string]any{}
	var fields map[string]any
	switch x := v.(type) {
	case gpadapt.Report:
		fields = map[string]any{"task": x.Task, "n": x.N, "outputs": x.K, "parameters": x.P, "method": x.Method, "solver": x.Solver,
			"noise": x.Noise, "prior_scale": x.PriorScale, "noise_fitted": x.NoiseFitted, "prior_scale_fitted": x.ScaleFitted,
			"iterations": x.Iterations, "residual": x.Residual, "log_marginal_likelihood": x.LogMarginal, "seconds": x.Seconds}
		if x.Jitter != 0 {
			fields["jitter"] = x.Jitter
		}
		if x.Unconverged {
			fields["unconverged"] = true
		}
		if len(x.LayerScales) > 0 {
			fields["layer_scales"] = x.LayerScales
		}
		if x.Evidence != "" {
			fields["evidence"] = x.Evidence
		}
		if x.Evidence == "slq" {
			fields["probes"], fields["lanczos_steps"], fields["log_marginal_se"] = x.Probes, x.LanczosSteps, x.LogMarginalSE
		}
	case metrics.RegressionScores:
		fields = map[string]any{"rmse": x.RMSE, "nll": x.NLL, "coverage95": x.Coverage95}
	case metrics.ClassificationScores:
		fields = map[string]any{"accuracy": x.Accuracy, "nll": x.NLL, "ece": x.ECE}
	}
	for k, f := range fields {
		if x, ok := f.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			f = strconv.FormatFloat(x, 'g', -1, 64)
		}
		out[k] = f
	}
	return out
}

func fitted(b bool) string {
	if b {
		return "fitted"
	}
	return "given"
}

func printSummary(w io.Writer, s *adaptSummary) {
	r := s.Fit
	fmt.Fprintf(w, "adapted %s (%s)\n", s.Model, s.Task)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  training data\t%d rows of %s; targets %s\n", s.Train.Rows, s.Train.File, strings.Join(s.Train.Targets, ", "))
	fmt.Fprintf(tw, "  outputs\t%d\n", s.Outputs)
	spec := s.ParamsSpec
	if r.Params != "" {
		spec += ": " + r.Params + " by the evidence"
	}
	fmt.Fprintf(tw, "  parameters\t%d of %d adapted (--params %s)\n", r.P, s.ParamsTotal, spec)
	form := r.Method + " space"
	switch r.Method {
	case "function":
		form += fmt.Sprintf(" (%d unknowns, nK)", r.N*r.K)
	case "parameter":
		form += fmt.Sprintf(" (%d unknowns, p)", r.P)
	}
	if r.Solver != "" {
		form += ", " + r.Solver
	}
	fmt.Fprintf(tw, "  form\t%s\n", form)
	if s.Task != gpadapt.Classification.String() {
		fmt.Fprintf(tw, "  noise σ²\t%.6g (%s)\n", r.Noise, fitted(r.NoiseFitted))
	}
	fmt.Fprintf(tw, "  prior scale s\t%.6g (%s)\n", r.PriorScale, fitted(r.ScaleFitted))
	for _, l := range r.LayerScales {
		fmt.Fprintf(tw, "    layer %s\ts_l = %.3g (fitted)\n", strings.Join(l.Params, ", "), l.Scale)
	}
	fmt.Fprintf(tw, "  solver\t%d iterations, relative residual %.3g\n", r.Iterations, r.Residual)
	if r.Jitter != 0 {
		fmt.Fprintf(tw, "  jitter\t%.3g added to the diagonal (the system was not numerically positive definite)\n", r.Jitter)
	}
	if r.Unconverged {
		fmt.Fprintf(tw, "  converged\tno: the last iterate was kept (--accept-unconverged)\n")
	}
	switch r.Evidence {
	case "slq":
		fmt.Fprintf(tw, "  log marginal likelihood\t%.6g ± %.2g (evidence: slq, %d probes, %d Lanczos steps)\n", r.LogMarginal, r.LogMarginalSE, r.Probes, r.LanczosSteps)
	case "none":
		fmt.Fprintf(tw, "  log marginal likelihood\tnot computed (σ² and s given to the iterative solver)\n")
	case "":
		fmt.Fprintf(tw, "  log marginal likelihood\t%.6g\n", r.LogMarginal)
	default:
		fmt.Fprintf(tw, "  log marginal likelihood\t%.6g (evidence: %s)\n", r.LogMarginal, r.Evidence)
	}
	fmt.Fprintf(tw, "  time\t%.3g s\n", r.Seconds)
	tw.Flush()
	if s.Test != nil {
		fmt.Fprintf(w, "\ntest set: %d rows of %s\n", s.Test.Rows, s.Test.File)
		if s.Metrics == nil {
			fmt.Fprintln(w, "  (no target columns: no metrics)")
		} else {
			tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
			fmt.Fprintf(tw, "  metric\tbase network\tadapted\tlast layer\n")
			// The last-layer column: n/a when there is no baseline.
			ll := func(format string, v func() float64) string {
				if s.Metrics.LastLayer == nil {
					return "n/a"
				}
				return fmt.Sprintf(format, v())
			}
			switch b := s.Metrics.Base.(type) {
			case metrics.RegressionScores:
				a := s.Metrics.Adapted.(metrics.RegressionScores)
				l, _ := s.Metrics.LastLayer.(metrics.RegressionScores)
				fmt.Fprintf(tw, "  RMSE\t%.6g\t%.6g\t%s\n", b.RMSE, a.RMSE, ll("%.6g", func() float64 { return l.RMSE }))
				fmt.Fprintf(tw, "  NLL\t%.6g\t%.6g\t%s\n", b.NLL, a.NLL, ll("%.6g", func() float64 { return l.NLL }))
				fmt.Fprintf(tw, "  95%% coverage\t%.4g\t%.4g\t%s\n", b.Coverage95, a.Coverage95, ll("%.4g", func() float64 { return l.Coverage95 }))
			case metrics.ClassificationScores:
				a := s.Metrics.Adapted.(metrics.ClassificationScores)
				l, _ := s.Metrics.LastLayer.(metrics.ClassificationScores)
				fmt.Fprintf(tw, "  accuracy\t%.4g\t%.4g\t%s\n", b.Accuracy, a.Accuracy, ll("%.4g", func() float64 { return l.Accuracy }))
				fmt.Fprintf(tw, "  NLL\t%.6g\t%.6g\t%s\n", b.NLL, a.NLL, ll("%.6g", func() float64 { return l.NLL }))
				fmt.Fprintf(tw, "  ECE (10 bins)\t%.4g\t%.4g\t%s\n", b.ECE, a.ECE, ll("%.4g", func() float64 { return l.ECE }))
			}
			tw.Flush()
			if s.Metrics.Note != "" {
				fmt.Fprintf(w, "  (%s)\n", s.Metrics.Note)
			}
			if s.Metrics.LastLayerNote != "" {
				fmt.Fprintf(w, "  (%s)\n", s.Metrics.LastLayerNote)
			}
		}
	}
	if s.Predictions != "" && s.Predictions != "-" {
		fmt.Fprintf(w, "\npredictions written to %s\n", s.Predictions)
	}
	if s.Out != "" {
		fmt.Fprintf(w, "predictor saved to %s\n", s.Out)
	}
}
