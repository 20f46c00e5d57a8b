package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"encoding/csv"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// DefaultMaxCols bounds the header's width when Options.MaxCols is zero.
const DefaultMaxCols = 1 << 20

// Options control how a file is read. The zero value reads every row, takes
// the columns y, y0, y1, ... as targets and every other column as a
// feature, and keeps the features flat.
type Options struct {
	// TargetCols names the target columns, in the order of the model's
	// outputs. Nil selects the columns named y or y followed by digits.
	TargetCols []string
	// RequireTargets makes a file without target columns an error.
	RequireTargets bool
	// NoTargets reads only the features (for inputs to predict). Target
	// columns are still recognized and skipped, so a training file can be
	// fed to predict; TargetCols, when set, name the columns to skip where
	// present, and may be absent from the file.
	NoTargets bool
	// InputShape is the shape of one example without the batch dimension.
	// The number of feature columns must equal its size. Nil means flat:
	// [number of feature columns].
	InputShape []int
	// FirstRows stops reading after this many data rows (0: all rows).
	FirstRows int
	// MaxRows makes a file with more data rows an error (0: no limit).
	MaxRows int
	// MaxCols makes a header with more columns an error (0: DefaultMaxCols).
	MaxCols int
}

// Table is a data set in memory.
type Table struct {
	// X holds the features, shaped [N, InputShape...].
	X *autodiff.Tensor[float32]
	// Y holds N rows of K targets (nil when the file has no target
	// columns); the rows share one backing array.
	Y [][]float64
	// K is the number of target columns.
	K int
	// N is the number of rows.
	N int
	// FeatureNames and TargetNames are the column names, in the order used.
	FeatureNames, TargetNames []string
	// TargetIndex holds the 1-based column index of each target, for messages.
	TargetIndex []int
	// Lines holds the 1-based line of each row in the file, for messages.
	Lines []int
	// File is the path the table was read from.
	File string
}

// Error is a problem with a data file, located as precisely as possible.
type Error struct {
	File string
	Line int // 1-based line in the file; 0 when not about one line
	// Col is the 1-based column index (0 when not about one column) and
	// ColName its header name.
	Col     int
	ColName string
	Msg     string
	Err     error // underlying cause, if any
	// beyond marks a column past the header's last (an extra cell).
	beyond bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	switch {
	case e.Col > 0 && e.beyond:
		fmt.Fprintf(&b, ", column %d (past the header's last column)", e.Col)
	case e.Col > 0:
		fmt.Fprintf(&b, ", column %d (%q)", e.Col, e.ColName)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Read reads a whole file into a Table.
func Read(path string, opts Options) (*Table, error) {
	r, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadAll()
}

// Reader streams a data file in batches of rows.
type Reader struct {
	file    string
	f       *os.File
	cr      *csv.Reader
	opts    Options
	header  []string
	feat    []int // column index of each feature
	targ    []int // column index of each target
	isTarg  []bool
	shape   []int
	rows    int // data rows read so far
	lastErr error
	done    bool
}

// Open opens a data file and reads its header.
func Open(path string, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot open: " + errText(err), Err: err}
	}
	r, err := NewReader(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// NewReader reads a data file from src; name is used in messages.
func NewReader(src io.Reader, name string, opts Options) (*Reader, error) {
	cr := csv.NewReader(bufio.NewReaderSize(src, 1<<16))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	r := &Reader{file: name, cr: cr, opts: opts}
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{File: name, Msg: "the file is empty; want a header row naming the columns, then one row per example"}
	}
	if err != nil {
		return nil, r.csvError(err)
	}
	maxCols := opts.MaxCols
	if maxCols <= 0 {
		maxCols = DefaultMaxCols
	}
	if len(rec) > maxCols {
		return nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("the header has %d columns, more than the limit of %d", len(rec), maxCols)}
	}
	r.header = make([]string, len(rec))
	for i, h := range rec {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		r.header[i] = h
	}
	if err := r.chooseColumns(); err != nil {
		return nil, err
	}
	return r, nil
}

// targetNumber reports whether name is y or y followed by digits, and its number (-1 for y).
func targetNumber(name string) (int, bool) {
	if name == "y" {
		return -1, true
	}
	if len(name) < 2 || name[0] != 'y' {
		return 0, false
	}
	for _, c := range name[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(name[1:])
	if err != nil {
		return 0, false
	}
	return n, true
}

func (r *Reader) chooseColumns() error {
	n := len(r.header)
	r.isTarg = make([]bool, n)
	if r.opts.TargetCols != nil {
		pos := map[string]int{}
		for i, h := range r.header {
			if _, dup := pos[h]; !dup {
				pos[h] = i
			}
		}
		for _, name := range r.opts.TargetCols {
			i, ok := pos[name]
			if !ok && r.opts.NoTargets {
				continue // only skipped when present
			}
			if !ok {
				return &Error{File: r.file, Line: 1, Msg: fmt.Sprintf("no column named %q (the target columns asked for); the header has %s", name, listNames(r.header))}
			}
			if r.isTarg[i] {
				return &Error{File: r.file, Line: 1, Col: i + 1, ColName: name, Msg: "named twice as a target column"}
			}
			r.isTarg[i] = true
			r.targ = append(r.targ, i)
		}
	} else {
		type tc struct{ num, col int }
		var ts []tc
		seen := map[int]int{}
		for i, h := range r.header {
			num, ok := targetNumber(h)
			if !ok {
				continue
			}
			if j, dup := seen[num]; dup {
				return &Error{File: r.file, Line: 1, Col: i + 1, ColName: h, Msg: fmt.Sprintf("target column duplicates column %d (%q)", j+1, r.header[j])}
			}
			seen[num] = i
			ts = append(ts, tc{num, i})
		}
		if _, plain := seen[-1]; plain && len(ts) > 1 {
			return &Error{File: r.file, Line: 1, Msg: "both a column y and columns y0, y1, ...: name one target y, or several y0, y1, ... (or choose with --target-cols)"}
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a].num < ts[b].num })
		for _, t := range ts {
			r.isTarg[t.col] = true
			r.targ = append(r.targ, t.col)
		}
	}
	if r.opts.RequireTargets && len(r.targ) == 0 {
		return &Error{File: r.file, Line: 1, Msg: "no target column: name it y (or y0, y1, ... for several outputs), or choose columns with --target-cols"}
	}
	for i := range r.header {
		if !r.isTarg[i] {
			r.feat = append(r.feat, i)
		}
	}
	if len(r.feat) == 0 {
		return &Error{File: r.file, Line: 1, Msg: "no feature columns: every column is a target"}
	}
	r.shape = r.opts.InputShape
	if r.shape == nil {
		r.shape = []int{len(r.feat)}
	}
	if want := autodiff.Size(r.shape); want != len(r.feat) {
		return &Error{File: r.file, Line: 1, Msg: fmt.Sprintf("%d feature columns, but the model's input %s takes %d values per example (targets: %s)",
			len(r.feat), autodiff.ShapeString(r.shape), want, listNames(r.TargetNames()))}
	}
	return nil
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	const max = 8
	q := make([]string, 0, max+1)
	for i, n := range names {
		if i == max {
			q = append(q, fmt.Sprintf("... (%d in all)", len(names)))
			break
		}
		q = append(q, strconv.Quote(n))
	}
	return strings.Join(q, ", ")
}

// Header returns the column names of the file.
func (r *Reader) Header() []string { return r.header }

// FeatureNames returns the feature column names in the order used.
func (r *Reader) FeatureNames() []string { return pick(r.header, r.feat) }

// TargetNames returns the target column names in the order used.
func (r *Reader) TargetNames() []string { return pick(r.header, r.targ) }

// File returns the name of the file being read.
func (r *Reader) File() string { return r.file }

// InputShape returns the shape of one example.
func (r *Reader) InputShape() []int { return r.shape }

func pick(names []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = names[j]
	}
	return out
}

// Close closes the underlying file, if Open opened it.
func (r *Reader) Close() error {
	if r.f != nil {
		err := r.f.Close()
		r.f = nil
		return err
	}
	return nil
}

// ReadAll reads every remaining row.
func (r *Reader) ReadAll() (*Table, error) {
	t, err := r.Next(0)
	if err == io.EOF {
		if r.rows == 0 {
			return nil, &Error{File: r.file, Msg: "a header but no data rows"}
		}
		return r.newTable(0), nil
	}
	return t, err
}

// Next reads up to max rows (all remaining rows when max <= 0) into a new
// Table. At the end of the file it returns io.EOF.
func (r *Reader) Next(max int) (*Table, error) {
	if r.lastErr != nil {
		return nil, r.lastErr
	}
	if r.done {
		return nil, io.EOF
	}
	nf, nt := len(r.feat), len(r.targ)
	if r.opts.NoTargets {
		nt = 0
	}
	var xs []float32
	var ys []float64
	var lines []int
	if max > 0 {
		xs = make([]float32, 0, max*nf)
		ys = make([]float64, 0, max*nt)
		lines = make([]int, 0, max)
	}
	n := 0
	for max <= 0 || n < max {
		if r.opts.FirstRows > 0 && r.rows >= r.opts.FirstRows {
			r.done = true
			break
		}
		rec, err := r.cr.Read()
		if err == io.EOF {
			r.done = true
			break
		}
		if err != nil {
			r.lastErr = r.csvError(err)
			return nil, r.lastErr
		}
		line, _ := r.cr.FieldPos(0)
		if len(rec) != len(r.header) {
			r.lastErr = r.countError(rec, line)
			return nil, r.lastErr
		}
		for _, j := range r.feat {
			v, err := r.parse(rec, j)
			if err != nil {
				r.lastErr = err
				return nil, err
			}
			if math.Abs(v) > math.MaxFloat32 {
				l, _ := r.cr.FieldPos(j)
				r.lastErr = &Error{File: r.file, Line: l, Col: j + 1, ColName: r.header[j], Msg: fmt.Sprintf("%s is outside the float32 range of the model's input", strings.TrimSpace(rec[j]))}
				return nil, r.lastErr
			}
			xs = append(xs, float32(v))
		}
		if nt > 0 {
			for _, j := range r.targ {
				v, err := r.parse(rec, j)
				if err != nil {
					r.lastErr = err
					return nil, err
				}
				ys = append(ys, v)
			}
		}
		lines = append(lines, line)
		n++
		r.rows++
		if r.opts.MaxRows > 0 && r.rows > r.opts.MaxRows {
			r.lastErr = &Error{File: r.file, Line: line, Msg: fmt.Sprintf("more than %d data rows, the limit", r.opts.MaxRows)}
			return nil, r.lastErr
		}
	}
	if n == 0 {
		return nil, io.EOF
	}
	t := r.newTable(n)
	t.X.Data = xs
	t.Lines = lines
	if nt > 0 {
		for i := range t.Y {
			t.Y[i] = ys[i*nt : (i+1)*nt : (i+1)*nt]
		}
	}
	return t, nil
}

func (r *Reader) newTable(n int) *Table {
	t := &Table{
		X:            &autodiff.Tensor[float32]{Shape: autodiff.BlockShape(n, r.shape), Data: make([]float32, 0)},
		N:            n,
		FeatureNames: r.FeatureNames(),
		File:         r.file,
	}
	if !r.opts.NoTargets && len(r.targ) > 0 {
		t.K = len(r.targ)
		t.TargetNames = r.TargetNames()
		for _, j := range r.targ {
			t.TargetIndex = append(t.TargetIndex, j+1)
		}
		t.Y = make([][]float64, n)
	}
	return t
}

func (r *Reader) parse(rec []string, j int) (float64, error) {
	s := strings.TrimSpace(rec[j])
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		return v, nil
	}
	line, _ := r.cr.FieldPos(j)
	e := &Error{File: r.file, Line: line, Col: j + 1, ColName: r.header[j]}
	switch {
	case s == "":
		e.Msg = "empty cell; every cell must hold a number (remove or fill in rows with missing values)"
	case err == nil || isSpecial(s):
		e.Msg = fmt.Sprintf("%s is not a finite number", s)
	case errors.Is(err, strconv.ErrRange):
		e.Msg = fmt.Sprintf("%s is out of range", s)
	default:
		e.Msg = fmt.Sprintf("%s is not a number", strconv.Quote(s))
	}
	return 0, e
}

func isSpecial(s string) bool {
	s = strings.ToLower(strings.TrimLeft(s, "+-"))
	return s == "nan" || s == "inf" || s == "infinity"
}

func (r *Reader) countError(rec []string, line int) error {
	if len(rec) < len(r.header) {
		j := len(rec)
		return &Error{File: r.file, Line: line, Col: j + 1, ColName: r.header[j],
			Msg: fmt.Sprintf("missing cell: the row has %d cells, the header %d", len(rec), len(r.header))}
	}
	j := len(r.header)
	return &Error{File: r.file, Line: line, Col: j + 1, beyond: true,
		Msg: fmt.Sprintf("extra cell: the row has %d cells, the header %d", len(rec), len(r.header))}
}

func (r *Reader) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		e := &Error{File: r.file, Line: pe.Line, Msg: "malformed CSV: " + pe.Err.Error(), Err: err}
		if pe.Column > 0 {
			e.Msg = fmt.Sprintf("malformed CSV at character %d: %v", pe.Column, pe.Err)
		}
		return e
	}
	return &Error{File: r.file, Msg: "reading: " + err.Error(), Err: err}
}
