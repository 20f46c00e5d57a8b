package gpadapt

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// SelectParams returns the value ids of the parameters named by spec:
// "all", "last:N" (the parameters of the last N nodes that consume any, in
// topological order), or a regular expression matched against names.
func SelectParams(g *autodiff.Graph, spec string) ([]int, error) {
	switch {
	case spec == "" || spec == "all":
		return append([]int(nil), g.Params...), nil
	case strings.HasPrefix(spec, "last:"):
		n, err := strconv.Atoi(strings.TrimPrefix(spec, "last:"))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--params %q: want last:N with N a positive integer", spec)
		}
		isParam := make(map[int]bool)
		for _, id := range g.Params {
			isParam[id] = true
		}
		var layers [][]int
		for _, node := range g.Nodes {
			var ids []int
			for _, id := range node.In {
				if id >= 0 && isParam[id] {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				layers = append(layers, ids)
			}
		}
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

func filterParams(g *autodiff.Graph, keep func(int) bool) []int {
	var out []int
	for _, id := range g.Params {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}
