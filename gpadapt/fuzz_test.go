package gpadapt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// sine loads models/sine-mlp with its first 20 target rows.
func sine(tb testing.TB) (*autodiff.Graph, *Data, []byte) {
	tb.Helper()
	dir := filepath.Join("..", "models", "sine-mlp")
	mb, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		tb.Skipf("models/sine-mlp: %v", err)
	}
	g, err := onnximport.Decode(mb, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tab, err := dataset.Read(filepath.Join(dir, "target.csv"), dataset.Options{RequireTargets: true, InputShape: []int{1}})
	if err != nil {
		tb.Fatal(err)
	}
	n := min(tab.N, 20)
	x := autodiff.FromData(tab.X.Data[:n], n, 1)
	return g, &Data{X: x, Y: tab.Y[:n]}, mb
}

// savedSine fits and saves a predictor of sine-mlp.
func savedSine(tb testing.TB, method string) ([]byte, *autodiff.Graph, *autodiff.Tensor[float32]) {
	tb.Helper()
	g, d, mb := sine(tb)
	p, err := Fit(context.Background(), g, d, &Options{Noise: 0.01, PriorScale: 1, Method: method, Params: "last:1"})
	if err != nil {
		tb.Fatal(err)
	}
	p.ModelBytes = mb[:64]
	p.Meta = map[string]string{"task": "regression", "b": "2", "a": "1"}
	var buf bytes.Buffer
	if err := p.Save(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), g, autodiff.FromData(d.X.Data[:3], 3, 1)
}

// envelope wraps a payload in a valid header and checksum.
func envelope(body []byte) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(body)))
	b = append(b, body...)
	sum := sha256.Sum256(body)
	return append(b, sum[:]...)
}

// body returns the gob payload of a predictor file.
func body(file []byte) []byte { return file[len(magic)+12 : len(file)-sha256.Size] }

// loadBindPredict is what a reader of an untrusted predictor file does.
func loadBindPredict(t *testing.T, data []byte, g *autodiff.Graph, x *autodiff.Tensor[float32]) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := Load(bytes.NewReader(data))
	runtime.ReadMemStats(&after)
	// Gob may allocate a first chunk of a slice it then finds truncated
	// (10 MB); beyond that, memory follows the file's size.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20+64*uint64(len(data)) {
		t.Errorf("Load allocated %d bytes for a file of %d", grew, len(data))
	}
	if err != nil {
		if !errors.Is(err, ErrBadFile) {
			t.Errorf("Load: %v does not wrap ErrBadFile", err)
		}
		return
	}
	p, err := s.Bind(g)
	if err != nil {
		if !errors.Is(err, ErrBadFile) {
			t.Errorf("Bind: %v does not wrap ErrBadFile", err)
		}
		return
	}
	p.Predict(x) // an error is fine; a panic is not
}

// FuzzLoad feeds Load, Bind and Predict arbitrary predictor files: raw
// bytes (wrap false), or a gob payload put in a valid envelope (wrap true),
// which reaches the decoder past the checksum. No input may panic, hang
// or allocate far beyond its size.
func FuzzLoad(f *testing.F) {
	files := [][]byte{}
	for _, m := range []string{"function", "parameter"} {
		b, _, _ := savedSine(f, m)
		files = append(files, b)
	}
	_, g, x := savedSine(f, "function")
	for _, b := range files {
		f.Add(b, false)
		f.Add(body(b), true)
		for _, n := range []int{0, 10, len(magic) + 4, len(magic) + 12, len(b) / 2, len(b) - 1} {
			f.Add(b[:n], false)
		}
		for _, i := range []int{len(magic) + 1, len(magic) + 5, len(magic) + 40, len(b) / 2, len(b) - 3} {
			c := append([]byte(nil), b...)
			c[i] ^= 0x10
			f.Add(c, false)
		}
		pl := body(b)
		for _, i := range []int{5, 50, len(pl) / 3, len(pl) / 2, len(pl) - 2} {
			c := append([]byte(nil), pl...)
			c[i] ^= 0x81
			f.Add(c, true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			data = envelope(data)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			loadBindPredict(t, data, g, x)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Load, Bind and Predict did not return within 10 s")
		}
	})
}

// gobMessages splits a gob stream into its messages (length-prefixed).
func gobMessages(t *testing.T, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n, w := gobUint(b)
		if w == 0 || w+int(n) > len(b) {
			t.Fatal("bad gob stream")
		}
		out = append(out, b[:w+int(n)])
		b = b[w+int(n):]
	}
	return out
}

func gobUint(b []byte) (uint64, int) {
	if b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	n := int(-int8(b[0]))
	var v uint64
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + n
}

func gobPutUint(v uint64) []byte {
	if v < 0x80 {
		return []byte{byte(v)}
	}
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], v)
	i := 0
	for be[i] == 0 {
		i++
	}
	return append([]byte{byte(-int8(8 - i))}, be[i:]...)
}

// Hand-made files with a valid checksum that claim impossible sizes are
// refused with ErrBadFile, without a panic and without allocating what they
// claim.
func TestLoadHostile(t *testing.T) {
	_, g, x := savedSine(t, "function")
	good, _, _ := savedSine(t, "parameter")
	s, err := Load(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	base := s.pl
	file := func(edit func(pl *payload)) []byte {
		pl := base
		edit(&pl)
		var buf bytes.Buffer
		if err := writeFile(&buf, &pl); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := map[string][]byte{
		"huge matrix": file(func(pl *payload) { pl.F = &matrix{R: 1 << 32, C: 1 << 32} }),
		"overflowing matrix": file(func(pl *payload) {
			pl.F = &matrix{R: 1 << 62, C: 4, Data: nil}
		}),
		"huge kernel": file(func(pl *payload) {
			pl.Kernel = &kernelPayload{N: 1 << 40, K: 1 << 40, L: &matrix{R: 1, C: 1, Data: []float64{1}}}
		}),
		"negative batch": file(func(pl *payload) { pl.Batch = -3 }),
		"other task":     file(func(pl *payload) { pl.Task = 7 }),
		"short delta":    file(func(pl *payload) { pl.Delta = pl.Delta[:1] }),
		"mismatched layers": file(func(pl *payload) {
			pl.F = nil
			pl.Kernel = &kernelPayload{N: 1, K: 1, S: 1,
				Layers: []layerPayload{{Scale: 1, X: &matrix{R: 1, C: 3, Data: []float64{1, 2, 3}}, G: &matrix{R: 1, C: 5, Data: make([]float64, 5)}}},
				L:      &matrix{R: 1, C: 1, Data: []float64{1}}}
		}),
	}
	// A float slice whose count claims 2³¹ − 1 and 2²⁶ elements.
	seq := []byte{0x01, 0xfe, 0xf0, 0x3f} // one float64 1.0: count, then 0x3ff0… byte-reversed
	probe := file(func(pl *payload) { pl.Delta = []float64{1} })
	pm := gobMessages(t, body(probe))
	pv := pm[len(pm)-1]
	_, pw := gobUint(pv)
	if i := bytes.Index(pv[pw:], seq); i >= 0 {
		for _, claim := range []uint64{1<<31 - 1, 1 << 26} {
			v := append(append(append([]byte(nil), pv[pw:pw+i]...), gobPutUint(claim)...), pv[pw+i+1:]...)
			stream := bytes.Join(pm[:len(pm)-1], nil)
			stream = append(append(stream, gobPutUint(uint64(len(v)))...), v...)
			cases[fmt.Sprintf("slice of %d claimed", claim)] = envelope(stream)
		}
	} else {
		t.Errorf("the encoded delta %x not found in %x", seq, pv)
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			loadBindPredict(t, data, g, x)
			s, err := Load(bytes.NewReader(data))
			if err == nil {
				_, err = s.Bind(g)
			}
			if name != "mismatched layers" && !errors.Is(err, ErrBadFile) {
				t.Errorf("accepted, or not ErrBadFile: %v", err)
			}
		})
	}
	// Saving twice gives the same bytes.
	again, _, _ := savedSine(t, "parameter")
	if !bytes.Equal(good, again) {
		t.Error("two saves of the same fit differ")
	}
}
