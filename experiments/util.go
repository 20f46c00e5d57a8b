package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
)

// rows2tensor packs n rows of d features into a [n, shape...] tensor.
func rows2tensor(x [][]float64, shape ...int) *autodiff.Tensor[float32] {
	if len(shape) == 0 {
		shape = []int{len(x[0])}
	}
	t := autodiff.New[float32](append([]int{len(x)}, shape...)...)
	d := autodiff.Size(shape)
	for i, r := range x {
		for j, v := range r {
			t.Data[i*d+j] = float32(v)
		}
	}
	return t
}

// subset returns rows idx of x (tensor) and y.
func subset(x *autodiff.Tensor[float32], y [][]float64, idx []int) (*autodiff.Tensor[float32], [][]float64) {
	n := x.Shape[0]
	d := x.Len() / n
	out := autodiff.New[float32](append([]int{len(idx)}, x.Shape[1:]...)...)
	ys := make([][]float64, len(idx))
	for k, i := range idx {
		copy(out.Data[k*d:(k+1)*d], x.Data[i*d:(i+1)*d])
		ys[k] = y[i]
	}
	return out, ys
}

// forward runs engine e on x and returns its first output as rows.
func forward(e *autodiff.Engine[float32], x *autodiff.Tensor[float32]) ([][]float64, error) {
	const chunk = 1024
	n := x.Shape[0]
	d := x.Len() / n
	var out [][]float64
	for i0 := 0; i0 < n; i0 += chunk {
		i1 := min(n, i0+chunk)
		xs := autodiff.FromData(x.Data[i0*d:i1*d], append([]int{i1 - i0}, x.Shape[1:]...)...)
		t, err := e.Forward(xs)
		if err != nil {
			return nil, err
		}
		out = append(out, baseline.Rows(t.Outputs()[0])...)
	}
	return out, nil
}

// forwardGraph runs the graph's own parameters on x.
func forwardGraph(g *autodiff.Graph, x *autodiff.Tensor[float32]) ([][]float64, error) {
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return nil, err
	}
	return forward(e, x)
}

// meanSE returns the mean of v and its standard error.
func meanSE(v []float64) (float64, float64) {
	n := float64(len(v))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= n
	if n < 2 {
		return m, 0
	}
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / (n - 1) / n)
}

// constVar returns m rows of K copies of v.
func constVar(m, k int, v float64) [][]float64 {
	out := make([][]float64, m)
	for i := range out {
		out[i] = make([]float64, k)
		for j := range out[i] {
			out[i][j] = v
		}
	}
	return out
}

// mse is the mean squared difference over all entries.
func mse(a, b [][]float64) float64 {
	s, n := 0.0, 0
	for i := range a {
		for k := range a[i] {
			d := a[i][k] - b[i][k]
			s += d * d
			n++
		}
	}
	return s / float64(max(n, 1))
}

// lastLayerParams returns a gpadapt Params expression naming the
// parameters of the last dense layer: its weight, its bias and the
// parameters of the bias Adds after it (gpadapt's "last:1" would name only
// the last node with parameters, which for MatMul + Add layers is the
// bias alone).
func lastLayerParams(g *autodiff.Graph) (string, error) {
	feat, err := baseline.LastLinear(g)
	if err != nil {
		return "", err
	}
	var names []string
	on := false
	for _, n := range g.Nodes {
		if !on && (n.OpType == "Gemm" || n.OpType == "MatMul") && len(n.In) > 0 && n.In[0] == feat {
			on = true
		}
		if !on {
			continue
		}
		for _, id := range n.In {
			if id >= 0 && g.Values[id].Kind == autodiff.Param {
				names = append(names, regexp.QuoteMeta(g.Values[id].Name))
			}
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("the last dense layer has no parameters")
	}
	return "^(" + strings.Join(names, "|") + ")$", nil
}

// MLP builds a tanh MLP graph with layer widths sizes, Glorot-uniform
// weights drawn by seed and zero biases: Gemm, Tanh, ..., Gemm.
func MLP(seed uint64, sizes ...int) *autodiff.Graph {
	rng := rand.New(rand.NewPCG(seed, 0x6d6c70))
	return testnet.Dense{
		Act: "Tanh", Opset: 13, Producer: "experiments",
		Name: func(kind string, l int) string {
			switch kind {
			case "weight", "bias":
				return fmt.Sprintf("fc%d.%s", l, kind)
			case "act":
				return fmt.Sprintf("tanh%d", l)
			}
			return fmt.Sprintf("fc%d", l)
		},
		Init: func(l, in, out int) (w, b []float64) {
			a := math.Sqrt(6 / float64(in+out))
			w = make([]float64, in*out)
			for i := range w {
				w[i] = a * (2*rng.Float64() - 1)
			}
			return w, make([]float64, out)
		},
	}.Build(sizes...)
}

// storeParams copies an engine's current parameters back into the graph,
// so that later engines (and gpadapt) start from them.
func storeParams(g *autodiff.Graph, e *autodiff.Engine[float32]) {
	for _, id := range g.Params {
		p := e.Param(id)
		for i, v := range p.Data {
			g.Values[id].Data[i] = float64(v)
		}
	}
}

func tanh(x float64) float64 { return math.Tanh(x) }
