package export

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
)

// MinOpset is the lowest opset an exported model declares: the tangent
// subgraphs use the opset-13 forms of ReduceSum, Squeeze and Split.
const MinOpset = 13

// OutputName is the name of the exported model's output.
const OutputName = "mean"

// ErrStdUnsupported is returned by WithStd.
var ErrStdUnsupported = errors.New("standard deviation export is not supported")

// Mean returns a standalone ONNX model (ModelProto bytes) computing the
// adapted predictive mean f(x) + J(x)·δ of p: the original network, the
// Jacobian-vector product with δ written out as ONNX ops, and their sum,
// output "mean". It fails when the predictor's mean is not of that form
// (independent outputs, zero prior mean) or when a node has no export
// rule ("cannot export: ...").
func Mean(p *gpadapt.Predictor) ([]byte, error) {
	if p == nil {
		return nil, errors.New("cannot export: nil predictor")
	}
	delta, linear := p.Delta()
	if !linear {
		return nil, errors.New("cannot export: the predictor's mean is not f(x) + J(x)·δ (it was fitted with independent outputs or a zero prior mean)")
	}
	return meanModel(p.Graph(), p.Params(), delta)
}

// WithStd would export the predictive mean and the latent standard
// deviation. It is not supported (see the package documentation) and
// always returns an error wrapping ErrStdUnsupported.
func WithStd(p *gpadapt.Predictor) ([]byte, error) {
	return nil, fmt.Errorf("%w: the latent variance needs the posterior covariance (a q×p factor pushed through q Jacobian-vector products per point, or the training set's kernel factors), which the predictor does not expose; export the mean with Mean and compute the standard deviation with Predict", ErrStdUnsupported)
}

// meanModel builds the exported model of graph g with parameter shifts
// delta for the parameters params (flat, in order, each row-major).
func meanModel(g *autodiff.Graph, params []int, delta []float64) ([]byte, error) {
	if len(g.Outputs) == 0 || len(g.Inputs) == 0 {
		return nil, errors.New("cannot export: the graph has no inputs or no outputs")
	}
	total := 0
	for _, id := range params {
		total += len(g.Values[id].Data)
	}
	if total != len(delta) {
		return nil, fmt.Errorf("cannot export: δ has %d elements, the adapted parameters %d", len(delta), total)
	}
	b := newBuilder(g)
	// The original values: initializers and inputs.
	for id := range g.Values {
		v := &g.Values[id]
		switch v.Kind {
		case autodiff.Param, autodiff.Const:
			b.inits = append(b.inits, tensorProto{name: b.names[id], dims: v.Shape, int64: v.Int, data: v.Data})
		}
	}
	for _, id := range g.Inputs {
		v := &g.Values[id]
		elem := typeFloat
		if v.Int {
			elem = typeInt64
		}
		b.inputs = append(b.inputs, valueInfo{name: b.names[id], elem: elem, dims: dimsOf(v.Shape)})
	}
	// The tangents of the adapted parameters: δ's slices.
	off := 0
	for _, id := range params {
		v := &g.Values[id]
		d := delta[off : off+len(v.Data)]
		off += len(v.Data)
		name := b.fresh(b.names[id] + "__delta")
		b.inits = append(b.inits, tensorProto{name: name, dims: v.Shape, data: d})
		b.tan[id] = name
	}
	for _, n := range g.Nodes {
		if err := b.node(n); err != nil {
			return nil, err
		}
	}
	out := g.Outputs[0]
	mean := OutputName
	if d := b.tan[out]; d != "" {
		b.emit("Add", []string{b.names[out], d}, nil, mean)
	} else {
		b.emit("Identity", []string{b.names[out]}, nil, mean)
	}
	m := &modelProto{
		opset:    b.opset,
		producer: "onnx-adapt",
		name:     "adapted_mean",
		nodes:    b.nodes,
		inits:    b.inits,
		inputs:   b.inputs,
		outputs:  []valueInfo{{name: mean, elem: typeFloat, dims: dimsOf(g.Values[out].Shape)}},
	}
	return m.marshal(), nil
}

// builder accumulates the exported graph.
type builder struct {
	g      *autodiff.Graph
	opset  int64
	names  []string // exported name of each value id
	used   map[string]bool
	tan    []string // tangent of each value id; "" is zero
	nodes  []nodeProto
	inits  []tensorProto
	inputs []valueInfo
	consts map[string]string // cache of generated constants by key
	ctx    string            // the original node whose rule is emitting
}

func newBuilder(g *autodiff.Graph) *builder {
	b := &builder{
		g:      g,
		opset:  max(g.Opset, MinOpset),
		names:  make([]string, len(g.Values)),
		used:   map[string]bool{OutputName: true},
		tan:    make([]string, len(g.Values)),
		consts: map[string]string{},
	}
	for id := range g.Values {
		name := g.Values[id].Name
		if name == "" {
			name = "v" + strconv.Itoa(id)
		}
		b.names[id] = b.fresh(name)
	}
	for _, n := range g.Nodes {
		if n.Name != "" {
			b.used[n.Name] = true
		}
	}
	return b
}

// fresh returns an unused name based on base and marks it used.
func (b *builder) fresh(base string) string {
	name := base
	for i := 1; b.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	b.used[name] = true
	return name
}

// emit appends a node with the given outputs.
func (b *builder) emit(op string, in []string, attrs []attrProto, out ...string) {
	name := ""
	if b.ctx != "" {
		name = b.fresh(b.ctx + "__jvp_" + op)
	}
	b.nodes = append(b.nodes, nodeProto{name: name, op: op, in: in, out: out, attrs: attrs})
}

// op emits a one-output node and returns its output's name.
func (b *builder) op(op string, attrs []attrProto, in ...string) string {
	base := "jvp"
	if b.ctx != "" {
		base = b.ctx + "__jvp"
	}
	out := b.fresh(base + "_" + strings.ToLower(op))
	b.emit(op, in, attrs, out)
	return out
}

// scalar returns a rank-0 float constant.
func (b *builder) scalar(v float64) string {
	key := "f:" + strconv.FormatUint(math.Float64bits(v), 16)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.fresh("__export_c" + strconv.Itoa(len(b.consts)))
	b.inits = append(b.inits, tensorProto{name: name, dims: []int{}, data: []float64{v}})
	b.consts[key] = name
	return name
}

// ints returns a 1-D int64 constant.
func (b *builder) ints(v ...int) string {
	key := "i:" + fmt.Sprint(v)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.fresh("__export_c" + strconv.Itoa(len(b.consts)))
	data := make([]float64, len(v))
	for i, x := range v {
		data[i] = float64(x)
	}
	b.inits = append(b.inits, tensorProto{name: name, dims: []int{len(v)}, int64: true, data: data})
	b.consts[key] = name
	return name
}

// tensor returns a float constant of the given shape.
func (b *builder) tensor(shape []int, data []float64) string {
	name := b.fresh("__export_c" + strconv.Itoa(len(b.consts)))
	b.consts[name] = name
	b.inits = append(b.inits, tensorProto{name: name, dims: shape, data: data})
	return name
}

// constData returns the elements of value id when it is an initializer or
// folded constant, or nil.
func (b *builder) constData(id int) []float64 {
	if id < 0 {
		return nil
	}
	v := &b.g.Values[id]
	if v.Kind == autodiff.Param || v.Kind == autodiff.Const {
		return v.Data
	}
	return nil
}

// shape returns the static shape of value id (nil when unknown).
func (b *builder) shape(id int) []int {
	if id < 0 {
		return nil
	}
	return b.g.Values[id].Shape
}

// node emits original node n (in its opset-MinOpset form when the model's
// opset is older) and, when any of its differentiable inputs has a
// nonzero tangent, the subgraph computing its outputs' tangents.
func (b *builder) node(n *autodiff.Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("cannot export: %s: domain %q", n.Describe(), n.Domain)
	}
	spec := autodiff.Lookup(n.OpType)
	if spec == nil {
		return fmt.Errorf("cannot export: %s: op not in the registry", n.Describe())
	}
	in := make([]string, len(n.In))
	for i, id := range n.In {
		if id >= 0 {
			in[i] = b.names[id]
		}
	}
	out := make([]string, len(n.Out))
	for i, id := range n.Out {
		if id >= 0 {
			out[i] = b.names[id]
		} else {
			out[i] = ""
		}
	}
	// Trailing omitted outputs are dropped.
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	b.ctx = n.Name
	if b.ctx == "" {
		b.ctx = n.OpType
	}
	defer func() { b.ctx = "" }()
	pin, attrs, err := b.primal(n, in, out)
	if err != nil {
		return err
	}
	dx := make([]string, len(n.In))
	anyTan := false
	for j, id := range n.In {
		if id >= 0 && b.tan[id] != "" && spec.IsDiff(j) {
			dx[j] = b.tan[id]
			anyTan = true
		}
	}
	if !anyTan {
		return nil
	}
	rule, ok := rules[n.OpType]
	if !ok {
		return fmt.Errorf("cannot export: %s: no export rule for op %s", n.Describe(), n.OpType)
	}
	dy, err := rule(b, &ruleArgs{n: n, in: pin, out: out, dx: dx, attrs: attrs})
	if err != nil {
		return fmt.Errorf("cannot export: %s: %w", n.Describe(), err)
	}
	for j, id := range n.Out {
		if id >= 0 && j < len(dy) {
			b.tan[id] = dy[j]
		}
	}
	return nil
}

// ruleArgs are what a tangent rule sees: the node, the exported names of
// its inputs (after any opset conversion; "" where omitted) and outputs,
// and its inputs' tangents ("" where zero or not differentiable).
type ruleArgs struct {
	n       *autodiff.Node
	in, out []string
	dx      []string
	attrs   []attrProto // the emitted node's attributes
}

// inShape returns the static shape of input i (nil when unknown).
func (a *ruleArgs) inShape(b *builder, i int) []int {
	if i >= len(a.n.In) {
		return nil
	}
	return b.shape(a.n.In[i])
}

// outShape returns the static shape of output i (nil when unknown).
func (a *ruleArgs) outShape(b *builder, i int) []int {
	if i >= len(a.n.Out) {
		return nil
	}
	return b.shape(a.n.Out[i])
}

// primal emits node n itself and returns the names of its inputs as the
// emitted node reads them. For models older than opset 13 it rewrites the
// ops whose definition changed on the way to the exported opset (inputs
// that were attributes, Softmax's coercion to 2-D).
func (b *builder) primal(n *autodiff.Node, in, out []string) ([]string, []attrProto, error) {
	attrs := convertAttrs(n.Attrs, "consumed_inputs")
	name := n.Name
	if n.OpType == "Dropout" {
		// Inference: the identity (a mask output has no meaning there).
		if len(out) > 1 {
			return nil, nil, fmt.Errorf("cannot export: %s: its mask output is used", n.Describe())
		}
		b.nodes = append(b.nodes, nodeProto{name: name, op: "Identity", in: in[:1], out: out})
		return in, attrs, nil
	}
	if n.Opset >= MinOpset || b.opset == n.Opset {
		b.nodes = append(b.nodes, nodeProto{name: name, op: n.OpType, in: in, out: out, attrs: attrs})
		return in, attrs, nil
	}
	// attrToInput moves an ints attribute to input slot i.
	attrToInput := func(attr string, slot int) {
		ints := n.Attrs.Ints(attr)
		for len(in) < slot {
			in = append(in, "")
		}
		in = in[:slot]
		if n.Attrs.Has(attr) {
			in = append(in, b.ints(ints...))
		}
		attrs = convertAttrs(n.Attrs, "consumed_inputs", attr)
	}
	switch n.OpType {
	case "Squeeze", "Unsqueeze", "ReduceSum":
		attrToInput("axes", 1)
	case "Split":
		attrToInput("split", 1)
	case "Reshape":
		if n.Opset < 5 {
			attrToInput("shape", 1)
		}
	case "Clip":
		if n.Opset < 11 {
			lo, hi := n.Attrs.Float("min", math.Inf(-1)), n.Attrs.Float("max", math.Inf(1))
			in = []string{in[0], "", ""}
			if n.Attrs.Has("min") {
				in[1] = b.scalar(lo)
			}
			if n.Attrs.Has("max") {
				in[2] = b.scalar(hi)
			}
			for len(in) > 1 && in[len(in)-1] == "" {
				in = in[:len(in)-1]
			}
			attrs = nil
		}
	case "Pad":
		if n.Opset < 11 {
			in = []string{in[0], b.ints(n.Attrs.Ints("pads")...)}
			if v := n.Attrs.Float("value", 0); v != 0 {
				in = append(in, b.scalar(v))
			}
			attrs = convertAttrs(n.Attrs, "consumed_inputs", "pads", "value", "paddings")
		}
	case "Slice":
		if n.Opset < 10 {
			in = []string{in[0], b.ints(n.Attrs.Ints("starts")...), b.ints(n.Attrs.Ints("ends")...)}
			if n.Attrs.Has("axes") {
				in = append(in, b.ints(n.Attrs.Ints("axes")...))
			}
			attrs = nil
		}
	case "Gemm":
		attrs = convertAttrs(n.Attrs, "consumed_inputs", "broadcast")
	case "BatchNormalization":
		attrs = nil
		if n.Attrs.Has("epsilon") {
			attrs = []attrProto{aFloat("epsilon", n.Attrs.Float("epsilon", 1e-5))}
		}
	case "Softmax", "LogSoftmax":
		rank := len(b.shape(n.In[0]))
		axis := int(n.Attrs.Int("axis", 1))
		if axis < 0 {
			axis += rank
		}
		if rank == 0 {
			return nil, nil, fmt.Errorf("cannot export: %s: unknown input rank", n.Describe())
		}
		if axis == rank-1 {
			attrs = []attrProto{aInt("axis", -1)}
			break
		}
		// Coerced to 2-D at axis: Flatten, the op on the last axis, and
		// back to the input's shape.
		flat := b.op("Flatten", []attrProto{aInt("axis", int64(axis))}, in[0])
		y := b.op(n.OpType, []attrProto{aInt("axis", -1)}, flat)
		shape := b.op("Shape", nil, in[0])
		b.nodes = append(b.nodes, nodeProto{name: name, op: "Reshape", in: []string{y, shape}, out: out})
		return in, attrs, nil
	}
	b.nodes = append(b.nodes, nodeProto{name: name, op: n.OpType, in: in, out: out, attrs: attrs})
	return in, attrs, nil
}
