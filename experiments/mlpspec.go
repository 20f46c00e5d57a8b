package experiments

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// DenseLayer is one layer y = act(x·W + b) of an MLP, W as in×out rows.
type DenseLayer struct {
	W   [][]float64 `json:"W"`
	B   []float64   `json:"b"`
	Act string      `json:"act"` // "tanh", "relu" or "" (identity)
}

// mlpSpec reads a graph made only of Gemm/MatMul, bias Add, Tanh and Relu
// as a chain of dense layers, so that a peer library can rebuild the same
// network from the initializers.
func mlpSpec(g *autodiff.Graph) ([]DenseLayer, error) {
	var layers []DenseLayer
	cur := g.Inputs[0]
	data := func(id int) []float64 { return g.Values[id].Data }
	other := func(n *autodiff.Node) (int, error) {
		if n.In[0] == cur {
			return n.In[1], nil
		}
		if len(n.In) > 1 && n.In[1] == cur {
			return n.In[0], nil
		}
		return 0, fmt.Errorf("%s does not continue the chain", n.Describe())
	}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Gemm", "MatMul":
			if n.In[0] != cur || n.Attrs.Int("transA", 0) != 0 || n.Attrs.Float("alpha", 1) != 1 || n.Attrs.Float("beta", 1) != 1 {
				return nil, fmt.Errorf("%s is not a plain dense layer", n.Describe())
			}
			wv := g.Values[n.In[1]]
			if len(wv.Shape) != 2 {
				return nil, fmt.Errorf("%s: weight shape %v", n.Describe(), wv.Shape)
			}
			r, c := wv.Shape[0], wv.Shape[1]
			trans := n.OpType == "Gemm" && n.Attrs.Int("transB", 0) == 1
			in, out := r, c
			if trans {
				in, out = c, r
			}
			w := make([][]float64, in)
			for i := range in {
				w[i] = make([]float64, out)
				for j := range out {
					if trans {
						w[i][j] = data(n.In[1])[j*c+i]
					} else {
						w[i][j] = data(n.In[1])[i*c+j]
					}
				}
			}
			l := DenseLayer{W: w, B: make([]float64, out)}
			if n.OpType == "Gemm" && len(n.In) > 2 && n.In[2] >= 0 {
				copy(l.B, data(n.In[2]))
			}
			layers = append(layers, l)
		case "Add":
			b, err := other(n)
			if err != nil || len(layers) == 0 || len(data(b)) != len(layers[len(layers)-1].B) {
				return nil, fmt.Errorf("%s is not a bias add", n.Describe())
			}
			for i, v := range data(b) {
				layers[len(layers)-1].B[i] += v
			}
		case "Tanh", "Relu":
			if n.In[0] != cur || len(layers) == 0 {
				return nil, fmt.Errorf("%s does not continue the chain", n.Describe())
			}
			layers[len(layers)-1].Act = map[string]string{"Tanh": "tanh", "Relu": "relu"}[n.OpType]
		default:
			return nil, fmt.Errorf("%s: not an MLP op", n.Describe())
		}
		cur = n.Out[0]
	}
	if len(g.Outputs) != 1 || g.Outputs[0] != cur {
		return nil, fmt.Errorf("the chain does not end at the output")
	}
	return layers, nil
}

// mlpForward evaluates a layer chain (to check mlpSpec against the engine).
func mlpForward(layers []DenseLayer, x []float64) []float64 {
	h := x
	for _, l := range layers {
		out := append([]float64(nil), l.B...)
		for i, v := range h {
			for j := range out {
				out[j] += v * l.W[i][j]
			}
		}
		for j, v := range out {
			switch l.Act {
			case "tanh":
				out[j] = tanh(v)
			case "relu":
				out[j] = max(v, 0)
			}
		}
		h = out
	}
	return h
}
