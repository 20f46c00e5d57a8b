package onnximport

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	onnx "github.com/owulveryck/onnx-go"
	"gorgonia.org/tensor"
)

// Options controls Load and Decode. A nil *Options means the defaults.
type Options struct {
	// MaxElements bounds the elements of any one tensor (initializer,
	// Constant value, declared input, or a tensor computed while folding
	// constants and inferring shapes, checked before it is allocated).
	// Default 1<<28.
	MaxElements int
	// MaxBytes bounds the total bytes of initializer and constant data,
	// counted at 8 bytes an element (the graph holds them as float64), and
	// separately those of the constants folded and of the tensors computed
	// by shape inference. Default 1<<32.
	MaxBytes int64
	// NotBatched says the inputs are not batches: axis 0 of the inputs is
	// an ordinary dimension, declared shapes are kept as they are, and the
	// batch-unpinning pass does not run. The ONNX node tests need it.
	NotBatched bool
	// NoFold keeps nodes whose inputs are all constants instead of
	// evaluating them at import (Constant nodes are always folded).
	NoFold bool
	// AllowUnsupported loads a model whose ops the registry lacks, for
	// describing it (inspect): such a graph cannot run, so constants are
	// not folded and shapes are not inferred. Summarize lists the ops.
	AllowUnsupported bool
}

func (o *Options) orDefault() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.MaxElements <= 0 {
		d.MaxElements = 1 << 28
	}
	if d.MaxBytes <= 0 {
		d.MaxBytes = 1 << 32
	}
	return d
}

// UnsupportedError is returned when a model uses ops the registry lacks.
type UnsupportedError struct {
	Nodes     []string // one line per unsupported node: name, op, domain, opset
	Supported []string // autodiff.Ops()
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported op(s): %s; supported ops: %s",
		strings.Join(e.Nodes, "; "), strings.Join(e.Supported, ", "))
}

// Load reads and imports the ONNX model at path.
func Load(path string, opts *Options) (*autodiff.Graph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := Decode(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Decode imports a serialized ONNX ModelProto. It never panics: a panic in
// the decoder (onnx-go panics on some malformed input) becomes an error.
func Decode(data []byte, opts *Options) (g *autodiff.Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("onnx: malformed model (decoder panicked: %v)\n%s", r, firstFrames(debug.Stack()))
		}
	}()
	o := opts.orDefault()
	wm, err := parseModel(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: malformed model: %w", err)
	}
	if err := precheck(wm, o); err != nil {
		return nil, err
	}
	be := newBackend()
	m := onnx.NewModel(be)
	if err := m.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("onnx-go: %w", err)
	}
	b := &builder{wm: wm, be: be, model: m, o: o}
	return b.build()
}

// firstFrames keeps the panic site of a stack trace short.
func firstFrames(st []byte) string {
	lines := strings.Split(string(st), "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return strings.Join(lines, "\n")
}

// precheck validates what the wire reader saw before onnx-go allocates or
// converts anything: the default-domain opset, the registry, data types and
// limits.
func precheck(wm *wireModel, o Options) error {
	if _, ok := wm.Opsets[""]; !ok {
		return errors.New("onnx: model imports no ai.onnx opset")
	}
	if len(wm.Graph.Nodes) == 0 {
		return errors.New("onnx: graph has no nodes")
	}
	opset := wm.Opsets[""]
	var bad []string
	for i, n := range wm.Graph.Nodes {
		if n.OpType == "Constant" && isDefaultDomain(n.Domain) {
			continue
		}
		if !isDefaultDomain(n.Domain) || autodiff.Lookup(n.OpType) == nil {
			dom, ver := n.Domain, opset
			if !isDefaultDomain(n.Domain) {
				ver = wm.Opsets[n.Domain]
			} else {
				dom = "ai.onnx"
			}
			bad = append(bad, fmt.Sprintf("node %d %q: %s (domain %s, opset %d)", i, n.Name, n.OpType, dom, ver))
		}
	}
	if len(bad) > 0 && !o.AllowUnsupported {
		return &UnsupportedError{Nodes: bad, Supported: autodiff.Ops()}
	}
	var total int64
	check := func(what string, t *wireTensor) error {
		switch {
		case t.External:
			return fmt.Errorf("%s %q: external data is not supported (save the model with its data inside)", what, t.Name)
		case t.Segment:
			return fmt.Errorf("%s %q: segmented tensors are not supported", what, t.Name)
		case !t.DType.IsFloat() && !t.DType.IsInteger():
			return fmt.Errorf("%s %q: data type %s is not supported (FLOAT, DOUBLE, integers and BOOL are)", what, t.Name, t.DType)
		}
		n := elements(t.Dims, int64(o.MaxElements))
		if n < 0 || n > int64(o.MaxElements) {
			return fmt.Errorf("%s %q of shape %v exceeds the limit of %d elements", what, t.Name, t.Dims, o.MaxElements)
		}
		total += 8 * n
		if total > o.MaxBytes {
			return fmt.Errorf("%s %q: model data exceeds the limit of %d bytes", what, t.Name, o.MaxBytes)
		}
		return nil
	}
	for i := range wm.Graph.Inits {
		if err := check("initializer", &wm.Graph.Inits[i]); err != nil {
			return err
		}
	}
	for _, n := range wm.Graph.Nodes {
		for i := range n.Tensors {
			if err := check(fmt.Sprintf("node %q (%s): tensor attribute", n.Name, n.OpType), &n.Tensors[i]); err != nil {
				return err
			}
		}
	}
	inits := map[string]bool{}
	for _, t := range wm.Graph.Inits {
		inits[t.Name] = true
	}
	for _, v := range wm.Graph.Inputs {
		if inits[v.Name] {
			continue
		}
		if v.Kind != TypeTensor {
			return fmt.Errorf("input %q: %s inputs are not supported", v.Name, v.Kind)
		}
		if !v.Elem.IsFloat() && !v.Elem.IsInteger() {
			return fmt.Errorf("input %q: data type %s is not supported", v.Name, v.Elem)
		}
		dims := make([]int64, 0, len(v.Dims))
		for _, d := range v.Dims {
			if d.IsValue {
				dims = append(dims, d.Value)
			}
		}
		if n := elements(dims, int64(o.MaxElements)); n < 0 || n > int64(o.MaxElements) {
			return fmt.Errorf("input %q of declared shape %v exceeds the limit of %d elements", v.Name, dims, o.MaxElements)
		}
	}
	for _, v := range wm.Graph.Outputs {
		if v.Kind != TypeTensor && v.Kind != TypeNone {
			return fmt.Errorf("output %q: %s outputs are not supported", v.Name, v.Kind)
		}
	}
	return nil
}

func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// builder turns what onnx-go and the wire reader delivered into a Graph.
type builder struct {
	wm    *wireModel
	be    *backend
	model *onnx.Model
	o     Options
	g     *autodiff.Graph
	ids   map[string]int
}

func (b *builder) value(name string) int {
	if id, ok := b.ids[name]; ok {
		return id
	}
	b.g.Values = append(b.g.Values, autodiff.Value{Name: name})
	b.ids[name] = len(b.g.Values) - 1
	return len(b.g.Values) - 1
}

func (b *builder) build() (*autodiff.Graph, error) {
	wm, be := b.wm, b.be
	g := &autodiff.Graph{Opset: wm.Opsets[""], Producer: wm.Producer}
	b.g, b.ids = g, map[string]int{}

	if len(be.ops) != len(wm.Graph.Nodes) {
		return nil, fmt.Errorf("onnx-go delivered %d nodes, the model has %d", len(be.ops), len(wm.Graph.Nodes))
	}
	// Graph inputs: onnx-go's list, from which it removed initializers.
	wires := map[string]*wireValue{}
	for i := range wm.Graph.Inputs {
		wires[wm.Graph.Inputs[i].Name] = &wm.Graph.Inputs[i]
	}
	for _, id := range b.model.Input {
		n, ok := be.byID[id]
		if !ok {
			return nil, fmt.Errorf("onnx-go: unknown input node %d", id)
		}
		wv := wires[n.name]
		if wv == nil {
			return nil, fmt.Errorf("input %q has no declaration", n.name)
		}
		vid := b.value(n.name)
		v := &g.Values[vid]
		v.Kind = autodiff.Input
		v.Int = !wv.Elem.IsFloat()
		v.Shape = make([]int, len(wv.Dims))
		for i, d := range wv.Dims {
			switch {
			case i == 0 && !b.o.NotBatched:
				v.Shape[i] = autodiff.Batch
			case d.IsValue:
				v.Shape[i] = int(d.Value)
			default:
				v.Shape[i] = -2
			}
		}
		if !b.o.NotBatched && len(v.Shape) == 0 {
			return nil, fmt.Errorf("input %q is a scalar: it has no batch axis", n.name)
		}
		g.Inputs = append(g.Inputs, vid)
	}
	// Initializers, data from the wire reader.
	initID := map[int]bool{}
	for i := range wm.Graph.Inits {
		wt := &wm.Graph.Inits[i]
		if _, dup := b.ids[wt.Name]; dup && g.Values[b.ids[wt.Name]].Kind != autodiff.Input {
			return nil, fmt.Errorf("initializer %q defined twice", wt.Name)
		}
		td, err := wt.decode(b.o)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", wt.Name, err)
		}
		vid := b.value(wt.Name)
		g.Values[vid] = autodiff.Value{Name: wt.Name, Kind: autodiff.Const, Shape: td.Shape, Int: !wt.DType.IsFloat(), Data: td.Data}
		initID[vid] = true
	}

	// Nodes, in model order: op type, attributes and inputs from onnx-go;
	// names and domains from the wire reader (onnx-go drops them).
	producer := map[int]int{} // value id → node index
	constOut := map[int]bool{}
	var nodes []*autodiff.Node
	for i, op := range be.ops {
		wn := &wm.Graph.Nodes[i]
		if op.Type != wn.OpType {
			return nil, fmt.Errorf("node %d %q: onnx-go says %s, the model %s", i, wn.Name, op.Type, wn.OpType)
		}
		in := op.In
		if len(wn.In) == 0 {
			in = nil // onnx-go fakes an input "<name>/input" for input-less nodes
		}
		if !slices.Equal(in, wn.In) || !slices.Equal(op.Out, wn.Out) {
			return nil, fmt.Errorf("node %d %q (%s): onnx-go gives inputs %q outputs %q, the model %q %q", i, wn.Name, wn.OpType, in, op.Out, wn.In, wn.Out)
		}
		attrs, err := convertAttrs(op.Attrs, wn)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", wn.Name, wn.OpType, err)
		}
		if wn.OpType == "Constant" && isDefaultDomain(wn.Domain) {
			if len(wn.Out) != 1 || wn.Out[0] == "" {
				return nil, fmt.Errorf("node %q (Constant): want one output", wn.Name)
			}
			cv, err := constantValue(attrs)
			if err != nil {
				return nil, fmt.Errorf("node %q (Constant): %w", wn.Name, err)
			}
			if _, dup := b.ids[wn.Out[0]]; dup {
				return nil, fmt.Errorf("node %q (Constant): value %q defined twice", wn.Name, wn.Out[0])
			}
			vid := b.value(wn.Out[0])
			cv.Name = wn.Out[0]
			g.Values[vid] = *cv
			constOut[vid] = true
			continue
		}
		n := &autodiff.Node{Name: wn.Name, OpType: wn.OpType, Domain: wn.Domain, Opset: g.Opset, Attrs: attrs}
		for _, name := range wn.In {
			if name == "" {
				n.In = append(n.In, -1)
			} else {
				n.In = append(n.In, b.value(name))
			}
		}
		for _, name := range wn.Out {
			if name == "" {
				n.Out = append(n.Out, -1)
				continue
			}
			if id, dup := b.ids[name]; dup {
				if _, p := producer[id]; p || g.Values[id].Kind != autodiff.Computed {
					return nil, fmt.Errorf("%s: value %q defined twice", n.Describe(), name)
				}
			}
			id := b.value(name)
			producer[id] = len(nodes)
			n.Out = append(n.Out, id)
		}
		nodes = append(nodes, n)
	}
	// Every consumed value must come from somewhere.
	for _, n := range nodes {
		for _, id := range n.In {
			if id < 0 {
				continue
			}
			v := &g.Values[id]
			if _, p := producer[id]; !p && v.Kind == autodiff.Computed {
				return nil, fmt.Errorf("%s: input %q is not produced by any node, initializer or graph input", n.Describe(), v.Name)
			}
		}
	}
	for _, id := range b.model.Output {
		n, ok := be.byID[id]
		if !ok {
			return nil, fmt.Errorf("onnx-go: unknown output node %d", id)
		}
		vid, ok := b.ids[n.name]
		if !ok {
			return nil, fmt.Errorf("output %q is not produced by any node", n.name)
		}
		g.Outputs = append(g.Outputs, vid)
	}
	sorted, err := toposort(g, nodes, producer)
	if err != nil {
		return nil, err
	}
	g.Nodes = sorted
	classify(g, initID, constOut)
	// Folding and shape inference run the kernels: each tensor they make
	// is bounded by MaxElements before it is allocated, and all of them
	// together by MaxBytes. The engine's own limit applies afterwards.
	for _, n := range g.Nodes {
		n.MaxElements = b.o.MaxElements
	}
	runnable := true
	for _, n := range g.Nodes {
		runnable = runnable && autodiff.Lookup(n.OpType) != nil && isDefaultDomain(n.Domain)
	}
	if !runnable {
		markInts(g)
		compact(g)
		return g, nil
	}
	if !b.o.NoFold {
		if err := foldConstants(g, b.o.MaxBytes); err != nil {
			return nil, err
		}
	}
	markInts(g)
	var hook func(*autodiff.Graph, *autodiff.Node, []*run)
	if !b.o.NotBatched {
		hook = unpinBatch
	}
	if err := inferShapes(g, hook, b.o.MaxBytes); err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		n.MaxElements = 0
	}
	compact(g)
	return g, nil
}

// toposort orders nodes so that every node follows the producers of its
// inputs, keeping model order where the model is already sorted.
func toposort(g *autodiff.Graph, nodes []*autodiff.Node, producer map[int]int) ([]*autodiff.Node, error) {
	indeg := make([]int, len(nodes))
	users := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, id := range n.In {
			if p, ok := producer[id]; ok && id >= 0 {
				indeg[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	// A min-heap would be tidier; models are small and a sorted ready list
	// keeps the order deterministic.
	var ready []int
	for i := range nodes {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	out := make([]*autodiff.Node, 0, len(nodes))
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		out = append(out, nodes[i])
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(out) != len(nodes) {
		for i, d := range indeg {
			if d > 0 {
				return nil, fmt.Errorf("graph has a cycle through %s", nodes[i].Describe())
			}
		}
	}
	return out, nil
}

// layoutOps only move elements; a parameter reshaped or transposed before
// it reaches a weight slot (mnist-7 reshapes its dense weight) is still a
// parameter.
var layoutOps = map[string]bool{"Reshape": true, "Flatten": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "Identity": true}

// classify splits float initializers and Constant values into Param and
// Const. A value is a parameter iff some consumer's spec marks its slot as
// a parameter slot (autodiff.OpSpec.ParamSlot), looking through layout ops
// (slot 0 of Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity).
// Integer values stay Const.
func classify(g *autodiff.Graph, inits, consts map[int]bool) {
	consumers := map[int][]struct {
		n    *autodiff.Node
		slot int
	}{}
	for _, n := range g.Nodes {
		for j, id := range n.In {
			if id >= 0 {
				consumers[id] = append(consumers[id], struct {
					n    *autodiff.Node
					slot int
				}{n, j})
			}
		}
	}
	var isParam func(id int, shape []int, depth int) bool
	isParam = func(id int, shape []int, depth int) bool {
		if depth > 32 {
			return false
		}
		for _, c := range consumers[id] {
			spec := autodiff.Lookup(c.n.OpType)
			if spec == nil {
				continue
			}
			if spec.ParamSlot(c.slot, shape) {
				return true
			}
			if layoutOps[c.n.OpType] && c.slot == 0 {
				for _, out := range c.n.Out {
					if out >= 0 && isParam(out, shape, depth+1) {
						return true
					}
				}
			}
		}
		return false
	}
	ids := make([]int, 0, len(inits)+len(consts))
	for id := range inits {
		ids = append(ids, id)
	}
	for id := range consts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		v := &g.Values[id]
		if !v.Int && isParam(id, v.Shape, 0) {
			v.Kind = autodiff.Param
			g.Params = append(g.Params, id)
		}
	}
}

// convertAttrs turns onnx-go's attribute values into autodiff.Attrs. Tensor
// attributes take their data from onnx-go and their dims and element type
// from the wire reader (gorgonia reshapes some shapes).
func convertAttrs(in map[string]any, wn *wireNode) (autodiff.Attrs, error) {
	out := autodiff.Attrs{}
	for name, v := range in {
		switch x := v.(type) {
		case struct{}:
			// AttributeProto of UNDEFINED type: nothing to carry.
		case float32:
			out[name] = autodiff.Attr{Kind: autodiff.AttrFloat, F: float64(x)}
		case int64:
			out[name] = autodiff.Attr{Kind: autodiff.AttrInt, I: x}
		case string:
			out[name] = autodiff.Attr{Kind: autodiff.AttrString, S: x}
		case []float32:
			fs := make([]float64, len(x))
			for i, f := range x {
				fs[i] = float64(f)
			}
			out[name] = autodiff.Attr{Kind: autodiff.AttrFloats, Floats: fs}
		case []int64:
			out[name] = autodiff.Attr{Kind: autodiff.AttrInts, Ints: append([]int64{}, x...)}
		case []string:
			out[name] = autodiff.Attr{Kind: autodiff.AttrStrings, Strings: append([]string{}, x...)}
		case tensor.Tensor:
			var wt *wireTensor
			for i := range wn.Tensors {
				if wn.Tensors[i].Name == name {
					wt = &wn.Tensors[i]
				}
			}
			if wt == nil {
				return nil, fmt.Errorf("attribute %q: tensor not found in the model", name)
			}
			val, err := tensorValue(x, wt)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: %w", name, err)
			}
			out[name] = autodiff.Attr{Kind: autodiff.AttrTensor, Tensor: val}
		default:
			return nil, fmt.Errorf("attribute %q of unsupported type %T", name, v)
		}
	}
	return out, nil
}

// tensorValue converts a gorgonia tensor from onnx-go into a Value.
func tensorValue(t tensor.Tensor, wt *wireTensor) (*autodiff.Value, error) {
	shape := make([]int, len(wt.Dims))
	for i, d := range wt.Dims {
		shape[i] = int(d)
	}
	var data []float64
	d := t.Data()
	rv := reflect.ValueOf(d)
	if rv.Kind() != reflect.Slice {
		rv = reflect.ValueOf([]any{d})
	}
	data = make([]float64, rv.Len())
	for i := range data {
		e := rv.Index(i)
		if e.Kind() == reflect.Interface {
			e = e.Elem()
		}
		switch e.Kind() {
		case reflect.Float32, reflect.Float64:
			data[i] = e.Float()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			data[i] = float64(e.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			data[i] = float64(e.Uint())
		case reflect.Bool:
			if e.Bool() {
				data[i] = 1
			}
		default:
			return nil, fmt.Errorf("tensor of %s is not supported", e.Kind())
		}
	}
	if len(data) != autodiff.Size(shape) {
		return nil, fmt.Errorf("tensor of shape %v holds %d elements", shape, len(data))
	}
	return &autodiff.Value{Kind: autodiff.Const, Shape: shape, Int: !wt.DType.IsFloat(), Data: data}, nil
}

// constantValue is the value of a Constant node (value, value_float(s),
// value_int(s)).
func constantValue(a autodiff.Attrs) (*autodiff.Value, error) {
	for name, at := range a {
		switch name {
		case "value":
			if at.Kind == autodiff.AttrTensor && at.Tensor != nil {
				v := *at.Tensor
				return &v, nil
			}
		case "value_float":
			return &autodiff.Value{Kind: autodiff.Const, Shape: []int{}, Data: []float64{at.F}}, nil
		case "value_floats":
			return &autodiff.Value{Kind: autodiff.Const, Shape: []int{len(at.Floats)}, Data: append([]float64{}, at.Floats...)}, nil
		case "value_int":
			return &autodiff.Value{Kind: autodiff.Const, Shape: []int{}, Int: true, Data: []float64{float64(at.I)}}, nil
		case "value_ints":
			d := make([]float64, len(at.Ints))
			for i, x := range at.Ints {
				d[i] = float64(x)
			}
			return &autodiff.Value{Kind: autodiff.Const, Shape: []int{len(d)}, Int: true, Data: d}, nil
		default:
			return nil, fmt.Errorf("attribute %q is not supported", name)
		}
	}
	return nil, errors.New("no value attribute")
}
