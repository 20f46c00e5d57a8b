// Package benchcmd implements "onnx-adapt bench": the median time of the
// engine's sweeps (forward, JVP, VJP) and of the Fisher products built on
// them, on random data of a model's input shape, each also as a multiple of
// one forward pass. RunAdapt times one end-to-end adaptation (gpadapt.Fit)
// and reports the process's peak resident memory, for bench/run.sh.
package benchcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"github.com/onnx-adapt/onnx-adapt/simd"
)

// Exit codes, as the CLI's.
const (
	exitOK    = 0
	exitUsage = 1 // bad flags or arguments
	exitInput = 2 // a model that cannot be loaded or run
)

// Usage is the help text of the bench command.
const Usage = `usage: onnx-adapt bench MODEL.onnx [flags]

Times the engine on random normal inputs of the model's input shape: the
median milliseconds of a forward pass, a JVP (one tangent direction over all
parameters), a VJP (one cotangent), the Fisher product JᵀJv as the adapter
computes it (from the batch's kernel factors when every parameter factorizes,
one product per dense layer each way; else one JVP and one VJP from a stored
forward sweep; both are shown, with the factors' one-off cost), the block
Fisher product of --vectors directions (reported per direction) and the
empirical NTK of --ntk-batch rows (their kernel factors and J·Jᵀ), each also
as a multiple of one forward pass.

flags:
  --batch N     rows per sweep (default 256)
  --threads N   threads: GOMAXPROCS and the GEMM kernels' goroutines (default 1)
  --vectors R   directions of the block Fisher product (default 16)
  --repeat N    timed repetitions of each operation, after one warm-up;
                0 (default) repeats each until 1 s has passed (at least 3, at most 200)
  --ntk-batch N rows of the empirical NTK timing (default 64; at most --batch;
                0 skips it): the kernel factors and J·Jᵀ, (N·K)×(N·K)
  --seed S      seed of the random data (default 1)
  --cpuprofile FILE  write a CPU profile of the run (go tool pprof)
  --json        one JSON object: forward_ms, jvp_ms, vjp_ms, fvp_ms,
                block_fvp_ms_per_vector, and more (fvp_from: factors or
                sweeps; fvp_sweep_ms, fvp_factored_ms, factors_ms)
`

// Result is what Run measures; times are medians in milliseconds.
type Result struct {
	Model     string  `json:"model"`
	Batch     int     `json:"batch"`
	Threads   int     `json:"threads"`
	Vectors   int     `json:"vectors"`
	Repeat    int     `json:"repeat"`
	Params    int     `json:"params"`
	Outputs   int     `json:"outputs"`
	Impl      string  `json:"simd_impl"`
	GoVersion string  `json:"go_version"`
	ForwardMS float64 `json:"forward_ms"`
	JVPMS     float64 `json:"jvp_ms"`
	VJPMS     float64 `json:"vjp_ms"`
	// FVPMS is the Fisher product as the adapter computes it: from the
	// kernel factors (FVPFrom "factors") when every parameter factorizes,
	// else by a JVP and a VJP sweep ("sweeps").
	FVPMS   float64 `json:"fvp_ms"`
	FVPFrom string  `json:"fvp_from"`
	// FVPSweepMS is the product by sweeps, FVPFactoredMS from the factors
	// (0 when some parameter does not factorize), FactorsMS the one-off
	// cost of the factors (one reverse sweep with K cotangents).
	FVPSweepMS    float64 `json:"fvp_sweep_ms"`
	FVPFactoredMS float64 `json:"fvp_factored_ms,omitempty"`
	FactorsMS     float64 `json:"factors_ms"`
	BlockFVPMS    float64 `json:"block_fvp_ms"`
	BlockPerVecMS float64 `json:"block_fvp_ms_per_vector"`
	// BlockSpeedup is R·fvp_ms / block_fvp_ms: how much cheaper one
	// direction is inside a block than alone.
	BlockRatio float64 `json:"block_vs_single_ratio"`
	NTKBatch   int     `json:"ntk_batch,omitempty"`
	NTKMS      float64 `json:"ntk_ms,omitempty"`
	// XForward holds each time as a multiple of forward_ms.
	XForward map[string]float64 `json:"x_forward"`
}

// Run executes "bench" with args (after the subcommand name) and returns
// the exit code: 0, 1 for bad flags, 2 for a model that cannot be loaded
// or run.
func Run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	batch := fs.Int("batch", 256, "")
	threads := fs.Int("threads", 1, "")
	vectors := fs.Int("vectors", 16, "")
	repeat := fs.Int("repeat", 0, "")
	ntkBatch := fs.Int("ntk-batch", 64, "")
	seed := fs.Uint64("seed", 1, "")
	asJSON := fs.Bool("json", false, "")
	cpuprofile := fs.String("cpuprofile", "", "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, Usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "onnx-adapt bench: %v\n\n%s", err, Usage)
		return exitUsage
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintf(stderr, "onnx-adapt bench: want one model file, got %d arguments\n\n%s", len(pos), Usage)
		return exitUsage
	case *batch < 1 || *threads < 1 || *vectors < 1 || *repeat < 0 || *ntkBatch < 0:
		fmt.Fprintf(stderr, "onnx-adapt bench: --batch, --threads and --vectors must be at least 1 and --repeat and --ntk-batch at least 0\n")
		return exitUsage
	}
	defer setThreads(*threads)()
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", "onnx-adapt bench", err)
			return exitUsage
		}
		defer stop()
	}

	res, err := measure(context.Background(), pos[0], config{
		batch: *batch, vectors: *vectors, repeat: *repeat, ntk: min(*ntkBatch, *batch), seed: *seed,
	})
	if err != nil {
		fmt.Fprintf(stderr, "onnx-adapt bench: %v\n", err)
		return exitInput
	}
	res.Threads = *threads
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "onnx-adapt bench: %v\n", err)
			return exitInput
		}
		return exitOK
	}
	printText(stdout, res)
	return exitOK
}

// setThreads sets GOMAXPROCS and the GEMM thread cap, and returns a
// function that restores both.
func setThreads(n int) func() {
	prevProcs := runtime.GOMAXPROCS(n)
	prevSimd := simd.Threads()
	simd.SetThreads(n)
	return func() {
		runtime.GOMAXPROCS(prevProcs)
		simd.SetThreads(prevSimd)
	}
}

// startProfile starts a CPU profile into file; stop ends it.
func startProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type config struct {
	batch, vectors, repeat int
	ntk                    int // rows of the NTK timing, 0 for none
	seed                   uint64
}

// few is the repetitions of an operation that can take seconds (the
// kernel factors, the NTK): at most 3.
func (c config) few() int {
	if c.repeat > 0 {
		return min(c.repeat, 3)
	}
	return 3
}

// inputShape returns the model's first input shape with the batch
// dimension set to batch.
func inputShape(g *autodiff.Graph, batch int) ([]int, error) {
	if len(g.Inputs) == 0 {
		return nil, fmt.Errorf("the model has no data input")
	}
	if len(g.Inputs) > 1 {
		return nil, fmt.Errorf("the model has %d data inputs; bench feeds one", len(g.Inputs))
	}
	v := g.Values[g.Inputs[0]]
	if len(v.Shape) == 0 {
		return nil, fmt.Errorf("the shape of input %q is not known", v.Name)
	}
	shape := slices.Clone(v.Shape)
	for i, d := range shape {
		switch {
		case d == autodiff.Batch || (i == 0 && d > 0):
			shape[i] = batch
		case d <= 0:
			return nil, fmt.Errorf("input %q has an unknown dimension %d in %v", v.Name, i, v.Shape)
		}
	}
	return shape, nil
}

func randn(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func randn64(rng *rand.Rand, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.NormFloat64()
	}
	return out
}

// timer runs fn once to warm up, then repeat times (or, with repeat 0,
// until a second has passed, 3 to 200 times), and returns the median in
// milliseconds and the number of timed runs.
func timer(repeat int, fn func() error) (float64, int, error) {
	if err := fn(); err != nil {
		return 0, 0, err
	}
	var ts []float64
	start := time.Now()
	for i := 0; ; i++ {
		if repeat > 0 && i >= repeat {
			break
		}
		if repeat == 0 && i >= 3 && (time.Since(start) > time.Second || i >= 200) {
			break
		}
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ts = append(ts, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	return median(ts), len(ts), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func measure(ctx context.Context, path string, c config) (*Result, error) {
	g, err := onnximport.Load(path, nil)
	if err != nil {
		return nil, err
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return nil, err
	}
	shape, err := inputShape(g, c.batch)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(c.seed, 0x6f6e6e78))
	x := autodiff.FromData(randn(rng, autodiff.Size(shape)), shape...)
	res := &Result{Model: path, Batch: c.batch, Vectors: c.vectors, Impl: simd.Impl(), GoVersion: runtime.Version()}

	tape, err := e.Forward(x)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if len(tape.Outputs()) == 0 || tape.Outputs()[0] == nil {
		return nil, fmt.Errorf("the model has no output")
	}
	out := tape.Outputs()[0]
	res.Outputs = out.Len() / max(1, c.batch)
	res.Params = e.ActiveSize()
	if res.Params == 0 {
		return nil, fmt.Errorf("the model has no parameters to differentiate")
	}

	// One direction over all active parameters, one output cotangent.
	dirs := make([]*autodiff.Tensor[float32], len(e.Active()))
	for j, id := range e.Active() {
		sh := autodiff.BlockShape(1, e.Param(id).Shape)
		dirs[j] = autodiff.FromData(randn(rng, autodiff.Size(sh)), sh...)
	}
	osh := autodiff.BlockShape(1, out.Shape)
	cot := autodiff.FromData(randn(rng, autodiff.Size(osh)), osh...)

	// Each timed sweep hands its buffers back to the engine, as a caller
	// that drops the results at once does (PyTorch's caching allocator and
	// ONNX Runtime's arena reuse theirs likewise).
	var n int
	if res.ForwardMS, n, err = timer(c.repeat, func() error {
		t, err := e.Forward(x)
		if err == nil {
			t.Release()
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	res.Repeat = n
	if res.JVPMS, _, err = timer(c.repeat, func() error {
		u, err := e.JVP(tape, 1, dirs, nil)
		e.Release(u...)
		return err
	}); err != nil {
		return nil, fmt.Errorf("JVP: %w", err)
	}
	if res.VJPMS, _, err = timer(c.repeat, func() error {
		g, err := e.VJPParams(tape, 1, []*autodiff.Tensor[float32]{cot})
		e.Release(g...)
		return err
	}); err != nil {
		return nil, fmt.Errorf("VJP: %w", err)
	}

	// The Fisher products go through the fvp operator, which keeps the
	// forward sweep of the batch (as an adaptation does for its CG).
	op, err := fvp.New(ctx, e, x, c.batch)
	if err != nil {
		return nil, err
	}
	p := op.P()
	v1 := randn64(rng, p)
	d1 := make([]float64, p)
	if res.FVPSweepMS, _, err = timer(c.repeat, func() error {
		return op.GaussNewton(ctx, d1, v1, 1)
	}); err != nil {
		return nil, fmt.Errorf("Fisher product: %w", err)
	}
	// The adapter's CG multiplies by JᵀJ from the kernel factors, which it
	// builds once for its preconditioner, when every parameter factorizes;
	// otherwise by the sweeps above.
	product := op.GaussNewton
	res.FVPMS = res.FVPSweepMS
	var f *fvp.Factors
	if res.FactorsMS, _, err = timer(c.few(), func() error {
		f, err = op.Factors(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("kernel factors: %w", err)
	}
	if f.Rows == nil {
		fo, err := op.FactorOp(f)
		if err != nil {
			return nil, err
		}
		if res.FVPFactoredMS, _, err = timer(c.repeat, func() error {
			return fo.GaussNewton(ctx, d1, v1, 1)
		}); err != nil {
			return nil, fmt.Errorf("Fisher product from factors: %w", err)
		}
		product, res.FVPMS, res.FVPFrom = fo.GaussNewton, res.FVPFactoredMS, "factors"
	} else {
		res.FVPFrom = "sweeps"
	}
	vr := randn64(rng, c.vectors*p)
	dr := make([]float64, c.vectors*p)
	if res.BlockFVPMS, _, err = timer(c.repeat, func() error {
		return product(ctx, dr, vr, c.vectors)
	}); err != nil {
		return nil, fmt.Errorf("block Fisher product: %w", err)
	}
	res.BlockPerVecMS = res.BlockFVPMS / float64(c.vectors)
	res.BlockRatio = res.BlockFVPMS / (float64(c.vectors) * res.FVPMS)

	if c.ntk > 0 {
		// The empirical NTK J·Jᵀ of the first ntk rows, from their kernel
		// factors.
		rows := autodiff.FromData(x.Data[:c.ntk*(x.Len()/c.batch)], append([]int{c.ntk}, x.Shape[1:]...)...)
		nop, err := fvp.New(ctx, e, rows, c.ntk)
		if err != nil {
			return nil, err
		}
		res.NTKBatch = c.ntk
		if res.NTKMS, _, err = timer(c.few(), func() error {
			f, err := nop.Factors(ctx)
			if err != nil {
				return err
			}
			_, err = fvp.Cross(f, f)
			return err
		}); err != nil {
			return nil, fmt.Errorf("NTK: %w", err)
		}
	}

	res.XForward = map[string]float64{
		"jvp":                  res.JVPMS / res.ForwardMS,
		"vjp":                  res.VJPMS / res.ForwardMS,
		"fvp":                  res.FVPMS / res.ForwardMS,
		"block_fvp_per_vector": res.BlockPerVecMS / res.ForwardMS,
	}
	if c.ntk > 0 {
		res.XForward["ntk"] = res.NTKMS / res.ForwardMS
	}
	return res, nil
}

func printText(w io.Writer, r *Result) {
	fmt.Fprintf(w, "model %s: %d parameters, %d outputs per row\n", r.Model, r.Params, r.Outputs)
	fmt.Fprintf(w, "batch %d, %d thread(s), kernels %s, %s, median of %d runs\n\n", r.Batch, r.Threads, r.Impl, r.GoVersion, r.Repeat)
	var b strings.Builder
	row := func(name string, ms float64) {
		fmt.Fprintf(&b, "%-34s %10.3f ms %8.2f× forward\n", name, ms, ms/r.ForwardMS)
	}
	row("forward", r.ForwardMS)
	row("JVP (1 direction)", r.JVPMS)
	row("VJP (1 cotangent)", r.VJPMS)
	row("Fisher product JᵀJv, sweeps", r.FVPSweepMS)
	if r.FVPFactoredMS > 0 {
		row("Fisher product JᵀJv, factors", r.FVPFactoredMS)
	}
	row("  kernel factors, once", r.FactorsMS)
	row(fmt.Sprintf("block Fisher, %d directions", r.Vectors), r.BlockFVPMS)
	row("  per direction", r.BlockPerVecMS)
	if r.NTKMS > 0 {
		row(fmt.Sprintf("empirical NTK, %d rows (%d×%d)", r.NTKBatch, r.NTKBatch*r.Outputs, r.NTKBatch*r.Outputs), r.NTKMS)
	}
	fmt.Fprintf(&b, "\nblock of %d costs %.2f× %d single Fisher products\n", r.Vectors, r.BlockRatio, r.Vectors)
	io.WriteString(w, b.String())
}
