package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// Peer method names.
const (
	MLaplace = "peer: laplace-torch GLM Laplace (all params)"
	MGPyT    = "peer: GPyTorch exact GP, finite-NTK kernel"
)

// PeerMethods are the rows the peers add to the regression tables.
var PeerMethods = []string{MLaplace, MGPyT}

// Peer classification method names.
const (
	MLaplaceC = "peer: laplace-torch GLM Laplace (all params, full Hessian, probit)"
	MGPyTC    = "peer: GPyTorch Dirichlet GP, finite-NTK kernel"
)

// PeerClassMethods are the rows the peers add to the digits tables.
var PeerClassMethods = []string{MLaplaceC, MGPyTC}

// peerLogitTol bounds |torch logit − engine logit| / (1 + |engine logit|)
// over the pool for a network the peers rebuilt (torch in float64, the
// engine in float32): above it the peers refuse to run on that network.
const peerLogitTol = 1e-5

// peerPool is a classification data set shared by the tasks of a network:
// inputs as flat rows of the given per-example shape, labels, and the
// engine's logits on every row (the peers check their rebuild against them).
type peerPool struct {
	X      [][]float64 `json:"x"`
	Shape  []int       `json:"shape"`
	Labels []int       `json:"labels"`
	Logits [][]float64 `json:"logits"`
}

// peerClassTask is one adaptation: rows of the pool to adapt on and to test on.
type peerClassTask struct {
	Train []int `json:"train"`
	Test  []int `json:"test"`
}

type peerClassExperiment struct {
	Key   string          `json:"key"`
	Net   string          `json:"net"` // names both the chain and the pool
	Tasks []peerClassTask `json:"tasks"`
}

type peerClassScore struct {
	Probs   [][]float64 `json:"probs"` // test rows × classes
	Seconds float64     `json:"seconds"`
	Info    string      `json:"info"`
	Err     string      `json:"err"`
}

type peerTask struct {
	Net string      `json:"net"`
	Xtr [][]float64 `json:"xtr"`
	Ytr [][]float64 `json:"ytr"`
	Xte [][]float64 `json:"xte"`
	Yte [][]float64 `json:"yte"`
}

type peerExperiment struct {
	Key   string     `json:"key"`
	Tasks []peerTask `json:"tasks"`
}

type peerInput struct {
	Nets        map[string][]DenseLayer `json:"nets"`
	Experiments []peerExperiment        `json:"experiments"`
	Threads     int                     `json:"threads"`
	// Classification: networks as op chains, their pools, the tasks.
	Chains   map[string][]ChainOp  `json:"chains"`
	Pools    map[string]peerPool   `json:"pools"`
	Class    []peerClassExperiment `json:"classification"`
	LogitTol float64               `json:"logit_tol"`
}

type peerScore struct {
	RMSE     float64 `json:"rmse"`
	NLL      float64 `json:"nll"`
	Coverage float64 `json:"coverage"`
	Seconds  float64 `json:"seconds"`
	Err      string  `json:"err"`
}

type peerOutput struct {
	Versions map[string]string                 `json:"versions"`
	Results  map[string]map[string][]peerScore `json:"results"`
	// ClassResults holds, per classification key and method, one score per task.
	ClassResults map[string]map[string][]peerClassScore `json:"class_results"`
	// Checks holds, per rebuilt network, the largest relative logit
	// difference from the engine over its pool.
	Checks map[string]float64 `json:"checks"`
}

// PeerRun collects regression results for the peers.
type PeerRun struct {
	Python  string // interpreter of the bench virtual environment
	Script  string
	in      peerInput
	results map[string]*RegResult
	class   map[string]*ClassResult
	// Checks are the rebuilt networks' largest relative logit differences
	// from the engine, as the peers' script measured them.
	Checks map[string]float64
	// Status says why the peers did not run, or their versions.
	Status string
}

func newPeerRun(python, script string) *PeerRun {
	return &PeerRun{Python: python, Script: script, in: peerInput{Nets: map[string][]DenseLayer{}, Threads: 1, Chains: map[string][]ChainOp{}, Pools: map[string]peerPool{}, LogitTol: peerLogitTol},
		results: map[string]*RegResult{}, class: map[string]*ClassResult{}}
}

// add registers a regression result whose tasks all adapt network net.
func (p *PeerRun) add(key, net string, tasks []*RegTask, r *RegResult) {
	p.addPerTask(key, func(int) string { return net }, tasks, r)
}

// addPerTask registers a regression result whose task i adapts network
// net(i).
func (p *PeerRun) addPerTask(key string, net func(i int) string, tasks []*RegTask, r *RegResult) {
	pe := peerExperiment{Key: key}
	for i, t := range tasks {
		pe.Tasks = append(pe.Tasks, peerTask{Net: net(i), Xtr: baseline.Rows(t.Xtr), Ytr: t.Ytr, Xte: baseline.Rows(t.Xte), Yte: t.Yte})
	}
	p.in.Experiments = append(p.in.Experiments, pe)
	p.results[key] = r
}

// setPool registers network net for the classification peers: its op
// chain, the pool of inputs x (rows of the given per-example shape) with
// their labels, and the engine's logits on the pool.
func (p *PeerRun) setPool(net string, chain []ChainOp, x [][]float64, shape, labels []int, logits [][]float64) {
	p.in.Chains[net] = chain
	p.in.Pools[net] = peerPool{X: x, Shape: shape, Labels: labels, Logits: logits}
}

// addClass registers a classification result: task r adapts network net on
// the rows train[r] of its pool and tests on test[r], as repeat r of r.
func (p *PeerRun) addClass(key, net string, train, test [][]int, r *ClassResult) {
	pe := peerClassExperiment{Key: key, Net: net}
	for i := range train {
		pe.Tasks = append(pe.Tasks, peerClassTask{Train: train[i], Test: test[i]})
	}
	p.in.Class = append(p.in.Class, pe)
	p.class[key] = r
}

// mergeClass scores the peers' class probabilities with the metrics
// package (the same accuracy, NLL and ECE as every other row).
func (p *PeerRun) mergeClass(po *peerOutput) {
	for _, pe := range p.in.Class {
		r := p.class[pe.Key]
		labels := p.in.Pools[pe.Net].Labels
		for _, m := range PeerClassMethods {
			for i, s := range po.ClassResults[pe.Key][m] {
				sc := ClassScore{Seconds: s.Seconds, Info: s.Info, Err: s.Err}
				if sc.Err == "" && i < len(pe.Tasks) {
					y := make([]int, len(pe.Tasks[i].Test))
					for j, row := range pe.Tasks[i].Test {
						y[j] = labels[row]
					}
					var err error
					if sc.ClassificationScores, err = metrics.Classification(s.Probs, y); err != nil {
						sc.Err = err.Error()
					}
				}
				r.Scores[m] = append(r.Scores[m], sc)
			}
		}
	}
}

// addRows appends the peers' rows, empty, to every registered result.
func (p *PeerRun) addRows() {
	for _, r := range p.results {
		r.Methods = append(r.Methods, PeerMethods...)
	}
	for _, r := range p.class {
		r.Methods = append(r.Methods, PeerClassMethods...)
	}
}

// peerReady checks that the interpreter imports the peers' packages.
func peerReady(python string) error {
	if _, err := os.Stat(python); err != nil {
		return fmt.Errorf("%s not found (the bench/ virtual environment is not built)", python)
	}
	out, err := exec.Command(python, "-c", "import torch, laplace, gpytorch").CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("%s cannot import torch, laplace, gpytorch: %s", python, lines[len(lines)-1])
	}
	return nil
}

// run writes the tasks, runs the peers' script and merges its scores into
// the registered results. Any failure is recorded in Status and the peer
// rows say "not run".
func (p *PeerRun) run(ctx context.Context, timeout time.Duration, logf func(string, ...any)) {
	p.addRows()
	if err := peerReady(p.Python); err != nil {
		p.Status = "not run: " + err.Error()
		return
	}
	dir, err := os.MkdirTemp("", "onnx-adapt-peers")
	if err != nil {
		p.Status = "not run: " + err.Error()
		return
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "tasks.json"), filepath.Join(dir, "results.json")
	b, err := json.Marshal(p.in)
	if err == nil {
		err = os.WriteFile(in, b, 0o644)
	}
	if err == nil && os.Getenv("PEERS_KEEP_TASKS") != "" {
		// A debugging aid: keep the tasks to rerun the script by hand.
		err = os.WriteFile(os.Getenv("PEERS_KEEP_TASKS"), b, 0o644)
	}
	if err != nil {
		p.Status = "not run: " + err.Error()
		return
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, p.Python, p.Script, in, out)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1")
	msg, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(msg)), "\n")
		p.Status = fmt.Sprintf("not run: %s failed (%v): %s", p.Script, err, lines[len(lines)-1])
		logf("%s", msg)
		return
	}
	var po peerOutput
	b, err = os.ReadFile(out)
	if err == nil {
		err = json.Unmarshal(b, &po)
	}
	if err != nil {
		p.Status = "not run: reading the peers' results: " + err.Error()
		return
	}
	var vs []string
	for k, v := range po.Versions {
		vs = append(vs, k+" "+v)
	}
	sort.Strings(vs)
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	p.Status = fmt.Sprintf("ran (script CPU time %.1f min): %s", cpu.Minutes(), strings.Join(vs, ", "))
	p.Checks = po.Checks
	for net, d := range po.Checks {
		if !(d <= peerLogitTol) { // NaN too
			logf("peers: %s rebuilt in torch differs from the engine: max relative logit difference %.3g", net, d)
		}
	}
	p.mergeClass(&po)
	for key, r := range p.results {
		for _, m := range PeerMethods {
			for _, s := range po.Results[key][m] {
				r.Scores[m] = append(r.Scores[m], Score{RMSE: s.RMSE, NLL: s.NLL, Coverage: s.Coverage, Seconds: s.Seconds, Err: s.Err})
			}
		}
	}
}

// classText describes the classification peers of the digits tables.
func (p *PeerRun) classText(w io.Writer) {
	check := "not measured (the peers did not run)"
	if d, ok := p.Checks["digits-cnn"]; ok {
		check = fmt.Sprintf("max |torch − engine| / (1 + |engine|) = %.1e over the 800 pooled digits (the script refuses to run above %.0e)", d, peerLogitTol)
		if !(d <= peerLogitTol) {
			check += " — **above the tolerance: the rebuild is wrong and the peer rows did not run**"
		}
	}
	fmt.Fprintf(w, "The peer rows of the digits tables (section 3) adapt the same digits-cnn, rebuilt in torch (float64, eval mode) from the ONNX initializers by experiments/chainspec.go and peers.py; its logits against the engine's: %s. "+
		"**laplace-torch**: Laplace(model, \"classification\", subset_of_weights=\"all\", hessian_structure=\"full\") over all 1,434 parameters at the pretrained weights, GGN from the package's torch.func backend (GGNInterface, batches of 25; its default Curvlinops backend multiplied the GGN by a 1,434×1,434 identity and took 48 s and 3.7 GB for 100 digits, and its GLM predictive on 500 test digits at once ran out of 23 GB, so the predictive also runs in batches of 25), scalar prior precision by optimize_prior_precision(method=\"marglik\") (the package's 100 Adam steps; each recomputes the full log-determinant, which is most of its time), pred_type=\"glm\", link_approx=\"probit\". "+
		"It treats the pretrained weights as the MAP, so its mean logits stay the network's and its accuracy stays near the base network's (the probit scaling moves only a few argmaxes); only the confidence adapts. "+
		"**GPyTorch** has no Laplace classification for exact GPs; its DirichletClassificationLikelihood (Milios et al. 2018) is an exact GP regression on Dirichlet-transformed labels, one independent GP per class: here with kernel v_k·J_k(x)J_k(x')ᵀ (the finite NTK of logit k, precomputed from torch.func Jacobians: the diagonal blocks of our K×K NTK, without the coupling between classes), prior mean log softmax(f(x))_k + c_k, v_k, c_k and its additional noise by 100 Adam steps (lr 0.1) on the exact marginal likelihood, class probabilities from 256 posterior samples (GPyTorch's example). "+
		"Seconds are the script's wall time per run (one thread), including Jacobians. Status: %s.\n\n", check, p.Status)
}
