// Package onnximport turns an ONNX model into the project's own graph
// (autodiff.Graph): values, parameters and constants, and nodes in
// topological order, each validated against the op registry.
//
// # Decoding: what comes from where
//
// github.com/owulveryck/onnx-go (v0.5.0) is the decoder of record for the
// graph: through its Backend interface (backend.go) it delivers, for each
// ONNX node in model order, the op type, the attributes (FLOAT, INT,
// STRING, TENSOR, FLOATS, INTS, STRINGS) and the input and output value
// names, the inputs recovered from its edges ordered by weight (input
// index) with duplicate edges kept, so Mul(x, x) has two inputs. Its model
// also gives the graph inputs, with initializers removed (old IR versions
// list initializers among the inputs), and the graph outputs.
//
// onnx-go drops or cannot carry other things, which wire.go reads with
// google.golang.org/protobuf/encoding/protowire and the ONNX schema's field
// numbers:
//   - opset_import (onnx-go ignores it) and producer_name;
//   - node names and domains (its Operation has neither);
//   - element types and symbolic dimensions of graph inputs and outputs
//     (it drops dim_param: [N,4] would become (4), losing the batch axis);
//   - initializer data: onnx-go fails on empty initializers and on FLOAT16,
//     INT8, UINT8 and other types with errors that do not name the tensor,
//     and allocates before limits can be checked; so the backend's nodes do
//     not implement onnx.DataCarrier and initializers are decoded here;
//   - the dims and element type of tensor attributes (Constant's value),
//     whose data still comes from onnx-go.
//
// The wire reader runs first: it checks the opset, the registry (one
// UnsupportedError naming every unsupported node, its op, domain and opset,
// and listing the supported ops), data types and the size limits of
// Options, before onnx-go allocates anything. Every node is then checked
// to agree between the two readers. Decode recovers from panics (onnx-go
// panics on some malformed input) and returns them as errors.
//
// # Graph passes
//
// After the graph is built: nodes are sorted topologically; float
// initializers and Constant values become parameters when a consumer's
// op spec marks the slot as a parameter slot (autodiff.OpSpec.ParamSlot;
// a weight that reaches such a slot through Reshape, Flatten, Transpose,
// Squeeze, Unsqueeze or Identity counts too), constants otherwise; integer
// initializers are constants; nodes whose inputs are all constants are
// folded; a Reshape whose constant shape pins the batch to 1 is unpinned
// (see unpinBatch); and static shapes are inferred with a symbolic batch
// dimension (InferShapes). Axis 0 of every graph input is the batch unless
// Options.NotBatched says the inputs are fed as they are (the ONNX node
// tests).
//
// ReadTensor reads standalone TensorProto files such as the input_*.pb and
// output_*.pb of ONNX test data sets. Summarize describes a graph for
// `onnx-adapt inspect`.
package onnximport
