package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.csv")
	if err := WriteFile(p, func(w io.Writer) error { _, err := io.WriteString(w, "a,b\n1,2\n"); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "a,b\n1,2\n" {
		t.Fatalf("content %q, %v", b, err)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("directory holds %v, want only out.csv", got)
	}
}

func TestReplaceKeepsMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %v", b, st.Mode().Perm())
	}
}

func TestErrorLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	boom := errors.New("boom")
	err := WriteFile(p, func(w io.Writer) error {
		w.Write(make([]byte, 1<<20)) // more than the buffer: reaches the temp file
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatalf("old file changed to %d bytes", len(b))
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("temp file left behind: %v", got)
	}
}

func TestPanicLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("old"), 0o644)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		WriteFile(p, func(w io.Writer) error {
			w.Write(make([]byte, 1<<20))
			panic("writer panics")
		})
	}()
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatal("old file changed")
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("temp file left behind: %v", got)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	nop := func(io.Writer) error { return nil }
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nop); err == nil {
		t.Error("no error for a missing directory")
	}
	if err := WriteFile(dir, nop); err == nil {
		t.Error("no error for a directory destination")
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("left %v", got)
	}
}

func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := WriteFile("rel.txt", func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rel.txt")); string(b) != "x" {
		t.Fatalf("got %q", b)
	}
}
