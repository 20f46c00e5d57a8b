package onnximport

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	g := loadShared(t, "mnist-7")
	s := Summarize(g)
	if s.NumParams != 5994 || len(s.Params) != 6 || s.Opset != 7 || s.Producer != "CNTK" {
		t.Errorf("summary %+v", s)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"producer:  CNTK", "opset:", "Input3", "[N,1,28,28]", "[N,10]", "Conv", "parameters: 6 tensors, 5994 elements", "Parameter193"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary text lacks %q:\n%s", want, text)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + text)
	}

	g = loadShared(t, "sine-keras")
	if s := Summarize(g); s.NumParams != 321 || s.Opset != 16 {
		t.Errorf("sine-keras: %d parameters at opset %d, want 321 at 16", s.NumParams, s.Opset)
	}
}
