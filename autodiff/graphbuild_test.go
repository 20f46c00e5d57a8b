package autodiff_test

import (
	"math/rand/v2"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// graphBuilder assembles small test graphs by hand (opset 17), with
// parameters drawn from N(0, 0.25) by a seeded stream.
type graphBuilder struct {
	g   *autodiff.Graph
	rng *rand.Rand
}

func newGraphBuilder(seed uint64) *graphBuilder {
	return &graphBuilder{g: &autodiff.Graph{Opset: 17}, rng: rand.New(rand.NewPCG(seed, seed))}
}

// add appends a value and returns its id.
func (b *graphBuilder) add(v autodiff.Value) int {
	b.g.Values = append(b.g.Values, v)
	return len(b.g.Values) - 1
}

// param adds a parameter of the shape with random values.
func (b *graphBuilder) param(name string, shape ...int) int {
	d := make([]float64, autodiff.Size(shape))
	for i := range d {
		d[i] = 0.5 * b.rng.NormFloat64()
	}
	id := b.add(autodiff.Value{Name: name, Kind: autodiff.Param, Shape: shape, Data: d})
	b.g.Params = append(b.g.Params, id)
	return id
}

// node adds a one-output node and returns its output's id.
func (b *graphBuilder) node(op string, attrs autodiff.Attrs, in ...int) int {
	y := b.add(autodiff.Value{Name: op})
	b.g.Nodes = append(b.g.Nodes, &autodiff.Node{Name: op, OpType: op, Opset: 17, In: in, Out: []int{y}, Attrs: attrs})
	return y
}
