package metrics

import (
	"fmt"
	"math"
	"testing"
)

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.15g, want %.15g", name, got, want)
	}
}

func TestRegressionHandComputed(t *testing.T) {
	y := [][]float64{{1, 2}, {3, 4}}
	mean := [][]float64{{1, 3}, {1, 4}}
	variance := [][]float64{{1, 1}, {4, 0.25}}
	// Errors 0, 1, 2, 0: RMSE = √(5/4).
	r, err := RMSE(mean, y)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "RMSE", r, math.Sqrt(1.25))
	// NLL entries: ½log2π + {0, ½, ½log4 + 4/8, ½log¼ + 0}.
	l2p := 0.5 * math.Log(2*math.Pi)
	want := (4*l2p + 0 + 0.5 + 0.5*math.Log(4) + 0.5 + 0.5*math.Log(0.25)) / 4
	nll, err := GaussianNLL(mean, variance, y)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "NLL", nll, want)
	// Within 1.96σ: |0|≤1.96, |1|≤1.96, |2|≤3.92, |0|≤0.98: all four.
	c, _ := Coverage(mean, variance, y, Z95)
	near(t, "coverage", c, 1)
	// With σ = 0.5 everywhere: |1| > 0.98, |2| > 0.98: half.
	small := [][]float64{{0.25, 0.25}, {0.25, 0.25}}
	c, _ = Coverage(mean, small, y, Z95)
	near(t, "coverage", c, 0.5)
	s, err := Regression(mean, variance, y)
	if err != nil || s.RMSE != r || s.NLL != nll || s.Coverage95 != 1 {
		t.Errorf("Regression = %+v, %v", s, err)
	}
}

func TestStandardNormalNLL(t *testing.T) {
	nll, _ := GaussianNLL([][]float64{{0}}, [][]float64{{1}}, [][]float64{{0}})
	near(t, "NLL", nll, 0.918938533204672742) // ½log2π
}

func TestClassificationHandComputed(t *testing.T) {
	probs := [][]float64{
		{0.7, 0.2, 0.1},   // label 0: right, conf 0.7
		{0.1, 0.85, 0.05}, // label 2: wrong, conf 0.85
		{0.3, 0.3, 0.4},   // label 2: right, conf 0.4
		{0.05, 0.05, 0.9}, // label 2: right, conf 0.9
	}
	labels := []int{0, 2, 2, 2}
	acc, err := Accuracy(probs, labels)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "accuracy", acc, 0.75)
	nll, _ := CategoricalNLL(probs, labels)
	near(t, "NLL", nll, -(math.Log(0.7)+math.Log(0.05)+math.Log(0.4)+math.Log(0.9))/4)
	// Ten bins: 0.4 in (0.3,0.4], 0.7 in (0.6,0.7], 0.85 and 0.9 in (0.8,0.9].
	// ECE = ¼|1−0.4| + ¼|1−0.7| + ½|½ − 0.875| = 0.15 + 0.075 + 0.1875.
	ece, _ := ECE(probs, labels, 10)
	near(t, "ECE", ece, 0.15+0.075+0.1875)
	// One bin: |accuracy − mean confidence| = |0.75 − 0.7125|.
	ece1, _ := ECE(probs, labels, 1)
	near(t, "ECE one bin", ece1, 0.0375)
	s, err := Classification(probs, labels)
	if err != nil || s.Accuracy != acc || s.NLL != nll || s.ECE != ece {
		t.Errorf("Classification = %+v, %v", s, err)
	}
}

func TestECEBinEdges(t *testing.T) {
	// Confidence exactly 1 falls in the last bin, exactly 0.5 in (0.4, 0.5].
	probs := [][]float64{{1, 0}, {0.5, 0.5}}
	ece, err := ECE(probs, []int{0, 0}, 10)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "ECE", ece, 0.5*0+0.5*0.5)
}

func TestSoftmax(t *testing.T) {
	p := Softmax([][]float64{{0, 0}, {1000, 0}, {math.Log(1), math.Log(3)}})
	near(t, "p00", p[0][0], 0.5)
	near(t, "p10", p[1][0], 1)
	near(t, "p21", p[2][1], 0.75)
	if Argmax([]float64{1, 3, 3}) != 1 {
		t.Error("argmax does not take the first of ties")
	}
}

func TestNLLBounded(t *testing.T) {
	nll, _ := CategoricalNLL([][]float64{{1, 0}}, []int{1})
	if math.IsInf(nll, 0) || nll < 690 {
		t.Errorf("NLL of a zero probability = %v", nll)
	}
}

func TestErrors(t *testing.T) {
	y := [][]float64{{1}, {2}}
	errs := []error{}
	add := func(_ float64, err error) { errs = append(errs, err) }
	add(RMSE([][]float64{{1}}, y))
	add(RMSE([][]float64{{1}, {1, 2}}, y))
	add(RMSE(nil, nil))
	add(GaussianNLL(y, [][]float64{{1}, {0}}, y))
	add(GaussianNLL(y, [][]float64{{1}, {math.NaN()}}, y))
	add(Coverage(y, [][]float64{{1}}, y, Z95))
	add(Accuracy([][]float64{{0.5, 0.5}}, []int{2}))
	add(CategoricalNLL([][]float64{{0.5, 0.5}}, []int{-1}))
	add(ECE([][]float64{{0.5, 0.5}}, []int{0, 1}, 10))
	add(ECE([][]float64{{0.5, 0.5}}, []int{0}, 0))
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func Example() {
	probs := Softmax([][]float64{{2, 0}, {0, 1}, {3, 0}})
	s, _ := Classification(probs, []int{0, 1, 1})
	fmt.Printf("accuracy %.3f, NLL %.3f, ECE %.3f\n", s.Accuracy, s.NLL, s.ECE)
	// Output: accuracy 0.667, NLL 1.163, ECE 0.447
}
