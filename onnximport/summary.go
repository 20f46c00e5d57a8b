package onnximport

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// Summary describes an imported graph for `onnx-adapt inspect`.
type Summary struct {
	Producer  string
	Opset     int64
	Inputs    []NamedShape
	Outputs   []NamedShape
	Ops       []OpCount // by decreasing count, then name
	Params    []NamedShape
	NumParams int // total parameter elements p
	NumConsts int // constant values (shapes, running statistics, folded constants)
	NumNodes  int
	// Unsupported names each node whose op the registry lacks.
	Unsupported []string
}

// NamedShape is a value's name and static shape (autodiff.Batch for the
// batch dimension), with its element count for parameters.
type NamedShape struct {
	Name  string
	Shape []int
	Size  int
	Int   bool
}

// OpCount is how many nodes use an op type.
type OpCount struct {
	Op    string
	Count int
}

// Summarize describes g.
func Summarize(g *autodiff.Graph) Summary {
	s := Summary{Producer: g.Producer, Opset: g.Opset, NumNodes: len(g.Nodes), NumParams: g.NumParams()}
	named := func(id int) NamedShape {
		v := &g.Values[id]
		return NamedShape{Name: v.Name, Shape: v.Shape, Size: len(v.Data), Int: v.Int}
	}
	for _, id := range g.Inputs {
		s.Inputs = append(s.Inputs, named(id))
	}
	for _, id := range g.Outputs {
		s.Outputs = append(s.Outputs, named(id))
	}
	for _, id := range g.Params {
		s.Params = append(s.Params, named(id))
	}
	for _, v := range g.Values {
		if v.Kind == autodiff.Const {
			s.NumConsts++
		}
	}
	hist := map[string]int{}
	for _, n := range g.Nodes {
		hist[n.OpType]++
		if autodiff.Lookup(n.OpType) == nil || !isDefaultDomain(n.Domain) {
			s.Unsupported = append(s.Unsupported, fmt.Sprintf("%s (domain %q, opset %d)", n.Describe(), n.Domain, n.Opset))
		}
	}
	for op, c := range hist {
		s.Ops = append(s.Ops, OpCount{op, c})
	}
	sort.Slice(s.Ops, func(i, j int) bool {
		if s.Ops[i].Count != s.Ops[j].Count {
			return s.Ops[i].Count > s.Ops[j].Count
		}
		return s.Ops[i].Op < s.Ops[j].Op
	})
	return s
}

// WriteText writes the summary as aligned plain text; N marks the batch
// dimension and ? an unknown one.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	producer := s.Producer
	if producer == "" {
		producer = "(unknown)"
	}
	p("producer:\t%s\n", producer)
	p("opset:\t%d\n", s.Opset)
	p("nodes:\t%d\n", s.NumNodes)
	list := func(title string, vs []NamedShape) {
		p("%s:\n", title)
		for _, v := range vs {
			typ := "float"
			if v.Int {
				typ = "int"
			}
			p("  %s\t%s\t%s\n", v.Name, autodiff.ShapeString(v.Shape), typ)
		}
	}
	list("inputs", s.Inputs)
	list("outputs", s.Outputs)
	p("ops:\n")
	for _, o := range s.Ops {
		p("  %s\t%d\n", o.Op, o.Count)
	}
	p("constants: %d\n", s.NumConsts)
	p("parameters: %d tensors, %d elements\n", len(s.Params), s.NumParams)
	for _, v := range s.Params {
		p("  %s\t%s\t%d\n", v.Name, autodiff.ShapeString(v.Shape), v.Size)
	}
	if len(s.Unsupported) == 0 {
		p("unsupported ops: none\n")
	} else {
		p("unsupported ops: %d node(s); the model cannot be run or adapted:\n", len(s.Unsupported))
		for _, u := range s.Unsupported {
			p("  %s\n", u)
		}
	}
	return tw.Flush()
}
