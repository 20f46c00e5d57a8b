package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeTemp(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadBasic(t *testing.T) {
	p := writeTemp(t, "\ufeffa, b ,y\n1,2,3\n\n 4 ,\"5\",6.5\n")
	tab, err := Read(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if tab.N != 2 || tab.K != 1 {
		t.Fatalf("N=%d K=%d", tab.N, tab.K)
	}
	if fmt.Sprint(tab.X.Shape) != "[2 2]" || fmt.Sprint(tab.X.Data) != "[1 2 4 5]" {
		t.Errorf("X %v %v", tab.X.Shape, tab.X.Data)
	}
	if fmt.Sprint(tab.Y) != "[[3] [6.5]]" {
		t.Errorf("Y %v", tab.Y)
	}
	if fmt.Sprint(tab.FeatureNames, tab.TargetNames) != "[a b] [y]" {
		t.Errorf("names %v %v", tab.FeatureNames, tab.TargetNames)
	}
	if fmt.Sprint(tab.Lines) != "[2 4]" {
		t.Errorf("lines %v", tab.Lines)
	}
}

func TestReadShapeAndTargetOrder(t *testing.T) {
	// Targets ordered by number, y2 before y10, wherever they stand.
	var b strings.Builder
	b.WriteString("y10,f0,f1,y2,f2,f3\n")
	b.WriteString("100,0,1,20,2,3\n")
	b.WriteString("101,4,5,21,6,7\n")
	tab, err := Read(writeTemp(t, b.String()), Options{InputShape: []int{1, 2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tab.X.Shape) != "[2 1 2 2]" || fmt.Sprint(tab.X.Data) != "[0 1 2 3 4 5 6 7]" {
		t.Errorf("X %v %v", tab.X.Shape, tab.X.Data)
	}
	if fmt.Sprint(tab.TargetNames, tab.Y) != "[y2 y10] [[20 100] [21 101]]" {
		t.Errorf("targets %v %v", tab.TargetNames, tab.Y)
	}
}

func TestReadTargetColsOption(t *testing.T) {
	p := writeTemp(t, "a,b,c,y\n1,2,3,4\n")
	tab, err := Read(p, Options{TargetCols: []string{"c", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	// y is a feature when targets are named explicitly.
	if fmt.Sprint(tab.FeatureNames, tab.TargetNames, tab.X.Data, tab.Y) != "[b y] [c a] [2 4] [[3 1]]" {
		t.Errorf("got %v %v %v %v", tab.FeatureNames, tab.TargetNames, tab.X.Data, tab.Y)
	}
}

func TestReadNoTargets(t *testing.T) {
	p := writeTemp(t, "a,y,b\n1,,2\n3,x,4\n")
	tab, err := Read(p, Options{NoTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	if tab.K != 0 || tab.Y != nil || fmt.Sprint(tab.X.Data) != "[1 2 3 4]" {
		t.Errorf("K=%d Y=%v X=%v", tab.K, tab.Y, tab.X.Data)
	}
	tab, err = Read(writeTemp(t, "a,b\n1,2\n"), Options{NoTargets: true, TargetCols: []string{"y", "b"}})
	if err != nil || fmt.Sprint(tab.FeatureNames) != "[a]" {
		t.Errorf("NoTargets with TargetCols: %v %v", tab, err)
	}
	tab, err = Read(writeTemp(t, "a,b\n1,2\n"), Options{})
	if err != nil || tab.K != 0 || tab.Y != nil {
		t.Errorf("no targets: %v %v", tab, err)
	}
}

func TestReadBatches(t *testing.T) {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i, 2*i)
	}
	r, err := Open(writeTemp(t, b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var sizes []int
	var xs []float32
	for {
		tab, err := r.Next(4)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, tab.N)
		xs = append(xs, tab.X.Data...)
		if tab.X.Shape[0] != tab.N || len(tab.Y) != tab.N {
			t.Fatalf("batch shapes %v %d", tab.X.Shape, len(tab.Y))
		}
	}
	if fmt.Sprint(sizes) != "[4 4 2]" || fmt.Sprint(xs) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Errorf("sizes %v xs %v", sizes, xs)
	}
	tab, err := Read(writeTemp(t, b.String()), Options{FirstRows: 3})
	if err != nil || tab.N != 3 {
		t.Errorf("FirstRows: %v %v", tab, err)
	}
}

// TestReadErrors checks every kind of error and what it names.
func TestReadErrors(t *testing.T) {
	cases := []struct {
		name    string
		content string
		opts    Options
		want    []string // substrings of the message
		line    int
		col     int
	}{
		{"empty", "", Options{}, []string{"empty"}, 0, 0},
		{"header only", "a,y\n", Options{}, []string{"no data rows"}, 0, 0},
		{"header only blank lines", "a,y\n\n\n", Options{}, []string{"no data rows"}, 0, 0},
		{"feature count", "a,b,c,y\n1,2,3,4\n", Options{InputShape: []int{1, 2, 2}}, []string{"3 feature columns", "[1,2,2]", "takes 4"}, 1, 0},
		{"non-numeric", "a,b,y\n1,2,3\n4,abc,6\n", Options{}, []string{`"abc" is not a number`, `column 2 ("b")`}, 3, 2},
		{"nan", "a,b,y\n1,NaN,3\n", Options{}, []string{"NaN is not a finite number"}, 2, 2},
		{"inf", "a,b,y\n1,2,-Inf\n", Options{}, []string{"-Inf is not a finite number", `("y")`}, 2, 3},
		{"overflow", "a,b,y\n1,1e400,3\n", Options{}, []string{"out of range"}, 2, 2},
		{"float32 overflow", "a,b,y\n1,1e39,3\n", Options{}, []string{"float32 range"}, 2, 2},
		{"empty cell", "a,b,y\n1,,3\n", Options{}, []string{"empty cell"}, 2, 2},
		{"missing cell", "a,b,y\n1,2,3\n1,2\n", Options{}, []string{"missing cell", "2 cells", `column 3 ("y")`}, 3, 3},
		{"extra cell", "a,b,y\n1,2,3,4\n", Options{}, []string{"extra cell", "column 4 (past"}, 2, 4},
		{"bare quote", "a,y\n1,2\n3,4\"x\n", Options{}, []string{"malformed CSV"}, 3, 0},
		{"unterminated quote", "a,y\n1,\"2\n", Options{}, []string{"malformed CSV"}, 2, 0},
		{"no target", "a,b\n1,2\n", Options{RequireTargets: true}, []string{"no target column", "--target-cols"}, 1, 0},
		{"unknown target", "a,b\n1,2\n", Options{TargetCols: []string{"c"}}, []string{`no column named "c"`, `"a", "b"`}, 1, 0},
		{"target twice", "a,b\n1,2\n", Options{TargetCols: []string{"b", "b"}}, []string{"twice"}, 1, 2},
		{"duplicate target number", "a,y1,y01\n1,2,3\n", Options{}, []string{"duplicates column 2"}, 1, 3},
		{"y and y0", "a,y,y0\n1,2,3\n", Options{}, []string{"both a column y"}, 1, 0},
		{"only targets", "y\n1\n", Options{}, []string{"no feature columns"}, 1, 0},
		{"max rows", "a,y\n1,2\n3,4\n5,6\n", Options{MaxRows: 2}, []string{"more than 2"}, 4, 0},
		{"max cols", "a,b,c,y\n1,2,3,4\n", Options{MaxCols: 3}, []string{"4 columns", "limit of 3"}, 1, 0},
		{"error after good rows", "a,y\n1,2\n" + strings.Repeat("3,4\n", 100) + "5,x\n", Options{}, []string{`"x" is not a number`}, 103, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, c.content)
			_, err := Read(p, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, p+":") {
				t.Errorf("message %q does not start with the file name", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not *dataset.Error", err)
			}
			if de.Line != c.line || de.Col != c.col {
				t.Errorf("located at line %d column %d, want %d, %d (%s)", de.Line, de.Col, c.line, c.col, msg)
			}
			if c.line > 0 && !strings.Contains(msg, "line "+strconv.Itoa(c.line)) {
				t.Errorf("message %q lacks the line", msg)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.csv")
	_, err := Read(p, Options{})
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error does not wrap os.ErrNotExist")
	}
}

// TestReadMultilineLineNumbers checks that lines count physical lines when
// a quoted cell spans several.
func TestReadMultilineLineNumbers(t *testing.T) {
	p := writeTemp(t, "\"a\nb\",y\n1,2\n3,zz\n")
	_, err := Read(p, Options{})
	var de *Error
	if !errors.As(err, &de) || de.Line != 4 || de.Col != 2 || de.ColName != "y" {
		t.Fatalf("err = %v", err)
	}
}

func TestWriterPrecision(t *testing.T) {
	vals := []float64{0, 1, -2.5, 1.0 / 3, math.Pi, 1e-8, 3.4e38, float64(float32(0.1)), 123456789}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []string{"mean", "a,b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if err := w.Write([]float64{v, -v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write([]float64{1}); err == nil {
		t.Error("short row accepted")
	}
	w.err = nil
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if lines[0] != `mean,"a,b"` {
		t.Errorf("header %q", lines[0])
	}
	if lines[4] != "0.33333334,-0.33333334" {
		t.Errorf("1/3 printed as %q", lines[4])
	}
	for i, v := range vals {
		f := strings.Split(lines[i+1], ",")
		got, err := strconv.ParseFloat(f[0], 32)
		if err != nil || float32(got) != float32(v) {
			t.Errorf("%v printed as %q", v, f[0])
		}
	}
	// Reads back through Read.
	p := writeTemp(t, buf.String())
	tab, err := Read(p, Options{TargetCols: []string{"mean"}})
	if err != nil || tab.N != len(vals) {
		t.Fatalf("read back: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pred.csv")
	err := WriteFile(p, []string{"mean", "std"}, 3, func(i int, dst []float64) []float64 {
		dst[0], dst[1] = float64(i), 0.5
		return dst
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "mean,std\n0,0.5\n1,0.5\n2,0.5\n" {
		t.Errorf("got %q", b)
	}
}

func FuzzRead(f *testing.F) {
	f.Add("a,b,y\n1,2,3\n4,5,6\n", 2, "")
	f.Add("\ufeffx,y0,y1\n1,2,3\n", 0, "")
	f.Add("a,y\n\"1\n\",2\n", 1, "a")
	f.Add("a,y\n1,NaN\n,\n1,2,3\n", 0, "y")
	f.Add("", 0, "")
	f.Fuzz(func(t *testing.T, content string, shape int, target string) {
		opts := Options{MaxCols: 1000}
		if shape > 0 && shape < 1000 {
			opts.InputShape = []int{shape}
		}
		if target != "" {
			opts.TargetCols = []string{target}
		}
		r, err := NewReader(strings.NewReader(content), "fuzz.csv", opts)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		tab, err := r.ReadAll()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		if tab.N == 0 || len(tab.X.Data) != tab.N*len(tab.FeatureNames) || len(tab.Lines) != tab.N {
			t.Fatalf("inconsistent table: N=%d X=%d features=%d", tab.N, len(tab.X.Data), len(tab.FeatureNames))
		}
		for _, v := range tab.X.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite feature %v", v)
			}
		}
		for _, row := range tab.Y {
			if len(row) != tab.K {
				t.Fatalf("target row of %d, K=%d", len(row), tab.K)
			}
		}
	})
}

func BenchmarkRead(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("x0,x1,x2,x3,x4,x5,x6,x7,x8,x9,y\n")
	const rows = 100000
	for i := 0; i < rows; i++ {
		for j := 0; j < 11; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatFloat(float64(i*11+j)*0.001234567, 'g', -1, 32))
		}
		sb.WriteByte('\n')
	}
	p := writeTemp(b, sb.String())
	b.SetBytes(int64(sb.Len()))
	for b.Loop() {
		tab, err := Read(p, Options{})
		if err != nil || tab.N != rows {
			b.Fatal(err)
		}
	}
}
