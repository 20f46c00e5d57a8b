package autodiff

import (
	"fmt"
	"strings"
)

// ValueKind says where a value of the graph comes from.
type ValueKind int

const (
	// Computed values are outputs of nodes.
	Computed ValueKind = iota
	// Input values are fed by the caller, one row per example (axis 0 is the batch).
	Input
	// Param values are float initializers that an op differentiates
	// (weights, biases, normalization scales and shifts).
	Param
	// Const values are initializers or folded constants that are not
	// parameters (shapes, pads, running statistics, scalar constants).
	Const
)

func (k ValueKind) String() string {
	return [...]string{"computed", "input", "param", "const"}[k]
}

// Batch marks the symbolic batch dimension in a static shape.
const Batch = -1

// Value is one named tensor of the graph.
type Value struct {
	Name string
	Kind ValueKind
	// Shape is the static shape; Batch (-1) marks the symbolic batch
	// dimension and -2 an unknown one. Nil when not inferred.
	Shape []int
	// Int is true for integer-typed values (shapes, indices).
	Int bool
	// Data holds the elements of Param and Const values.
	Data []float64
}

// Node is one op of the graph.
type Node struct {
	Name   string
	OpType string
	Domain string
	// Opset is the version of the op's domain the model imports.
	Opset int64
	// In and Out are value ids; -1 stands for an omitted optional input.
	In, Out []int
	Attrs   Attrs
	// IntOut is true when the node's outputs are integer-typed: integer
	// arithmetic (Div) truncates.
	IntOut bool
	// MaxElements bounds the elements of each output whose size the node's
	// kernel computes from shapes, attributes or broadcasting (Reshape,
	// Expand, Pad, Gather, ConvTranspose, MatMul, ...): a larger one is an
	// error before anything is allocated. 0 means DefaultMaxElements. It is
	// read when the kernel is built.
	MaxElements int
}

// Graph is a model in the project's own form: values, and nodes in
// topological order.
type Graph struct {
	Values   []Value
	Nodes    []*Node
	Inputs   []int // data inputs, in model order
	Outputs  []int
	Params   []int // parameter values, in model order
	Opset    int64
	Producer string
}

// ValueID returns the id of the named value, or -1.
func (g *Graph) ValueID(name string) int {
	for i := range g.Values {
		if g.Values[i].Name == name {
			return i
		}
	}
	return -1
}

// NumParams is the total number of parameter elements p.
func (g *Graph) NumParams() int {
	n := 0
	for _, id := range g.Params {
		n += len(g.Values[id].Data)
	}
	return n
}

// Describe names a node for error messages: `node "conv1" (Conv)`.
func (n *Node) Describe() string {
	name := n.Name
	if name == "" {
		name = "<unnamed>"
	}
	return fmt.Sprintf("node %q (%s)", name, n.OpType)
}

// AttrKind is the type of an attribute.
type AttrKind int

const (
	AttrFloat AttrKind = iota + 1
	AttrInt
	AttrString
	AttrTensor
	AttrFloats
	AttrInts
	AttrStrings
)

// Attr is one attribute of a node.
type Attr struct {
	Kind    AttrKind
	F       float64
	I       int64
	S       string
	Floats  []float64
	Ints    []int64
	Strings []string
	// Tensor holds a tensor attribute (Constant's value): its data and shape.
	Tensor *Value
}

// Attrs are a node's attributes by name.
type Attrs map[string]Attr

// Int returns the named int attribute, or def.
func (a Attrs) Int(name string, def int64) int64 {
	if v, ok := a[name]; ok && v.Kind == AttrInt {
		return v.I
	}
	return def
}

// Float returns the named float attribute, or def.
func (a Attrs) Float(name string, def float64) float64 {
	if v, ok := a[name]; ok && v.Kind == AttrFloat {
		return v.F
	}
	return def
}

// String returns the named string attribute, or def.
func (a Attrs) String(name string, def string) string {
	if v, ok := a[name]; ok && v.Kind == AttrString {
		return v.S
	}
	return def
}

// Ints returns the named ints attribute as []int, or nil when absent.
func (a Attrs) Ints(name string) []int {
	v, ok := a[name]
	if !ok || v.Kind != AttrInts {
		return nil
	}
	out := make([]int, len(v.Ints))
	for i, x := range v.Ints {
		out[i] = int(x)
	}
	return out
}

// Has reports whether the named attribute is present.
func (a Attrs) Has(name string) bool { _, ok := a[name]; return ok }

// ShapeString formats a static shape with N for the batch dimension.
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		switch {
		case d == Batch:
			parts[i] = "N"
		case d < 0:
			parts[i] = "?"
		default:
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
