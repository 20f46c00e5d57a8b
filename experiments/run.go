package experiments

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// Config chooses what Run does.
type Config struct {
	Quick      bool
	Seed       uint64
	ModelsDir  string // the repository's models/
	SharedDir  string // ../shared (for sine-keras)
	FiguresDir string // where PNGs go; empty: no figures
	FiguresRel string // how the markdown links the figures
	RawCSV     string // per-task scores; empty: not written
	Python     string // bench/.venv/bin/python
	PeerScript string // experiments/peers/peers.py
	NoPeers    bool
	// Only names the one section to run ("sine", "spatial", "digits",
	// "timing"); empty runs all. The peers run on what ran.
	Only string
	// DigitsRepeats overrides the number of random digits splits (0: the
	// plan's, 3 in the full run and 2 in the quick one).
	DigitsRepeats int
	// BenchResults is where `make bench` leaves its results
	// (bench/results): the timing section shows PyTorch's adaptation
	// times from there beside ours. Empty or missing: not shown.
	BenchResults string
	Command      string // the command line, for the report
	Logf         func(string, ...any)
}

// runs reports whether section name runs.
func (c *Config) runs(name string) bool { return c.Only == "" || c.Only == name }

// plan is the size of each experiment.
type plan struct {
	sineTasks     int
	sineN         []int
	worlds        int
	spatialN      []int
	sourceSteps   int
	digitsN       []int
	digitsRepeats int
	digitsGrid    FineTuneGrid
	timingN       []int // at width timingW
	timingW       int
	timingWidths  []int // at N = timingFixN
	timingFixN    int
	paramMaxP     int // the parameter form is skipped above this p
}

func (c *Config) plan() plan {
	if c.Quick {
		return plan{sineTasks: 5, sineN: []int{10, 20}, worlds: 1, spatialN: []int{100}, sourceSteps: 2000,
			digitsN: []int{100}, digitsRepeats: 2, digitsGrid: FineTuneGrid{Steps: []int{10, 20, 50, 100, 200}, LRs: []float64{1e-2}},
			timingN: []int{100, 400}, timingW: 16, timingWidths: []int{8, 32}, timingFixN: 200, paramMaxP: 2000}
	}
	return plan{sineTasks: 20, sineN: []int{10, 20}, worlds: 5, spatialN: []int{50, 100, 200}, sourceSteps: 4000,
		digitsN: []int{100, 300}, digitsRepeats: 3, digitsGrid: DefaultGrid,
		timingN: []int{100, 200, 400, 800, 1600, 3200}, timingW: 32, timingWidths: []int{8, 16, 32, 64, 128}, timingFixN: 400, paramMaxP: 5000}
}

// Run runs the experiments and writes the markdown report to w.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	start := time.Now()
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	pl := cfg.plan()
	if cfg.DigitsRepeats > 0 {
		pl.digitsRepeats = cfg.DigitsRepeats
	}
	// The report is a list of sections rendered at the end, once the
	// peers (which run on every regression task at once) have run.
	var out []func(io.Writer)
	text := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		out = append(out, func(w io.Writer) { io.WriteString(w, s) })
	}
	var notes []string
	var raw []string
	peers := newPeerRun(cfg.Python, cfg.PeerScript)
	fig := func(name string) (string, string) {
		if cfg.FiguresDir == "" {
			return "", ""
		}
		return filepath.Join(cfg.FiguresDir, name), filepath.ToSlash(filepath.Join(cfg.FiguresRel, name))
	}
	var phases []string
	phase := func(name string, t0 time.Time) {
		s := time.Since(t0).Seconds()
		phases = append(phases, fmt.Sprintf("%s %.0f s", name, s))
		logf("%s done in %.1fs", name, s)
	}
	addRaw := func(r *RegResult, key string) {
		for _, m := range r.Methods {
			for i, s := range r.Scores[m] {
				raw = append(raw, fmt.Sprintf("%s,%d,%q,%d,%.6g,%.6g,%.4g,%.4g,%q", key, r.N, m, i, s.RMSE, s.NLL, s.Coverage, s.Seconds, s.Err))
			}
		}
	}
	var regResults []struct {
		key string
		r   *RegResult
	}

	// 1. Sinusoids.
	t0 := time.Now()
	if cfg.runs("sine") {
		text("## 1. Sinusoid transfer\n\nTasks y = A·sin(w·x + b) + ε, A ~ U(0.1, 5), b ~ U(0, 2π), w ~ U(0.5, 2), ε ~ N(0, %g²); %d tasks per table; "+
			"the n adaptation points and 100 test points are uniform on the network's training range. "+
			"Task i is the same draw for both n (its n = 10 points are the first 10 of its n = 20 points).\n\n", SineNoise, pl.sineTasks)
		type sineNet struct {
			name, path string
			lo, hi     float64
			desc       string
		}
		nets := []sineNet{
			{"sine-mlp", filepath.Join(cfg.ModelsDir, "sine-mlp", "model.onnx"), -5, 5, "models/sine-mlp: MLP tanh 1-64-64-1 trained by this project on sin x, x ∈ [−5, 5]"},
			{"sine-keras", filepath.Join(cfg.SharedDir, "models", "sine-keras", "model.onnx"), 0, 2 * math.Pi, "../shared/models/sine-keras: a third-party Keras MLP ReLU 1-16-16-1 trained on sin x, x ∈ [0, 2π] (exported by tf2onnx)"},
		}
		for ni, net := range nets {
			g, err := onnximport.Load(net.path, nil)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s not run: %v", net.name, err))
				text("### %s\n\nnot run: %v\n\n", net.name, err)
				continue
			}
			text("### %s, x ∈ [%.3g, %.3g]\n\n%s; %d parameters as imported.\n\n", net.name, net.lo, net.hi, net.desc, g.NumParams())
			for _, n := range pl.sineN {
				tasks := sineTasks(cfg.Seed+uint64(ni)*1000, pl.sineTasks, n, net.lo, net.hi)
				r := runRegression(ctx, net.name, g, tasks, RegMethods, DefaultGrid, cfg.Seed, logf)
				key := fmt.Sprintf("%s/n=%d", net.name, n)
				regResults = append(regResults, struct {
					key string
					r   *RegResult
				}{key, r})
				if !cfg.NoPeers {
					spec, err := mlpSpec(g)
					if err != nil {
						return fmt.Errorf("%s as an MLP for the peers: %w", net.name, err)
					}
					peers.in.Nets[net.name] = spec
					peers.add(key, net.name, tasks, r)
				}
				out = append(out, func(w io.Writer) { regTable(w, r); infoSummary(w, r, 3) })
				if n == pl.sineN[0] {
					if path, rel := fig(net.name + "-task0.png"); path != "" {
						title := fmt.Sprintf("%s, task 0 (%s), n = %d", net.name, tasks[0].Name, n)
						if err := plotSineTask(ctx, g, tasks[0], net.lo, net.hi, DefaultGrid, cfg.Seed, title, path); err != nil {
							notes = append(notes, fmt.Sprintf("figure %s: %v", path, err))
						} else {
							text("![%s](%s)\n\n", title, rel)
						}
					}
				}
			}
		}
		phase("sinusoids", t0)
	}

	// 2. Spatial.
	if cfg.runs("spatial") {
		t0 = time.Now()
		text("## 2. Spatial transfer (simulated stand-in for the malaria experiment)\n\n" +
			"The paper adapts a network trained on 2012 malaria incidence in Nigeria to 2016 from a few sites; those data are not available here, so a documented simulator stands in (experiments/spatial.go). " +
			"Locations z are uniform in the unit square and the network sees x = 2z − 1. Source period: y = F(z) + ε, F a smooth random field (256 random Fourier features of an RBF kernel, lengthscale 0.15). " +
			"Target period: y = 0.8·F(z − d) + 0.6·G(z) + 3 Gaussian bumps (height U(0.5, 1.5), width 0.08) + 0.2 + ε — the old pattern drifts by |d| = 0.05 and decays, an independent field G (lengthscale 0.3) and new hot-spots appear. ε ~ N(0, 0.1²). " +
			"For each world (seed) an MLP tanh 2-64-64-1 (4,417 parameters) is trained in Go on 2,000 source points (Adam, mini-batches of 128, engine VJP), then adapted with n target points and tested on 1,000 target points.\n\n")
		var worlds []*SpatialSource
		var srcRows []string
		for wi := range pl.worlds {
			src, err := trainSpatialSource(cfg.Seed+100+uint64(wi), pl.sourceSteps)
			if err != nil {
				return err
			}
			worlds = append(worlds, src)
			base, _ := forwardGraph(src.G, spatialTask(src.World, cfg.Seed+100+uint64(wi), 1).Xte)
			src.TargetRMSE = math.Sqrt(mse(base, spatialTask(src.World, cfg.Seed+100+uint64(wi), 1).Yte))
			srcRows = append(srcRows, fmt.Sprintf("| %d | %d | %.1f | %.3f | %.3f | %.3f |", wi, src.Steps, src.Seconds, src.TrainRMSE, src.TestRMSE, src.TargetRMSE))
		}
		text("Source networks (RMSE includes the noise, σ = 0.1):\n\n| world | Adam steps | train s | source train RMSE | source test RMSE | target test RMSE (base) |\n|---|---|---|---|---|---|\n%s\n\n", strings.Join(srcRows, "\n"))
		for _, n := range pl.spatialN {
			// One task per world; the results of all worlds are pooled.
			var all *RegResult
			var tasks []*RegTask
			for wi, src := range worlds {
				t := spatialTask(src.World, cfg.Seed+100+uint64(wi), n)
				tasks = append(tasks, t)
				r := runRegression(ctx, "spatial", src.G, []*RegTask{t}, RegMethods, DefaultGrid, cfg.Seed+uint64(wi), logf)
				if all == nil {
					all = r
					continue
				}
				for _, m := range r.Methods {
					all.Scores[m] = append(all.Scores[m], r.Scores[m]...)
					all.Infos[m] = append(all.Infos[m], r.Infos[m]...)
				}
			}
			all.Title = "spatial (one task per world)"
			key := fmt.Sprintf("spatial/n=%d", n)
			regResults = append(regResults, struct {
				key string
				r   *RegResult
			}{key, all})
			if !cfg.NoPeers {
				// Each world has its own network: one peer experiment per world.
				for wi, src := range worlds {
					spec, err := mlpSpec(src.G)
					if err != nil {
						return err
					}
					name := fmt.Sprintf("spatial-world%d", wi)
					peers.in.Nets[name] = spec
				}
				peers.addPerTask(key, func(i int) string { return fmt.Sprintf("spatial-world%d", i) }, tasks, all)
			}
			r := all
			out = append(out, func(w io.Writer) { regTable(w, r); infoSummary(w, r, 3) })
			if n == pl.spatialN[len(pl.spatialN)-1] {
				if path, rel := fig(fmt.Sprintf("spatial-world0-n%d.png", n)); path != "" {
					if err := plotSpatial(ctx, worlds[0].G, tasks[0], path); err != nil {
						notes = append(notes, fmt.Sprintf("figure %s: %v", path, err))
					} else {
						text("![spatial world 0, n = %d](%s)\n\n", n, rel)
					}
				}
			}
		}
		phase("spatial", t0)
	}

	// 3. Digits.
	t0 = time.Now()
	text("## 3. Image classification transfer: rotated digits\n\n"+
		"models/digits-cnn (Conv-BN-ReLU-MaxPool-Conv-ReLU-GAP-Gemm, 1,434 parameters) trained on upright 8×8 digits, adapted to digits rotated by U(30°, 45°). "+
		"target.csv (300 rows) and test.csv (500 rows) are one random split of the same rotated digits (models/make_models.py), so they are pooled and each repeat r draws its own random split of the 800 rows from the seed (PCG stream (seed, r)): 500 test rows, and the adaptation set of size n is the first n of the other 300 in random order (nested across n). "+
		"Every method, peers included, sees the same splits; repeat r seeds the methods with seed + r; mean ± standard error over %d repeats. "+
		"Fine-tuning: full-batch Adam on the cross-entropy, steps and learning rate chosen on a random quarter of the labelled points, then retrained on all of them. "+
		"Logistic regression: on the 16 penultimate (pooled) features, L2 weight chosen on a random quarter by validation cross-entropy. "+
		"Ours: gpadapt.Fit with Task Classification (Laplace approximation of the linearized network, prior scale by the approximate evidence; Method auto: parameter space when p < nK, else function space), all parameters or the last layer (fc.weight, fc.bias); class probabilities by Monte Carlo over the Gaussian on the logits (1,000 draws per point, the default), and, from the same fit, by the pairwise probit approximation (the \"probit\" row: its time is the prediction alone) and by the softmax of the mean logits (the \"MAP\" rows, --predictive map: no spread, so not a Bayesian predictive; time as for probit). The \"layerwise\" rows fit one prior scale per layer (conv1, bn1, conv2, fc) by the Laplace evidence (--prior-scale layerwise, coordinate ascent over log₁₀ s_l in decades then half decades from the common s; parameter form at both n), with the Monte Carlo and the MAP predictive from that fit. "+
		"The peers (section 4) run on the same network rebuilt in torch from the ONNX initializers; their class probabilities are scored here by the same metrics package (ECE: 10 equal-width confidence bins).\n\n", pl.digitsRepeats)
	var digits []*ClassResult
	if !cfg.runs("digits") {
	} else if d, err := loadDigits(cfg.ModelsDir); err != nil {
		notes = append(notes, fmt.Sprintf("digits not run: %v", err))
		text("not run: %v\n\n", err)
	} else {
		splits := digitsSplits(d.x.Shape[0], d.nTest, pl.digitsRepeats, cfg.Seed)
		digits = runDigits(ctx, d, pl.digitsN, splits, ClassMethods, pl.digitsGrid, cfg.Seed, logf)
		for _, r := range digits {
			out = append(out, func(w io.Writer) { classTable(w, r) })
		}
		if !cfg.NoPeers {
			if err := addDigitsPeers(peers, d, splits, digits); err != nil {
				return fmt.Errorf("digits for the peers: %w", err)
			}
		}
	}
	phase("digits", t0)

	// 4. Peers.
	t0 = time.Now()
	if !cfg.NoPeers {
		peers.run(ctx, 25*time.Minute, logf)
	} else {
		peers.Status = "not run: -nopeers"
		for _, rr := range regResults {
			rr.r.Methods = append(rr.r.Methods, PeerMethods...)
		}
		for _, r := range digits {
			r.Methods = append(r.Methods, PeerClassMethods...)
		}
	}
	phase("peers", t0)
	out = append(out, func(w io.Writer) {
		fmt.Fprintf(w, "## 4. Peers\n\nThe peer rows in the tables of sections 1 and 2 come from experiments/peers/peers.py, run on the same tasks and the same networks (rebuilt in torch from the ONNX initializers): "+
			"laplace-torch's linearized (GLM) Laplace over all weights at the pretrained weights (full Hessian for networks of at most 1,500 parameters, i.e. sine-keras; KFAC (\"kron\") above, because the full log-determinant recomputed at each of the marginal-likelihood steps took minutes per task), prior precision and observation noise fitted by its marginal likelihood (100 Adam steps). "+
			"laplace-torch treats the given weights as a MAP estimate, so its GLM predictive mean is the network itself: its RMSE equals the base network's and only its uncertainty adapts. "+
			"GPyTorch: exact GP with the finite NTK J(x)J(x')ᵀ of the same network as kernel (LinearKernel on the Jacobian rows from torch.func, with a fitted scale), the network as mean, Gaussian likelihood; scale and noise by 100 Adam steps on the exact marginal likelihood. It is the same model as ours with another hyperparameter optimizer, so it should match ours closely. float64, one thread. Status: %s.\n\n", peers.Status)
		if len(digits) > 0 {
			peers.classText(w)
		}
	})
	for _, rr := range regResults {
		addRaw(rr.r, rr.key)
	}
	for _, r := range digits {
		for _, m := range r.Methods {
			for i, s := range r.Scores[m] {
				raw = append(raw, fmt.Sprintf("digits,%d,%q,%d,%.6g,%.6g,%.4g,%.4g,%q", r.N, m, i, s.Accuracy, s.NLL, s.ECE, s.Seconds, s.Err))
			}
		}
	}

	// 5. Timing.
	if cfg.runs("timing") {
		t0 = time.Now()
		var trows []TimingRow
		for _, n := range pl.timingN {
			trows = append(trows, timeAdapt(ctx, pl.timingW, n, false))
		}
		for _, h := range pl.timingWidths {
			if h == pl.timingW {
				continue
			}
			p := MLP(1, 1, h, h, 1).NumParams()
			trows = append(trows, timeAdapt(ctx, h, pl.timingFixN, p > pl.paramMaxP))
		}
		sort.SliceStable(trows, func(i, j int) bool {
			if trows[i].P != trows[j].P {
				return trows[i].P < trows[j].P
			}
			return trows[i].N < trows[j].N
		})
		phase("timing", t0)
		text("## 5. Time to adapt against N and p\n\n"+
			"gpadapt.Fit wall time (forward sweeps, kernel or Jacobian, tridiagonal reduction of the kernel for fitting σ² and s, Cholesky) on an MLP tanh 1-h-h-1 with random weights and a noisy sinusoid, "+
			"in both inference forms; N varies at h = %d, and h at N = %d. The last column is the largest difference between the two forms' predictive means on 50 test points (they must agree).\n\n", pl.timingW, pl.timingFixN)
		out = append(out, func(w io.Writer) { timingTable(w, trows) })
		if path, rel := fig("timing.png"); path != "" {
			if err := plotTiming(trows, pl.timingW, path); err != nil {
				notes = append(notes, fmt.Sprintf("figure %s: %v", path, err))
			} else {
				text("![timing](%s)\n\n", rel)
			}
		}
		if cfg.BenchResults != "" {
			brows, err := ReadBenchAdapt(cfg.BenchResults)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("bench results in %s: %v", cfg.BenchResults, err))
			case len(brows) == 0:
				text("Beside PyTorch: no results in %s (run `make bench` first).\n\n", cfg.BenchResults)
			default:
				newest := brows[0].Stamp
				for _, r := range brows {
					if r.Stamp.After(newest) {
						newest = r.Stamp
					}
				}
				text("Beside PyTorch, from the last `make bench` (%s, results in %s; BENCHMARKS.md has the machine, versions and peak memory): "+
					"the 803k-parameter MLP 5-200-2000-200-1 (ELU) against N and the 5-h-h-1 MLPs against p at N = 1,000, σ² = 0.01 and s = 1 fixed, one thread. "+
					"PyTorch runs the parameter-space pipeline of the reference implementation, unpreconditioned CG with a torch.func.jvp and a stored torch.func.vjp per product, to relative residual 1e-5 or its time cap; "+
					"capped runs give bounds on the ratio.\n\n", newest.UTC().Format("2006-01-02 15:04 UTC"), cfg.BenchResults)
				out = append(out, func(w io.Writer) { benchAdaptTable(w, brows) })
			}
		}
	}

	// Header, peers section, notes.
	total := time.Since(start)
	mode := "full"
	if cfg.Quick {
		mode = "quick (-quick: a subset)"
	}
	fmt.Fprintf(w, "# Experiments\n\nGenerated by `%s` — do not edit by hand.\n\n", cfg.Command)
	fmt.Fprintf(w, "- date: %s\n- machine: %s\n- mode: %s; seed %d (every task, split and initialization derives from it)\n- wall time: %.1f min (%s); CPU time of this process %.1f min (the peers' Python process not included)\n- peers: %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(), mode, cfg.Seed, total.Minutes(), strings.Join(phases, ", "), cpuMinutes(), peers.Status)
	io.WriteString(w, methodsText)
	for _, f := range out {
		f(w)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "## Notes from this run\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	if cfg.RawCSV != "" {
		body := "experiment,n,method,task,rmse_or_accuracy,nll,coverage_or_ece,seconds,error\n" + strings.Join(raw, "\n") + "\n"
		if err := os.WriteFile(cfg.RawCSV, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// methodsText describes the methods compared in the regression tables.
const methodsText = `## Methods

- **base network**: the pretrained network, unchanged. Its NLL uses a constant predictive variance equal to its mean squared error on the adaptation points.
- **fine-tune all (Adam)**: every weight trained by full-batch Adam on the adaptation points (gradients from the engine's own VJP), from the pretrained weights. The number of steps (10, 20, 50, 100, 200, 500, 1000) and the learning rate (1e-3, 1e-2) are chosen on a random validation quarter of the points (at least 2), then the network is retrained on all points with that choice. Its NLL uses a constant variance equal to the validation MSE at the chosen setting.
- **last layer (ridge, LOO λ)**: the last dense layer retrained in closed form by ridge regression on its input features, shrunk towards the pretrained weights (it fits y − f(x) with [φ(x), 1]·Δ); λ ∈ {1e-6, …, 1e4} (half-decade grid) chosen by the exact leave-one-out error; NLL with a constant variance equal to that leave-one-out MSE.
- **RBF GP (ML-II)**: exact GP with an ARD squared-exponential kernel and a constant mean (the targets' average), lengthscales, signal and noise variances by maximizing the log marginal likelihood (L-BFGS with the analytic gradient, gonum/optimize, 3 starts). Ignores the network. NLL with latent variance + noise.
- **ours**: gpadapt.Fit (the finite-NTK GP of the linearized network, mean = the network), all parameters, only the last layer (Params "last:1"), or (regression) the set among last:1 … all of the largest marginal likelihood (Params "auto"), or (classification) one prior scale per layer (Layerwise), noise σ² and prior scale s fitted by the marginal likelihood. NLL with latent variance + σ².
- Scores: RMSE and Gaussian NLL (per test point, nats) and the fraction of test targets inside the central 95% predictive interval, mean ± standard error over tasks; "s / task" is the wall time of fitting and predicting. The metrics come from the project's metrics/ package. Per-task numbers are in experiments/results.csv.

`
