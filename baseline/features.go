package baseline

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// LastLinear finds the network's last dense layer: the last Gemm or MatMul
// node whose weight (second input) is a parameter, whose first input is
// not, and which does not transpose its first input. It returns the value
// id of that layer's input, the penultimate features φ(x), and checks that
// the first graph output is reached from the layer only through bias Adds,
// so that the output is f(x) = φ(x)·W + b: linear in the layer's weights
// given the features.
func LastLinear(g *autodiff.Graph) (int, error) {
	isParam := func(id int) bool { return id >= 0 && g.Values[id].Kind == autodiff.Param }
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.OpType != "Gemm" && n.OpType != "MatMul" {
			continue
		}
		if len(n.In) < 2 || !isParam(n.In[1]) || isParam(n.In[0]) || n.Attrs.Int("transA", 0) != 0 {
			continue
		}
		cur := n.Out[0]
		for _, m := range g.Nodes[i+1:] {
			if m.OpType == "Add" && len(m.In) == 2 && (m.In[0] == cur || m.In[1] == cur) {
				cur = m.Out[0]
			}
		}
		if len(g.Outputs) == 0 || g.Outputs[0] != cur {
			return 0, fmt.Errorf("the last dense layer does not feed the output through bias Adds only")
		}
		return n.In[0], nil
	}
	return 0, fmt.Errorf("no dense layer with a parameter weight")
}

// featureChunk is the number of rows per forward pass in Features.
const featureChunk = 1024

// Features runs the network g (its own parameters, float32) on the rows of
// x, shaped [n, input shape...], and returns for each row the penultimate
// features φ(x), the input of the last dense layer (see LastLinear),
// flattened, and the network's first output f(x), flattened.
func Features(g *autodiff.Graph, x *autodiff.Tensor[float32]) (phi, out [][]float64, err error) {
	id, err := LastLinear(g)
	if err != nil {
		return nil, nil, err
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return nil, nil, err
	}
	n := x.Shape[0]
	d := x.Len() / max(n, 1)
	for i0 := 0; i0 < n; i0 += featureChunk {
		i1 := min(n, i0+featureChunk)
		xs := x
		if i0 > 0 || i1 < n {
			xs = autodiff.FromData(x.Data[i0*d:i1*d], append([]int{i1 - i0}, x.Shape[1:]...)...)
		}
		t, err := e.Forward(xs)
		if err != nil {
			return nil, nil, err
		}
		phi = append(phi, Rows(t.Value(id))...)
		out = append(out, Rows(t.Outputs()[0])...)
	}
	return phi, out, nil
}

// Rows unpacks a [n, ...] tensor into n flat float64 rows.
func Rows(t *autodiff.Tensor[float32]) [][]float64 {
	n := t.Shape[0]
	d := t.Len() / max(n, 1)
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range d {
			out[i][j] = float64(t.Data[i*d+j])
		}
	}
	return out
}

// WithBias returns the rows of phi with a 1 appended to each, [φ, 1], so
// that a linear map of them has an intercept. phi is not modified.
func WithBias(phi [][]float64) [][]float64 {
	out := make([][]float64, len(phi))
	for i, r := range phi {
		out[i] = append(append(make([]float64, 0, len(r)+1), r...), 1)
	}
	return out
}

// ValidationSplit returns a random partition of 0..n-1, drawn from rng,
// into a training part and a validation part holding a quarter of the
// indices (rounded up, at least 2), each sorted.
func ValidationSplit(rng *rand.Rand, n int) (train, val []int) {
	nval := max(2, (n+3)/4)
	perm := rng.Perm(n)
	val = append([]int(nil), perm[:nval]...)
	train = append([]int(nil), perm[nval:]...)
	sort.Ints(val)
	sort.Ints(train)
	return train, val
}
