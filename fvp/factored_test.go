package fvp_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"github.com/onnx-adapt/onnx-adapt/onnximport"
	"gonum.org/v1/gonum/mat"
)

// signedMLP is testnet.MLP(1, 3, 5, 4, 2) with its first Gemm scaled by
// alpha = −0.5 and beta = 2 and its last bias subtracted by a Sub node
// after the Gemm: the signs of α, β and the bias enter J·v, not J·Jᵀ.
func signedMLP() *autodiff.Graph {
	g := testnet.MLP(1, 3, 5, 4, 2)
	g.Nodes[0].Attrs["alpha"] = autodiff.Attr{Kind: autodiff.AttrFloat, F: -0.5}
	g.Nodes[0].Attrs["beta"] = autodiff.Attr{Kind: autodiff.AttrFloat, F: 2}
	last := g.Nodes[len(g.Nodes)-1]
	bias, out := last.In[2], last.Out[0]
	g.Values = append(g.Values, autodiff.Value{Name: "gemm_nobias", Shape: []int{autodiff.Batch, 2}})
	mid := len(g.Values) - 1
	last.In, last.Out = last.In[:2], []int{mid}
	g.Nodes = append(g.Nodes, &autodiff.Node{Name: "sub", OpType: "Sub", Opset: 17, In: []int{mid, bias}, Out: []int{out}, Attrs: autodiff.Attrs{}})
	return g
}

// sharedBiasMLP is testnet.MLP(1, 3, 5, 4, 2) with the first bias also
// added to the second layer's input: consumed twice, it goes through the
// explicit rows.
func sharedBiasMLP() *autodiff.Graph {
	g := testnet.MLP(1, 3, 5, 4, 2)
	b1 := g.Params[1]
	n := g.Nodes[1]
	g.Values = append(g.Values, autodiff.Value{Name: "plus", Shape: []int{autodiff.Batch, 5}})
	plus := len(g.Values) - 1
	add := &autodiff.Node{Name: "plus", OpType: "Add", Opset: 17, In: []int{n.Out[0], b1}, Out: []int{plus}, Attrs: autodiff.Attrs{}}
	g.Nodes[2].In[0] = plus
	g.Nodes = append(g.Nodes[:2], append([]*autodiff.Node{add}, g.Nodes[2:]...)...)
	return g
}

// TestFactorOpMatchesJacobian checks the factor-based J·v, Jᵀ·u, JᵀJ·v and
// JᵀHJ·v against the explicit Jacobian: in float64 to 1e-12, in float32
// to 1e-5, with panels of 3 examples (n = 7: a short last panel) and of
// all of them, on Gemm layers [in, out] with signed α and β and a
// subtracted bias, a bias through the explicit rows, PyTorch's transposed
// weights (sine-mlp), and a CNN whose convolutions and BatchNormalization
// are all explicit rows (digits-cnn).
func TestFactorOpMatchesJacobian(t *testing.T) {
	ctx := context.Background()
	load := func(name string) *autodiff.Graph {
		g, err := onnximport.Load("../models/"+name+"/model.onnx", nil)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	graphs := map[string]*autodiff.Graph{
		"signed":     signedMLP(),
		"sharedbias": sharedBiasMLP(),
		"sine-mlp":   load("sine-mlp"),
		"digits-cnn": load("digits-cnn"),
	}
	for name, g := range graphs {
		for _, panel := range []int{3, 2048} {
			restore := fvp.SetFactorPanel(panel)
			e64, err := autodiff.NewEngine[float64](g)
			if err != nil {
				t.Fatal(err)
			}
			shape := append([]int{7}, g.Values[g.Inputs[0]].Shape[1:]...)
			x := autodiff.New[float64](shape...)
			for i := range x.Data {
				x.Data[i] = math.Sin(1.7*float64(i)) + 0.3
			}
			op64, err := fvp.New(ctx, e64, x, 3)
			if err != nil {
				t.Fatal(err)
			}
			jac, err := op64.Jacobian(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e32, err := autodiff.NewEngine[float32](g)
			if err != nil {
				t.Fatal(err)
			}
			op32, err := fvp.New(ctx, e32, autodiff.Convert[float32](x), 3)
			if err != nil {
				t.Fatal(err)
			}
			check := func(prec string, op interface {
				Factors(context.Context) (*fvp.Factors, error)
				FactorOp(*fvp.Factors) (*fvp.FactorOp, error)
			}, tol float64) {
				f, err := op.Factors(ctx)
				if err != nil {
					t.Fatal(err)
				}
				fo, err := op.FactorOp(f)
				if err != nil {
					t.Fatal(err)
				}
				checkFactorOp(t, name+" "+prec, fo, jac, tol)
			}
			check("float64", op64, 1e-12)
			check("float32", op32, 1e-5)
			restore()
		}
	}
}

func checkFactorOp(t *testing.T, what string, fo *fvp.FactorOp, jac *mat.Dense, tol float64) {
	t.Helper()
	ctx := context.Background()
	nk, p := jac.Dims()
	if fo.N()*fo.K() != nk || fo.P() != p {
		t.Fatalf("%s: FactorOp is %d×%d, the Jacobian %d×%d", what, fo.N()*fo.K(), fo.P(), nk, p)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const r = 2
	v, w := randVec(rng, r*p), randVec(rng, r*nk)
	probs := make([]float64, nk)
	for i := 0; i < nk; i += fo.K() {
		s := 0.0
		for c := range fo.K() {
			probs[i+c] = rng.Float64() + 0.01
			s += probs[i+c]
		}
		for c := range fo.K() {
			probs[i+c] /= s
		}
	}
	u, g := make([]float64, r*nk), make([]float64, r*p)
	gn, sf := make([]float64, r*p), make([]float64, r*p)
	for _, err := range []error{
		fo.J(ctx, u, v, r), fo.JT(ctx, g, w, r),
		fo.GaussNewton(ctx, gn, v, r), fo.SoftmaxFisher(ctx, sf, v, probs, r),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for d := range r {
		var jv, jtw, jtjv mat.VecDense
		jv.MulVec(jac, mat.NewVecDense(p, v[d*p:(d+1)*p]))
		expectClose(t, what+" J·v", u[d*nk:(d+1)*nk], jv.RawVector().Data, tol)
		jtw.MulVec(jac.T(), mat.NewVecDense(nk, w[d*nk:(d+1)*nk]))
		expectClose(t, what+" Jᵀ·w", g[d*p:(d+1)*p], jtw.RawVector().Data, tol)
		jtjv.MulVec(jac.T(), &jv)
		expectClose(t, what+" JᵀJ·v", gn[d*p:(d+1)*p], jtjv.RawVector().Data, tol)
		hjv := append([]float64(nil), jv.RawVector().Data...)
		fvp.ApplySoftmaxHessian(hjv, probs, fo.K(), 1)
		var want mat.VecDense
		want.MulVec(jac.T(), mat.NewVecDense(nk, hjv))
		expectClose(t, what+" JᵀHJ·v", sf[d*p:(d+1)*p], want.RawVector().Data, tol)
	}
}
