// Command onnx-adapt adapts a pretrained ONNX network to a few labelled
// points from a new domain by exact Bayesian inference in the network's
// linearization, and inspects, runs and checks ONNX models.
//
// Run "onnx-adapt help" for usage.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/onnx-adapt/onnx-adapt/internal/memlimit"
)

func main() {
	memlimit.Set() // a soft limit of 3/4 of physical memory, unless GOMEMLIMIT is set
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
