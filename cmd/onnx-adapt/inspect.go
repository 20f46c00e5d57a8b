package main

import (
	"context"
	"flag"
	"io"

	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

const inspectUsage = `Usage: onnx-adapt inspect MODEL.onnx

Describes an ONNX model as onnx-adapt imports it: its inputs and outputs with
their shapes (N is the batch dimension), opset and producer, a histogram of its
ops, its parameter tensors with their shapes and total count, its constants,
and any ops onnx-adapt does not support.
`

func cmdInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	pos, err := parseCommand(fs, args, inspectUsage, stdout, 1, 1)
	if err != nil {
		return err
	}
	g, err := loadModelWith(pos[0], &onnximport.Options{AllowUnsupported: true})
	if err != nil {
		return err
	}
	return onnximport.Summarize(g).WriteText(stdout)
}
