package autodiff

import (
	"math"
	"testing"
)

func init() {
	sh := func(d ...int) []int { return d }
	mat := func(d ...int) in { return in{Shape: d} }
	var gemmCases []ruleCase
	// every transA/transB combination, with M=2, K=3, N=4.
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			a, b := sh(2, 3), sh(3, 4)
			if ta == 1 {
				a = sh(3, 2)
			}
			if tb == 1 {
				b = sh(4, 3)
			}
			gemmCases = append(gemmCases, ruleCase{
				Name:   "trans" + string(rune('0'+ta)) + string(rune('0'+tb)),
				Attrs:  Attrs{"transA": aInt(ta), "transB": aInt(tb), "alpha": aFloat(0.7), "beta": aFloat(-1.3)},
				Inputs: []in{mat(a...), mat(b...), mat(2, 4)},
			})
		}
	}
	gemmCases = append(gemmCases,
		ruleCase{Name: "default_matrix_bias", Inputs: []in{mat(3, 5), mat(5, 4), mat(3, 4)}},
		ruleCase{Name: "vector_bias", Inputs: []in{mat(2, 7), mat(7, 4), mat(4)}},
		ruleCase{Name: "row_bias", Inputs: []in{mat(3, 6), mat(6, 4), mat(1, 4)}},
		ruleCase{Name: "column_bias", Inputs: []in{mat(3, 6), mat(6, 4), mat(3, 1)}},
		ruleCase{Name: "scalar_bias", Inputs: []in{mat(2, 3), mat(3, 4), mat()}},
		ruleCase{Name: "single_elem_vector_bias", Inputs: []in{mat(3, 3), mat(3, 3), mat(1)}},
		ruleCase{Name: "no_bias_omitted", Inputs: []in{mat(2, 10), mat(10, 3), {Omit: true}}},
		ruleCase{Name: "no_bias_two_inputs", Inputs: []in{mat(3, 6), mat(6, 4)}},
		ruleCase{Name: "alpha", Attrs: Attrs{"alpha": aFloat(0.5)}, Inputs: []in{mat(3, 5), mat(5, 4), mat(1, 4)}},
		ruleCase{Name: "beta", Attrs: Attrs{"beta": aFloat(0.5)}, Inputs: []in{mat(2, 7), mat(7, 4), mat(1, 4)}},
		ruleCase{Name: "beta_zero", Attrs: Attrs{"beta": aFloat(0)}, Inputs: []in{mat(2, 3), mat(3, 4), mat(4)}},
		ruleCase{Name: "all_attributes", Attrs: Attrs{"alpha": aFloat(0.25), "beta": aFloat(0.35), "transA": aInt(1), "transB": aInt(1)},
			Inputs: []in{mat(4, 3), mat(5, 4), mat(1, 5)}},
		ruleCase{Name: "opset7", Opset: 7, Inputs: []in{mat(2, 3), mat(3, 4), mat(2, 4)}},
		ruleCase{Name: "opset11_no_c", Opset: 11, Inputs: []in{mat(2, 3), mat(3, 4)}},
	)
	addCases("Gemm", gemmCases...)

	addCases("MatMul",
		ruleCase{Name: "2d", Inputs: []in{mat(2, 3), mat(3, 4)}},
		ruleCase{Name: "1d_2d", Inputs: []in{mat(3), mat(3, 4)}},
		ruleCase{Name: "2d_1d", Inputs: []in{mat(2, 3), mat(3)}},
		ruleCase{Name: "1d_1d", Inputs: []in{mat(3), mat(3)}},
		ruleCase{Name: "1d_3d", Inputs: []in{mat(3), mat(2, 3, 4)}},
		ruleCase{Name: "4d_1d", Inputs: []in{mat(2, 1, 2, 3), mat(3)}},
		ruleCase{Name: "batched_unbatched_B", Inputs: []in{mat(2, 2, 3), mat(3, 4)}},
		ruleCase{Name: "unbatched_A_batched_B", Inputs: []in{mat(2, 3), mat(2, 3, 4)}},
		ruleCase{Name: "3d", Inputs: []in{mat(2, 3, 4), mat(2, 4, 3)}},
		ruleCase{Name: "bcast_4d_3d", Inputs: []in{mat(2, 1, 2, 3), mat(3, 3, 4)}},
		ruleCase{Name: "bcast_4d", Inputs: []in{mat(2, 1, 2, 3), mat(1, 3, 3, 4)}},
		ruleCase{Name: "bcast_batch_ones", Inputs: []in{mat(1, 2, 3), mat(3, 1, 3, 2)}},
		ruleCase{Name: "4d", Inputs: []in{mat(1, 2, 3, 4), mat(1, 2, 4, 3)}},
		ruleCase{Name: "opset9", Opset: 9, Inputs: []in{mat(4, 3), mat(3, 2)}},
	)
}

func gcRun(t *testing.T, op string, attrs Attrs, opset int64, xs ...*Tensor[float64]) *Tensor[float64] {
	t.Helper()
	n := &Node{OpType: op, Attrs: attrs, Opset: opset, Out: []int{len(xs)}}
	for i, x := range xs {
		if x == nil {
			n.In = append(n.In, -1)
		} else {
			n.In = append(n.In, i)
		}
	}
	if n.Attrs == nil {
		n.Attrs = Attrs{}
	}
	k, err := NewKernel[float64](n)
	if err != nil {
		t.Fatal(err)
	}
	y, err := k.Forward(xs)
	if err != nil {
		t.Fatal(err)
	}
	return y[0]
}

func gcWant(t *testing.T, got *Tensor[float64], shape []int, data []float64) {
	t.Helper()
	if !SameShape(got.Shape, shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	for i := range data {
		if math.Abs(got.Data[i]-data[i]) > 1e-12 {
			t.Fatalf("data %v, want %v", got.Data, data)
		}
	}
}

func TestGemmForward(t *testing.T) {
	a := FromData([]float64{1, 2, 3, 4, 5, 6}, 2, 3) // 2×3
	b := FromData([]float64{1, 0, 0, 1, 1, 1}, 3, 2) // 3×2
	c := FromData([]float64{10, 20}, 2)              // broadcast row
	y := gcRun(t, "Gemm", Attrs{"alpha": aFloat(2), "beta": aFloat(0.5)}, 13, a, b, c)
	// A·B = [[1+3, 2+3], [4+6, 5+6]] = [[4,5],[10,11]]
	gcWant(t, y, []int{2, 2}, []float64{2*4 + 5, 2*5 + 10, 2*10 + 5, 2*11 + 10})
	at := FromData([]float64{1, 4, 2, 5, 3, 6}, 3, 2) // Aᵀ
	bt := FromData([]float64{1, 0, 1, 0, 1, 1}, 2, 3) // Bᵀ
	y = gcRun(t, "Gemm", Attrs{"transA": aInt(1), "transB": aInt(1)}, 13, at, bt, nil)
	gcWant(t, y, []int{2, 2}, []float64{4, 5, 10, 11})
	bad := &Node{OpType: "Gemm", Attrs: Attrs{}, In: []int{0, 1}, Out: []int{2}}
	k, _ := NewKernel[float64](bad)
	if _, err := k.Forward([]*Tensor[float64]{a, a}); err == nil {
		t.Error("Gemm of 2×3 by 2×3: no error")
	}
}

func TestMatMulForward(t *testing.T) {
	a := FromData([]float64{1, 2, 3, 4, 5, 6}, 2, 3)
	v := FromData([]float64{1, -1, 2}, 3)
	gcWant(t, gcRun(t, "MatMul", nil, 13, a, v), []int{2}, []float64{1 - 2 + 6, 4 - 5 + 12})
	w := FromData([]float64{1, 1}, 2)
	gcWant(t, gcRun(t, "MatMul", nil, 13, w, a), []int{3}, []float64{5, 7, 9})
	gcWant(t, gcRun(t, "MatMul", nil, 13, v, v), []int{}, []float64{6})
	// batched A [2,1,3] against B [2,3,1] broadcast: [2,1,1]
	ab := FromData([]float64{1, 0, 0, 0, 1, 0}, 2, 1, 3)
	bb := FromData([]float64{1, 2, 3, 4, 5, 6}, 2, 3, 1)
	gcWant(t, gcRun(t, "MatMul", nil, 13, ab, bb), []int{2, 1, 1}, []float64{1, 5})
	// broadcast batch axes: [2,1,1,3] × [3,3,1] → [2,3,1,1]
	a4 := FromData([]float64{1, 0, 0, 0, 0, 1}, 2, 1, 1, 3)
	b3 := FromData([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3, 1)
	gcWant(t, gcRun(t, "MatMul", nil, 13, a4, b3), []int{2, 3, 1, 1}, []float64{1, 4, 7, 3, 6, 9})
}

func TestMatMulShapeErrors(t *testing.T) {
	n := &Node{OpType: "MatMul", Attrs: Attrs{}, In: []int{0, 1}, Out: []int{2}}
	k, _ := NewKernel[float64](n)
	for _, s := range [][2][]int{{{2, 1, 2, 3}, {3, 2, 3, 4}}, {{2, 3}, {4, 2}}, {{}, {3}}} {
		if _, err := k.Forward([]*Tensor[float64]{New[float64](s[0]...), New[float64](s[1]...)}); err == nil {
			t.Errorf("MatMul %v × %v: no error", s[0], s[1])
		}
	}
}
