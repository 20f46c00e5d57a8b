package experiments

import (
	"context"
	"fmt"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// RegTask is one regression adaptation problem.
type RegTask struct {
	Name     string
	Xtr, Xte *autodiff.Tensor[float32]
	Ytr, Yte [][]float64
	// F, when set, is the noise-free target function (for plots).
	F func(x []float64) float64
}

// Score is one method's result on one task.
type Score struct {
	RMSE, NLL, Coverage, Seconds float64
	Err                          string
}

// RegPrediction is a regression method's predictive distribution on the
// test inputs: the mean and the variance of y.
type RegPrediction struct {
	Mean, Var [][]float64
	Info      string // what the method chose (steps, λ, hyperparameters)
}

// Method names, in table order.
const (
	MBase     = "base network"
	MFineTune = "fine-tune all (Adam, MSE)"
	MRidge    = "last layer (ridge, LOO λ)"
	MRBF      = "RBF GP (ML-II)"
	MOurs     = "**ours**: finite-NTK GP, all params"
	MOursLast = "ours: finite-NTK GP, last layer"
	// MOursAuto is ours with the parameter set chosen among last:1 … all
	// by the marginal likelihood (--params auto).
	MOursAuto  = "ours: finite-NTK GP, params by evidence"
	MFineTuneC = "fine-tune all (Adam, CE)"
	MLogAnch   = "last layer (logistic, L2 to pretrained)"
	MLogFresh  = "last layer (logistic, L2 to 0, refit)"
	// MOursProbit is ours with the pairwise probit predictive instead of
	// the default Monte Carlo, from the same fit.
	MOursProbit = "ours: finite-NTK GP, all params, probit predictive"
	// MOursMAP is ours with the softmax of the mean logits (--predictive
	// map), from the same fit.
	MOursMAP = "ours: finite-NTK GP, all params, MAP predictive"
	// MOursLW fits one prior scale per layer by the evidence
	// (--prior-scale layerwise, parameter form); MOursLWMAP is its MAP
	// predictive, from the same fit.
	MOursLW    = "ours: finite-NTK GP, layerwise prior scales"
	MOursLWMAP = "ours: finite-NTK GP, layerwise prior scales, MAP predictive"
)

// RegMethods lists the regression methods the experiments run.
var RegMethods = []string{MBase, MFineTune, MRidge, MRBF, MOurs, MOursLast, MOursAuto}

// runRegMethod fits one method on the task's training points and predicts
// its test points.
func runRegMethod(ctx context.Context, name string, g *autodiff.Graph, t *RegTask, grid FineTuneGrid, seed uint64) (*RegPrediction, error) {
	switch name {
	case MBase:
		f, err := forwardGraph(g, t.Xtr)
		if err != nil {
			return nil, err
		}
		ft, err := forwardGraph(g, t.Xte)
		if err != nil {
			return nil, err
		}
		nv := mse(f, t.Ytr)
		return &RegPrediction{Mean: ft, Var: constVar(len(ft), len(ft[0]), nv), Info: fmt.Sprintf("σ²=%.3g (MSE on the adaptation points)", nv)}, nil
	case MFineTune:
		ft, err := fineTune(g, MSE, t.Xtr, t.Ytr, grid, seed)
		if err != nil {
			return nil, err
		}
		m, err := forward(ft.E, t.Xte)
		if err != nil {
			return nil, err
		}
		return &RegPrediction{Mean: m, Var: constVar(len(m), len(m[0]), ft.ValLoss), Info: fmt.Sprintf("steps=%d lr=%g σ²=%.3g", ft.Steps, ft.LR, ft.ValLoss)}, nil
	case MRidge:
		phi, f, err := baseline.Features(g, t.Xtr)
		if err != nil {
			return nil, err
		}
		phiT, fT, err := baseline.Features(g, t.Xte)
		if err != nil {
			return nil, err
		}
		m, nv, lam, err := baseline.Ridge(phi, f, t.Ytr, phiT, fT)
		if err != nil {
			return nil, err
		}
		return &RegPrediction{Mean: m, Var: constVar(len(m), len(m[0]), nv), Info: fmt.Sprintf("λ=%.3g σ²=%.3g", lam, nv)}, nil
	case MRBF:
		x, xt := baseline.Rows(t.Xtr), baseline.Rows(t.Xte)
		k := len(t.Ytr[0])
		mean := make([][]float64, len(xt))
		vr := make([][]float64, len(xt))
		for i := range xt {
			mean[i], vr[i] = make([]float64, k), make([]float64, k)
		}
		info := ""
		for j := range k {
			y := make([]float64, len(t.Ytr))
			for i := range y {
				y[i] = t.Ytr[i][j]
			}
			gp, err := fitRBF(x, y, seed)
			if err != nil {
				return nil, err
			}
			m, v := gp.predict(xt)
			for i := range m {
				mean[i][j], vr[i][j] = m[i], v[i]
			}
			info = fmt.Sprintf("ℓ=%.3g σf²=%.3g σ²=%.3g", gp.h.Lengthscales, gp.h.Signal, gp.h.Noise)
		}
		return &RegPrediction{Mean: mean, Var: vr, Info: info}, nil
	case MOurs, MOursLast, MOursAuto:
		params := "all"
		switch name {
		case MOursLast:
			var err error
			if params, err = lastLayerParams(g); err != nil {
				return nil, err
			}
		case MOursAuto:
			params = "auto"
		}
		p, err := gpadapt.Fit(ctx, g, &gpadapt.Data{X: t.Xtr, Y: t.Ytr}, &gpadapt.Options{Task: gpadapt.Regression, Params: params, Seed: seed})
		if err != nil {
			return nil, err
		}
		pr, err := p.Predict(t.Xte)
		if err != nil {
			return nil, err
		}
		rep := p.Report()
		vr := make([][]float64, len(pr.Std))
		for i, row := range pr.Std {
			vr[i] = make([]float64, len(row))
			for j, s := range row {
				vr[i][j] = s*s + rep.Noise
			}
		}
		info := fmt.Sprintf("p=%d %s σ²=%.3g s=%.3g", rep.P, rep.Method, rep.Noise, rep.PriorScale)
		if rep.Params != "" {
			info = rep.Params + " " + info
		}
		return &RegPrediction{Mean: pr.Mean, Var: vr, Info: info}, nil
	}
	return nil, fmt.Errorf("unknown method %q", name)
}

// RegResult holds every method's scores over a set of tasks.
type RegResult struct {
	Title   string
	N       int // adaptation points per task
	Methods []string
	Scores  map[string][]Score
	// First holds the predictions on the first task, for plots.
	First     map[string]*RegPrediction
	FirstTask *RegTask
	Infos     map[string][]string
}

// runRegression runs every method on every task.
func runRegression(ctx context.Context, title string, g *autodiff.Graph, tasks []*RegTask, methods []string, grid FineTuneGrid, seed uint64, logf func(string, ...any)) *RegResult {
	res := &RegResult{Title: title, N: tasks[0].Xtr.Shape[0], Methods: methods, Scores: map[string][]Score{}, First: map[string]*RegPrediction{}, FirstTask: tasks[0], Infos: map[string][]string{}}
	for ti, t := range tasks {
		for _, m := range methods {
			start := time.Now()
			pr, err := runRegMethod(ctx, m, g, t, grid, seed+uint64(ti))
			sec := time.Since(start).Seconds()
			var sc Score
			if err == nil {
				var rs metrics.RegressionScores
				rs, err = metrics.Regression(pr.Mean, pr.Var, t.Yte)
				sc = Score{RMSE: rs.RMSE, NLL: rs.NLL, Coverage: rs.Coverage95, Seconds: sec}
			}
			if err != nil {
				sc.Err = err.Error()
				logf("%s task %d %s: %v", title, ti, m, err)
			} else {
				res.Infos[m] = append(res.Infos[m], pr.Info)
			}
			if ti == 0 {
				res.First[m] = pr
			}
			res.Scores[m] = append(res.Scores[m], sc)
		}
	}
	return res
}
