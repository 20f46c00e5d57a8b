package experiments

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
)

// fmtMS formats mean ± standard error.
func fmtMS(v []float64, prec int) string {
	m, se := meanSE(v)
	if math.IsNaN(m) {
		return "—"
	}
	if len(v) < 2 {
		return fmt.Sprintf("%.*f", prec, m)
	}
	return fmt.Sprintf("%.*f ± %.*f", prec, m, prec, se)
}

// regTable writes one markdown table of a regression result.
func regTable(w io.Writer, r *RegResult) {
	fmt.Fprintf(w, "**%s, n = %d** (%d tasks)\n\n", r.Title, r.N, len(r.Scores[r.Methods[0]]))
	fmt.Fprintln(w, "| method | test RMSE | test NLL | 95% coverage | s / task | failures |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, m := range r.Methods {
		if len(r.Scores[m]) == 0 {
			fmt.Fprintf(w, "| %s | not run | | | | |\n", m)
			continue
		}
		var rmse, nll, cov, sec []float64
		fails := 0
		for _, s := range r.Scores[m] {
			if s.Err != "" {
				fails++
				continue
			}
			rmse, nll, cov, sec = append(rmse, s.RMSE), append(nll, s.NLL), append(cov, s.Coverage), append(sec, s.Seconds)
		}
		ms, _ := meanSE(sec)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.3f | %d |\n", m, fmtMS(rmse, 3), fmtMS(nll, 3), fmtMS(cov, 2), ms, fails)
	}
	fmt.Fprintln(w)
	// Paired comparison with ours: on how many tasks ours has the lower RMSE/NLL.
	if ours, ok := r.Scores[MOurs]; ok {
		var parts []string
		for _, m := range r.Methods {
			if m == MOurs {
				continue
			}
			if len(r.Scores[m]) == 0 {
				continue
			}
			wr, wn, tot := 0, 0, 0
			for i, s := range r.Scores[m] {
				if i >= len(ours) || s.Err != "" || ours[i].Err != "" {
					continue
				}
				tot++
				if ours[i].RMSE < s.RMSE {
					wr++
				}
				if ours[i].NLL < s.NLL {
					wn++
				}
			}
			parts = append(parts, fmt.Sprintf("%s %d/%d (RMSE), %d/%d (NLL)", shortName(m), wr, tot, wn, tot))
		}
		fmt.Fprintf(w, "Tasks on which ours is better than: %s.\n\n", strings.Join(parts, "; "))
	}
}

func shortName(m string) string {
	switch m {
	case MBase:
		return "base"
	case MFineTune, MFineTuneC:
		return "fine-tune"
	case MRidge:
		return "ridge"
	case MRBF:
		return "RBF GP"
	case MOursLast:
		return "ours (last layer)"
	case MOursAuto:
		return "ours (params by evidence)"
	case MOursProbit:
		return "ours (probit)"
	case MOursMAP:
		return "ours (MAP)"
	case MOursLW:
		return "ours (layerwise)"
	case MOursLWMAP:
		return "ours (layerwise, MAP)"
	case MLogAnch:
		return "logistic (anchored)"
	case MLogFresh:
		return "logistic (fresh)"
	}
	return m
}

// infoSummary lists what a method chose on the first few tasks.
func infoSummary(w io.Writer, r *RegResult, maxShown int) {
	for _, m := range r.Methods {
		inf := r.Infos[m]
		if len(inf) == 0 || inf[0] == "" {
			continue
		}
		shown := inf[:min(len(inf), maxShown)]
		fmt.Fprintf(w, "- %s: %s%s\n", shortName(m), strings.Join(shown, "; "), map[bool]string{true: "; …", false: ""}[len(inf) > maxShown])
	}
	fmt.Fprintln(w)
}

// classTable writes the digits table for one n.
func classTable(w io.Writer, r *ClassResult) {
	rep := fmt.Sprintf("mean ± s.e. over %d random splits", r.Repeats)
	if r.Repeats == 1 {
		rep = "one random split"
	}
	fmt.Fprintf(w, "**n = %d** labelled rotated digits, %s of the %d pooled rows (target.csv ∪ test.csv) into %d adaptation candidates (the first n used) and %d test rows\n\n", r.N, rep, r.Pool, r.Pool-r.Test, r.Test)
	fmt.Fprintln(w, "| method | accuracy | NLL | ECE (10 bins) | s / run | chosen (first runs) | failures |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, m := range r.Methods {
		if len(r.Scores[m]) == 0 {
			fmt.Fprintf(w, "| %s | not run | | | | | |\n", m)
			continue
		}
		s := summarizeClass(r.Scores[m])
		fail := fmt.Sprint(s.Fails)
		if s.Fails > 0 {
			fail += ": " + strings.ReplaceAll(s.FirstErr, "|", "/")
		}
		infos := s.Infos[:min(len(s.Infos), 2)]
		more := ""
		if len(s.Infos) > 2 {
			more = "; …"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f | %s%s | %s |\n", m, fmtMS(s.Acc, 3), fmtMS(s.NLL, 3), fmtMS(s.ECE, 3), s.Seconds, strings.Join(infos, "; "), more, fail)
	}
	fmt.Fprintln(w)
}

// timingTable writes the timing rows.
func timingTable(w io.Writer, rows []TimingRow) {
	fmt.Fprintln(w, "| width h | p | N | function space (s) | parameter space (s) | max \\|mean difference\\| |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	cell := func(v float64, e string) string {
		if math.IsNaN(v) {
			if e == "" {
				return "—"
			}
			return "not run: " + e
		}
		return fmt.Sprintf("%.3f", v)
	}
	for _, r := range rows {
		d := "—"
		if !math.IsNaN(r.MaxAbsDiff) {
			d = fmt.Sprintf("%.1e", r.MaxAbsDiff)
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s | %s | %s |\n", r.Width, r.P, r.N, cell(r.Function, r.FunctionErr), cell(r.Parameter, r.ParamErr), d)
	}
	fmt.Fprintln(w)
}

// machine describes the CPU this runs on.
func machine() string {
	cpu := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs visible, GOMAXPROCS=%d, %s %s/%s", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
