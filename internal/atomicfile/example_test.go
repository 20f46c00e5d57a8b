package atomicfile_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
)

func ExampleWriteFile() {
	path := filepath.Join(os.TempDir(), "atomicfile-example.txt")
	defer os.Remove(path)
	err := atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, "all or nothing")
		return err
	})
	b, _ := os.ReadFile(path)
	fmt.Print(string(b), err)
	// Output:
	// all or nothing
	// <nil>
}
