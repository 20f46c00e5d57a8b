// Command run reproduces the experiments of Maddox et al. (AISTATS 2021)
// with onnx-adapt and writes the report EXPERIMENTS.md, the figures in
// experiments/figures and the per-task scores in experiments/results.csv.
// Run it from the repository root:
//
//	go run ./experiments/cmd/run -out EXPERIMENTS.md    # full: < 20 min on 2 cores
//	go run ./experiments/cmd/run -quick -out quick.md   # a ~2-minute subset
//	go run ./experiments/cmd/run -only digits -repeats 5 -out digits.md   # one section
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/experiments"
)

func main() {
	out := flag.String("out", "EXPERIMENTS.md", "markdown report to write")
	quick := flag.Bool("quick", false, "run a ~2-minute subset")
	seed := flag.Uint64("seed", 1, "seed of every task, split and initialization")
	models := flag.String("models", "models", "the repository's models directory")
	shared := flag.String("shared", "../shared", "the shared directory (for models/sine-keras)")
	figures := flag.String("figures", "experiments/figures", "directory for the PNG figures (empty: none)")
	raw := flag.String("raw", "experiments/results.csv", "CSV of per-task scores (empty: none)")
	python := flag.String("python", "bench/.venv/bin/python", "Python of the peers' virtual environment")
	script := flag.String("peers", "experiments/peers/peers.py", "the peers' script")
	noPeers := flag.Bool("nopeers", false, "do not run the peers")
	repeats := flag.Int("repeats", 0, "random digits splits (0: 3, or 2 with -quick)")
	only := flag.String("only", "", "run only this section: sine, spatial, digits or timing (empty: all)")
	benchResults := flag.String("bench-results", "bench/results", "make bench's results, shown beside the timing section (empty: none)")
	flag.Parse()
	switch *only {
	case "", "sine", "spatial", "digits", "timing":
	default:
		log.Fatalf("-only %q: want sine, spatial, digits or timing", *only)
	}
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rel := ""
	if *figures != "" {
		if err := os.MkdirAll(*figures, 0o755); err != nil {
			log.Fatal(err)
		}
		absOut, _ := filepath.Abs(*out)
		absFig, _ := filepath.Abs(*figures)
		if r, err := filepath.Rel(filepath.Dir(absOut), absFig); err == nil {
			rel = r
		} else {
			rel = absFig
		}
	}
	cfg := experiments.Config{
		Quick: *quick, Seed: *seed, ModelsDir: *models, SharedDir: *shared,
		FiguresDir: *figures, FiguresRel: rel, RawCSV: *raw,
		Python: *python, PeerScript: *script, NoPeers: *noPeers, Only: *only, DigitsRepeats: *repeats, BenchResults: *benchResults,
		Command: "go run ./experiments/cmd/run " + strings.Join(os.Args[1:], " "),
		Logf:    log.Printf,
	}
	var buf bytes.Buffer
	if err := experiments.Run(ctx, cfg, &buf); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
}
