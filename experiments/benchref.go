package experiments

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BenchAdapt is one adaptation that `make bench` timed (bench/run.sh):
// onnx-adapt's gpadapt.Fit, in one inference form, and PyTorch's
// parameter-space CG on the same model and data, from the JSON files the
// harness leaves in bench/results.
type BenchAdapt struct {
	Case   string // model of the run, e.g. elu803k or sweep-p1e+05
	Form   string // "" (function, dense), "param" or "free" (matrix-free)
	N, P   int
	Ours   benchGo
	Torch  *benchTorch // nil when PyTorch did not run on this case
	Stamp  time.Time   // when onnx-adapt's result was written
	OursOK bool
}

type benchGo struct {
	Method     string  `json:"method"`
	Solver     string  `json:"solver"`
	Iterations int     `json:"iterations"`
	Residual   float64 `json:"relative_residual"`
	Capped     bool    `json:"capped"`
	Seconds    float64 `json:"seconds"`
	Params     int     `json:"params"`
	Error      string  `json:"error"`
}

type benchTorch struct {
	Iterations int     `json:"iterations"`
	Converged  bool    `json:"converged"`
	Residual   float64 `json:"relative_residual"`
	Seconds    float64 `json:"seconds"`
	PerIter    float64 `json:"seconds_per_iteration"`
	Torch      string  `json:"torch"`
}

// ReadBenchAdapt reads the adaptation results in dir (bench/results):
// every go-adapt-CASE[-FORM]-nN.json, paired with torch-cg-CASE-nN.json
// when present, sorted by p, N and form. A missing directory gives no rows
// and no error.
func ReadBenchAdapt(dir string) ([]BenchAdapt, error) {
	names, err := filepath.Glob(filepath.Join(dir, "go-adapt-*.json"))
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var rows []BenchAdapt
	for _, path := range names {
		stem := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "go-adapt-"), ".json")
		cut := strings.LastIndex(stem, "-n")
		if cut < 0 {
			continue
		}
		n, err := strconv.Atoi(stem[cut+2:])
		if err != nil {
			continue
		}
		r := BenchAdapt{Case: stem[:cut], N: n}
		for _, form := range []string{"param", "free"} {
			if base, ok := strings.CutSuffix(r.Case, "-"+form); ok {
				r.Case, r.Form = base, form
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			continue // killed before it wrote
		}
		if err := json.Unmarshal(b, &r.Ours); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		r.P, r.OursOK = r.Ours.Params, r.Ours.Error == ""
		if st, err := os.Stat(path); err == nil {
			r.Stamp = st.ModTime()
		}
		tp := filepath.Join(dir, fmt.Sprintf("torch-cg-%s-n%d.json", r.Case, n))
		if b, err := os.ReadFile(tp); err == nil && len(b) > 0 {
			var t benchTorch
			if err := json.Unmarshal(b, &t); err != nil {
				return nil, fmt.Errorf("%s: %v", tp, err)
			}
			r.Torch = &t
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.P != b.P {
			return a.P < b.P
		}
		if a.N != b.N {
			return a.N < b.N
		}
		return a.Form < b.Form
	})
	return rows, nil
}

// benchAdaptTable writes the rows as a markdown table: onnx-adapt's time
// beside PyTorch's CG on the same fit, and their ratio where both ran (a
// lower bound when PyTorch stopped at its time cap, an upper one when ours
// stopped at its iteration cap).
func benchAdaptTable(w io.Writer, rows []BenchAdapt) {
	fmt.Fprintln(w, "| model | p | N | onnx-adapt form | onnx-adapt | PyTorch CG (parameter space) | PyTorch ÷ onnx-adapt |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		form := map[string]string{"": "function, dense", "param": "parameter, CG", "free": "function, matrix-free CG"}[r.Form]
		ours := "failed: " + r.Ours.Error
		if r.OursOK {
			ours = fmt.Sprintf("%.1f s", r.Ours.Seconds)
			if r.Ours.Iterations > 0 {
				state := "converged"
				if r.Ours.Capped {
					state = "capped"
				}
				ours += fmt.Sprintf(" (%d it, %s, residual %.1e)", r.Ours.Iterations, state, r.Ours.Residual)
			}
		}
		torch, ratio := "—", "—"
		if t := r.Torch; t != nil {
			state := "converged"
			if !t.Converged {
				state = "capped"
			}
			torch = fmt.Sprintf("%.1f s (%d it, %s, residual %.1e)", t.Seconds, t.Iterations, state, t.Residual)
			if r.OursOK && r.Ours.Seconds > 0 {
				bound := ""
				switch {
				case !t.Converged && !r.Ours.Capped:
					bound = "≥ "
				case t.Converged && r.Ours.Capped:
					bound = "≤ "
				case !t.Converged && r.Ours.Capped:
					bound = "~ "
				}
				ratio = fmt.Sprintf("%s%.1f×", bound, t.Seconds/r.Ours.Seconds)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s |\n", r.Case, r.P, r.N, form, ours, torch, ratio)
	}
	fmt.Fprintln(w)
}
