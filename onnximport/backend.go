package onnximport

import (
	"fmt"
	"sort"

	onnx "github.com/owulveryck/onnx-go"
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
)

// backend receives the model from onnx-go (its Backend interface: a gonum
// directed weighted graph builder plus an OperationCarrier). onnx-go adds
// one graph node per value name and, for each ONNX node in model order, one
// edge from each of its output values to each of its input values, weighted
// by the input's index, then calls ApplyOperation with the op and the output
// values. A gonum simple graph keeps one edge per pair of nodes, so Mul(x, x)
// would lose an input; this backend keeps every edge in arrival order and
// gives each operation the edges set since the previous one.
//
// The nodes deliberately do not implement onnx.DataCarrier: onnx-go would
// then convert initializers and graph inputs to gorgonia tensors, which
// fails on empty tensors and on FLOAT16, INT8, UINT8 and other types, and
// allocates before any limit can be checked. Initializer data is read by
// wire.go instead.
type backend struct {
	nodes   []*goNode
	byID    map[int64]*goNode
	edges   []*goEdge
	pending int // index of the first edge not yet claimed by an operation
	ops     []goOp
}

// goOp is one ONNX node as onnx-go delivered it.
type goOp struct {
	Type  string
	Attrs map[string]any
	Out   []string
	In    []string
}

type goNode struct {
	id   int64
	name string
}

func (n *goNode) ID() int64        { return n.id }
func (n *goNode) SetName(s string) { n.name = s }
func (n *goNode) GetName() string  { return n.name }
func (n *goNode) String() string   { return n.name }
func (g *backend) Node(id int64) graph.Node {
	if n, ok := g.byID[id]; ok {
		return n
	}
	return nil
}

type goEdge struct {
	from, to *goNode
	w        float64
}

func (e *goEdge) From() graph.Node         { return e.from }
func (e *goEdge) To() graph.Node           { return e.to }
func (e *goEdge) Weight() float64          { return e.w }
func (e *goEdge) ReversedEdge() graph.Edge { return &goEdge{from: e.to, to: e.from, w: e.w} }

func newBackend() *backend { return &backend{byID: map[int64]*goNode{}} }

// NewNode returns a node with a fresh id.
func (g *backend) NewNode() graph.Node { return &goNode{id: int64(len(g.nodes))} }

// AddNode adds a node made by NewNode.
func (g *backend) AddNode(n graph.Node) {
	gn, ok := n.(*goNode)
	if !ok {
		panic(fmt.Sprintf("onnximport: foreign node %T", n))
	}
	if _, dup := g.byID[gn.id]; dup {
		panic(fmt.Sprintf("onnximport: node id %d added twice", gn.id))
	}
	g.byID[gn.id] = gn
	g.nodes = append(g.nodes, gn)
}

// NewWeightedEdge returns an edge from one node to another.
func (g *backend) NewWeightedEdge(from, to graph.Node, w float64) graph.WeightedEdge {
	f, _ := from.(*goNode)
	t, _ := to.(*goNode)
	return &goEdge{from: f, to: t, w: w}
}

// SetWeightedEdge records the edge; duplicates are kept.
func (g *backend) SetWeightedEdge(e graph.WeightedEdge) {
	ge, ok := e.(*goEdge)
	if !ok || ge.from == nil || ge.to == nil {
		panic(fmt.Sprintf("onnximport: foreign edge %T", e))
	}
	g.edges = append(g.edges, ge)
}

// ApplyOperation records one ONNX node: its outputs, and its inputs from the
// edges set since the previous operation, ordered by weight (input index).
func (g *backend) ApplyOperation(op onnx.Operation, outs ...graph.Node) error {
	if len(outs) == 0 {
		return fmt.Errorf("operation %s without outputs", op.Name)
	}
	first := outs[0].ID()
	var in []*goEdge
	for _, e := range g.edges[g.pending:] {
		if e.from.id == first {
			in = append(in, e)
		}
	}
	g.pending = len(g.edges)
	sort.SliceStable(in, func(i, j int) bool { return in[i].w < in[j].w })
	o := goOp{Type: op.Name, Attrs: op.Attributes}
	for _, n := range outs {
		o.Out = append(o.Out, n.(*goNode).name)
	}
	for i, e := range in {
		if e.w != float64(i) {
			return fmt.Errorf("operation %s: input edges weighted %v, want 0..%d", op.Name, weights(in), len(in)-1)
		}
		o.In = append(o.In, e.to.name)
	}
	g.ops = append(g.ops, o)
	return nil
}

func weights(es []*goEdge) []float64 {
	w := make([]float64, len(es))
	for i, e := range es {
		w[i] = e.w
	}
	return w
}

// The read side of gonum's graph.Directed; onnx-go's decoder does not call
// it, and nothing here needs it to be fast.

func (g *backend) Nodes() graph.Nodes {
	ns := make([]graph.Node, len(g.nodes))
	for i, n := range g.nodes {
		ns[i] = n
	}
	return iterator.NewOrderedNodes(ns)
}

func (g *backend) From(id int64) graph.Nodes {
	var ns []graph.Node
	seen := map[int64]bool{}
	for _, e := range g.edges {
		if e.from.id == id && !seen[e.to.id] {
			seen[e.to.id] = true
			ns = append(ns, e.to)
		}
	}
	return iterator.NewOrderedNodes(ns)
}

func (g *backend) To(id int64) graph.Nodes {
	var ns []graph.Node
	seen := map[int64]bool{}
	for _, e := range g.edges {
		if e.to.id == id && !seen[e.from.id] {
			seen[e.from.id] = true
			ns = append(ns, e.from)
		}
	}
	return iterator.NewOrderedNodes(ns)
}

func (g *backend) HasEdgeBetween(x, y int64) bool {
	return g.HasEdgeFromTo(x, y) || g.HasEdgeFromTo(y, x)
}

func (g *backend) HasEdgeFromTo(u, v int64) bool { return g.Edge(u, v) != nil }

func (g *backend) Edge(u, v int64) graph.Edge {
	for _, e := range g.edges {
		if e.from.id == u && e.to.id == v {
			return e
		}
	}
	return nil
}

var _ onnx.Backend = (*backend)(nil)
