package experiments

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/metrics"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// ClassMethods lists the classification methods, in table order.
var ClassMethods = []string{MBase, MFineTuneC, MLogAnch, MLogFresh, MOurs, MOursLast}

// ClassScore is one method's result on one adaptation set.
type ClassScore struct {
	metrics.ClassificationScores
	Seconds float64
	Info    string
	Err     string
}

// ClassResult holds the scores of every method at one n.
type ClassResult struct {
	N       int
	Total   int // rows of target.csv
	Repeats int
	Methods []string
	Scores  map[string][]ClassScore
}

// digitsData is the rotated-digits target set and test set.
type digitsData struct {
	g                *autodiff.Graph
	target, test     *dataset.Table
	trLabels, labels []int
}

func loadDigits(modelsDir string) (*digitsData, error) {
	dir := filepath.Join(modelsDir, "digits-cnn")
	g, err := onnximport.Load(filepath.Join(dir, "model.onnx"), nil)
	if err != nil {
		return nil, err
	}
	opt := dataset.Options{InputShape: []int{1, 8, 8}, RequireTargets: true}
	tr, err := dataset.Read(filepath.Join(dir, "target.csv"), opt)
	if err != nil {
		return nil, err
	}
	te, err := dataset.Read(filepath.Join(dir, "test.csv"), opt)
	if err != nil {
		return nil, err
	}
	d := &digitsData{g: g, target: tr, test: te}
	for _, r := range tr.Y {
		d.trLabels = append(d.trLabels, int(r[0]))
	}
	for _, r := range te.Y {
		d.labels = append(d.labels, int(r[0]))
	}
	return d, nil
}

// runClassMethod adapts with one method on (x, y) and returns the class
// probabilities on the test set.
func runClassMethod(ctx context.Context, name string, d *digitsData, x *autodiff.Tensor[float32], y [][]float64, grid FineTuneGrid, seed uint64) ([][]float64, string, error) {
	g, xt := d.g, d.test.X
	labels := make([]int, len(y))
	for i, r := range y {
		labels[i] = int(r[0])
	}
	switch name {
	case MBase:
		f, err := forwardGraph(g, xt)
		return softmaxRows(f), "", err
	case MFineTuneC:
		ft, err := fineTune(g, CrossEntropy, x, y, grid, seed)
		if err != nil {
			return nil, "", err
		}
		f, err := forward(ft.E, xt)
		return softmaxRows(f), fmt.Sprintf("steps=%d lr=%g", ft.Steps, ft.LR), err
	case MLogAnch, MLogFresh:
		phi, f, err := baseline.Features(g, x)
		if err != nil {
			return nil, "", err
		}
		phiT, fT, err := baseline.Features(g, xt)
		if err != nil {
			return nil, "", err
		}
		k := len(f[0])
		if name == MLogFresh {
			f, fT = nil, nil
		}
		p, lam, err := baseline.Logistic(phi, f, labels, k, phiT, fT, seed)
		return p, fmt.Sprintf("λ=%g", lam), err
	case MOurs, MOursLast:
		params := "all"
		if name == MOursLast {
			var err error
			if params, err = lastLayerParams(g); err != nil {
				return nil, "", err
			}
		}
		p, err := gpadapt.Fit(ctx, g, &gpadapt.Data{X: x, Y: y}, &gpadapt.Options{Task: gpadapt.Classification, Params: params, Seed: seed})
		if err != nil {
			return nil, "", err
		}
		pr, err := p.Predict(xt)
		if err != nil {
			return nil, "", err
		}
		rep := p.Report()
		return pr.Probs, fmt.Sprintf("p=%d %s s=%.3g Newton its=%d", rep.P, rep.Method, rep.PriorScale, rep.Iterations), nil
	}
	return nil, "", fmt.Errorf("unknown method %q", name)
}

// runDigits runs every classification method with n target points,
// repeated on `repeats` random subsets of target.csv (all of it once when
// n is its size).
func runDigits(ctx context.Context, d *digitsData, n, repeats int, methods []string, grid FineTuneGrid, seed uint64, logf func(string, ...any)) *ClassResult {
	total := d.target.N
	if n >= total {
		n, repeats = total, 1
	}
	res := &ClassResult{N: n, Total: total, Repeats: repeats, Methods: methods, Scores: map[string][]ClassScore{}}
	for r := range repeats {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		idx := rng.Perm(total)[:n]
		sort.Ints(idx)
		x, y := subset(d.target.X, d.target.Y, idx)
		for _, m := range methods {
			start := time.Now()
			probs, info, err := runClassMethod(ctx, m, d, x, y, grid, seed+uint64(r))
			sc := ClassScore{Seconds: time.Since(start).Seconds(), Info: info}
			if err == nil {
				sc.ClassificationScores, err = metrics.Classification(probs, d.labels)
			}
			if err != nil {
				sc.Err = err.Error()
				logf("digits n=%d %s: %v", n, m, err)
			}
			res.Scores[m] = append(res.Scores[m], sc)
		}
	}
	return res
}
