package baseline

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
)

// mlp builds x -> Gemm -> Tanh -> Gemm (weight [h, out]) -> Add(bias).
func mlp(in, h, out int) *autodiff.Graph {
	rng := rand.New(rand.NewPCG(1, 2))
	g := &autodiff.Graph{Opset: 13}
	add := func(v autodiff.Value) int {
		g.Values = append(g.Values, v)
		return len(g.Values) - 1
	}
	randn := func(n int) []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = rng.NormFloat64() / 2
		}
		return w
	}
	x := add(autodiff.Value{Name: "x", Kind: autodiff.Input, Shape: []int{autodiff.Batch, in}})
	w1 := add(autodiff.Value{Name: "w1", Kind: autodiff.Param, Shape: []int{in, h}, Data: randn(in * h)})
	b1 := add(autodiff.Value{Name: "b1", Kind: autodiff.Param, Shape: []int{h}, Data: randn(h)})
	w2 := add(autodiff.Value{Name: "w2", Kind: autodiff.Param, Shape: []int{h, out}, Data: randn(h * out)})
	b2 := add(autodiff.Value{Name: "b2", Kind: autodiff.Param, Shape: []int{out}, Data: randn(out)})
	z1 := add(autodiff.Value{Name: "z1", Shape: []int{autodiff.Batch, h}})
	a1 := add(autodiff.Value{Name: "a1", Shape: []int{autodiff.Batch, h}})
	z2 := add(autodiff.Value{Name: "z2", Shape: []int{autodiff.Batch, out}})
	y := add(autodiff.Value{Name: "y", Shape: []int{autodiff.Batch, out}})
	g.Inputs, g.Outputs, g.Params = []int{x}, []int{y}, []int{w1, b1, w2, b2}
	g.Nodes = []*autodiff.Node{
		{Name: "fc1", OpType: "Gemm", Opset: 13, In: []int{x, w1, b1}, Out: []int{z1}, Attrs: autodiff.Attrs{}},
		{Name: "act", OpType: "Tanh", Opset: 13, In: []int{z1}, Out: []int{a1}, Attrs: autodiff.Attrs{}},
		{Name: "fc2", OpType: "MatMul", Opset: 13, In: []int{a1, w2}, Out: []int{z2}, Attrs: autodiff.Attrs{}},
		{Name: "bias", OpType: "Add", Opset: 13, In: []int{z2, b2}, Out: []int{y}, Attrs: autodiff.Attrs{}},
	}
	return g
}

func TestFeatures(t *testing.T) {
	g := mlp(3, 5, 2)
	id, err := LastLinear(g)
	if err != nil || g.Values[id].Name != "a1" {
		t.Fatalf("LastLinear: %v, %v", id, err)
	}
	n := featureChunk + 7 // two forward passes
	x := autodiff.New[float32](n, 3)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	phi, out, err := Features(g, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(phi) != n || len(out) != n || len(phi[0]) != 5 || len(out[0]) != 2 {
		t.Fatalf("shapes %d×%d, %d×%d", len(phi), len(phi[0]), len(out), len(out[0]))
	}
	// out = φ·W2 + b2 for every row, including the second chunk.
	w2, b2 := g.Values[g.Params[2]].Data, g.Values[g.Params[3]].Data
	for _, i := range []int{0, n - 1} {
		for c := range 2 {
			s := b2[c]
			for j, v := range phi[i] {
				s += v * w2[j*2+c]
			}
			if math.Abs(s-out[i][c]) > 1e-5 {
				t.Errorf("row %d output %d: φ·W+b = %g, network %g", i, c, s, out[i][c])
			}
		}
		h := make([]float64, 5)
		for j := range h {
			h[j] = g.Values[g.Params[1]].Data[j]
			for k := range 3 {
				h[j] += float64(x.Data[i*3+k]) * g.Values[g.Params[0]].Data[k*5+j]
			}
			if math.Abs(math.Tanh(h[j])-phi[i][j]) > 1e-5 {
				t.Errorf("row %d feature %d: %g, want %g", i, j, phi[i][j], math.Tanh(h[j]))
			}
		}
	}
}

func TestLastLinearRejects(t *testing.T) {
	g := mlp(3, 5, 2)
	// A Tanh after the last layer: the output is not linear in its weights.
	y := len(g.Values)
	g.Values = append(g.Values, autodiff.Value{Name: "t", Shape: []int{autodiff.Batch, 2}})
	g.Nodes = append(g.Nodes, &autodiff.Node{Name: "t", OpType: "Tanh", Opset: 13, In: []int{g.Outputs[0]}, Out: []int{y}, Attrs: autodiff.Attrs{}})
	g.Outputs = []int{y}
	if _, err := LastLinear(g); err == nil {
		t.Error("a Tanh after the last dense layer was accepted")
	}
	if _, _, err := Features(g, autodiff.New[float32](2, 3)); err == nil {
		t.Error("Features: no error")
	}
	if _, err := LastLinear(&autodiff.Graph{}); err == nil {
		t.Error("a graph without nodes was accepted")
	}
}

func TestWithBias(t *testing.T) {
	phi := [][]float64{{1, 2}, {3, 4}}
	b := WithBias(phi)
	if len(b) != 2 || len(b[0]) != 3 || b[0][2] != 1 || b[1][0] != 3 || len(phi[0]) != 2 {
		t.Errorf("WithBias(%v) = %v", phi, b)
	}
}

// TestRidgeRecovers fits y = f + [φ,1]·Δ + small noise: the prediction
// must follow the true correction and the noise estimate its variance.
func TestRidgeRecovers(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, m, d = 200, 50, 4
	delta := [][]float64{{1, -2}, {0.5, 0}, {0, 1}, {-1, 0.3}, {0.2, -0.4}} // (d+1)×K
	gen := func(rows int, sd float64) (phi, f, y [][]float64) {
		for range rows {
			p := make([]float64, d)
			for j := range p {
				p[j] = rng.NormFloat64()
			}
			fi := []float64{rng.NormFloat64(), rng.NormFloat64()}
			yi := make([]float64, 2)
			for c := range 2 {
				yi[c] = fi[c] + delta[d][c] + sd*rng.NormFloat64()
				for j := range d {
					yi[c] += p[j] * delta[j][c]
				}
			}
			phi, f, y = append(phi, p), append(f, fi), append(y, yi)
		}
		return
	}
	const sd = 0.1
	phi, f, y := gen(n, sd)
	phiT, fT, yT := gen(m, 0)
	mean, noise, lam, err := Ridge(phi, f, y, phiT, fT)
	if err != nil {
		t.Fatal(err)
	}
	if !(lam > 0) || math.Abs(noise-sd*sd) > 0.5*sd*sd {
		t.Errorf("λ %g, noise %g (want about %g)", lam, noise, sd*sd)
	}
	for i := range m {
		for c := range 2 {
			if math.Abs(mean[i][c]-yT[i][c]) > 0.1 {
				t.Fatalf("row %d output %d: mean %g, noiseless target %g", i, c, mean[i][c], yT[i][c])
			}
		}
	}
	if _, _, _, err := Ridge(nil, nil, nil, phiT, fT); err == nil {
		t.Error("no training rows: no error")
	}
}

// TestLogistic checks the gradient of FitLogistic's objective at its
// optimum (zero) and that Logistic separates two well-separated classes.
func TestLogistic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, k = 120, 3
	centres := [][]float64{{2, 0}, {-2, 0}, {0, 2}}
	gen := func(rows int) (phi [][]float64, labels []int) {
		for i := range rows {
			c := i % k
			phi = append(phi, []float64{centres[c][0] + 0.5*rng.NormFloat64(), centres[c][1] + 0.5*rng.NormFloat64()})
			labels = append(labels, c)
		}
		return
	}
	phi, lab := gen(n)
	phiT, labT := gen(60)
	const lam = 0.01
	w, err := FitLogistic(phi, nil, lab, k, lam)
	if err != nil {
		t.Fatal(err)
	}
	// Stationarity: (1/n)·Σ (p_i − e_label)⊗[φ_i,1] + λW = 0.
	p := LogisticProbs(w, phi, nil, k)
	d := 3
	for c := range k {
		for j := range d {
			g := lam * w[d*c+j]
			for i := range phi {
				v := 1.0
				if j < 2 {
					v = phi[i][j]
				}
				e := 0.0
				if lab[i] == c {
					e = 1
				}
				g += (p[i][c] - e) * v / n
			}
			if math.Abs(g) > 1e-5 {
				t.Errorf("gradient (%d,%d) = %g at the optimum", c, j, g)
			}
		}
	}
	// An offset shifts the logits by itself.
	off := [][]float64{{1, 2, 3}}
	z0, z1 := LogisticLogits(w, phi[:1], nil, k), LogisticLogits(w, phi[:1], off, k)
	for c := range k {
		if math.Abs(z1[0][c]-z0[0][c]-off[0][c]) > 1e-12 {
			t.Errorf("offset: %v vs %v", z1, z0)
		}
	}
	probs, l, err := Logistic(phi, nil, lab, k, phiT, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l < 1e-5 || l > 10 {
		t.Errorf("λ %g outside the grid", l)
	}
	correct := 0
	for i, pr := range probs {
		best := 0
		for c := range pr {
			if pr[c] > pr[best] {
				best = c
			}
		}
		if best == labT[i] {
			correct++
		}
	}
	if correct < 55 {
		t.Errorf("%d of 60 test points classified correctly", correct)
	}
	if _, _, err := Logistic(phi[:2], nil, lab[:2], k, phiT, nil, 1); err == nil {
		t.Error("2 points: no error")
	}
}

func TestValidationSplit(t *testing.T) {
	for _, n := range []int{3, 4, 10, 301} {
		tr, va := ValidationSplit(rand.New(rand.NewPCG(1, 1)), n)
		if len(va) != max(2, (n+3)/4) || len(tr)+len(va) != n {
			t.Errorf("n=%d: %d + %d", n, len(tr), len(va))
		}
		seen := map[int]bool{}
		for _, i := range append(append([]int(nil), tr...), va...) {
			if seen[i] || i < 0 || i >= n {
				t.Fatalf("n=%d: index %d repeated or out of range", n, i)
			}
			seen[i] = true
		}
	}
}

// TestShippedModels finds the last layer of the shipped models.
func TestShippedModels(t *testing.T) {
	for name, dim := range map[string]int{"sine-mlp": 64, "drift-lnmlp": 32, "digits-cnn": 16} {
		g, err := onnximport.Load("../models/"+name+"/model.onnx", nil)
		if err != nil {
			t.Logf("%s: %v (skipped)", name, err)
			continue
		}
		shape := []int{2}
		for _, s := range g.Values[g.Inputs[0]].Shape[1:] {
			shape = append(shape, s)
		}
		phi, _, err := Features(g, autodiff.New[float32](shape...))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if len(phi) != 2 || len(phi[0]) != dim {
			t.Errorf("%s: %d rows of %d features, want 2 of %d", name, len(phi), len(phi[0]), dim)
		}
	}
}
