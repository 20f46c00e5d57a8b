package gpadapt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"gonum.org/v1/gonum/mat"
)

// A singular kernel is factored with the smallest jitter that works,
// reported and logged; a NaN is named; an indefinite matrix fails after
// the largest jitter.
func TestFactorJitter(t *testing.T) {
	var logs []string
	o := &Options{Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
	var rep Report
	ones := mat.NewSymDense(3, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1})
	if _, err := factorJitter(ones, "the test system", nil, o, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Jitter != jitterMin || len(logs) != 1 || !strings.Contains(logs[0], "jitter 1e-10") {
		t.Errorf("jitter %g, log %q", rep.Jitter, logs)
	}
	nan := mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1})
	_, err := factorJitter(nan, "the kernel", kernelEntry(1), o, &rep)
	if !errors.Is(err, ErrNumerical) || !strings.Contains(err.Error(), "NaN at data row 1 and data row 2") {
		t.Errorf("NaN: %v", err)
	}
	neg := mat.NewSymDense(2, []float64{2, 0, 0, -1})
	_, err = factorJitter(neg, "the test system", nil, o, &rep)
	if !errors.Is(err, ErrNumerical) || !strings.Contains(err.Error(), "even with jitter") {
		t.Errorf("indefinite: %v", err)
	}
}

// A Laplace fit whose Newton iterations hit the cap is an ErrNumerical
// unless AcceptUnconverged keeps its last iterate, flagged in the Report.
func TestLaplaceUnconverged(t *testing.T) {
	defer func(n int) { newtonMaxIter = n }(newtonMaxIter)
	newtonMaxIter = 1
	g := testnet.MLP(8, 2, 5, 3)
	x := testnet.Inputs(9, 15, 2)
	d := &Data{X: x}
	for i := 0; i < 15; i++ {
		d.Y = append(d.Y, []float64{float64(i % 3)})
	}
	for _, method := range []string{"function", "parameter"} {
		_, err := Fit(context.Background(), g, d, &Options{Task: Classification, PriorScale: 2, Method: method})
		if !errors.Is(err, ErrNumerical) || !strings.Contains(err.Error(), "did not converge in 1 iterations") {
			t.Errorf("%s: %v", method, err)
		}
		var warned bool
		p, err := Fit(context.Background(), g, d, &Options{Task: Classification, PriorScale: 2, Method: method, AcceptUnconverged: true,
			Logf: func(f string, a ...any) { warned = warned || strings.Contains(f, "warning") }})
		if err != nil {
			t.Fatalf("%s, accepted: %v", method, err)
		}
		if !p.Report().Unconverged || !warned {
			t.Errorf("%s: accepted without a flag in the report (%v) or a warning (%v)", method, p.Report().Unconverged, warned)
		}
	}
}
