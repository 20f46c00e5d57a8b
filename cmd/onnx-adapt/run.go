package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/internal/benchcmd"
)

// Exit codes.
const (
	exitOK        = 0
	exitUsage     = 1 // bad flags or arguments
	exitInput     = 2 // a model or data file that cannot be used
	exitNumerical = 3 // a numerical failure (errors.Is gpadapt.ErrNumerical)
	exitInternal  = 4 // a panic: a bug
)

// run executes the command line args (without the program name) and
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "onnx-adapt: internal error: %v\n\n%s\n", r, debug.Stack())
			fmt.Fprintln(stderr, "This is a bug in onnx-adapt. Please report it with the command line above and, if you can, the model and data files.")
			code = exitInternal
		}
	}()
	if len(args) > 0 && args[0] == "bench" {
		return benchcmd.Run(args[1:], stdout, stderr)
	}
	err := dispatch(ctx, args, stdout, stderr)
	return report(err, stderr)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, mainUsage)
		return usagef("no model given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return cmdHelp(args[1:], stdout)
	case "inspect":
		return cmdInspect(ctx, args[1:], stdout, stderr)
	case "predict":
		return cmdPredict(ctx, args[1:], stdout, stderr)
	case "gradcheck":
		return cmdGradcheck(ctx, args[1:], stdout, stderr)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	}
	return cmdAdapt(ctx, args, stdout, stderr)
}

func cmdHelp(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stdout, mainUsage)
		return nil
	}
	switch args[0] {
	case "inspect":
		io.WriteString(stdout, inspectUsage)
	case "predict":
		io.WriteString(stdout, predictUsage)
	case "gradcheck":
		io.WriteString(stdout, gradcheckUsage)
	case "data":
		io.WriteString(stdout, dataUsage)
	case "bench":
		io.WriteString(stdout, benchcmd.Usage)
	case "export":
		io.WriteString(stdout, exportUsage)
	default:
		return usagef("no help for %q: try onnx-adapt help, or help inspect, predict, gradcheck, data", args[0])
	}
	return nil
}

// usageError is a problem with the command line: exit 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errHelpShown ends a command after printing its usage: exit 0.
var errHelpShown = errors.New("help shown")

// hinted attaches advice on what to try to an error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err, hint}
}

// report prints err with advice and returns the exit code for it.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return exitOK
	}
	var code int
	var hint string
	var ue *usageError
	var de *dataset.Error
	var h *hinted
	switch {
	case errors.As(err, &ue):
		code, hint = exitUsage, "Run 'onnx-adapt help' for usage."
	case errors.Is(err, gpadapt.ErrNumerical):
		code = exitNumerical
		hint = "Try a larger --noise (e.g. --noise 0.1), a smaller --prior-scale, fewer adapted parameters (--params last:1), or the other --method; check the data for extreme values."
	case errors.Is(err, context.Canceled):
		code, hint = exitInput, "Interrupted."
	case errors.As(err, &de):
		code = exitInput
		if de.Col > 0 || de.Line > 1 {
			hint = "Fix that cell or row of the CSV file; 'onnx-adapt help data' describes the format."
		} else {
			hint = "Check that the file is the model's data: 'onnx-adapt help data' describes the format, 'onnx-adapt inspect MODEL.onnx' the model's input."
		}
	default:
		code = exitInput
	}
	if errors.As(err, &h) {
		hint = h.hint
	}
	msg := err.Error()
	fmt.Fprintf(stderr, "onnx-adapt: %s\n", msg)
	if hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return code
}

// parseFlags parses args with fs, letting flags come before, between and
// after positional arguments (the flag package stops at the first
// positional one). Everything after "--" is positional.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelpShown
		}
		if err != nil {
			return nil, usagef("%s", strings.TrimPrefix(err.Error(), "flag: "))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseCommand parses a command's flags; on -h it prints usage to stdout
// and returns errHelpShown. It checks the number of positional arguments.
func parseCommand(fs *flag.FlagSet, args []string, usage string, stdout io.Writer, minPos, maxPos int) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if errors.Is(err, errHelpShown) {
		io.WriteString(stdout, usage)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if len(pos) < minPos {
		return nil, usagef("%s: missing argument; usage:\n%s", fs.Name(), firstLines(usage))
	}
	if len(pos) > maxPos {
		return nil, usagef("%s: unexpected argument %q (flags are written --name value)", fs.Name(), pos[maxPos])
	}
	return pos, nil
}

// firstLines returns the usage lines of a help text (up to its first blank line).
func firstLines(s string) string {
	if i := strings.Index(s, "\n\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// requireFlag reports a missing required flag.
func requireFlag(cmd, name, value string) error {
	if value == "" {
		return usagef("%s: --%s is required", cmd, name)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// numericalf returns an error that errors.Is gpadapt.ErrNumerical: exit 3.
func numericalf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", gpadapt.ErrNumerical, fmt.Sprintf(format, args...))
}
