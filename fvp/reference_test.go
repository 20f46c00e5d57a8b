package fvp_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// reference is the part of a model's fixture (models/make_models.py) that
// holds PyTorch's J·v and Jᵀ·w in float64.
type reference struct {
	Inputs  json.RawMessage `json:"inputs"`
	Outputs json.RawMessage `json:"outputs"`
	Params  []struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
	} `json:"params"`
	JVP struct {
		V  map[string][]float64 `json:"v"`
		JV json.RawMessage      `json:"jv"`
	} `json:"jvp"`
	VJP struct {
		W   json.RawMessage      `json:"w"`
		JTW map[string][]float64 `json:"jtw"`
	} `json:"vjp"`
}

// flat reads a nested JSON array of numbers into its values and shape.
func flat(raw json.RawMessage) ([]float64, []int, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, err
	}
	var out []float64
	var shape []int
	var walk func(x any, depth int)
	walk = func(x any, depth int) {
		switch t := x.(type) {
		case []any:
			if depth == len(shape) {
				shape = append(shape, len(t))
			}
			for _, e := range t {
				walk(e, depth+1)
			}
		case float64:
			out = append(out, t)
		}
	}
	walk(v, 0)
	return out, shape, nil
}

// TestModelsAgainstPyTorch checks J·v and Jᵀ·w of every shipped model and
// of the two external models against PyTorch autograd in float64 (1e-4
// relative), the parameter set against PyTorch's, and the float32 sweeps
// against the float64 fixtures (1e-3).
func TestModelsAgainstPyTorch(t *testing.T) {
	cases := map[string][2]string{
		"sine-mlp":    {"../models/sine-mlp/model.onnx", "../models/sine-mlp/reference.json"},
		"digits-cnn":  {"../models/digits-cnn/model.onnx", "../models/digits-cnn/reference.json"},
		"drift-lnmlp": {"../models/drift-lnmlp/model.onnx", "../models/drift-lnmlp/reference.json"},
		"mnist-7":     {"../../shared/models/mnist-7/model.onnx", "../models/external/mnist-7.reference.json"},
		"sine-keras":  {"../../shared/models/sine-keras/model.onnx", "../models/external/sine-keras.reference.json"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(c[0]); err != nil {
				t.Skipf("%s not here (../shared is absent in a user's clone): %v", filepath.Clean(c[0]), err)
			}
			data, err := os.ReadFile(c[1])
			if err != nil {
				t.Fatal(err)
			}
			var ref reference
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			g, err := onnximport.Load(c[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, id := range g.Params {
				names = append(names, g.Values[id].Name)
			}
			if len(names) != len(ref.Params) {
				t.Fatalf("parameters %v, PyTorch has %d", names, len(ref.Params))
			}
			for i, p := range ref.Params {
				if names[i] != p.Name || !autodiff.SameShape(g.Values[g.Params[i]].Shape, p.Shape) {
					t.Fatalf("parameter %d is %s %v, PyTorch's is %s %v", i, names[i], g.Values[g.Params[i]].Shape, p.Name, p.Shape)
				}
			}
			checkAgainst[float64](t, g, &ref, 1e-4)
			checkAgainst[float32](t, g, &ref, 1e-3)
		})
	}
}

func checkAgainst[T autodiff.Float](t *testing.T, g *autodiff.Graph, ref *reference, tol float64) {
	x, xs, err := flat(ref.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	e, err := autodiff.NewEngine[T](g)
	if err != nil {
		t.Fatal(err)
	}
	xt := autodiff.New[T](xs...)
	for i, v := range x {
		xt.Data[i] = T(v)
	}
	tape, err := e.Forward(xt)
	if err != nil {
		t.Fatal(err)
	}
	// The forward pass against PyTorch's float64 outputs: 1e-5 relative in
	// float32 (the bound); 1e-7 in float64, where what remains is
	// the ONNX files' float32 constants (GELU's 1/√2) against PyTorch's
	// float64 ones (4e-9 on drift-lnmlp).
	wantOut, _, _ := flat(ref.Outputs)
	fwdTol := 1e-5
	if _, f64 := any(T(0)).(float64); f64 {
		fwdTol = 1e-7
	}
	expectClose(t, "forward", toF64(tape.Outputs()[0].Data), wantOut, fwdTol)
	var blocks []*autodiff.Tensor[T]
	for _, id := range e.Active() {
		v := ref.JVP.V[g.Values[id].Name]
		b := autodiff.New[T](autodiff.BlockShape(1, g.Values[id].Shape)...)
		for i := range b.Data {
			b.Data[i] = T(v[i])
		}
		blocks = append(blocks, b)
	}
	jv, err := e.JVP(tape, 1, blocks, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := flat(ref.JVP.JV)
	expectClose(t, "J·v", toF64(jv[0].Data), want, tol)
	w, _, _ := flat(ref.VJP.W)
	out := tape.Outputs()[0]
	wt := autodiff.New[T](autodiff.BlockShape(1, out.Shape)...)
	for i := range wt.Data {
		wt.Data[i] = T(w[i])
	}
	grads, _, err := e.VJP(tape, 1, []*autodiff.Tensor[T]{wt})
	if err != nil {
		t.Fatal(err)
	}
	for j, id := range e.Active() {
		name := g.Values[id].Name
		expectClose(t, "Jᵀ·w for "+name, toF64(grads[j].Data), ref.VJP.JTW[name], tol)
	}
}

func toF64[T autodiff.Float](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestGaussNewtonDiagTransposedWeights checks the diagonal of JᵀJ on
// PyTorch's layout (Gemm with transB = 1) and on a CNN whose convolutions
// go through explicit rows, against the explicit Jacobian.
func TestGaussNewtonDiagTransposedWeights(t *testing.T) {
	for _, name := range []string{"sine-mlp", "digits-cnn"} {
		g, err := onnximport.Load("../models/"+name+"/model.onnx", nil)
		if err != nil {
			t.Fatal(err)
		}
		e, err := autodiff.NewEngine[float64](g)
		if err != nil {
			t.Fatal(err)
		}
		shape := append([]int{5}, g.Values[g.Inputs[0]].Shape[1:]...)
		x := autodiff.New[float64](shape...)
		for i := range x.Data {
			x.Data[i] = math.Sin(float64(i))
		}
		op, err := fvp.New(context.Background(), e, x, 2)
		if err != nil {
			t.Fatal(err)
		}
		f, err := op.Factors(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.GaussNewtonDiag(f)
		if err != nil {
			t.Fatal(err)
		}
		jac, _ := op.Jacobian(context.Background())
		nk, p := jac.Dims()
		want := make([]float64, p)
		for i := 0; i < nk; i++ {
			for j, v := range jac.RawRowView(i) {
				want[j] += v * v
			}
		}
		expectClose(t, name+" Gauss-Newton diagonal", got, want, 1e-12)
	}
}
