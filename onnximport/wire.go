package onnximport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads, with encoding/protowire and the field numbers of the
// ONNX schema (onnx/onnx.proto), the parts of a model that onnx-go drops:
// opset_import, producer_name, node names and domains, the element types and
// symbolic dimensions of graph inputs and outputs, and the initializers
// (data type, dims and external-data flags, checked against the limits and
// the supported types before anything is converted, then their data), and
// the dims and types of tensor attributes. It also decodes standalone
// TensorProto files (ReadTensor).

// DataType is the ONNX TensorProto element type.
type DataType int32

// ONNX element types (TensorProto.DataType).
const (
	Undefined DataType = iota
	Float
	Uint8
	Int8
	Uint16
	Int16
	Int32
	Int64
	String
	Bool
	Float16
	Double
	Uint32
	Uint64
	Complex64
	Complex128
	BFloat16
)

var dataTypeNames = map[DataType]string{
	Undefined: "UNDEFINED", Float: "FLOAT", Uint8: "UINT8", Int8: "INT8", Uint16: "UINT16",
	Int16: "INT16", Int32: "INT32", Int64: "INT64", String: "STRING", Bool: "BOOL",
	Float16: "FLOAT16", Double: "DOUBLE", Uint32: "UINT32", Uint64: "UINT64",
	Complex64: "COMPLEX64", Complex128: "COMPLEX128", BFloat16: "BFLOAT16",
	17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ",
	21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
}

func (d DataType) String() string {
	if s, ok := dataTypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("DataType(%d)", int32(d))
}

// IsFloat reports whether d is a floating-point type the engine computes in
// (FLOAT or DOUBLE).
func (d DataType) IsFloat() bool { return d == Float || d == Double }

// IsInteger reports whether d is an integer or boolean type.
func (d DataType) IsInteger() bool {
	switch d {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Bool, Uint32, Uint64:
		return true
	}
	return false
}

// elemBytes is the size of one element in raw_data, or 0 when the type has
// no fixed-size little-endian encoding this package decodes.
func (d DataType) elemBytes() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Double, Int64, Uint64:
		return 8
	}
	return 0
}

// ONNX schema field numbers.
const (
	fModelIRVersion   = 1
	fModelProducer    = 2
	fModelGraph       = 7
	fModelOpsetImport = 8

	fOpsetDomain  = 1
	fOpsetVersion = 2

	fGraphNode        = 1
	fGraphName        = 2
	fGraphInitializer = 5
	fGraphInput       = 11
	fGraphOutput      = 12
	fGraphValueInfo   = 13

	fNodeInput     = 1
	fNodeOutput    = 2
	fNodeName      = 3
	fNodeOpType    = 4
	fNodeAttribute = 5
	fNodeDomain    = 7

	fAttrName = 1
	fAttrT    = 5
	fAttrType = 20

	fValueName = 1
	fValueType = 2

	fTypeTensor       = 1
	fTypeSequence     = 4
	fTypeMap          = 5
	fTypeSparseTensor = 8
	fTypeOptional     = 9

	fTensorTypeElem  = 1
	fTensorTypeShape = 2
	fShapeDim        = 1
	fDimValue        = 1
	fDimParam        = 2

	fTensorDims         = 1
	fTensorDataType     = 2
	fTensorSegment      = 3
	fTensorFloatData    = 4
	fTensorInt32Data    = 5
	fTensorStringData   = 6
	fTensorInt64Data    = 7
	fTensorName         = 8
	fTensorRawData      = 9
	fTensorDoubleData   = 10
	fTensorUint64Data   = 11
	fTensorExternalData = 13
	fTensorDataLocation = 14
)

// walk calls f for every field of the message b. For length-delimited
// fields v is the payload; for varint and fixed fields x is the value.
func walk(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// appendVarints appends one varint, or a packed run of them, to dst.
func appendVarints(dst []uint64, typ protowire.Type, v []byte, x uint64) ([]uint64, error) {
	if typ == protowire.VarintType {
		return append(dst, x), nil
	}
	if typ != protowire.BytesType {
		return dst, errors.New("bad wire type for a varint field")
	}
	for len(v) > 0 {
		y, n := protowire.ConsumeVarint(v)
		if n < 0 {
			return dst, protowire.ParseError(n)
		}
		dst = append(dst, y)
		v = v[n:]
	}
	return dst, nil
}

// wireModel is what this file reads of a ModelProto.
type wireModel struct {
	IRVersion int64
	Producer  string
	Opsets    map[string]int64 // domain ("" for ai.onnx) → version
	Graph     wireGraph
}

type wireGraph struct {
	Name      string
	Nodes     []wireNode
	Inits     []wireTensor
	Inputs    []wireValue
	Outputs   []wireValue
	ValueInfo []wireValue
}

type wireNode struct {
	Name, OpType, Domain string
	In, Out              []string
	// Tensors are the tensor attributes (Constant's value), metadata only.
	Tensors []wireTensor
}

// TypeKind is what kind of type a graph input or output has.
type TypeKind int

const (
	TypeNone   TypeKind = iota // no type given
	TypeTensor                 // tensor_type
	TypeSequence
	TypeMap
	TypeSparse
	TypeOptional
)

func (k TypeKind) String() string {
	return [...]string{"untyped", "tensor", "sequence", "map", "sparse tensor", "optional"}[k]
}

type wireValue struct {
	Name     string
	Kind     TypeKind
	Elem     DataType
	HasShape bool
	Dims     []wireDim
}

type wireDim struct {
	Value   int64
	Param   string
	IsValue bool
}

// wireTensor is a TensorProto: its metadata, and its data when decoded with
// data=true.
type wireTensor struct {
	Name     string
	Dims     []int64
	DType    DataType
	External bool // data_location EXTERNAL or external_data entries
	Segment  bool
	Raw      []byte
	Floats   []float32
	Int32s   []int32
	Int64s   []int64
	Doubles  []float64
	Uint64s  []uint64
	Strings  int
}

func parseModel(b []byte) (*wireModel, error) {
	m := &wireModel{Opsets: map[string]int64{}}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == fModelIRVersion && typ == protowire.VarintType:
			m.IRVersion = int64(x)
		case num == fModelProducer && typ == protowire.BytesType:
			m.Producer = string(v)
		case num == fModelOpsetImport && typ == protowire.BytesType:
			var dom string
			var ver int64
			if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == fOpsetDomain && typ == protowire.BytesType:
					dom = string(v)
				case num == fOpsetVersion && typ == protowire.VarintType:
					ver = int64(x)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			if dom == "ai.onnx" {
				dom = ""
			}
			m.Opsets[dom] = ver
		case num == fModelGraph && typ == protowire.BytesType:
			return parseGraph(v, &m.Graph)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parseGraph(b []byte, g *wireGraph) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fGraphName:
			g.Name = string(v)
		case fGraphNode:
			n, err := parseNode(v)
			if err != nil {
				return fmt.Errorf("node %d: %w", len(g.Nodes), err)
			}
			g.Nodes = append(g.Nodes, n)
		case fGraphInitializer:
			t, err := parseTensor(v, true)
			if err != nil {
				return fmt.Errorf("initializer %d: %w", len(g.Inits), err)
			}
			g.Inits = append(g.Inits, *t)
		case fGraphInput, fGraphOutput, fGraphValueInfo:
			val, err := parseValue(v)
			if err != nil {
				return fmt.Errorf("value info: %w", err)
			}
			switch num {
			case fGraphInput:
				g.Inputs = append(g.Inputs, val)
			case fGraphOutput:
				g.Outputs = append(g.Outputs, val)
			default:
				g.ValueInfo = append(g.ValueInfo, val)
			}
		}
		return nil
	})
}

func parseNode(b []byte) (wireNode, error) {
	var n wireNode
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fNodeInput:
			n.In = append(n.In, string(v))
		case fNodeOutput:
			n.Out = append(n.Out, string(v))
		case fNodeName:
			n.Name = string(v)
		case fNodeOpType:
			n.OpType = string(v)
		case fNodeDomain:
			n.Domain = string(v)
		case fNodeAttribute:
			var name string
			var ts []wireTensor
			if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == fAttrName && typ == protowire.BytesType:
					name = string(v)
				case num == fAttrT && typ == protowire.BytesType:
					t, err := parseTensor(v, false)
					if err != nil {
						return err
					}
					ts = append(ts, *t)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("attribute: %w", err)
			}
			for i := range ts {
				ts[i].Name = name
			}
			n.Tensors = append(n.Tensors, ts...)
		}
		return nil
	})
	return n, err
}

func parseValue(b []byte) (wireValue, error) {
	var val wireValue
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fValueName:
			val.Name = string(v)
		case fValueType:
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch num {
				case fTypeTensor:
					val.Kind = TypeTensor
					return parseTensorType(v, &val)
				case fTypeSequence:
					val.Kind = TypeSequence
				case fTypeMap:
					val.Kind = TypeMap
				case fTypeSparseTensor:
					val.Kind = TypeSparse
				case fTypeOptional:
					val.Kind = TypeOptional
				}
				return nil
			})
		}
		return nil
	})
	return val, err
}

func parseTensorType(b []byte, val *wireValue) error {
	return walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == fTensorTypeElem && typ == protowire.VarintType:
			val.Elem = DataType(int32(x))
		case num == fTensorTypeShape && typ == protowire.BytesType:
			val.HasShape = true
			return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				if num != fShapeDim || typ != protowire.BytesType {
					return nil
				}
				var d wireDim
				if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
					switch {
					case num == fDimValue && typ == protowire.VarintType:
						d.Value, d.IsValue = int64(x), true
					case num == fDimParam && typ == protowire.BytesType:
						d.Param = string(v)
					}
					return nil
				}); err != nil {
					return err
				}
				val.Dims = append(val.Dims, d)
				return nil
			})
		}
		return nil
	})
}

// parseTensor reads a TensorProto; with data it keeps the data fields too.
func parseTensor(b []byte, data bool) (*wireTensor, error) {
	t := &wireTensor{}
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		var err error
		switch num {
		case fTensorDims:
			var u []uint64
			if u, err = appendVarints(nil, typ, v, x); err == nil {
				for _, d := range u {
					t.Dims = append(t.Dims, int64(d))
				}
			}
		case fTensorDataType:
			t.DType = DataType(int32(x))
		case fTensorSegment:
			t.Segment = true
		case fTensorName:
			t.Name = string(v)
		case fTensorDataLocation:
			t.External = t.External || x == 1
		case fTensorExternalData:
			t.External = true
		case fTensorStringData:
			t.Strings++
		case fTensorRawData:
			t.Raw = v
		case fTensorFloatData:
			t.Floats, err = appendFixed32(t.Floats, typ, v, x)
		case fTensorDoubleData:
			t.Doubles, err = appendFixed64(t.Doubles, typ, v, x)
		case fTensorInt32Data:
			var u []uint64
			if u, err = appendVarints(nil, typ, v, x); err == nil {
				for _, d := range u {
					t.Int32s = append(t.Int32s, int32(d))
				}
			}
		case fTensorInt64Data:
			var u []uint64
			if u, err = appendVarints(nil, typ, v, x); err == nil {
				for _, d := range u {
					t.Int64s = append(t.Int64s, int64(d))
				}
			}
		case fTensorUint64Data:
			t.Uint64s, err = appendVarints(t.Uint64s, typ, v, x)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, d := range t.Dims {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q has negative dimension in %v", t.Name, t.Dims)
		}
	}
	if !data {
		// Keep only the counts: the metadata reader must not hold copies.
		t.Floats, t.Doubles, t.Int32s, t.Int64s, t.Uint64s = nil, nil, nil, nil, nil
	}
	return t, nil
}

func appendFixed32(dst []float32, typ protowire.Type, v []byte, x uint64) ([]float32, error) {
	switch typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(x))), nil
	case protowire.BytesType:
		if len(v)%4 != 0 {
			return dst, errors.New("packed float_data length is not a multiple of 4")
		}
		for i := 0; i < len(v); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(v[i:])))
		}
		return dst, nil
	}
	return dst, errors.New("bad wire type for float_data")
}

func appendFixed64(dst []float64, typ protowire.Type, v []byte, x uint64) ([]float64, error) {
	switch typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(x)), nil
	case protowire.BytesType:
		if len(v)%8 != 0 {
			return dst, errors.New("packed double_data length is not a multiple of 8")
		}
		for i := 0; i < len(v); i += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(v[i:])))
		}
		return dst, nil
	}
	return dst, errors.New("bad wire type for double_data")
}

// elements is the product of the dims, or -1 on overflow past limit.
func elements(dims []int64, limit int64) int64 {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		if d != 0 && n > limit/d {
			return -1
		}
		n *= d
	}
	return n
}

// TensorData is a decoded TensorProto: its name, element type, shape and
// elements converted to float64 (integers exactly up to 2⁵³, booleans as 0
// and 1, FLOAT16 and BFLOAT16 widened).
type TensorData struct {
	Name  string
	DType DataType
	Shape []int
	Data  []float64
}

// Tensor returns the data as an engine tensor of precision T.
func Tensor[T autodiff.Float](t *TensorData) *autodiff.Tensor[T] {
	out := autodiff.New[T](t.Shape...)
	for i, v := range t.Data {
		out.Data[i] = T(v)
	}
	return out
}

// ReadTensor reads a file holding one serialized ONNX TensorProto (the
// input_*.pb and output_*.pb of ONNX test data sets).
func ReadTensor(path string) (*TensorData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTensor(b, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// DecodeTensor decodes one serialized TensorProto. opts (nil for defaults)
// bounds the number of elements, checked before allocating.
func DecodeTensor(b []byte, opts *Options) (*TensorData, error) {
	wt, err := parseTensor(b, true)
	if err != nil {
		return nil, fmt.Errorf("tensor: %w", err)
	}
	return wt.decode(opts.orDefault())
}

// decode converts the data fields of t to float64.
func (t *wireTensor) decode(o Options) (*TensorData, error) {
	name := t.Name
	switch {
	case t.External:
		return nil, fmt.Errorf("tensor %q: external data is not supported", name)
	case t.Segment:
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", name)
	case t.DType == String:
		return nil, fmt.Errorf("tensor %q: STRING tensors are not supported", name)
	}
	n := elements(t.Dims, int64(o.MaxElements))
	if n < 0 || n > int64(o.MaxElements) {
		return nil, fmt.Errorf("tensor %q of shape %v exceeds the limit of %d elements", name, t.Dims, o.MaxElements)
	}
	out := &TensorData{Name: name, DType: t.DType, Shape: make([]int, len(t.Dims)), Data: make([]float64, n)}
	for i, d := range t.Dims {
		out.Shape[i] = int(d)
	}
	bad := func(field string, got int) error {
		return fmt.Errorf("tensor %q (%s, shape %v): %s holds %d elements, want %d", name, t.DType, t.Dims, field, got, n)
	}
	if t.Raw != nil {
		w := t.DType.elemBytes()
		if w == 0 {
			return nil, fmt.Errorf("tensor %q: data type %s is not supported", name, t.DType)
		}
		if len(t.Raw) != int(n)*w {
			return nil, bad("raw_data", len(t.Raw)/w)
		}
		for i := range out.Data {
			out.Data[i] = rawElem(t.DType, t.Raw[i*w:])
		}
		return out, nil
	}
	switch t.DType {
	case Float:
		if len(t.Floats) != int(n) {
			return nil, bad("float_data", len(t.Floats))
		}
		for i, v := range t.Floats {
			out.Data[i] = float64(v)
		}
	case Double:
		if len(t.Doubles) != int(n) {
			return nil, bad("double_data", len(t.Doubles))
		}
		copy(out.Data, t.Doubles)
	case Int64:
		if len(t.Int64s) != int(n) {
			return nil, bad("int64_data", len(t.Int64s))
		}
		for i, v := range t.Int64s {
			out.Data[i] = float64(v)
		}
	case Int32, Int16, Int8, Uint16, Uint8, Bool, Float16, BFloat16:
		if len(t.Int32s) != int(n) {
			return nil, bad("int32_data", len(t.Int32s))
		}
		for i, v := range t.Int32s {
			switch t.DType {
			case Float16:
				out.Data[i] = halfToFloat(uint16(v))
			case BFloat16:
				out.Data[i] = float64(math.Float32frombits(uint32(uint16(v)) << 16))
			case Uint16, Uint8:
				out.Data[i] = float64(uint32(v))
			default:
				out.Data[i] = float64(v)
			}
		}
	case Uint32, Uint64:
		if len(t.Uint64s) != int(n) {
			return nil, bad("uint64_data", len(t.Uint64s))
		}
		for i, v := range t.Uint64s {
			out.Data[i] = float64(v)
		}
	default:
		return nil, fmt.Errorf("tensor %q: data type %s is not supported", name, t.DType)
	}
	return out, nil
}

func rawElem(d DataType, b []byte) float64 {
	switch d {
	case Float:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case Double:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case Int64:
		return float64(int64(binary.LittleEndian.Uint64(b)))
	case Uint64:
		return float64(binary.LittleEndian.Uint64(b))
	case Int32:
		return float64(int32(binary.LittleEndian.Uint32(b)))
	case Uint32:
		return float64(binary.LittleEndian.Uint32(b))
	case Int16:
		return float64(int16(binary.LittleEndian.Uint16(b)))
	case Uint16:
		return float64(binary.LittleEndian.Uint16(b))
	case Float16:
		return halfToFloat(binary.LittleEndian.Uint16(b))
	case BFloat16:
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
	case Int8:
		return float64(int8(b[0]))
	case Uint8:
		return float64(b[0])
	case Bool:
		if b[0] != 0 {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// halfToFloat widens an IEEE 754 binary16 bit pattern.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}
