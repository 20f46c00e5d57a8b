package autodiff

import (
	"fmt"
	"sort"
)

// Kernel is one node's rules, built once from its attributes. A kernel
// holds no data between calls, so one kernel serves any number of batches.
//
// Inputs that the graph omits are nil in in. Tangents and cotangents are
// blocks of r directions: the block of a value of shape S has shape
// [r, S...]; nil is a zero block.
type Kernel[T Float] interface {
	// Forward computes the outputs from the inputs.
	Forward(in []*Tensor[T]) ([]*Tensor[T], error)
	// JVP returns the output tangents ẏ = ∂f·ẋ for input tangents tin
	// (nil where zero or not differentiable). out is Forward's result.
	JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T]
	// VJP returns the input cotangents x̄ = ∂fᵀ·ȳ for output cotangents
	// gout, for the differentiable inputs (nil elsewhere and where zero).
	VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T]
}

// OpSpec describes an op type: how to build its kernels and which of its
// inputs are differentiable.
type OpSpec struct {
	Type string
	// Diff lists the input slots the rules differentiate; -1 means every slot.
	Diff []int
	// Params lists the input slots that hold learnable parameters when an
	// initializer feeds them (Gemm's B and C, Conv's W and B, ...). Slots of
	// elementwise arithmetic count only for tensors of rank ≥ 1; see
	// ParamSlot.
	Params []int
	// Elementwise marks arithmetic ops whose initializer operands are
	// parameters only when they are not rank-0 scalars (a bias vector, even
	// of one element, is a parameter; the scalar 0.5 of a GELU
	// decomposition is not).
	Elementwise bool
	New32       func(n *Node) (Kernel[float32], error)
	New64       func(n *Node) (Kernel[float64], error)
}

// IsDiff reports whether input slot i is differentiable.
func (s *OpSpec) IsDiff(i int) bool {
	for _, d := range s.Diff {
		if d == -1 || d == i {
			return true
		}
	}
	return false
}

// ParamSlot reports whether an initializer of the given shape feeding
// input slot i is a learnable parameter.
func (s *OpSpec) ParamSlot(i int, shape []int) bool {
	for _, d := range s.Params {
		if d == -1 || d == i {
			return !s.Elementwise || (len(shape) > 0 && Size(shape) > 0)
		}
	}
	return false
}

var registry = map[string]*OpSpec{}

// Register adds an op type to the registry. The kernel constructors are
// usually two instantiations of one generic function, newX[float32] and
// newX[float64]. It panics on a duplicate: registration happens at init.
func Register[K32 Kernel[float32], K64 Kernel[float64]](spec OpSpec, new32 func(*Node) (K32, error), new64 func(*Node) (K64, error)) {
	if _, dup := registry[spec.Type]; dup {
		panic("autodiff: op registered twice: " + spec.Type)
	}
	s := spec
	s.New32 = func(n *Node) (Kernel[float32], error) { return new32(n) }
	s.New64 = func(n *Node) (Kernel[float64], error) { return new64(n) }
	registry[spec.Type] = &s
}

// Lookup returns the spec of an op type, or nil.
func Lookup(opType string) *OpSpec { return registry[opType] }

// Ops returns the registered op types, sorted.
func Ops() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// newKernel builds node n's kernel in precision T.
func newKernel[T Float](n *Node) (Kernel[T], error) {
	spec := registry[n.OpType]
	if spec == nil || (n.Domain != "" && n.Domain != "ai.onnx") {
		return nil, fmt.Errorf("%s: unsupported op %s (domain %q, opset %d)", n.Describe(), n.OpType, n.Domain, n.Opset)
	}
	var k any
	var err error
	var zero T
	switch any(zero).(type) {
	case float32:
		k, err = spec.New32(n)
	default:
		k, err = spec.New64(n)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	if l, ok := k.(interface{ setLimit(int) }); ok {
		l.setLimit(n.MaxElements)
	}
	return k.(Kernel[T]), nil
}

// NewKernel builds the kernel of node n in precision T (for tests and tools
// that run one op).
func NewKernel[T Float](n *Node) (Kernel[T], error) { return newKernel[T](n) }
