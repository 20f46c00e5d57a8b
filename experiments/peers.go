package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Peer method names.
const (
	MLaplace = "peer: laplace-torch GLM Laplace (all params)"
	MGPyT    = "peer: GPyTorch exact GP, finite-NTK kernel"
)

// PeerMethods are the rows the peers add to the regression tables.
var PeerMethods = []string{MLaplace, MGPyT}

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
}

// PeerRun collects regression results for the peers.
type PeerRun struct {
	Python  string // interpreter of the bench virtual environment
	Script  string
	in      peerInput
	results map[string]*RegResult
	// Status says why the peers did not run, or their versions.
	Status string
}

func newPeerRun(python, script string) *PeerRun {
	return &PeerRun{Python: python, Script: script, in: peerInput{Nets: map[string][]DenseLayer{}, Threads: 1}, results: map[string]*RegResult{}}
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
	for _, r := range p.results {
		r.Methods = append(r.Methods, PeerMethods...)
	}
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
	p.Status = "ran: " + strings.Join(vs, ", ")
	for key, r := range p.results {
		for _, m := range PeerMethods {
			for _, s := range po.Results[key][m] {
				r.Scores[m] = append(r.Scores[m], Score{RMSE: s.RMSE, NLL: s.NLL, Coverage: s.Coverage, Seconds: s.Seconds, Err: s.Err})
			}
		}
	}
}
