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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
