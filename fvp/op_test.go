package fvp_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"github.com/onnx-adapt/onnx-adapt/internal/testnet"
	"gonum.org/v1/gonum/mat"
)

func newOp(t *testing.T, batch int) *fvp.Op[float64] {
	t.Helper()
	g := testnet.MLP(1, 3, 5, 4, 2)
	e, err := autodiff.NewEngine[float64](g)
	if err != nil {
		t.Fatal(err)
	}
	x := autodiff.Convert[float64](testnet.Inputs(2, 7, 3))
	op, err := fvp.New(context.Background(), e, x, batch)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// TestProductsMatchJacobian checks J·v, Jᵀ·w, JᵀJ·v and JᵀHJ·v against the
// explicit Jacobian, with batches that do not divide n, and the explicit
// Jacobian against central differences of the outputs.
func TestProductsMatchJacobian(t *testing.T) {
	ctx := context.Background()
	op := newOp(t, 3)
	jac, err := op.Jacobian(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nk, p := jac.Dims()
	if nk != op.N()*op.K() || p != op.P() {
		t.Fatalf("Jacobian is %d×%d, want %d×%d", nk, p, op.N()*op.K(), op.P())
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const r = 3
	v := randVec(rng, r*p)
	w := randVec(rng, r*nk)
	u := make([]float64, r*nk)
	if err := op.J(ctx, u, v, r); err != nil {
		t.Fatal(err)
	}
	g := make([]float64, r*p)
	if err := op.JT(ctx, g, w, r); err != nil {
		t.Fatal(err)
	}
	gn := make([]float64, r*p)
	if err := op.GaussNewton(ctx, gn, v, r); err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, nk)
	for i := range probs {
		probs[i] = rng.Float64()
	}
	for i := 0; i < nk; i += op.K() {
		s := probs[i] + probs[i+1]
		probs[i], probs[i+1] = probs[i]/s, probs[i+1]/s
	}
	sf := make([]float64, r*p)
	if err := op.SoftmaxFisher(ctx, sf, v, probs, r); err != nil {
		t.Fatal(err)
	}
	for d := 0; d < r; d++ {
		vd := mat.NewVecDense(p, v[d*p:(d+1)*p])
		var want, jv, wantG, wantGN, hjv, wantSF mat.VecDense
		want.MulVec(jac, vd)
		expectClose(t, "J·v", u[d*nk:(d+1)*nk], want.RawVector().Data, 1e-12)
		wantG.MulVec(jac.T(), mat.NewVecDense(nk, w[d*nk:(d+1)*nk]))
		expectClose(t, "Jᵀ·w", g[d*p:(d+1)*p], wantG.RawVector().Data, 1e-12)
		jv.MulVec(jac, vd)
		wantGN.MulVec(jac.T(), &jv)
		expectClose(t, "JᵀJ·v", gn[d*p:(d+1)*p], wantGN.RawVector().Data, 1e-12)
		hjv.CloneFromVec(&jv)
		fvp.ApplySoftmaxHessian(hjv.RawVector().Data, probs, op.K(), 1)
		wantSF.MulVec(jac.T(), &hjv)
		expectClose(t, "JᵀHJ·v", sf[d*p:(d+1)*p], wantSF.RawVector().Data, 1e-12)
	}
	// The explicit Jacobian against central differences of f(θ).
	checkJacobianFD(t, jac)
}

func checkJacobianFD(t *testing.T, jac *mat.Dense) {
	g := testnet.MLP(1, 3, 5, 4, 2)
	x := autodiff.Convert[float64](testnet.Inputs(2, 7, 3))
	outputs := func() []float64 {
		e, err := autodiff.NewEngine[float64](g)
		if err != nil {
			t.Fatal(err)
		}
		tape, err := e.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		return tape.Outputs()[0].Data
	}
	col := 0
	const h = 1e-6
	for _, id := range g.Params {
		data := g.Values[id].Data
		for i := range data {
			orig := data[i]
			data[i] = orig + h
			fp := outputs()
			data[i] = orig - h
			fm := outputs()
			data[i] = orig
			fd := make([]float64, len(fp))
			for j := range fd {
				fd[j] = (fp[j] - fm[j]) / (2 * h)
			}
			expectClose(t, "Jacobian column", mat.Col(nil, col, jac), fd, 1e-7)
			col++
		}
	}
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func expectClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	num, den := 0.0, 0.0
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	if e := math.Sqrt(num / math.Max(den, 1e-300)); e > tol || len(got) != len(want) {
		t.Errorf("%s: relative error %.3g > %g", what, e, tol)
	}
}

// TestFactorsMatchJacobian checks the structured kernel against J·Jᵀ from
// the explicit Jacobian, its cross form between two data sets, and its
// diagonal, on a network where every parameter factorizes and on one where
// some go through explicit rows (a parameter consumed twice).
func TestFactorsMatchJacobian(t *testing.T) {
	ctx := context.Background()
	for _, shared := range []bool{false, true} {
		g := testnet.MLP(1, 3, 5, 4, 2)
		if shared {
			// Let the first bias also feed the output layer's input: two consumers.
			b1 := g.Params[1]
			n := g.Nodes[1] // Tanh of layer 1
			g.Values = append(g.Values, autodiff.Value{Name: "plus", Shape: []int{autodiff.Batch, 5}})
			plus := len(g.Values) - 1
			add := &autodiff.Node{Name: "plus", OpType: "Add", Opset: 17, In: []int{n.Out[0], b1}, Out: []int{plus}, Attrs: autodiff.Attrs{}}
			g.Nodes[2].In[0] = plus
			g.Nodes = append(g.Nodes[:2], append([]*autodiff.Node{add}, g.Nodes[2:]...)...)
		}
		e, err := autodiff.NewEngine[float64](g)
		if err != nil {
			t.Fatal(err)
		}
		opA, err := fvp.New(ctx, e, autodiff.Convert[float64](testnet.Inputs(2, 7, 3)), 3)
		if err != nil {
			t.Fatal(err)
		}
		opB, err := fvp.New(ctx, e, autodiff.Convert[float64](testnet.Inputs(3, 4, 3)), 3)
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := opA.Jacobian(ctx)
		jb, _ := opB.Jacobian(ctx)
		fa, err := opA.Factors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fb, err := opB.Factors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if (fa.Rows != nil) != shared {
			t.Errorf("shared=%v: explicit rows present: %v", shared, fa.Rows != nil)
		}
		var want mat.Dense
		want.Mul(ja, jb.T())
		got, err := fvp.Cross(fa, fb)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, "cross kernel", got.RawMatrix().Data, want.RawMatrix().Data, 1e-12)
		var self mat.Dense
		self.Mul(ja, ja.T())
		n, _ := self.Dims()
		diag := make([]float64, n)
		for i := range diag {
			diag[i] = self.At(i, i)
		}
		expectClose(t, "kernel diagonal", fa.Diag(), diag, 1e-12)
		gnd, err := opA.GaussNewtonDiag(fa)
		if err != nil {
			t.Fatal(err)
		}
		var jtj mat.Dense
		jtj.Mul(ja.T(), ja)
		_, np := ja.Dims()
		wantGN := make([]float64, np)
		for i := range wantGN {
			wantGN[i] = jtj.At(i, i)
		}
		expectClose(t, "Gauss-Newton diagonal", gnd, wantGN, 1e-12)
	}
}
