package autodiff

import (
	"fmt"
	"math"
)

// NonFiniteError says where a NaN or an infinity arose in a forward sweep:
// in a parameter or constant of the model, in an input row, or in a node
// that produced it from inputs without one.
type NonFiniteError struct {
	// Node is the producing node's Describe(); empty when a parameter,
	// constant or input holds the value.
	Node string
	// Value names the value holding the first non-finite element, Kind
	// says what it is.
	Value string
	Kind  ValueKind
	// Index is the element's flat index in the value; Row its batch row
	// (-1 when the value has no batch axis). Callers sweeping a data set in
	// batches add the batch's first row.
	Index, Row int
	X          float64
}

func (e *NonFiniteError) Error() string {
	at := fmt.Sprintf("element %d", e.Index)
	if e.Row >= 0 {
		at = fmt.Sprintf("row %d", e.Row+1)
	}
	switch {
	case e.Node != "":
		return fmt.Sprintf("%s produced %v in %q (%s) from finite inputs", e.Node, e.X, e.Value, at)
	case e.Kind == Input:
		return fmt.Sprintf("input %q holds %v (%s)", e.Value, e.X, at)
	case e.Kind == Param:
		return fmt.Sprintf("the model's parameter %q holds %v at element %d", e.Value, e.X, e.Index)
	case e.Kind == Const:
		return fmt.Sprintf("the model's constant %q holds %v at element %d", e.Value, e.X, e.Index)
	}
	return fmt.Sprintf("value %q is %v (%s)", e.Value, e.X, at)
}

// firstBad returns the index of the first element of data that is NaN
// (nanOnly) or not finite, or -1.
func firstBad[T Float](data []T, nanOnly bool) int {
	for i, v := range data {
		f := float64(v)
		if f != f || (!nanOnly && math.IsInf(f, 0)) {
			return i
		}
	}
	return -1
}

// CheckParams returns a *NonFiniteError for the first parameter of g that
// holds a NaN or an infinity, or the first constant that holds a NaN
// (constants may hold −Inf on purpose: attention masks); nil otherwise.
func CheckParams(g *Graph) error {
	for id := range g.Values {
		v := &g.Values[id]
		if v.Int || (v.Kind != Param && v.Kind != Const) {
			continue
		}
		if i := firstBad(v.Data, v.Kind == Const); i >= 0 {
			return &NonFiniteError{Value: v.Name, Kind: v.Kind, Index: i, Row: -1, X: v.Data[i]}
		}
	}
	return nil
}

// NonFinite returns nil when the graph outputs of the sweep are finite.
// Otherwise it returns a *NonFiniteError naming where the first NaN or
// infinity arose, walking the nodes in evaluation order: a parameter or
// input holding one (a constant only for NaN), or the first node whose
// output holds a NaN while no input does, or an infinity while every input
// is finite. It costs nothing beyond scanning the outputs unless they are
// not finite.
func (t *Tape[T]) NonFinite() error {
	g := t.e.g
	bad := false
	for _, id := range g.Outputs {
		if v := t.vals[id]; v != nil && !g.Values[id].Int && firstBad(v.Data, false) >= 0 {
			bad = true
		}
	}
	if !bad {
		return nil
	}
	report := func(id, i int, node *Node) error {
		v := t.vals[id]
		e := &NonFiniteError{Value: g.Values[id].Name, Kind: g.Values[id].Kind, Index: i, Row: -1, X: float64(v.Data[i])}
		if node != nil {
			e.Node = node.Describe()
		}
		if s := g.Values[id].Shape; (e.Kind == Input || e.Kind == Computed) && len(s) > 0 && s[0] == Batch && v.Rank() > 0 && v.Shape[0] > 0 {
			e.Row = i / (v.Len() / v.Shape[0])
		}
		return e
	}
	for _, n := range g.Nodes {
		nanIn, infIn := false, false
		for _, id := range n.In {
			if id < 0 || t.vals[id] == nil || g.Values[id].Int {
				continue
			}
			v, kind := t.vals[id], g.Values[id].Kind
			if i := firstBad(v.Data, kind == Const); i >= 0 && kind != Computed {
				return report(id, i, nil)
			}
			if firstBad(v.Data, true) >= 0 {
				nanIn = true
			} else if firstBad(v.Data, false) >= 0 {
				infIn = true
			}
		}
		for _, id := range n.Out {
			if id < 0 || t.vals[id] == nil || g.Values[id].Int {
				continue
			}
			v := t.vals[id]
			if i := firstBad(v.Data, true); i >= 0 && !nanIn {
				return report(id, i, n)
			}
			if i := firstBad(v.Data, false); i >= 0 && !nanIn && !infIn {
				return report(id, i, n)
			}
		}
	}
	for _, id := range g.Outputs {
		if v := t.vals[id]; v != nil && !g.Values[id].Int {
			if i := firstBad(v.Data, false); i >= 0 {
				return report(id, i, nil)
			}
		}
	}
	return nil
}
