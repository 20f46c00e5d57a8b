package onnximport

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// nodeTestsDir is the ONNX backend node-test suite, seen from this package.
const nodeTestsDir = "../../shared/onnx-node-tests"

// roundedRefs are node tests whose reference outputs the ONNX generator
// wrote by hand rounded to four decimals (the inputs too); they are compared
// with this absolute tolerance instead. test_averagepool_2d_ceil_last_window_starts_on_pad:
// y = [0.1511, 0.2841, 0.3572] for the exact (sum of four inputs)/9 =
// [0.151056, 0.284044, 0.357222].
var roundedRefs = map[string]float64{
	"test_averagepool_2d_ceil_last_window_starts_on_pad": 1e-4,
}

// nodeOutcome is the result of one node test.
type nodeOutcome struct {
	name   string
	ops    string // the op types of the model's nodes
	skip   string // reason, when skipped
	fail   string // message, when failed
	detail string // for skips that carry an op's own message
}

// TestNodeTests runs every ONNX node test whose ops are in the registry:
// the model is imported with NotBatched (node-test inputs are not batches),
// run forward by the float32 engine on test_data_set_0, and compared with
// the reference outputs: |got − want| ≤ 1e-6 + 1e-5·|want|, NaN matching
// NaN. Integer and boolean inputs are fed as floats (the engine holds
// shapes, indices and masks so); DOUBLE inputs and outputs are run in
// float32 and compared with the same tolerance. Skipped, counted by reason:
// ops outside the registry; outputs that are not FLOAT or DOUBLE (integer
// arithmetic is not the engine's business); FLOAT16/BFLOAT16/STRING data;
// sequence, map and optional values; and features an op reports as not
// supported (3-D pooling, spatial rank beyond 2, ...). Any other failure
// of a supported op fails the test.
func TestNodeTests(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(nodeTestsDir, "test_*"))
	if err != nil || len(dirs) == 0 {
		t.Skipf("ONNX node tests not found at %s (they live in ../shared beside the repository)", nodeTestsDir)
	}
	sort.Strings(dirs)
	start := time.Now()
	var outs []nodeOutcome
	for _, dir := range dirs {
		outs = append(outs, runNodeTest(dir))
	}
	elapsed := time.Since(start)

	reasons := map[string]int{}
	unsupportedOps := map[string]int{}
	featureSkips := map[string][]string{}
	var ran, passed int
	var failures []nodeOutcome
	for _, o := range outs {
		switch {
		case o.skip != "":
			reasons[o.skip]++
			if strings.HasPrefix(o.skip, "unsupported op") {
				for _, op := range strings.Split(o.detail, ",") {
					unsupportedOps[op]++
				}
			}
			if o.skip == "op reports unsupported feature" {
				featureSkips[o.ops] = append(featureSkips[o.ops], o.name+": "+o.detail)
			}
		case o.fail != "":
			ran++
			failures = append(failures, o)
		default:
			ran++
			passed++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ONNX node tests: %d total, %d ran, %d passed, %d failed, %d skipped (%.1fs)\n",
		len(outs), ran, passed, len(failures), len(outs)-ran, elapsed.Seconds())
	fmt.Fprintf(&b, "%-40s %6s\n", "skipped because", "count")
	for _, r := range sortedKeys(reasons) {
		fmt.Fprintf(&b, "%-40s %6d\n", r, reasons[r])
	}
	if len(featureSkips) > 0 {
		fmt.Fprintf(&b, "features ops reported as unsupported:\n")
		for _, op := range sortedKeys(featureSkips) {
			for _, m := range featureSkips[op] {
				fmt.Fprintf(&b, "  [%s] %s\n", op, m)
			}
		}
	}
	if testing.Verbose() {
		fmt.Fprintf(&b, "unsupported ops (tests): ")
		for _, op := range sortedKeys(unsupportedOps) {
			fmt.Fprintf(&b, "%s(%d) ", op, unsupportedOps[op])
		}
		fmt.Fprintln(&b)
	}
	byOp := map[string][]nodeOutcome{}
	for _, f := range failures {
		byOp[f.ops] = append(byOp[f.ops], f)
	}
	for _, op := range sortedKeys(byOp) {
		fmt.Fprintf(&b, "FAILED [%s]:\n", op)
		for _, f := range byOp[op] {
			fmt.Fprintf(&b, "  %s: %s\n", f.name, f.fail)
		}
	}
	fmt.Print(b.String())
	t.Log("\n" + b.String())
	if len(failures) > 0 {
		t.Errorf("%d node test(s) of supported ops failed", len(failures))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// unsupportedFeature reports whether an op's error says it declines a
// feature rather than that something went wrong.
func unsupportedFeature(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "supported")
}

func runNodeTest(dir string) (o nodeOutcome) {
	o.name = filepath.Base(dir)
	defer func() {
		if r := recover(); r != nil {
			o.skip, o.fail = "", fmt.Sprintf("panic: %v", r)
		}
	}()
	data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		o.fail = err.Error()
		return o
	}
	wm, err := parseModel(data)
	if err != nil {
		o.fail = "wire: " + err.Error()
		return o
	}
	var ops, missing []string
	seen := map[string]bool{}
	for _, n := range wm.Graph.Nodes {
		op := n.OpType
		if !isDefaultDomain(n.Domain) {
			op = n.Domain + "." + op
		}
		if !seen[op] {
			seen[op] = true
			ops = append(ops, op)
			if op != "Constant" && (!isDefaultDomain(n.Domain) || autodiff.Lookup(n.OpType) == nil) {
				missing = append(missing, op)
			}
		}
	}
	o.ops = strings.Join(ops, ",")
	for _, v := range append(append([]wireValue{}, wm.Graph.Inputs...), wm.Graph.Outputs...) {
		if v.Kind != TypeTensor {
			o.skip = "sequence/map/optional values"
			return o
		}
	}
	if len(missing) > 0 {
		o.skip, o.detail = "unsupported op", strings.Join(missing, ",")
		return o
	}
	for _, v := range wm.Graph.Outputs {
		if !v.Elem.IsFloat() {
			o.skip = "non-float output (" + v.Elem.String() + ")"
			return o
		}
	}
	for _, v := range wm.Graph.Inputs {
		if !v.Elem.IsFloat() && !v.Elem.IsInteger() {
			o.skip = "input of type " + v.Elem.String()
			return o
		}
	}
	g, err := Decode(data, &Options{NotBatched: true})
	if err != nil {
		var ue *UnsupportedError
		switch {
		case errors.As(err, &ue):
			o.skip, o.detail = "unsupported op", strings.Join(ue.Nodes, ",")
		case unsupportedFeature(err):
			o.skip, o.detail = "op reports unsupported feature", err.Error()
		default:
			o.fail = "load: " + err.Error()
		}
		return o
	}
	set := filepath.Join(dir, "test_data_set_0")
	ins, err := readSet(set, "input")
	if err != nil {
		o.skip, o.detail = "test data not readable", err.Error()
		return o
	}
	wants, err := readSet(set, "output")
	if err != nil {
		o.skip, o.detail = "test data not readable", err.Error()
		return o
	}
	if len(ins) != len(g.Inputs) {
		o.fail = fmt.Sprintf("%d input files for %d graph inputs", len(ins), len(g.Inputs))
		return o
	}
	if len(wants) != len(g.Outputs) {
		o.fail = fmt.Sprintf("%d output files for %d graph outputs", len(wants), len(g.Outputs))
		return o
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		if unsupportedFeature(err) {
			o.skip, o.detail = "op reports unsupported feature", err.Error()
		} else {
			o.fail = "engine: " + err.Error()
		}
		return o
	}
	xs := make([]*autodiff.Tensor[float32], len(ins))
	for i, td := range ins {
		xs[i] = Tensor[float32](td)
	}
	tape, err := e.Forward(xs...)
	if err != nil {
		if unsupportedFeature(err) {
			o.skip, o.detail = "op reports unsupported feature", err.Error()
		} else {
			o.fail = "forward: " + err.Error()
		}
		return o
	}
	for k, got := range tape.Outputs() {
		want := wants[k]
		if got == nil {
			o.fail = fmt.Sprintf("output %d is nil", k)
			return o
		}
		if !autodiff.SameShape(got.Shape, want.Shape) {
			o.fail = fmt.Sprintf("output %d (%s) has shape %v, want %v", k, g.Values[g.Outputs[k]].Name, got.Shape, want.Shape)
			return o
		}
		worst, at := 0.0, -1
		absTol := 1e-6
		if tol, ok := roundedRefs[o.name]; ok {
			absTol = tol
		}
		for i, w := range want.Data {
			v := float64(got.Data[i])
			if math.IsNaN(w) && math.IsNaN(v) || w == v {
				continue
			}
			d := math.Abs(v - w)
			if math.IsNaN(d) || d > absTol+1e-5*math.Abs(w) {
				if math.IsNaN(d) || d > worst {
					worst, at = d, i
				}
			}
		}
		if at >= 0 {
			o.fail = fmt.Sprintf("output %d (%s): element %d is %g, want %g (|d| = %.3g)", k, g.Values[g.Outputs[k]].Name, at, got.Data[at], want.Data[at], worst)
			return o
		}
	}
	return o
}

// readSet reads prefix_0.pb, prefix_1.pb, ... of a test data set.
func readSet(dir, prefix string) ([]*TensorData, error) {
	var out []*TensorData
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s_%d.pb", prefix, i))
		if _, err := os.Stat(p); err != nil {
			return out, nil
		}
		td, err := ReadTensor(p)
		if err != nil {
			return nil, err
		}
		if td.DType == Float16 || td.DType == BFloat16 {
			return nil, fmt.Errorf("%s: %s data", p, td.DType)
		}
		out = append(out, td)
	}
}
