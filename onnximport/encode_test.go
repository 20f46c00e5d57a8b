package onnximport

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A minimal ONNX writer for tests, with the field numbers of wire.go.

func fBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func fString(b []byte, num protowire.Number, s string) []byte { return fBytes(b, num, []byte(s)) }

func fVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// encModel writes a ModelProto with one ai.onnx opset import.
func encModel(opset int64, graph []byte) []byte {
	var b []byte
	b = fVarint(b, fModelIRVersion, 8)
	b = fString(b, fModelProducer, "onnximport-test")
	b = fBytes(b, fModelGraph, graph)
	var op []byte
	op = fString(op, fOpsetDomain, "")
	op = fVarint(op, fOpsetVersion, uint64(opset))
	return fBytes(b, fModelOpsetImport, op)
}

// graphParts are the pieces of a GraphProto.
type graphParts struct {
	nodes, inits, inputs, outputs [][]byte
}

func (p graphParts) enc() []byte {
	var b []byte
	b = fString(b, fGraphName, "test")
	for _, n := range p.nodes {
		b = fBytes(b, fGraphNode, n)
	}
	for _, t := range p.inits {
		b = fBytes(b, fGraphInitializer, t)
	}
	for _, v := range p.inputs {
		b = fBytes(b, fGraphInput, v)
	}
	for _, v := range p.outputs {
		b = fBytes(b, fGraphOutput, v)
	}
	return b
}

func encNode(name, op string, in, out []string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = fString(b, fNodeInput, s)
	}
	for _, s := range out {
		b = fString(b, fNodeOutput, s)
	}
	b = fString(b, fNodeName, name)
	b = fString(b, fNodeOpType, op)
	for _, a := range attrs {
		b = fBytes(b, fNodeAttribute, a)
	}
	return b
}

// encValue writes a ValueInfoProto of a tensor; dims are int (dim_value) or
// string (dim_param).
func encValue(name string, elem DataType, dims ...any) []byte {
	var shape []byte
	for _, d := range dims {
		var dim []byte
		switch x := d.(type) {
		case int:
			dim = fVarint(dim, fDimValue, uint64(x))
		case string:
			dim = fString(dim, fDimParam, x)
		}
		shape = fBytes(shape, fShapeDim, dim)
	}
	var tt []byte
	tt = fVarint(tt, fTensorTypeElem, uint64(elem))
	tt = fBytes(tt, fTensorTypeShape, shape)
	var typ []byte
	typ = fBytes(typ, fTypeTensor, tt)
	var b []byte
	b = fString(b, fValueName, name)
	return fBytes(b, fValueType, typ)
}

// encTensor writes a TensorProto with raw_data in the given type (FLOAT,
// DOUBLE, INT64 or FLOAT16 bit patterns).
func encTensor(name string, dt DataType, dims []int64, data []float64) []byte {
	var b []byte
	for _, d := range dims {
		b = fVarint(b, fTensorDims, uint64(d))
	}
	b = fVarint(b, fTensorDataType, uint64(dt))
	b = fString(b, fTensorName, name)
	var raw []byte
	for _, v := range data {
		switch dt {
		case Float:
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
		case Double:
			raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(v))
		case Int64:
			raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(v)))
		case Float16:
			raw = binary.LittleEndian.AppendUint16(raw, 0x3c00) // 1.0
		}
	}
	return fBytes(b, fTensorRawData, raw)
}

// ONNX AttributeProto field numbers and types used by the tests.
const (
	fAttrF, fAttrI, fAttrFloats, fAttrInts   = 2, 3, 7, 8
	attrFloat, attrInt, attrTensor, attrInts = 1, 2, 4, 7
)

func encAttrInt(name string, v int64) []byte {
	var b []byte
	b = fString(b, fAttrName, name)
	b = fVarint(b, fAttrI, uint64(v))
	return fVarint(b, fAttrType, attrInt)
}

func encAttrFloat(name string, v float32) []byte {
	var b []byte
	b = fString(b, fAttrName, name)
	b = protowire.AppendTag(b, fAttrF, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(v))
	return fVarint(b, fAttrType, attrFloat)
}

func encAttrTensor(name string, t []byte) []byte {
	var b []byte
	b = fString(b, fAttrName, name)
	b = fBytes(b, fAttrT, t)
	return fVarint(b, fAttrType, attrTensor)
}
