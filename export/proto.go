package export

import (
	"math"
	"sort"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"google.golang.org/protobuf/encoding/protowire"
)

// A small writer for the parts of onnx.proto that an exported model uses,
// with the schema's field numbers.

// ONNX element types (TensorProto.DataType).
const (
	typeFloat = 1
	typeInt64 = 7
)

// ONNX attribute types (AttributeProto.AttributeType).
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

// tensorProto is an initializer or a tensor attribute: float32 or int64
// elements (data holds them as float64; both convert exactly).
type tensorProto struct {
	name  string
	dims  []int
	int64 bool
	data  []float64
}

// attrProto is one node attribute.
type attrProto struct {
	name    string
	kind    int
	f       float64
	i       int64
	s       string
	t       *tensorProto
	floats  []float64
	ints    []int64
	strings []string
}

// nodeProto is one node; an omitted optional input is "".
type nodeProto struct {
	name, op string
	in, out  []string
	attrs    []attrProto
}

// dimProto is one dimension of a value's shape: a size, a symbolic name,
// or unknown (both empty).
type dimProto struct {
	value int64
	param string
}

// valueInfo is a graph input or output: a tensor of elem with a shape.
type valueInfo struct {
	name string
	elem int
	dims []dimProto
}

type modelProto struct {
	opset    int64
	producer string
	name     string
	nodes    []nodeProto
	inits    []tensorProto
	inputs   []valueInfo
	outputs  []valueInfo
}

func (m *modelProto) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, 8)
	b = protowire.AppendTag(b, 2, protowire.BytesType) // producer_name
	b = protowire.AppendString(b, m.producer)
	b = protowire.AppendTag(b, 7, protowire.BytesType) // graph
	b = protowire.AppendBytes(b, m.graph())
	var op []byte
	op = protowire.AppendTag(op, 1, protowire.BytesType) // domain ""
	op = protowire.AppendString(op, "")
	op = protowire.AppendTag(op, 2, protowire.VarintType) // version
	op = protowire.AppendVarint(op, uint64(m.opset))
	b = protowire.AppendTag(b, 8, protowire.BytesType) // opset_import
	b = protowire.AppendBytes(b, op)
	return b
}

func (m *modelProto) graph() []byte {
	var b []byte
	for i := range m.nodes {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m.nodes[i].marshal())
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, m.name)
	for i := range m.inits {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, m.inits[i].marshal())
	}
	for _, v := range m.inputs {
		b = protowire.AppendTag(b, 11, protowire.BytesType)
		b = protowire.AppendBytes(b, v.marshal())
	}
	for _, v := range m.outputs {
		b = protowire.AppendTag(b, 12, protowire.BytesType)
		b = protowire.AppendBytes(b, v.marshal())
	}
	return b
}

func (n *nodeProto) marshal() []byte {
	var b []byte
	for _, s := range n.in {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.out {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	if n.name != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n.name)
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, n.op)
	for i := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, n.attrs[i].marshal())
	}
	return b
}

func (a *attrProto) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, a.name)
	switch a.kind {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(float32(a.f)))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case attrString:
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, a.s)
	case attrTensor:
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a.t.marshal())
	case attrFloats:
		var p []byte
		for _, f := range a.floats {
			p = protowire.AppendFixed32(p, math.Float32bits(float32(f)))
		}
		b = protowire.AppendTag(b, 7, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	case attrInts:
		var p []byte
		for _, v := range a.ints {
			p = protowire.AppendVarint(p, uint64(v))
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	case attrStrings:
		for _, s := range a.strings {
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.kind))
	return b
}

func (t *tensorProto) marshal() []byte {
	var b []byte
	if len(t.dims) > 0 {
		var p []byte
		for _, d := range t.dims {
			p = protowire.AppendVarint(p, uint64(d))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	if t.int64 {
		b = protowire.AppendVarint(b, typeInt64)
	} else {
		b = protowire.AppendVarint(b, typeFloat)
	}
	if len(t.data) > 0 {
		var p []byte
		if t.int64 {
			for _, v := range t.data {
				p = protowire.AppendVarint(p, uint64(toInt64(v)))
			}
			b = protowire.AppendTag(b, 7, protowire.BytesType) // int64_data
		} else {
			p = make([]byte, 0, 4*len(t.data))
			for _, v := range t.data {
				p = protowire.AppendFixed32(p, math.Float32bits(float32(v)))
			}
			b = protowire.AppendTag(b, 4, protowire.BytesType) // float_data
		}
		b = protowire.AppendBytes(b, p)
	}
	if t.name != "" {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendString(b, t.name)
	}
	return b
}

// toInt64 converts an integer held as float64, saturating as ONNX's
// "to the end" markers (INT64_MAX) need.
func toInt64(v float64) int64 {
	switch {
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Round(v))
}

func (v *valueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		switch {
		case d.param != "":
			dim = protowire.AppendTag(dim, 2, protowire.BytesType)
			dim = protowire.AppendString(dim, d.param)
		case d.value >= 0:
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.value))
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType) // elem_type
	tensor = protowire.AppendVarint(tensor, uint64(v.elem))
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType) // shape
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType) // tensor_type
	typ = protowire.AppendBytes(typ, tensor)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, v.name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, typ)
	return b
}

// dimsOf converts a static shape: Batch becomes the symbolic dimension
// "N", other negative sizes unknown dimensions.
func dimsOf(shape []int) []dimProto {
	out := make([]dimProto, len(shape))
	for i, d := range shape {
		switch {
		case d == autodiff.Batch:
			out[i] = dimProto{param: "N"}
		case d < 0:
			out[i] = dimProto{value: -1}
		default:
			out[i] = dimProto{value: int64(d)}
		}
	}
	return out
}

// convertAttrs turns a node's attributes into attribute protos, sorted by
// name so that the output is deterministic.
func convertAttrs(a autodiff.Attrs, skip ...string) []attrProto {
	names := make([]string, 0, len(a))
outer:
	for k := range a {
		for _, s := range skip {
			if k == s {
				continue outer
			}
		}
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]attrProto, 0, len(names))
	for _, k := range names {
		v := a[k]
		p := attrProto{name: k}
		switch v.Kind {
		case autodiff.AttrFloat:
			p.kind, p.f = attrFloat, v.F
		case autodiff.AttrInt:
			p.kind, p.i = attrInt, v.I
		case autodiff.AttrString:
			p.kind, p.s = attrString, v.S
		case autodiff.AttrTensor:
			p.kind = attrTensor
			if v.Tensor != nil {
				p.t = &tensorProto{dims: v.Tensor.Shape, int64: v.Tensor.Int, data: v.Tensor.Data}
			} else {
				p.t = &tensorProto{}
			}
		case autodiff.AttrFloats:
			p.kind, p.floats = attrFloats, v.Floats
		case autodiff.AttrInts:
			p.kind, p.ints = attrInts, v.Ints
		case autodiff.AttrStrings:
			p.kind, p.strings = attrStrings, v.Strings
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

// Attribute constructors for the nodes the rules emit.
func aInt(name string, v int64) attrProto     { return attrProto{name: name, kind: attrInt, i: v} }
func aFloat(name string, v float64) attrProto { return attrProto{name: name, kind: attrFloat, f: v} }
func aInts(name string, v ...int) attrProto {
	p := attrProto{name: name, kind: attrInts, ints: make([]int64, len(v))}
	for i, x := range v {
		p.ints[i] = int64(x)
	}
	return p
}
