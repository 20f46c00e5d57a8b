package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
)

const gradcheckUsage = `Usage: onnx-adapt gradcheck MODEL.onnx --input DATA.csv [--rows N] [--tol T]

Checks onnx-adapt's derivatives of the model in float64 on the first rows of
DATA.csv, against central finite differences (f(θ+hv) − f(θ−hv))/2h and the
adjoint identity ⟨v, Jᵀw⟩ = ⟨Jv, w⟩, for random directions v and w:
  - per parameter tensor, with directions supported on that tensor alone
    (the network's JVP and VJP);
  - per op type, running each node alone on the values of the forward sweep,
    with directions on its differentiable inputs.
Output values at a kink (a ReLU at 0, tied maxima), where the one-sided
differences disagree, are left out of the comparison and counted.
Exits with status 3 if any relative error exceeds the tolerance.

Flags:
  --input FILE         the data (CSV; 'onnx-adapt help data'), required
  --rows N             rows of DATA.csv to use (default 8)
  --tol T              relative error tolerance (default 1e-4)
  --dirs N             random directions per check (default 2)
  --step H             finite-difference step, relative to each tensor's scale (default 1e-5)
  --seed N             random seed (default 1)
  --target-cols A,B    columns to ignore as targets (default: y, y0, y1, ...)
`

// fdResult compares one JVP with central differences.
type fdResult struct {
	err          float64 // relative error over the smooth elements
	kinks, total int     // output elements at a kink, and in all
}

// compareFD compares the tangent jv with the differences of yp = f(x+hv),
// ym = f(x−hv) and y0 = f(x). Elements whose one-sided differences
// disagree by more than 1% of their size and 0.1% of the typical slope are
// at a kink and left out. (For a smooth function they differ by about
// h·f″, for a kink by the jump in slope.)
func compareFD(jv, yp, ym, y0 []float64, h float64) fdResult {
	n := len(y0)
	c := make([]float64, n)
	norm0, normC := 0.0, 0.0
	for i := range c {
		c[i] = (yp[i] - ym[i]) / (2 * h)
		normC += c[i] * c[i]
		norm0 += y0[i] * y0[i]
	}
	rms := math.Sqrt(normC / float64(max(n, 1)))
	res := fdResult{total: n}
	num, den, denJ := 0.0, 0.0, 0.0
	for i := range c {
		fwd, bwd := (yp[i]-y0[i])/h, (y0[i]-ym[i])/h
		if gap := math.Abs(fwd - bwd); gap > 1e-2*(math.Abs(fwd)+math.Abs(bwd)) && gap > 1e-3*rms {
			res.kinks++
			continue
		}
		d := jv[i] - c[i]
		num += d * d
		den += c[i] * c[i]
		denJ += jv[i] * jv[i]
	}
	// Derivatives far below the output's size are compared absolutely:
	// central differences cannot resolve them better.
	floor := 1e-5*math.Sqrt(norm0) + 1e-12
	res.err = math.Sqrt(num) / math.Max(math.Sqrt(math.Max(den, denJ)), floor)
	if math.IsNaN(res.err) {
		res.err = math.Inf(1)
	}
	return res
}

// adjointErr is |lhs − rhs| relative to the sum of the norms' products.
func adjointErr(lhs, rhs, scale float64) float64 {
	if scale == 0 {
		if lhs == rhs {
			return 0
		}
		return math.Inf(1)
	}
	e := math.Abs(lhs-rhs) / scale
	if math.IsNaN(e) {
		return math.Inf(1)
	}
	return e
}

func dotF(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func normF(a []float64) float64 { return math.Sqrt(dotF(a, a)) }

func rmsF(a []float64) float64 {
	if len(a) == 0 {
		return 0
	}
	return normF(a) / math.Sqrt(float64(len(a)))
}

// randomBlock returns a block of one direction for shape, with standard
// normal entries times scale.
func randomBlock(rng *rand.Rand, shape []int, scale float64) *autodiff.Tensor[float64] {
	t := autodiff.New[float64](autodiff.BlockShape(1, shape)...)
	for i := range t.Data {
		t.Data[i] = rng.NormFloat64() * scale
	}
	return t
}

// flatOutputs concatenates tensors, zeros standing in for nil ones of the sizes of ref.
func flatOutputs(ts []*autodiff.Tensor[float64], ref []*autodiff.Tensor[float64]) []float64 {
	var out []float64
	for i, r := range ref {
		if r == nil {
			continue
		}
		if i < len(ts) && ts[i] != nil {
			out = append(out, ts[i].Data...)
		} else {
			out = append(out, make([]float64, r.Len())...)
		}
	}
	return out
}

type checkRow struct {
	name, shape string
	fd          fdResult
	adj         float64
	nodes       int
	note        string
}

func (c *checkRow) worst() float64 { return math.Max(c.fd.err, c.adj) }

func cmdGradcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gradcheck", flag.ContinueOnError)
	input := fs.String("input", "", "")
	rows := fs.Int("rows", 8, "")
	tol := fs.Float64("tol", 1e-4, "")
	dirs := fs.Int("dirs", 2, "")
	step := fs.Float64("step", 1e-5, "")
	seed := fs.Uint64("seed", 1, "")
	targetCols := fs.String("target-cols", "", "")
	pos, err := parseCommand(fs, args, gradcheckUsage, stdout, 1, 1)
	if err != nil {
		return err
	}
	if err := requireFlag("gradcheck", "input", *input); err != nil {
		return err
	}
	switch {
	case *rows < 1:
		return usagef("gradcheck: --rows %d: want at least 1", *rows)
	case !(*tol > 0):
		return usagef("gradcheck: --tol %v: want a positive tolerance", *tol)
	case *dirs < 1:
		return usagef("gradcheck: --dirs %d: want at least 1", *dirs)
	case !(*step > 0) || *step > 0.1:
		return usagef("gradcheck: --step %v: want a small positive step such as 1e-5", *step)
	}
	g, err := loadModel(pos[0])
	if err != nil {
		return err
	}
	mi, err := inputOf(g, pos[0])
	if err != nil {
		return err
	}
	n := *rows
	if mi.fixedBatch {
		n = 1
	}
	tab, err := dataset.Read(*input, dataset.Options{NoTargets: true, TargetCols: splitList(*targetCols), InputShape: mi.shape, FirstRows: n})
	if err != nil {
		return err
	}
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		return inputErr(pos[0], err)
	}
	x := autodiff.Convert[float64](tab.X)
	tape, err := e.Forward(x)
	if err != nil {
		return inputErr(pos[0], err)
	}
	y0 := tape.Outputs()
	rng := rand.New(rand.NewPCG(*seed, 0x67726164))
	h := *step

	fmt.Fprintf(stdout, "gradcheck %s on %d row(s) of %s: float64, %d random direction(s), step %g, tolerance %g\n",
		pos[0], tab.N, *input, *dirs, h, *tol)
	params, err := checkParams(ctx, e, x, tape, y0, rng, *dirs, h)
	if err != nil {
		return err
	}
	ops, err := checkOps(ctx, e.Graph(), tape, rng, *dirs, h)
	if err != nil {
		return err
	}
	fails := printChecks(stdout, "parameter tensors (directions on one tensor at a time):", "parameter", params, *tol)
	fails = append(fails, printChecks(stdout, "ops (each node alone, on the values of the forward sweep):", "op", ops, *tol)...)
	if len(fails) > 0 {
		return withHint(numericalf("gradcheck: %d check(s) above the tolerance %g: %s", len(fails), *tol, strings.Join(fails, ", ")),
			"A derivative rule disagrees with finite differences: adapting this model would give wrong results. "+
				"If the op's error is large, this is a bug in onnx-adapt: please report it with the model; if it is near the tolerance, retry with --step 1e-4 or 1e-6.")
	}
	fmt.Fprintf(stdout, "ok: every relative error is within %g\n", *tol)
	return nil
}

// checkParams checks the network's JVP and VJP for each parameter tensor.
func checkParams(ctx context.Context, e *autodiff.Engine[float64], x *autodiff.Tensor[float64], tape *autodiff.Tape[float64], y0 []*autodiff.Tensor[float64], rng *rand.Rand, dirs int, h float64) ([]checkRow, error) {
	g := e.Graph()
	active := e.Active()
	rows := make([]checkRow, len(active))
	for j, id := range active {
		rows[j] = checkRow{name: g.Values[id].Name, shape: autodiff.ShapeString(e.Param(id).Shape)}
	}
	y0f := flatOutputs(y0, y0)
	for d := 0; d < dirs; d++ {
		// One VJP serves every tensor: Jᵀw for a random w on the outputs.
		w := make([]*autodiff.Tensor[float64], len(y0))
		for k, y := range y0 {
			if y != nil {
				w[k] = randomBlock(rng, y.Shape, 1)
			}
		}
		wf := flatOutputs(w, y0)
		pbar, _, err := e.VJP(tape, 1, w)
		if err != nil {
			return nil, err
		}
		for j, id := range active {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			theta := e.Param(id)
			v := randomBlock(rng, theta.Shape, math.Max(rmsF(theta.Data), 1e-2))
			tan := make([]*autodiff.Tensor[float64], len(active))
			tan[j] = v
			jv, err := e.JVP(tape, 1, tan, nil)
			if err != nil {
				return nil, err
			}
			jvf := flatOutputs(jv, y0)
			saved := append([]float64(nil), theta.Data...)
			shifted := func(sign float64) ([]float64, error) {
				for i := range theta.Data {
					theta.Data[i] = saved[i] + sign*h*v.Data[i]
				}
				t, err := e.Forward(x)
				copy(theta.Data, saved)
				if err != nil {
					return nil, err
				}
				return flatOutputs(t.Outputs(), y0), nil
			}
			yp, err := shifted(1)
			if err != nil {
				return nil, err
			}
			ym, err := shifted(-1)
			if err != nil {
				return nil, err
			}
			res := compareFD(jvf, yp, ym, y0f, h)
			lhs, rhs := dotF(v.Data, pbar[j].Data), dotF(jvf, wf)
			adj := adjointErr(lhs, rhs, normF(v.Data)*normF(pbar[j].Data)+normF(jvf)*normF(wf))
			r := &rows[j]
			r.fd.err = math.Max(r.fd.err, res.err)
			r.fd.kinks += res.kinks
			r.fd.total += res.total
			r.adj = math.Max(r.adj, adj)
		}
	}
	return rows, nil
}

// checkOps runs each node's kernel alone on the forward sweep's values and
// checks its JVP against central differences and its VJP by the adjoint
// identity, grouped by op type.
func checkOps(ctx context.Context, g *autodiff.Graph, tape *autodiff.Tape[float64], rng *rand.Rand, dirs int, h float64) ([]checkRow, error) {
	byType := map[string]*checkRow{}
	for _, n := range g.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		row := byType[n.OpType]
		if row == nil {
			row = &checkRow{name: n.OpType}
			byType[n.OpType] = row
		}
		row.nodes++
		spec := autodiff.Lookup(n.OpType)
		k, err := autodiff.NewKernel[float64](n)
		if spec == nil || err != nil {
			return nil, fmt.Errorf("%s: %v", n.Describe(), err)
		}
		in := make([]*autodiff.Tensor[float64], len(n.In))
		var slots []int
		for j, id := range n.In {
			if id < 0 {
				continue
			}
			in[j] = tape.Value(id)
			if in[j] != nil && spec.IsDiff(j) && !g.Values[id].Int && in[j].Len() > 0 {
				slots = append(slots, j)
			}
		}
		if len(slots) == 0 {
			continue
		}
		out, err := k.Forward(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Describe(), err)
		}
		outf := flatOutputs(out, out)
		row.note = "checked"
		for d := 0; d < dirs; d++ {
			u := make([]*autodiff.Tensor[float64], len(in))
			for _, j := range slots {
				u[j] = randomBlock(rng, in[j].Shape, math.Max(rmsF(in[j].Data), 1e-2))
			}
			jv := k.JVP(in, out, u, 1)
			jvf := flatOutputs(jv, out)
			shifted := func(sign float64) ([]float64, error) {
				xs := append([]*autodiff.Tensor[float64](nil), in...)
				for _, j := range slots {
					c := in[j].Clone()
					for i := range c.Data {
						c.Data[i] += sign * h * u[j].Data[i]
					}
					xs[j] = c
				}
				y, err := k.Forward(xs)
				if err != nil {
					return nil, fmt.Errorf("%s at shifted inputs: %w", n.Describe(), err)
				}
				return flatOutputs(y, out), nil
			}
			yp, err := shifted(1)
			if err != nil {
				return nil, err
			}
			ym, err := shifted(-1)
			if err != nil {
				return nil, err
			}
			if len(yp) != len(outf) || len(ym) != len(outf) {
				return nil, fmt.Errorf("%s: outputs change size under a small shift of the inputs", n.Describe())
			}
			res := compareFD(jvf, yp, ym, outf, h)
			w := make([]*autodiff.Tensor[float64], len(out))
			for o, y := range out {
				if y != nil {
					w[o] = randomBlock(rng, y.Shape, 1)
				}
			}
			wf := flatOutputs(w, out)
			xb := k.VJP(in, out, w, 1)
			lhs, scale := 0.0, normF(jvf)*normF(wf)
			for _, j := range slots {
				if j < len(xb) && xb[j] != nil {
					lhs += dotF(u[j].Data, xb[j].Data)
					scale += normF(u[j].Data) * normF(xb[j].Data)
				}
			}
			adj := adjointErr(lhs, dotF(jvf, wf), scale)
			row.fd.err = math.Max(row.fd.err, res.err)
			row.fd.kinks += res.kinks
			row.fd.total += res.total
			row.adj = math.Max(row.adj, adj)
		}
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	rows := make([]checkRow, len(types))
	for i, t := range types {
		rows[i] = *byType[t]
		if rows[i].note == "" {
			rows[i].note = "no differentiable input"
		}
		rows[i].shape = fmt.Sprintf("%d node(s)", rows[i].nodes)
	}
	return rows, nil
}

// printChecks prints a table of checks and returns the names of those above tol.
func printChecks(w io.Writer, title, what string, rows []checkRow, tol float64) []string {
	fmt.Fprintln(w)
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\t\tJVP vs differences\tadjoint\tkinks skipped\tstatus\n", what)
	var fails []string
	for _, r := range rows {
		if r.note == "no differentiable input" {
			fmt.Fprintf(tw, "  %s\t%s\t-\t-\t-\t(no differentiable input)\n", r.name, r.shape)
			continue
		}
		status := "ok"
		if !(r.worst() <= tol) {
			status = "FAIL"
			fails = append(fails, r.name)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.2e\t%.2e\t%d of %d\t%s\n", r.name, r.shape, r.fd.err, r.adj, r.fd.kinks, r.fd.total, status)
	}
	tw.Flush()
	return fails
}
