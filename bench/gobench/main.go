// Command gobench runs the Go side of bench/run.sh without depending on the
// CLI's wiring: "gobench MODEL.onnx [flags]" is "onnx-adapt bench", and
// "gobench adapt MODEL.onnx [flags]" times one gpadapt.Fit and reports the
// process's peak memory.
package main

import (
	"os"

	"github.com/onnx-adapt/onnx-adapt/internal/benchcmd"
	"github.com/onnx-adapt/onnx-adapt/internal/memlimit"
)

func main() {
	memlimit.Set() // as the CLI does
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "adapt" {
		os.Exit(benchcmd.RunAdapt(args[1:], os.Stdout, os.Stderr))
	}
	if len(args) > 0 && args[0] == "bench" {
		args = args[1:]
	}
	os.Exit(benchcmd.Run(args, os.Stdout, os.Stderr))
}
