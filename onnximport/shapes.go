package onnximport

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// run is one evaluation of the graph at a batch size, for shape inference.
type run struct {
	batch int
	vals  []*autodiff.Tensor[float64]
}

// InferShapes fills Value.Shape of every value of g by evaluating the graph
// forward, in float64 on zero inputs, node by node:
//
//   - when the inputs are batched (their axis 0 is autodiff.Batch), twice, at
//     batch sizes 1 and 2: a dimension that is 1 and then 2 is the batch
//     (autodiff.Batch), one equal in both runs is static, and any other
//     (a batch folded into another axis, as in a Reshape to [N·C]) is
//     unknown (-2);
//   - otherwise once, at the declared input shapes.
//
// Zero inputs make data-dependent shapes (NonZero, a computed Range)
// those of the zero input; zeros are valid indices for batched integer
// inputs (token ids). When an input has an unknown dimension besides the
// batch, or the inputs are not batched and one of them is an integer
// tensor (a shape, axes or indices fed at run time, for which zeros would
// be garbage), InferShapes leaves the shapes of computed values nil and
// returns nil: there is nothing meaningful to run at. It returns an error naming the
// node when an op rejects its inputs, as the model could not run.
func InferShapes(g *autodiff.Graph) error { return inferShapes(g, nil, 0) }

// inferShapes is InferShapes with a hook run before each node, and a bound
// on the bytes (8 an element) of all the tensors the runs compute
// (maxBytes <= 0: none).
func inferShapes(g *autodiff.Graph, hook func(*autodiff.Graph, *autodiff.Node, []*run), maxBytes int64) error {
	var total int64
	batched, ints := false, false
	for _, id := range g.Inputs {
		s := g.Values[id].Shape
		if len(s) > 0 && s[0] == autodiff.Batch {
			batched = true
		}
		ints = ints || g.Values[id].Int
		for i, d := range s {
			if d < 0 && !(i == 0 && d == autodiff.Batch) {
				return nil
			}
		}
	}
	if ints && !batched {
		return nil
	}
	var runs []*run
	if batched {
		runs = []*run{{batch: 1}, {batch: 2}}
	} else {
		runs = []*run{{batch: 0}}
	}
	for _, r := range runs {
		r.vals = make([]*autodiff.Tensor[float64], len(g.Values))
		for id := range g.Values {
			v := &g.Values[id]
			if v.Kind == autodiff.Param || v.Kind == autodiff.Const {
				r.vals[id] = autodiff.FromData(v.Data, v.Shape...)
			}
		}
		for _, id := range g.Inputs {
			s := append([]int{}, g.Values[id].Shape...)
			if len(s) > 0 && s[0] == autodiff.Batch {
				s[0] = r.batch
			}
			r.vals[id] = autodiff.New[float64](s...)
		}
	}
	for _, n := range g.Nodes {
		if hook != nil {
			hook(g, n, runs)
		}
		k, err := autodiff.NewKernel[float64](n)
		if err != nil {
			return err
		}
		for _, r := range runs {
			in := make([]*autodiff.Tensor[float64], len(n.In))
			for i, id := range n.In {
				if id >= 0 {
					in[i] = r.vals[id]
				}
			}
			out, err := k.Forward(in)
			if err != nil {
				if batched {
					return fmt.Errorf("shape inference at batch size %d: %s: %w", r.batch, n.Describe(), err)
				}
				return fmt.Errorf("shape inference: %s: %w", n.Describe(), err)
			}
			if len(out) < len(n.Out) {
				return fmt.Errorf("shape inference: %s: produced %d outputs, graph uses %d", n.Describe(), len(out), len(n.Out))
			}
			for j, id := range n.Out {
				if id >= 0 {
					r.vals[id] = out[j]
					total += 8 * int64(len(out[j].Data))
				}
			}
			if maxBytes > 0 && total > maxBytes {
				return fmt.Errorf("shape inference: %s: the computed tensors exceed the limit of %d bytes", n.Describe(), maxBytes)
			}
		}
	}
	for id := range g.Values {
		v := &g.Values[id]
		if v.Kind != autodiff.Computed {
			continue
		}
		a := runs[0].vals[id]
		if a == nil {
			continue
		}
		shape := append([]int{}, a.Shape...)
		if batched {
			b := runs[1].vals[id]
			if b.Rank() != a.Rank() {
				return fmt.Errorf("shape inference: value %q has rank %d at batch 1 and %d at batch 2", v.Name, a.Rank(), b.Rank())
			}
			for i := range shape {
				switch {
				case a.Shape[i] == b.Shape[i]:
				case a.Shape[i] == 1 && b.Shape[i] == 2:
					shape[i] = autodiff.Batch
				default:
					shape[i] = -2
				}
			}
		}
		v.Shape = shape
	}
	return nil
}
