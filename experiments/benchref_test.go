package experiments

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadBenchAdapt reads a results directory as bench/run.sh leaves it:
// forms paired with the base case's PyTorch run, a killed run (empty
// file) skipped, and the ratio marked as a bound when either side was
// capped.
func TestReadBenchAdapt(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go-adapt-elu803k-n1000.json", `{"method":"function","solver":"cholesky","seconds":2,"params":803601}`)
	write("go-adapt-elu803k-param-n1000.json", `{"method":"parameter","solver":"cg","iterations":200,"relative_residual":1e-3,"capped":true,"seconds":40,"params":803601}`)
	write("go-adapt-elu803k-free-n100000.json", ``)
	write("torch-cg-elu803k-n1000.json", `{"iterations":223,"converged":false,"relative_residual":0.02,"seconds":30,"seconds_per_iteration":0.13}`)
	write("go-adapt-sweep-p1e+04-n1000.json", `{"method":"function","solver":"cholesky","seconds":0.5,"params":10000}`)
	write("torch-cg-sweep-p1e+04-n1000.json", `{"iterations":50,"converged":true,"relative_residual":1e-5,"seconds":5}`)
	rows, err := ReadBenchAdapt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rows), rows)
	}
	if r := rows[2]; r.Case != "elu803k" || r.Form != "param" || r.N != 1000 || r.Torch == nil || r.Torch.Iterations != 223 || !r.Ours.Capped {
		t.Errorf("parameter-form row %+v", r)
	}
	var buf bytes.Buffer
	benchAdaptTable(&buf, rows)
	for _, want := range []string{"| elu803k | 803601 | 1000 | function, dense | 2.0 s | 30.0 s (223 it, capped, residual 2.0e-02) | ≥ 15.0× |",
		"| parameter, CG | 40.0 s (200 it, capped, residual 1.0e-03) |", "~ 0.8× |", "| sweep-p1e+04 | 10000 | 1000 | function, dense | 0.5 s |", "| 10.0× |"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if rows, err := ReadBenchAdapt(filepath.Join(dir, "missing")); err != nil || rows != nil {
		t.Errorf("missing directory: %v, %v", rows, err)
	}
}
