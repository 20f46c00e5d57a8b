package experiments

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/metrics"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// ClassMethods lists the classification methods, in table order.
var ClassMethods = []string{MBase, MFineTuneC, MLogAnch, MLogFresh, MOurs, MOursProbit, MOursMAP, MOursLast, MOursLW, MOursLWMAP}

// ClassScore is one method's result on one adaptation set.
type ClassScore struct {
	metrics.ClassificationScores
	Seconds float64
	Info    string
	Err     string
}

// ClassResult holds the scores of every method at one n, one score per
// repeat (split) in split order.
type ClassResult struct {
	N       int
	Pool    int // rows pooled from target.csv and test.csv
	Test    int // test rows of each split
	Repeats int
	Methods []string
	Scores  map[string][]ClassScore
}

// digitsData is the pool of rotated digits: target.csv then test.csv.
// Both files are drawn from the same rotated distribution (make_models.py
// splits one permutation of the rotated images), so each repeat re-splits
// the pool at random.
type digitsData struct {
	g      *autodiff.Graph
	x      *autodiff.Tensor[float32] // [pool, 1, 8, 8]
	y      [][]float64               // labels as one-column rows
	labels []int
	nTest  int // rows of test.csv: the test size of every split
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
	x := autodiff.New[float32](append([]int{tr.N + te.N}, tr.X.Shape[1:]...)...)
	copy(x.Data, tr.X.Data)
	copy(x.Data[tr.X.Len():], te.X.Data)
	d := &digitsData{g: g, x: x, y: append(append([][]float64{}, tr.Y...), te.Y...), nTest: te.N}
	for _, r := range d.y {
		d.labels = append(d.labels, int(r[0]))
	}
	return d, nil
}

// digitsSplit is one random split of the pool: Test holds nTest rows and
// Adapt the others, in random order; an adaptation set of size n is
// Adapt[:n], so the sets of one split are nested across n.
type digitsSplit struct {
	Adapt, Test []int
}

// digitsSplits draws `repeats` splits of a pool of `pool` rows, split r
// from the PCG stream (seed, r).
func digitsSplits(pool, nTest, repeats int, seed uint64) []digitsSplit {
	out := make([]digitsSplit, repeats)
	for r := range out {
		perm := rand.New(rand.NewPCG(seed, uint64(r))).Perm(pool)
		te := append([]int(nil), perm[pool-nTest:]...)
		sort.Ints(te)
		out[r] = digitsSplit{Adapt: perm[:pool-nTest], Test: te}
	}
	return out
}

// adapt returns the first n adaptation rows, sorted.
func (s digitsSplit) adapt(n int) []int {
	idx := append([]int(nil), s.Adapt[:n]...)
	sort.Ints(idx)
	return idx
}

// runClassMethod adapts with one method on (x, y) and returns the class
// probabilities on xt. fits holds our predictors fitted on (x, y) so far,
// by parameter set: MOursProbit and MOursMAP reuse MOurs's fit, MOursLWMAP
// MOursLW's.
func runClassMethod(ctx context.Context, name string, g *autodiff.Graph, x *autodiff.Tensor[float32], y [][]float64, xt *autodiff.Tensor[float32], grid FineTuneGrid, seed uint64, fits map[string]*gpadapt.Predictor) ([][]float64, string, error) {
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
	case MOurs, MOursProbit, MOursMAP, MOursLast, MOursLW, MOursLWMAP:
		params := "all"
		if name == MOursLast {
			var err error
			if params, err = lastLayerParams(g); err != nil {
				return nil, "", err
			}
		}
		opts := &gpadapt.Options{Task: gpadapt.Classification, Params: params, Seed: seed}
		key := params
		if name == MOursLW || name == MOursLWMAP {
			opts.Layerwise, opts.Method, key = true, "parameter", "layerwise"
		}
		p := fits[key]
		if p == nil {
			var err error
			if p, err = gpadapt.Fit(ctx, g, &gpadapt.Data{X: x, Y: y}, opts); err != nil {
				return nil, "", err
			}
			fits[key] = p
		}
		predictive := gpadapt.PredictiveMC
		switch name {
		case MOursProbit:
			predictive = gpadapt.PredictiveProbit
		case MOursMAP, MOursLWMAP:
			predictive = gpadapt.PredictiveMAP
		}
		if err := p.SetPredictive(predictive, 0, seed); err != nil {
			return nil, "", err
		}
		pr, err := p.Predict(xt)
		if err != nil {
			return nil, "", err
		}
		rep := p.Report()
		scales := fmt.Sprintf("s=%.3g", rep.PriorScale)
		if len(rep.LayerScales) > 0 {
			var sl []string
			for _, l := range rep.LayerScales {
				sl = append(sl, fmt.Sprintf("%.3g", l.Scale))
			}
			scales = "s_l=" + strings.Join(sl, "/")
		}
		return pr.Probs, fmt.Sprintf("p=%d %s %s Newton its=%d, %s", rep.P, rep.Method, scales, rep.Iterations, predictive), nil
	}
	return nil, "", fmt.Errorf("unknown method %q", name)
}

// runDigits runs every classification method on the splits, for each n
// (capped at the adaptation rows of a split), and returns one result per n.
// Repeat r seeds the methods with seed + r.
func runDigits(ctx context.Context, d *digitsData, ns []int, splits []digitsSplit, methods []string, grid FineTuneGrid, seed uint64, logf func(string, ...any)) []*ClassResult {
	var res []*ClassResult
	for _, n := range ns {
		if len(splits) > 0 {
			n = min(n, len(splits[0].Adapt))
		}
		res = append(res, &ClassResult{N: n, Pool: d.x.Shape[0], Test: d.nTest, Repeats: len(splits), Methods: methods, Scores: map[string][]ClassScore{}})
	}
	for r, sp := range splits {
		xt, _ := subset(d.x, d.y, sp.Test)
		labels := make([]int, len(sp.Test))
		for i, j := range sp.Test {
			labels[i] = d.labels[j]
		}
		for _, cr := range res {
			x, y := subset(d.x, d.y, sp.adapt(cr.N))
			fits := map[string]*gpadapt.Predictor{}
			for _, m := range methods {
				start := time.Now()
				probs, info, err := runClassMethod(ctx, m, d.g, x, y, xt, grid, seed+uint64(r), fits)
				sc := ClassScore{Seconds: time.Since(start).Seconds(), Info: info}
				if err == nil {
					sc.ClassificationScores, err = metrics.Classification(probs, labels)
				}
				if err != nil {
					sc.Err = err.Error()
					logf("digits n=%d repeat %d %s: %v", cr.N, r, m, err)
				}
				cr.Scores[m] = append(cr.Scores[m], sc)
			}
			logf("digits n=%d repeat %d done", cr.N, r)
		}
	}
	return res
}

// classSummary aggregates one method's scores over the repeats that did
// not fail: mean and standard error of each metric, mean seconds (over all
// runs), the failures and the first error.
type classSummary struct {
	Acc, NLL, ECE []float64 // per successful run
	Seconds       float64
	Runs, Fails   int
	FirstErr      string
	Infos         []string
}

func summarizeClass(scores []ClassScore) classSummary {
	var s classSummary
	var sec []float64
	for _, c := range scores {
		s.Runs++
		sec = append(sec, c.Seconds)
		if c.Err != "" {
			if s.Fails == 0 {
				s.FirstErr = c.Err
			}
			s.Fails++
			continue
		}
		s.Acc, s.NLL, s.ECE = append(s.Acc, c.Accuracy), append(s.NLL, c.NLL), append(s.ECE, c.ECE)
		if c.Info != "" {
			s.Infos = append(s.Infos, c.Info)
		}
	}
	s.Seconds, _ = meanSE(sec)
	return s
}

// addDigitsPeers registers the digits results with the peers: the network
// as an op chain (checked to hold every parameter of the graph), the pool
// with the engine's logits, and for each n the same splits as ours.
func addDigitsPeers(p *PeerRun, d *digitsData, splits []digitsSplit, res []*ClassResult) error {
	chain, err := chainSpec(d.g)
	if err != nil {
		return err
	}
	if got, want := chainParams(chain), d.g.NumParams(); got != want {
		return fmt.Errorf("the op chain holds %d parameters, the graph %d", got, want)
	}
	logits, err := forwardGraph(d.g, d.x)
	if err != nil {
		return err
	}
	const net = "digits-cnn"
	p.setPool(net, chain, baseline.Rows(d.x), d.x.Shape[1:], d.labels, logits)
	for _, r := range res {
		var train, test [][]int
		for _, sp := range splits {
			train, test = append(train, sp.adapt(r.N)), append(test, sp.Test)
		}
		p.addClass(fmt.Sprintf("digits/n=%d", r.N), net, train, test, r)
	}
	return nil
}
