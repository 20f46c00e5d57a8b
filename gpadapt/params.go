package gpadapt

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// SelectParams returns the value ids of the parameters named by spec:
// "all", "last:N" (the parameters of the last N layers: nodes that consume
// any, in topological order, each with a bias an elementwise node adds to
// its output), or a regular expression matched against names. "auto"
// (Fit chooses among last:1 … all by the evidence) returns them all, the
// largest set it may choose.
func SelectParams(g *autodiff.Graph, spec string) ([]int, error) {
	switch {
	case spec == "" || spec == "all" || spec == "auto":
		return append([]int(nil), g.Params...), nil
	case strings.HasPrefix(spec, "last:"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "last:"))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--params %q: want last:N with N a positive integer", spec)
		}
		layers := paramLayers(g)
		chosen := make(map[int]bool)
		for _, l := range layers[max(0, len(layers)-n):] {
			for _, id := range l {
				chosen[id] = true
			}
		}
		return filterParams(g, func(id int) bool { return chosen[id] }), nil
	default:
		re, err := regexp.Compile(spec)
		if err != nil {
			return nil, fmt.Errorf("--params %q: %v", spec, err)
		}
		ids := filterParams(g, func(id int) bool { return re.MatchString(g.Values[id].Name) })
		if len(ids) == 0 {
			return nil, fmt.Errorf("--params %q matches no parameter", spec)
		}
		return ids, nil
	}
}

// paramLayers returns the parameters of each layer, in topological
// order: a layer is a node that consumes parameters, together with a bias
// added to its output by an elementwise node (MatMul then Add, as tf2onnx
// writes a dense layer; Conv then Add, as in mnist-7).
func paramLayers(g *autodiff.Graph) [][]int {
	isParam := make(map[int]bool)
	for _, id := range g.Params {
		isParam[id] = true
	}
	var layers [][]int
	lastOut := map[int]bool{}
	for _, node := range g.Nodes {
		var ids []int
		follows := false
		for _, id := range node.In {
			if id >= 0 && isParam[id] {
				ids = append(ids, id)
			}
			follows = follows || (id >= 0 && lastOut[id])
		}
		if len(ids) == 0 {
			continue
		}
		if spec := autodiff.Lookup(node.OpType); follows && spec != nil && spec.Elementwise && len(layers) > 0 {
			layers[len(layers)-1] = append(layers[len(layers)-1], ids...)
			lastOut = map[int]bool{}
			continue
		}
		layers = append(layers, ids)
		lastOut = map[int]bool{}
		for _, id := range node.Out {
			lastOut[id] = true
		}
	}
	return layers
}

func filterParams(g *autodiff.Graph, keep func(int) bool) []int {
	var out []int
	for _, id := range g.Params {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// layerGroups maps each of the p entries of the active parameters (in
// order) to its layer (paramLayers), numbering only the layers that hold
// active parameters, and names each layer's active parameters.
func layerGroups(g *autodiff.Graph, active []int, size func(id int) int) (groupOf []int, names [][]string) {
	layerOf := map[int]int{}
	for l, ids := range paramLayers(g) {
		for _, id := range ids {
			layerOf[id] = l
		}
	}
	index := map[int]int{} // layer → group
	for _, id := range active {
		l := layerOf[id]
		gi, ok := index[l]
		if !ok {
			gi = len(names)
			index[l] = gi
			names = append(names, nil)
		}
		names[gi] = append(names[gi], g.Values[id].Name)
		for range size(id) {
			groupOf = append(groupOf, gi)
		}
	}
	return groupOf, names
}
