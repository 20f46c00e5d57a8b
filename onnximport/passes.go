package onnximport

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// Graph passes run by Decode after the graph is built and sorted:
//
//  1. classify (import.go): float initializers and Constant values become
//     Param or Const.
//  2. foldConstants: nodes whose inputs are all Const are evaluated once and
//     replaced by Const values (Options.NoFold turns this off). Params are
//     never folded, so a reshaped weight stays differentiable.
//  3. unpinBatch, run inside shape inference: a Reshape whose constant shape
//     starts with 1 while its data input's leading dimension is the batch
//     gets a fresh constant shape whose leading entry copies the batch.
//  4. InferShapes: static shapes with a symbolic batch dimension.
//  5. markInts and compact: integer flags of computed values, and removal of
//     values nothing uses any more.

// intOutput reports whether output j of n holds integers (or booleans),
// from the op's definition and the integer flags of its inputs.
func intOutput(g *autodiff.Graph, n *autodiff.Node, j int) bool {
	inInt := func(i int) bool {
		return i < len(n.In) && n.In[i] >= 0 && g.Values[n.In[i]].Int
	}
	switch n.OpType {
	case "Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression",
		"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
		return true
	case "TopK", "Unique":
		return j > 0 || inInt(0)
	case "Dropout":
		return j == 1 || inInt(0)
	case "Cast":
		to := DataType(n.Attrs.Int("to", int64(Float)))
		return !to.IsFloat() && to != Float16 && to != BFloat16
	case "CastLike":
		return inInt(1)
	case "Where":
		return inInt(1)
	case "ConstantOfShape":
		if a, ok := n.Attrs["value"]; ok && a.Tensor != nil {
			return a.Tensor.Int
		}
		return false
	case "EyeLike", "RandomNormalLike", "RandomUniformLike":
		if n.Attrs.Has("dtype") {
			d := DataType(n.Attrs.Int("dtype", int64(Float)))
			return !d.IsFloat()
		}
	}
	return inInt(0)
}

// markInts sets the Int flag of every computed value, and each node's
// IntOut (integer arithmetic, such as Div, truncates).
func markInts(g *autodiff.Graph) {
	for _, n := range g.Nodes {
		n.IntOut = intOutput(g, n, 0)
		for j, id := range n.Out {
			if id >= 0 {
				g.Values[id].Int = intOutput(g, n, j)
			}
		}
	}
}

// constTensor returns a Const or Param value as a float64 tensor.
func constTensor(v *autodiff.Value) *autodiff.Tensor[float64] {
	return autodiff.FromData(append([]float64(nil), v.Data...), v.Shape...)
}

// foldConstants evaluates, in float64, every node whose inputs are all Const
// and replaces its outputs with Const values. The folded values may hold
// maxBytes bytes in all (8 an element).
func foldConstants(g *autodiff.Graph, maxBytes int64) error {
	kept := g.Nodes[:0:0]
	var total int64
	for _, n := range g.Nodes {
		foldable := len(n.In) > 0
		for _, id := range n.In {
			if id >= 0 && g.Values[id].Kind != autodiff.Const {
				foldable = false
			}
		}
		if !foldable {
			kept = append(kept, n)
			continue
		}
		n.IntOut = intOutput(g, n, 0)
		k, err := autodiff.NewKernel[float64](n)
		if err != nil {
			return err
		}
		in := make([]*autodiff.Tensor[float64], len(n.In))
		for i, id := range n.In {
			if id >= 0 {
				in[i] = constTensor(&g.Values[id])
			}
		}
		out, err := k.Forward(in)
		if err != nil {
			return fmt.Errorf("folding constants: %s: %w", n.Describe(), err)
		}
		if len(out) < len(n.Out) {
			return fmt.Errorf("folding constants: %s: produced %d outputs, graph uses %d", n.Describe(), len(out), len(n.Out))
		}
		for j, id := range n.Out {
			if id < 0 {
				continue
			}
			if total += 8 * int64(len(out[j].Data)); total > maxBytes {
				return fmt.Errorf("folding constants: %s: the folded constants exceed the limit of %d bytes", n.Describe(), maxBytes)
			}
			v := &g.Values[id]
			v.Int = intOutput(g, n, j)
			v.Kind = autodiff.Const
			v.Shape = append([]int{}, out[j].Shape...)
			v.Data = append([]float64{}, out[j].Data...)
		}
	}
	g.Nodes = kept
	return nil
}

// unpinBatch is the shape-inference hook that undoes a batch size pinned
// into a Reshape (mnist-7 reshapes its pooled features to the constant
// shape [1, 256]): when the Reshape's shape is a Const whose first entry is
// 1 and its data input's leading dimension is the batch in every run, the
// node gets a new Const shape whose first entry is 0 ("copy the input's
// dimension"; -1 under allowzero=1 when no other entry is -1).
func unpinBatch(g *autodiff.Graph, n *autodiff.Node, runs []*run) {
	if n.OpType != "Reshape" || len(n.In) < 2 || n.In[0] < 0 || n.In[1] < 0 {
		return
	}
	sv := &g.Values[n.In[1]]
	if sv.Kind != autodiff.Const || len(sv.Data) == 0 || sv.Data[0] != 1 {
		return
	}
	for _, r := range runs {
		x := r.vals[n.In[0]]
		if x == nil || x.Rank() == 0 || x.Shape[0] != r.batch {
			return
		}
	}
	lead := 0.0
	if n.Attrs.Int("allowzero", 0) != 0 {
		for _, d := range sv.Data[1:] {
			if d == -1 {
				return
			}
		}
		lead = -1
	}
	nv := autodiff.Value{Name: sv.Name + "/batch", Kind: autodiff.Const, Shape: append([]int{}, sv.Shape...), Int: true, Data: append([]float64{}, sv.Data...)}
	nv.Data[0] = lead
	g.Values = append(g.Values, nv)
	n.In[1] = len(g.Values) - 1
	for _, r := range runs {
		r.vals = append(r.vals, constTensor(&nv))
	}
}

// compact drops values that no node, input, output or parameter refers to
// (inputs of folded nodes) and renumbers the rest.
func compact(g *autodiff.Graph) {
	used := make([]bool, len(g.Values))
	mark := func(ids []int) {
		for _, id := range ids {
			if id >= 0 {
				used[id] = true
			}
		}
	}
	mark(g.Inputs)
	mark(g.Outputs)
	mark(g.Params)
	for _, n := range g.Nodes {
		mark(n.In)
		mark(n.Out)
	}
	remap := make([]int, len(g.Values))
	vals := g.Values[:0:0]
	for id, v := range g.Values {
		remap[id] = -1
		if used[id] {
			remap[id] = len(vals)
			vals = append(vals, v)
		}
	}
	g.Values = vals
	re := func(ids []int) {
		for i, id := range ids {
			if id >= 0 {
				ids[i] = remap[id]
			}
		}
	}
	re(g.Inputs)
	re(g.Outputs)
	re(g.Params)
	for _, n := range g.Nodes {
		re(n.In)
		re(n.Out)
	}
}
