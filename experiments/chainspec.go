package experiments

import (
	"fmt"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// ChainOp is one op of a sequential network as handed to the peers, who
// rebuild it in torch: the ONNX op type, the attributes torch needs, and
// the op's initializers in ONNX input order (Conv: W, B; BatchNormalization:
// scale, bias, mean, var; Gemm: B (out×in after transB), C).
type ChainOp struct {
	Op      string        `json:"op"`
	Kernel  []int         `json:"kernel,omitempty"`
	Strides []int         `json:"strides,omitempty"`
	Pads    []int         `json:"pads,omitempty"` // one per spatial axis (symmetric)
	Epsilon float64       `json:"epsilon,omitempty"`
	Tensors []ChainTensor `json:"tensors,omitempty"`
}

// ChainTensor is one initializer of a ChainOp, row-major. Param is true for
// what the engine differentiates (the torch parameters); false for running
// statistics (torch buffers).
type ChainTensor struct {
	Name  string    `json:"name"`
	Param bool      `json:"param"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// chainSpec reads a graph that is one chain of 2-D Conv (group 1, dilation
// 1, symmetric pads), BatchNormalization (inference form), Relu, Tanh,
// MaxPool (symmetric pads, floor), GlobalAveragePool, Flatten (axis 1) and
// Gemm (alpha = beta = 1, transA = 0) nodes, each feeding the next, so that
// a peer library can rebuild exactly that network. Anything else is an
// error naming the node.
func chainSpec(g *autodiff.Graph) ([]ChainOp, error) {
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("chain: %d inputs and %d outputs, want 1 and 1", len(g.Inputs), len(g.Outputs))
	}
	cur := g.Inputs[0]
	var ops []ChainOp
	for _, n := range g.Nodes {
		if len(n.In) == 0 || n.In[0] != cur || len(n.Out) != 1 {
			return nil, fmt.Errorf("chain: %s does not continue the chain", n.Describe())
		}
		op := ChainOp{Op: n.OpType}
		for _, id := range n.In[1:] {
			if id < 0 {
				continue
			}
			v := g.Values[id]
			if v.Kind != autodiff.Param && v.Kind != autodiff.Const {
				return nil, fmt.Errorf("chain: %s: input %s is not an initializer", n.Describe(), v.Name)
			}
			op.Tensors = append(op.Tensors, ChainTensor{Name: v.Name, Param: v.Kind == autodiff.Param, Shape: slices.Clone(v.Shape), Data: slices.Clone(v.Data)})
		}
		bad := func(why string) error { return fmt.Errorf("chain: %s: %s", n.Describe(), why) }
		// pads2 checks ONNX pads [b1, b2, e1, e2] are symmetric and
		// returns [p1, p2].
		pads2 := func() ([]int, error) {
			p := n.Attrs.Ints("pads")
			if p == nil {
				return []int{0, 0}, nil
			}
			if len(p) != 4 || p[0] != p[2] || p[1] != p[3] || n.Attrs.String("auto_pad", "NOTSET") != "NOTSET" {
				return nil, bad(fmt.Sprintf("pads %v are not symmetric 2-D", p))
			}
			return []int{p[0], p[1]}, nil
		}
		ones := func(name string) bool {
			for _, v := range n.Attrs.Ints(name) {
				if v != 1 {
					return false
				}
			}
			return true
		}
		var err error
		switch n.OpType {
		case "Conv":
			if n.Attrs.Int("group", 1) != 1 || !ones("dilations") || len(op.Tensors) == 0 || len(op.Tensors[0].Shape) != 4 {
				return nil, bad("not a plain 2-D convolution")
			}
			op.Kernel = op.Tensors[0].Shape[2:]
			op.Strides = n.Attrs.Ints("strides")
			if op.Pads, err = pads2(); err != nil {
				return nil, err
			}
		case "MaxPool":
			if n.Attrs.Int("ceil_mode", 0) != 0 || !ones("dilations") || n.Attrs.Int("storage_order", 0) != 0 {
				return nil, bad("not a plain 2-D max pooling")
			}
			op.Kernel, op.Strides = n.Attrs.Ints("kernel_shape"), n.Attrs.Ints("strides")
			if len(op.Kernel) != 2 {
				return nil, bad("not 2-D")
			}
			if op.Pads, err = pads2(); err != nil {
				return nil, err
			}
		case "BatchNormalization":
			if len(op.Tensors) != 4 || n.Attrs.Int("training_mode", 0) != 0 {
				return nil, bad("not the inference form")
			}
			op.Epsilon = n.Attrs.Float("epsilon", 1e-5)
		case "Gemm":
			if n.Attrs.Int("transA", 0) != 0 || n.Attrs.Float("alpha", 1) != 1 || n.Attrs.Float("beta", 1) != 1 || len(op.Tensors) == 0 || len(op.Tensors[0].Shape) != 2 {
				return nil, bad("not a plain dense layer")
			}
			if n.Attrs.Int("transB", 0) == 0 { // store B as out×in, torch's Linear weight
				w := &op.Tensors[0]
				r, c := w.Shape[0], w.Shape[1]
				t := make([]float64, len(w.Data))
				for i := range r {
					for j := range c {
						t[j*r+i] = w.Data[i*c+j]
					}
				}
				w.Data, w.Shape = t, []int{c, r}
			}
		case "Flatten":
			if n.Attrs.Int("axis", 1) != 1 {
				return nil, bad("axis is not 1")
			}
		case "Relu", "Tanh", "GlobalAveragePool":
		default:
			return nil, bad("op not supported by the peers' rebuild")
		}
		if op.Strides == nil && op.Kernel != nil {
			op.Strides = []int{1, 1}
		}
		ops = append(ops, op)
		cur = n.Out[0]
	}
	if g.Outputs[0] != cur {
		return nil, fmt.Errorf("chain: does not end at the output")
	}
	return ops, nil
}

// chainParams counts the parameters of a chain (to check it against the
// graph's).
func chainParams(ops []ChainOp) int {
	p := 0
	for _, o := range ops {
		for _, t := range o.Tensors {
			if t.Param {
				p += len(t.Data)
			}
		}
	}
	return p
}
