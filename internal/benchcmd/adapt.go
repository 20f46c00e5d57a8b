package benchcmd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"github.com/onnx-adapt/onnx-adapt/simd"
)

// AdaptUsage is the help text of RunAdapt.
const AdaptUsage = `usage: bench-adapt MODEL.onnx [flags]

Times one regression adaptation, gpadapt.Fit, with fixed noise and prior
scale, and reports the process's peak resident memory (getrusage).

flags:
  --n N            training rows (default 2000)
  --data FILE      rows from FILE: little-endian float32, N rows of
                   (input values, then K targets); without it, random normal
                   inputs and targets sin(Σx)
  --method M       function, parameter or auto (default function)
  --solver S       auto, cg or direct (default auto)
  --tol T          relative residual of the iterative solvers (default
                   gpadapt's)
  --max-iter N     iteration cap of the iterative solvers (default gpadapt's);
                   a capped run reports its iterations and residual and
                   keeps its last iterate instead of failing
  --noise V        σ² (default 0.01)
  --prior-scale S  s (default 1)
  --batch N        rows per sweep (default 256)
  --threads N      threads (default 1)
  --seed S         seed of the random data (default 1)
  --cpuprofile F   write a CPU profile of the run
  --json           one JSON object
`

// AdaptResult is what RunAdapt measures.
type AdaptResult struct {
	Model      string  `json:"model"`
	N          int     `json:"n"`
	Params     int     `json:"params"`
	Outputs    int     `json:"outputs"`
	Threads    int     `json:"threads"`
	Method     string  `json:"method"`
	Solver     string  `json:"solver"`
	Iterations int     `json:"iterations"`
	Residual   float64 `json:"relative_residual"`
	// Capped is set when --max-iter stopped an iterative solver before
	// --tol: Seconds is then the time of Iterations iterations.
	Capped     bool    `json:"capped,omitempty"`
	Noise      float64 `json:"noise"`
	PriorScale float64 `json:"prior_scale"`
	// Seconds is the wall time of gpadapt.Fit; FitSeconds its own report.
	Seconds    float64 `json:"seconds"`
	FitSeconds float64 `json:"fit_seconds"`
	// BaselineRSSMB is the peak resident memory before Fit (model and data
	// loaded), PeakRSSMB the peak over the whole process, from getrusage.
	BaselineRSSMB float64 `json:"baseline_rss_mb"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	Error         string  `json:"error,omitempty"`
}

// RunAdapt times gpadapt.Fit on one data set; args follow AdaptUsage.
func RunAdapt(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-adapt", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("n", 2000, "")
	data := fs.String("data", "", "")
	method := fs.String("method", "function", "")
	solver := fs.String("solver", "auto", "")
	tol := fs.Float64("tol", 0, "")
	maxIter := fs.Int("max-iter", 0, "")
	noise := fs.Float64("noise", 0.01, "")
	scale := fs.Float64("prior-scale", 1, "")
	batch := fs.Int("batch", 256, "")
	threads := fs.Int("threads", 1, "")
	seed := fs.Uint64("seed", 1, "")
	asJSON := fs.Bool("json", false, "")
	cpuprofile := fs.String("cpuprofile", "", "")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, AdaptUsage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench-adapt: %v\n\n%s", err, AdaptUsage)
		return exitUsage
	}
	if len(pos) != 1 || *n < 1 || *batch < 1 || *threads < 1 || !(*noise > 0) || !(*scale > 0) || *tol < 0 || *maxIter < 0 {
		fmt.Fprintf(stderr, "bench-adapt: want one model file, --n, --batch, --threads ≥ 1, --noise, --prior-scale > 0 and --tol, --max-iter ≥ 0\n\n%s", AdaptUsage)
		return exitUsage
	}
	defer setThreads(*threads)()
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", "bench-adapt", err)
			return exitUsage
		}
		defer stop()
	}

	g, err := onnximport.Load(pos[0], nil)
	if err != nil {
		fmt.Fprintf(stderr, "bench-adapt: %v\n", err)
		return exitInput
	}
	d, err := adaptData(g, *n, *data, *seed)
	if err != nil {
		fmt.Fprintf(stderr, "bench-adapt: %v\n", err)
		return exitInput
	}
	res := &AdaptResult{Model: pos[0], N: *n, Threads: *threads, Noise: *noise, PriorScale: *scale}
	runtime.GC()
	res.BaselineRSSMB = peakRSSMB()
	start := time.Now()
	p, err := gpadapt.Fit(context.Background(), g, d, &gpadapt.Options{
		Noise: *noise, PriorScale: *scale, Method: *method, Batch: *batch, Threads: *threads,
		Solver: *solver, Tol: *tol, MaxIter: *maxIter, AcceptUnconverged: *maxIter > 0,
	})
	res.Seconds = time.Since(start).Seconds()
	res.PeakRSSMB = peakRSSMB()
	code := exitOK
	if err != nil {
		res.Error = err.Error()
		code = exitInput
	} else {
		rep := p.Report()
		res.Params, res.Outputs = rep.P, rep.K
		res.Method, res.Solver, res.Iterations, res.Residual = rep.Method, rep.Solver, rep.Iterations, rep.Residual
		want := *tol
		if want == 0 {
			want = gpadapt.DefaultTol
		}
		res.Capped = *maxIter > 0 && rep.Residual > want
		res.FitSeconds = rep.Seconds
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(res)
	} else if err == nil {
		fmt.Fprintf(stdout, "adapted %s on %d rows (%d parameters, %s space, %s): %.3f s, peak RSS %.0f MB (%.0f MB before Fit), kernels %s\n",
			res.Model, res.N, res.Params, res.Method, res.Solver, res.Seconds, res.PeakRSSMB, res.BaselineRSSMB, simd.Impl())
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench-adapt: %v\n", err)
	}
	return code
}

// adaptData reads the rows of file (float32, inputs then targets), or makes
// n random ones.
func adaptData(g *autodiff.Graph, n int, file string, seed uint64) (*gpadapt.Data, error) {
	shape, err := inputShape(g, n)
	if err != nil {
		return nil, err
	}
	row := autodiff.Size(shape) / n
	k, err := outputWidth(g)
	if err != nil {
		return nil, err
	}
	x := make([]float32, n*row)
	y := make([][]float64, n)
	if file == "" {
		rng := rand.New(rand.NewPCG(seed, 0x61646170))
		for i := 0; i < n; i++ {
			s := 0.0
			for j := 0; j < row; j++ {
				v := rng.NormFloat64()
				x[i*row+j] = float32(v)
				s += v
			}
			y[i] = make([]float64, k)
			for c := range y[i] {
				y[i][c] = math.Sin(s + float64(c))
			}
		}
		return &gpadapt.Data{X: autodiff.FromData(x, shape...), Y: y}, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if want := 4 * n * (row + k); len(raw) < want {
		return nil, fmt.Errorf("%s holds %d bytes, %d rows of %d+%d float32 need %d", file, len(raw), n, row, k, want)
	}
	at := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])) }
	for i := 0; i < n; i++ {
		base := i * (row + k)
		for j := 0; j < row; j++ {
			x[i*row+j] = at(base + j)
		}
		y[i] = make([]float64, k)
		for c := range y[i] {
			y[i][c] = float64(at(base + row + c))
		}
	}
	return &gpadapt.Data{X: autodiff.FromData(x, shape...), Y: y}, nil
}

// outputWidth is K, the number of outputs per row of the first output.
func outputWidth(g *autodiff.Graph) (int, error) {
	if len(g.Outputs) == 0 {
		return 0, fmt.Errorf("the model has no output")
	}
	v := g.Values[g.Outputs[0]]
	k := 1
	for i, d := range v.Shape {
		if i == 0 {
			continue
		}
		if d <= 0 {
			return 0, fmt.Errorf("output %q has an unknown dimension in %v", v.Name, v.Shape)
		}
		k *= d
	}
	return k, nil
}
