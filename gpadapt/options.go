package gpadapt

import (
	"errors"
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// Task is the likelihood of the adaptation.
type Task int

const (
	Regression     Task = iota // Gaussian likelihood on each output
	Classification             // softmax likelihood on the logits
)

func (t Task) String() string {
	if t == Classification {
		return "classification"
	}
	return "regression"
}

// DefaultTol is the relative residual at which the iterative solvers stop
// when Options.Tol is 0.
const DefaultTol = 1e-6

// Options configure Fit. A nil *Options means defaults.
type Options struct {
	Task       Task
	Noise      float64 // σ²; 0 means fit it by maximizing the marginal likelihood
	PriorScale float64 // s; 0 means fit it likewise
	Params     string  // "all" (or ""), "last:N", "auto" (chosen among last:1 … all by the evidence), or a regular expression over parameter names
	Method     string  // "auto" (or ""), "function", "parameter"
	PriorMean  string  // "network" (or "") or "zero"
	// Independent drops the coupling between outputs: the kernel keeps only
	// its blocks with k = k' (as the reference implementation does).
	Independent bool
	// Layerwise gives each layer (a node's weight with its bias, see
	// Params "last:N") its own prior scale s_l, fitted by the Laplace
	// evidence: coordinate ascent over log₁₀ s_l, in decades then half
	// decades, from the common s the evidence chose. Classification in the
	// dense parameter form only (p ≤ 20,000 and p < nK); PriorScale must be
	// 0.
	Layerwise bool
	Batch     int // rows per sweep; 0 means 256
	Threads   int // 0 means GOMAXPROCS
	Seed      uint64
	// Float64 runs every sweep in float64 (slower; for checks).
	Float64 bool
	// Tol is the relative residual at which iterative solvers stop
	// (0 means DefaultTol), MaxIter their iteration cap (0 means 10,000).
	Tol     float64
	MaxIter int
	// AcceptUnconverged returns the result of an iterative solver that hit
	// MaxIter before Tol, with its residual in the Report, instead of an
	// ErrNumerical error.
	AcceptUnconverged bool
	// Probes and LanczosSteps set the stochastic Lanczos quadrature of the
	// log marginal likelihood beyond the dense limit: Rademacher probes
	// (0 means 16) and Lanczos steps per run (0 means 60).
	Probes, LanczosSteps int
	// Solver is "auto" (or ""): dense Cholesky while the kernel (nK×nK) or
	// the precision (p×p) fits the dense limit, else the iterative
	// solvers (CG, SLQ); "cg": the iterative solvers at any size (the
	// matrix-free function form); "direct": dense only, an error beyond.
	Solver string
	// Predictive is how classification turns the Gaussian over the logits
	// into class probabilities: "mc" (or ""), Monte Carlo with MCSamples
	// draws per point (0 means DefaultMCSamples) from the joint K×K
	// covariance, seeded by Seed, or "probit", the pairwise probit
	// approximation (see Predictor.SetPredictive).
	Predictive string
	MCSamples  int
	Progress   func(phase string, done, total int)
	Logf       func(format string, args ...any)
}

// Data is the target-domain training set.
type Data struct {
	X *autodiff.Tensor[float32] // [n, input shape...]
	Y [][]float64               // regression: n rows of K targets; classification: n rows of one label
}

// Report says what Fit did.
type Report struct {
	Task        string  `json:"task"`
	N           int     `json:"n"`
	K           int     `json:"outputs"`
	P           int     `json:"parameters"`
	Method      string  `json:"method"`
	Solver      string  `json:"solver"`
	Noise       float64 `json:"noise"`
	PriorScale  float64 `json:"prior_scale"`
	NoiseFitted bool    `json:"noise_fitted"`
	ScaleFitted bool    `json:"prior_scale_fitted"`
	Iterations  int     `json:"iterations"`
	Residual    float64 `json:"residual"`
	LogMarginal float64 `json:"log_marginal_likelihood"`
	Seconds     float64 `json:"seconds"`
	// Params is the parameter set Options.Params "auto" chose ("last:N");
	// empty otherwise.
	Params string `json:"params_chosen,omitempty"`
	// LayerScales are the prior scales of Options.Layerwise, one per layer
	// (PriorScale is then the common s the search started from).
	LayerScales []LayerScale `json:"layer_scales,omitempty"`
	// Jitter is the largest value added to the diagonal of a system that
	// was not numerically positive definite (0: none).
	Jitter float64 `json:"jitter,omitempty"`
	// Unconverged is set when an iterative solver hit its iteration cap and
	// Options.AcceptUnconverged kept its last iterate.
	Unconverged bool `json:"unconverged,omitempty"`
	// Evidence says how LogMarginal was computed: "exact", "slq" (with
	// Probes, LanczosSteps and the standard error LogMarginalSE over the
	// probes; the data term rᵀA⁻¹r is then exact from CG), "none" when it
	// was not computed (σ² and s given to the matrix-free solve:
	// LogMarginal is 0), or "" (classification: its own approximation).
	Evidence      string  `json:"evidence,omitempty"`
	Probes        int     `json:"probes,omitempty"`
	LanczosSteps  int     `json:"lanczos_steps,omitempty"`
	LogMarginalSE float64 `json:"log_marginal_se,omitempty"`
}

// LayerScale is one layer's prior scale: the parameters it covers and s_l.
type LayerScale struct {
	Params []string `json:"params"`
	Scale  float64  `json:"prior_scale"`
}

// Prediction holds the predictive distribution at m points.
type Prediction struct {
	Mean  [][]float64 // m×K posterior mean (classification: of the logits)
	Std   [][]float64 // m×K latent (noise-free) standard deviation
	Probs [][]float64 // classification: m×K predictive class probabilities
}

// ErrNumerical marks failures of the numerics (a system that is not
// positive definite, a solver that did not converge, NaN in a sweep).
var ErrNumerical = errors.New("numerical failure")

func numerical(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNumerical, fmt.Sprintf(format, args...))
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Batch <= 0 {
		out.Batch = 256
	}
	if out.Params == "" {
		out.Params = "all"
	}
	if out.Method == "" {
		out.Method = "auto"
	}
	if out.PriorMean == "" {
		out.PriorMean = "network"
	}
	if out.Tol <= 0 {
		out.Tol = DefaultTol
	}
	if out.MaxIter <= 0 {
		out.MaxIter = 10000
	}
	if out.Probes <= 0 {
		out.Probes = 16
	}
	if out.LanczosSteps <= 0 {
		out.LanczosSteps = 60
	}
	return out
}

func (o *Options) validate() error {
	if o.Noise < 0 || o.PriorScale < 0 {
		return fmt.Errorf("noise (%g) and prior scale (%g) must be positive, or 0 to fit them", o.Noise, o.PriorScale)
	}
	switch o.Method {
	case "auto", "function", "parameter":
	default:
		return fmt.Errorf("method %q: want auto, function or parameter", o.Method)
	}
	if o.Probes < 2 {
		return fmt.Errorf("%d probes: the standard error of the quadrature needs at least 2", o.Probes)
	}
	switch o.Solver {
	case "", "auto", "cg", "direct":
	default:
		return fmt.Errorf("solver %q: want auto, cg or direct", o.Solver)
	}
	switch o.Predictive {
	case "", PredictiveProbit, PredictiveMC, PredictiveMAP:
	default:
		return fmt.Errorf("predictive %q: want mc, probit or map", o.Predictive)
	}
	if o.MCSamples < 0 || o.MCSamples > maxMCSamples {
		return fmt.Errorf("%d Monte Carlo samples: want 0 (default %d) to %d", o.MCSamples, DefaultMCSamples, maxMCSamples)
	}
	switch o.PriorMean {
	case "network", "zero":
	default:
		return fmt.Errorf("prior mean %q: want network or zero", o.PriorMean)
	}
	if o.Layerwise && (o.Task != Classification || o.PriorScale > 0) {
		return fmt.Errorf("layerwise prior scales are fitted for classification only, with the prior scale left to the evidence (0)")
	}
	return nil
}
