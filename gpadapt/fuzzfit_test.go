package gpadapt

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
)

// fitBytes hands out the fuzzer's bytes; past the end it gives zeros.
type fitBytes []byte

func (b *fitBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

// pick returns one of the choices by the next byte.
func pick[T any](b *fitBytes, choices ...T) T { return choices[b.next()%len(choices)] }

// value draws a float: mostly small numbers, sometimes 0, huge, NaN or ±Inf.
func (b *fitBytes) value() float64 {
	v := b.next()
	switch v {
	case 250:
		return math.NaN()
	case 251:
		return math.Inf(1)
	case 252:
		return math.Inf(-1)
	case 253:
		return 1e30
	case 254:
		return 0
	}
	return float64(int8(v)) / 32
}

// FuzzFit fits and predicts with a small MLP on data and options drawn
// from the fuzzer's bytes (few or duplicate rows, NaN and infinite
// features or targets, labels out of range or not integers, every form,
// solver, predictive and parameter choice, iteration caps of a few
// steps) and checks that Fit and Predict return a predictor or an error,
// never panic or hang.
func FuzzFit(f *testing.F) {
	f.Add([]byte{0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{1, 7, 2, 40, 30, 20, 10, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 1, 1, 1, 1, 2})
	f.Add([]byte{2, 1, 3, 250, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fitBytes(data)
		task := pick(&b, Regression, Classification)
		n := 1 + b.next()%10
		k := 1 + b.next()%3
		g := testnet.MLP(uint64(b.next()), 2, 4, k)
		x := autodiff.New[float32](n, 2)
		for i := range x.Data {
			x.Data[i] = float32(b.value())
		}
		d := &Data{X: x}
		for range n {
			if task == Classification {
				label := float64(b.next()%(k+2)) - 1 // −1 and k are out of range
				if b.next()%16 == 0 {
					label += 0.5
				}
				d.Y = append(d.Y, []float64{label})
				continue
			}
			row := make([]float64, k)
			for j := range row {
				row[j] = b.value()
			}
			d.Y = append(d.Y, row)
		}
		o := &Options{
			Task:              task,
			Noise:             pick(&b, 0.0, 1e-3, 1),
			PriorScale:        pick(&b, 0.0, 1, 100),
			Params:            pick(&b, "all", "last:1", "last:5", "auto", "w2|b2", "nomatch", "(["),
			Method:            pick(&b, "auto", "function", "parameter"),
			Solver:            pick(&b, "auto", "cg", "direct"),
			PriorMean:         pick(&b, "network", "zero"),
			Independent:       b.next()%4 == 0,
			Layerwise:         b.next()%4 == 0,
			Predictive:        pick(&b, "", PredictiveProbit, PredictiveMAP, PredictiveMC),
			MCSamples:         pick(&b, 0, 3),
			MaxIter:           pick(&b, 0, 3),
			AcceptUnconverged: b.next()%2 == 0,
			Probes:            pick(&b, 0, 2),
			LanczosSteps:      pick(&b, 0, 3),
			Seed:              uint64(b.next()),
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			p, err := Fit(ctx, g, d, o)
			if err != nil {
				return
			}
			xt := autodiff.New[float32](3, 2)
			for i := range xt.Data {
				xt.Data[i] = float32(b.value())
			}
			p.PredictContext(ctx, xt)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("Fit and Predict did not return within 30 s")
		}
	})
}
