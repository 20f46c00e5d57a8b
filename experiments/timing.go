package experiments

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/onnx-adapt/onnx-adapt/gpadapt"
)

// TimingRow is the time gpadapt.Fit takes for one network and data size,
// in both inference forms.
type TimingRow struct {
	Width, P, N           int
	Function, Parameter   float64 // seconds; NaN when not run
	FunctionErr, ParamErr string
	MaxAbsDiff            float64 // largest |mean difference| of the two forms on 50 test points
}

// timeAdapt fits the MLP 1-h-h-1 (tanh, random Glorot weights) to n points
// of a noisy sinusoid with σ² and s fitted, once per method, and records
// the wall time of Fit and the agreement of the two predictive means.
// skipParam skips the parameter form (too slow at that size).
func timeAdapt(ctx context.Context, width, n int, skipParam bool) TimingRow {
	g := MLP(uint64(width), 1, width, width, 1)
	rng := rand.New(rand.NewPCG(uint64(n), 0x71))
	xs, ys := make([][]float64, n), make([][]float64, n)
	for i := range xs {
		x := 10*rng.Float64() - 5
		xs[i] = []float64{x}
		ys[i] = []float64{math.Sin(x) + 0.1*rng.NormFloat64()}
	}
	xt := make([][]float64, 50)
	for i := range xt {
		xt[i] = []float64{-5 + 10*float64(i)/49}
	}
	x, xte := rows2tensor(xs), rows2tensor(xt)
	row := TimingRow{Width: width, P: g.NumParams(), N: n, Function: math.NaN(), Parameter: math.NaN(), MaxAbsDiff: math.NaN()}
	var means [2][][]float64
	for k, method := range []string{"function", "parameter"} {
		if k == 1 && skipParam {
			row.ParamErr = "skipped"
			continue
		}
		start := time.Now()
		p, err := gpadapt.Fit(ctx, g, &gpadapt.Data{X: x, Y: ys}, &gpadapt.Options{Method: method})
		sec := time.Since(start).Seconds()
		if err == nil {
			var pr *gpadapt.Prediction
			if pr, err = p.Predict(xte); err == nil {
				means[k] = pr.Mean
			}
		}
		if k == 0 {
			row.Function = sec
			if err != nil {
				row.Function, row.FunctionErr = math.NaN(), err.Error()
			}
		} else {
			row.Parameter = sec
			if err != nil {
				row.Parameter, row.ParamErr = math.NaN(), err.Error()
			}
		}
	}
	if means[0] != nil && means[1] != nil {
		row.MaxAbsDiff = 0
		for i := range means[0] {
			row.MaxAbsDiff = math.Max(row.MaxAbsDiff, math.Abs(means[0][i][0]-means[1][i][0]))
		}
	}
	return row
}
