package onnximport

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecode checks that Decode returns, without panicking or hanging, on
// any bytes. Seeds: a few node-test models and the two real models, when
// ../shared is present, and models built in the tests.
func FuzzDecode(f *testing.F) {
	addDecodeSeeds(f)
	opts := &Options{MaxElements: 1 << 16, MaxBytes: 1 << 22}
	f.Fuzz(func(t *testing.T, data []byte) {
		within(t, "Decode", func() {
			g, err := Decode(data, opts)
			if err == nil && g == nil {
				t.Error("nil graph without an error")
			}
		})
	})
}

// within runs f and fails the test if it has not returned after 5 s (a
// hang: fuzz inputs are small).
func within(t *testing.T, what string, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return within 5 s", what)
	}
}

// addDecodeSeeds adds the fuzz seeds: a few node-test models and the two
// real models, when ../shared is present, and a model built here.
func addDecodeSeeds(f *testing.F) {
	for _, p := range []string{
		filepath.Join(nodeTestsDir, "test_gemm_default_matrix_bias", "model.onnx"),
		filepath.Join(nodeTestsDir, "test_conv_with_strides_padding", "model.onnx"),
		filepath.Join(nodeTestsDir, "test_clip_default_inbounds", "model.onnx"),
		filepath.Join(nodeTestsDir, "test_reshape_negative_dim", "model.onnx"),
		filepath.Join(modelsDir, "mnist-7", "model.onnx"),
		filepath.Join(modelsDir, "sine-keras", "model.onnx"),
		filepath.Join("..", "models", "digits-cnn", "model.onnx"),
		filepath.Join("..", "models", "drift-lnmlp", "model.onnx"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(encModel(13, graphParts{
		nodes:   [][]byte{encNode("sq", "Mul", []string{"x", "x"}, []string{"y"})},
		inputs:  [][]byte{encValue("x", Float, "N", 3)},
		outputs: [][]byte{encValue("y", Float, "N", 3)},
	}.enc()))
}
