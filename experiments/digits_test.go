package experiments

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// TestDigitsSplits checks that each split partitions the pool, that the
// splits are reproducible from the seed and differ between repeats, and
// that adaptation sets are nested across n.
func TestDigitsSplits(t *testing.T) {
	const pool, nTest = 40, 25
	a := digitsSplits(pool, nTest, 3, 7)
	b := digitsSplits(pool, nTest, 3, 7)
	for r, sp := range a {
		if len(sp.Test) != nTest || len(sp.Adapt) != pool-nTest {
			t.Fatalf("split %d: %d test, %d adapt rows", r, len(sp.Test), len(sp.Adapt))
		}
		all := append(append([]int(nil), sp.Test...), sp.Adapt...)
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("split %d is not a partition of 0..%d: %v", r, pool-1, all)
			}
		}
		if !slices.Equal(sp.Adapt, b[r].Adapt) || !slices.Equal(sp.Test, b[r].Test) {
			t.Errorf("split %d differs between two calls with the same seed", r)
		}
		small, big := sp.adapt(5), sp.adapt(10)
		if !slices.IsSorted(small) {
			t.Errorf("split %d: adapt(5) not sorted: %v", r, small)
		}
		for _, v := range small {
			if !slices.Contains(big, v) {
				t.Errorf("split %d: row %d of the n = 5 set is not in the n = 10 set", r, v)
			}
		}
	}
	if slices.Equal(a[0].Test, a[1].Test) {
		t.Errorf("repeats 0 and 1 drew the same test rows")
	}
}

// TestSummarizeClass checks mean ± standard error over the runs that did
// not fail, against values computed by hand.
func TestSummarizeClass(t *testing.T) {
	sc := func(acc, nll, ece, sec float64, err string) ClassScore {
		s := ClassScore{Seconds: sec, Err: err, Info: "i"}
		s.Accuracy, s.NLL, s.ECE = acc, nll, ece
		return s
	}
	s := summarizeClass([]ClassScore{sc(0.6, 1, 0.1, 1, ""), sc(0, 0, 0, 3, "boom"), sc(0.8, 2, 0.3, 5, ""), sc(0.7, 3, 0.2, 3, "")})
	if s.Runs != 4 || s.Fails != 1 || s.FirstErr != "boom" || len(s.Infos) != 3 {
		t.Fatalf("%+v", s)
	}
	m, se := meanSE(s.Acc)
	// Accuracies 0.6, 0.8, 0.7: mean 0.7, sample variance 0.01, s.e. 0.1/√3.
	if math.Abs(m-0.7) > 1e-12 || math.Abs(se-0.1/math.Sqrt(3)) > 1e-12 {
		t.Errorf("accuracy %g ± %g, want 0.7 ± %g", m, se, 0.1/math.Sqrt(3))
	}
	if got := fmtMS(s.NLL, 3); got != "2.000 ± 0.577" {
		t.Errorf("NLL %q, want 2.000 ± 0.577", got)
	}
	if s.Seconds != 3 { // over all four runs
		t.Errorf("seconds %g, want 3", s.Seconds)
	}
}

// TestChainSpec checks the op chain of digits-cnn (every parameter, in
// order, BatchNormalization statistics as buffers) and that a Gemm without
// transB is stored as torch's out×in weight.
func TestChainSpec(t *testing.T) {
	g := MLP(3, 2, 5, 4, 1)
	chain, err := chainSpec(g)
	if err != nil {
		t.Fatal(err)
	}
	dense, err := mlpSpec(g)
	if err != nil {
		t.Fatal(err)
	}
	var gemms []ChainOp
	for _, o := range chain {
		if o.Op == "Gemm" {
			gemms = append(gemms, o)
		}
	}
	if len(gemms) != len(dense) || chainParams(chain) != g.NumParams() {
		t.Fatalf("%d Gemms, %d params; want %d and %d", len(gemms), chainParams(chain), len(dense), g.NumParams())
	}
	for l, o := range gemms {
		w := o.Tensors[0]
		in, out := len(dense[l].W), len(dense[l].B)
		if !slices.Equal(w.Shape, []int{out, in}) {
			t.Fatalf("layer %d: weight shape %v, want [%d %d]", l, w.Shape, out, in)
		}
		for i := range in {
			for j := range out {
				if w.Data[j*in+i] != dense[l].W[i][j] {
					t.Fatalf("layer %d: W[%d][%d] = %g, want %g", l, j, i, w.Data[j*in+i], dense[l].W[i][j])
				}
			}
		}
	}

	dg, err := onnximport.Load("../models/digits-cnn/model.onnx", nil)
	if err != nil {
		t.Skipf("digits-cnn: %v", err)
	}
	chain, err = chainSpec(dg)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, o := range chain {
		ops = append(ops, o.Op)
	}
	want := []string{"Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"}
	if !slices.Equal(ops, want) {
		t.Errorf("ops %v, want %v", ops, want)
	}
	if got := chainParams(chain); got != dg.NumParams() || got != 1434 {
		t.Errorf("%d parameters in the chain, graph %d, want 1434", got, dg.NumParams())
	}
	bn := chain[1]
	if len(bn.Tensors) != 4 || !bn.Tensors[0].Param || !bn.Tensors[1].Param || bn.Tensors[2].Param || bn.Tensors[3].Param || bn.Epsilon <= 0 {
		t.Errorf("BatchNormalization: %+v", bn)
	}
	if !slices.Equal(chain[0].Pads, []int{1, 1}) || !slices.Equal(chain[3].Kernel, []int{2, 2}) || !slices.Equal(chain[3].Strides, []int{2, 2}) {
		t.Errorf("conv pads %v, pool kernel %v strides %v", chain[0].Pads, chain[3].Kernel, chain[3].Strides)
	}
}

// TestPeerClassTasks checks what the runner hands the peers' script for a
// classification result and how it scores the script's answer.
func TestPeerClassTasks(t *testing.T) {
	p := newPeerRun("python", "peers.py")
	chain := []ChainOp{{Op: "Flatten"}}
	x := [][]float64{{0, 1}, {1, 0}, {1, 1}, {0, 0}}
	labels := []int{0, 1, 1, 0}
	p.setPool("net", chain, x, []int{2}, labels, [][]float64{{1, 0}, {0, 1}, {0, 2}, {3, 0}})
	r := &ClassResult{N: 2, Methods: []string{MBase}, Scores: map[string][]ClassScore{}}
	p.addClass("k", "net", [][]int{{0, 1}, {2, 3}}, [][]int{{2, 3}, {0, 1}}, r)
	b, err := json.Marshal(p.in)
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]any
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"chains", "pools", "classification", "logit_tol"} {
		if _, ok := in[key]; !ok {
			t.Errorf("no %q in %s", key, b)
		}
	}
	if !strings.Contains(string(b), `"tasks":[{"train":[0,1],"test":[2,3]},{"train":[2,3],"test":[0,1]}]`) {
		t.Errorf("tasks not as registered: %s", b)
	}
	p.addRows()
	if !slices.Equal(r.Methods, append([]string{MBase}, PeerClassMethods...)) {
		t.Errorf("methods %v", r.Methods)
	}
	// Task 0 tests rows 2, 3 (labels 1, 0); task 1 fails.
	po := &peerOutput{ClassResults: map[string]map[string][]peerClassScore{"k": {
		MLaplaceC: {{Probs: [][]float64{{0.2, 0.8}, {0.4, 0.6}}, Seconds: 2}, {Err: "boom", Seconds: 1}},
	}}}
	p.mergeClass(po)
	s := r.Scores[MLaplaceC]
	if len(s) != 2 || s[1].Err != "boom" || s[0].Err != "" {
		t.Fatalf("%+v", s)
	}
	// Accuracy ½; NLL = −(ln 0.8 + ln 0.4)/2; ECE over 10 bins: 0.8 in (0.7, 0.8] is right, 0.6 in
	// (0.5, 0.6] is wrong: ½|1 − 0.8| + ½|0 − 0.6| = 0.4.
	if s[0].Accuracy != 0.5 || math.Abs(s[0].NLL+(math.Log(0.8)+math.Log(0.4))/2) > 1e-12 || math.Abs(s[0].ECE-0.4) > 1e-12 || s[0].Seconds != 2 {
		t.Errorf("%+v", s[0])
	}
	if len(r.Scores[MGPyTC]) != 0 {
		t.Errorf("a method the script did not answer has scores: %+v", r.Scores[MGPyTC])
	}
}

// TestPeerNamesInScript checks that the script answers under the names the
// runner reads.
func TestPeerNamesInScript(t *testing.T) {
	b, err := os.ReadFile("peers/peers.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(append([]string(nil), PeerMethods...), PeerClassMethods...) {
		if !strings.Contains(string(b), `"`+m+`"`) {
			t.Errorf("peers.py does not name %q", m)
		}
	}
}
