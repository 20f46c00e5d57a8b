package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/onnx-adapt/onnx-adapt/export"
	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
)

const exportUsage = `Usage: onnx-adapt export PREDICTOR --onnx OUT.onnx [--with-std]

Writes the adapted predictive mean f(x) + J(x)·δ of a saved predictor (from
'onnx-adapt MODEL.onnx --target TRAIN.csv --out PREDICTOR') as a standalone
ONNX model: the network, and its Jacobian-vector product with δ written out
as ONNX ops. Any ONNX runtime can serve it; its output is named "mean".

  --onnx FILE   the ONNX file to write (required; written atomically)
  --with-std    also export the latent standard deviation (not supported
                yet: the command says so and writes nothing)
`

func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	out := fs.String("onnx", "", "")
	withStd := fs.Bool("with-std", false, "")
	pos, err := parseCommand(fs, args, exportUsage, stdout, 1, 1)
	if err != nil {
		return err
	}
	if err := requireFlag("export", "onnx", *out); err != nil {
		return err
	}
	_, _, p, err := loadPredictor(pos[0])
	if err != nil {
		return err
	}
	var data []byte
	if *withStd {
		data, err = export.WithStd(p)
	} else {
		data, err = export.Mean(p)
	}
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", pos[0], err), "The predictive mean exports without --with-std; 'onnx-adapt predict PREDICTOR --input X.csv' gives the standard deviation.")
	}
	if err := atomicfile.WriteFile(*out, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%d bytes): the adapted mean of %s\n", *out, len(data), pos[0])
	return nil
}
