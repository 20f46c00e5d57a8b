package dataset

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
)

// Writer writes a CSV of numbers: a header, then rows of as many values.
// Values are printed with float32 precision, the shortest decimal that
// reads back as the same float32 (strconv's 'g' format with bitSize 32).
type Writer struct {
	w    *bufio.Writer
	ncol int
	buf  []byte
	err  error
}

// NewWriter writes the header to w and returns a Writer for the rows.
// Call Flush at the end.
func NewWriter(w io.Writer, header []string) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw)
	if err := cw.Write(header); err != nil {
		return nil, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return &Writer{w: bw, ncol: len(header)}, nil
}

// Write writes one row; it must have as many values as the header.
func (w *Writer) Write(row []float64) error {
	if w.err != nil {
		return w.err
	}
	if len(row) != w.ncol {
		return fmt.Errorf("dataset: row of %d values for a header of %d columns", len(row), w.ncol)
	}
	b := w.buf[:0]
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 32)
	}
	b = append(b, '\n')
	w.buf = b
	_, w.err = w.w.Write(b)
	return w.err
}

// Flush writes any buffered rows to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.w.Flush()
	return w.err
}

// WriteFile writes a CSV of n rows atomically: row(i, dst) returns row i,
// and may fill and return dst (of the header's length) to avoid allocation.
// An existing file is replaced only when the whole new file is written.
func WriteFile(path string, header []string, n int, row func(i int, dst []float64) []float64) error {
	return atomicfile.WriteFile(path, func(out io.Writer) error {
		return WriteRows(out, header, n, row)
	})
}

// WriteRows writes a CSV of n rows to out (see WriteFile).
func WriteRows(out io.Writer, header []string, n int, row func(i int, dst []float64) []float64) error {
	w, err := NewWriter(out, header)
	if err != nil {
		return err
	}
	dst := make([]float64, len(header))
	for i := 0; i < n; i++ {
		if err := w.Write(row(i, dst)); err != nil {
			return err
		}
	}
	return w.Flush()
}
