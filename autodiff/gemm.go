package autodiff

import "fmt"

// Matrix products: Gemm and MatMul.

func init() {
	Register(OpSpec{Type: "Gemm", Diff: []int{0, 1, 2}, Params: []int{1, 2}}, newGemmOp[float32], newGemmOp[float64])
	Register(OpSpec{Type: "MatMul", Diff: []int{0, 1}, Params: []int{0, 1}}, newMatMul[float32], newMatMul[float64])
}

// batchedGemm computes, for every index t of the broadcast batch
// S = broadcast(aBatch, bBatch), the product α·op(A_t)·op(B_t) (m×n, with
// inner dimension k), and sums it into c[o(t)], where o maps S onto outBatch
// (outBatch = S stores every product; a smaller outBatch is the adjoint of
// broadcasting, a sum over the broadcast axes). The batch shapes must have
// equal ranks; A_t is m×k (k×m when transA), B_t is k×n (n×k when transB).
// c, of Size(outBatch)·m·n elements, is overwritten.
//
// Two common layouts become one GEMM: an unbatched B against a batched A
// (the batch folds into the rows of A), and Σ_t A_tᵀ·B_t over the whole
// batch (the batch folds into the inner dimension).
func batchedGemm[T Float](transA, transB bool, m, n, k int, alpha T, aBatch []int, a []T, bBatch []int, b []T, outBatch []int, c []T) {
	batch, err := BroadcastShapes(aBatch, bBatch)
	if err != nil {
		panic("autodiff: batchedGemm: " + err.Error())
	}
	s := Size(batch)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	switch {
	case s == 0 || m == 0 || n == 0:
		clear(c)
		return
	case Size(bBatch) == 1 && !transA && SameShape(aBatch, batch) && SameShape(outBatch, batch):
		gemm(false, transB, s*m, n, k, alpha, a, k, b, ldb, 0, c, n)
		return
	case Size(outBatch) == 1 && transA && !transB && SameShape(aBatch, batch) && SameShape(bBatch, batch):
		gemm(true, false, m, n, s*k, alpha, a, m, b, n, 0, c, n)
		return
	}
	clear(c)
	ia := BroadcastIndex(aBatch, batch)
	ib := BroadcastIndex(bBatch, batch)
	ic := BroadcastIndex(outBatch, batch)
	for t := 0; t < s; t++ {
		ta, tb, tc := t, t, t
		if ia != nil {
			ta = ia[t]
		}
		if ib != nil {
			tb = ib[t]
		}
		if ic != nil {
			tc = ic[t]
		}
		gemm(transA, transB, m, n, k, alpha, a[ta*m*k:], lda, b[tb*k*n:], ldb, 1, c[tc*m*n:], n)
	}
}

// mmPadOnes returns shape with ones prepended up to rank.
func mmPadOnes(shape []int, rank int) []int {
	out := make([]int, 0, rank)
	for i := len(shape); i < rank; i++ {
		out = append(out, 1)
	}
	return append(out, shape...)
}

// ---------------------------------------------------------------------------
// Gemm

// gemmOp is ONNX Gemm (opsets 7 to 13; C optional since 11, treated as
// optional throughout):
//
//	Y = α·A'·B' + β·C,   A' = transA ? Aᵀ : A (M×K),  B' = transB ? Bᵀ : B (K×N),
//
// C unidirectionally broadcast to [M, N].
//
//	JVP: dY = α(dA'·B' + A'·dB') + β·dC
//	VJP: Ā' = α·Ȳ·B'ᵀ,  B̄' = α·A'ᵀ·Ȳ,  C̄ = β·SumTo(Ȳ, shape(C))
type gemmOp[T Float] struct {
	limited
	transA, transB bool
	alpha, beta    T
}

func newGemmOp[T Float](n *Node) (*gemmOp[T], error) {
	return &gemmOp[T]{
		transA: n.Attrs.Int("transA", 0) != 0,
		transB: n.Attrs.Int("transB", 0) != 0,
		alpha:  T(n.Attrs.Float("alpha", 1)),
		beta:   T(n.Attrs.Float("beta", 1)),
	}, nil
}

// dims returns M, N, K and C's shape padded to rank 2 (nil without C).
func (g *gemmOp[T]) dims(in []*Tensor[T]) (m, n, k int, c2 []int, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return 0, 0, 0, nil, fmt.Errorf("Gemm needs inputs A and B")
	}
	a, b := in[0], in[1]
	if a.Rank() != 2 || b.Rank() != 2 {
		return 0, 0, 0, nil, fmt.Errorf("Gemm: A %v and B %v must be matrices", a.Shape, b.Shape)
	}
	m, k = a.Shape[0], a.Shape[1]
	if g.transA {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if g.transB {
		kb, n = n, kb
	}
	if kb != k {
		return 0, 0, 0, nil, fmt.Errorf("Gemm: inner dimensions differ: A %v (transA=%v), B %v (transB=%v)", a.Shape, g.transA, b.Shape, g.transB)
	}
	if len(in) > 2 && in[2] != nil {
		c := in[2]
		if c.Rank() > 2 {
			return 0, 0, 0, nil, fmt.Errorf("Gemm: C %v has rank above 2", c.Shape)
		}
		c2 = mmPadOnes(c.Shape, 2)
		if (c2[0] != 1 && c2[0] != m) || (c2[1] != 1 && c2[1] != n) {
			return 0, 0, 0, nil, fmt.Errorf("Gemm: C %v does not broadcast to [%d %d]", c.Shape, m, n)
		}
	}
	return m, n, k, c2, nil
}

func (g *gemmOp[T]) lds(m, n, k int) (lda, ldb int) {
	lda, ldb = k, n
	if g.transA {
		lda = m
	}
	if g.transB {
		ldb = k
	}
	return lda, ldb
}

func (g *gemmOp[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	return g.forwardAlloc(in, newZero[T])
}

// forwardAlloc is Forward with y from alloc: C's broadcast, or the
// product with β = 0, overwrites it.
func (g *gemmOp[T]) forwardAlloc(in []*Tensor[T], alloc func(...int) *Tensor[T]) ([]*Tensor[T], error) {
	m, n, k, c2, err := g.dims(in)
	if err != nil {
		return nil, err
	}
	if err := g.checkOut([]int{m, n}); err != nil {
		return nil, err
	}
	y := alloc(m, n)
	beta := T(0)
	if c2 != nil && g.beta != 0 {
		bcastMatrix(y.Data, in[2].Data, c2, m, n, 1, false)
		beta = g.beta
	}
	lda, ldb := g.lds(m, n, k)
	gemm(g.transA, g.transB, m, n, k, g.alpha, in[0].Data, lda, in[1].Data, ldb, beta, y.Data, n)
	return []*Tensor[T]{y}, nil
}

// bcastMatrix writes (add=false) or adds (add=true) scale·c, a block of
// [cm, cn] matrices with cm ∈ {1, m} and cn ∈ {1, n}, broadcast to the
// [m, n] matrices of dst (as many as dst holds).
func bcastMatrix[T Float](dst, c []T, c2 []int, m, n int, scale T, add bool) {
	cm, cn := c2[0], c2[1]
	if m == 0 || n == 0 {
		return
	}
	blocks := len(dst) / (m * n)
	for j := 0; j < blocks; j++ {
		cj := c[j*cm*cn : (j+1)*cm*cn]
		for i := 0; i < m; i++ {
			row := dst[(j*m+i)*n : (j*m+i+1)*n]
			src := cj
			if cm != 1 {
				src = cj[i*cn : (i+1)*cn]
			}
			switch {
			case cn == 1 && add:
				v := scale * src[0]
				for e := range row {
					row[e] += v
				}
			case cn == 1:
				v := scale * src[0]
				for e := range row {
					row[e] = v
				}
			case add:
				src = src[:len(row)]
				for e, v := range src {
					row[e] += scale * v
				}
			case scale == 1:
				copy(row, src)
			default:
				src = src[:len(row)]
				for e, v := range src {
					row[e] = scale * v
				}
			}
		}
	}
}

// sumMatrix is bcastMatrix's adjoint: it returns scale·x, a block of r
// [m, n] matrices, summed down to r [cm, cn] ones.
func sumMatrix[T Float](x []T, r, m, n int, c2 []int, scale T) *Tensor[T] {
	cm, cn := c2[0], c2[1]
	out := New[T](r, cm, cn)
	for j := 0; j < r; j++ {
		oj := out.Data[j*cm*cn : (j+1)*cm*cn]
		for i := 0; i < m; i++ {
			row := x[(j*m+i)*n : (j*m+i+1)*n]
			dst := oj
			if cm != 1 {
				dst = oj[i*cn : (i+1)*cn]
			}
			if cn == 1 {
				s := T(0)
				for _, v := range row {
					s += v
				}
				dst[0] += s
				continue
			}
			dst = dst[:len(row)]
			for e, v := range row {
				dst[e] += v
			}
		}
	}
	if scale != 1 {
		for i := range out.Data {
			out.Data[i] *= scale
		}
	}
	return out
}

func (g *gemmOp[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	return g.jvpAlloc(in, out, tin, r, newZero[T])
}

// jvpAlloc is JVP with dy from alloc: its first term overwrites it.
func (g *gemmOp[T]) jvpAlloc(in, out, tin []*Tensor[T], r int, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	m, n, k, c2, _ := g.dims(in)
	lda, ldb := g.lds(m, n, k)
	a, b := in[0], in[1]
	var dy *Tensor[T]
	beta := T(0) // 0 while dy holds nothing yet
	start := func() {
		if dy == nil {
			dy = alloc(r, m, n)
		}
	}
	if da := tin[0]; da != nil {
		start()
		if !g.transA { // the r directions stack into the rows: one GEMM of (r·M)×K by K×N
			gemm(false, g.transB, r*m, n, k, g.alpha, da.Data, k, b.Data, ldb, 0, dy.Data, n)
		} else {
			for j := 0; j < r; j++ {
				gemm(true, g.transB, m, n, k, g.alpha, da.Data[j*m*k:], lda, b.Data, ldb, 0, dy.Data[j*m*n:], n)
			}
		}
		beta = 1
	}
	if db := tin[1]; db != nil {
		start()
		g.jvpWeight(a.Data, lda, db.Data, dy.Data, m, n, k, r, beta)
		beta = 1
	}
	if len(tin) > 2 && tin[2] != nil && c2 != nil && g.beta != 0 {
		start()
		bcastMatrix(dy.Data, tin[2].Data, c2, m, n, g.beta, beta != 0)
	}
	if dy == nil {
		return []*Tensor[T]{nil}
	}
	return []*Tensor[T]{dy}
}

// jvpWeight sets (beta = 0) or adds (beta = 1) into dy [r, M, N] the
// products α·A'·dB'_j of the r weight directions db, one GEMM each. (One
// GEMM of A' by the directions side by side, [dB'_1 … dB'_r], needs the
// result re-laid per direction; measured on the benchmark models it was
// no faster, and slower on small layers.)
func (g *gemmOp[T]) jvpWeight(a []T, lda int, db, dy []T, m, n, k, r int, beta T) {
	ldb := n
	if g.transB {
		ldb = k
	}
	for j := 0; j < r; j++ {
		gemm(g.transA, g.transB, m, n, k, g.alpha, a, lda, db[j*k*n:], ldb, beta, dy[j*m*n:], n)
	}
}

func (g *gemmOp[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return g.VJPNeeded(in, out, gout, r, nil)
}

// VJPNeeded computes the cotangents of the wanted inputs only.
func (g *gemmOp[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	return g.vjpAlloc(in, out, gout, r, need, newZero[T])
}

// vjpAlloc is VJPNeeded with Ā and B̄ from alloc (GEMMs with β = 0
// overwrite them).
func (g *gemmOp[T]) vjpAlloc(in, out, gout []*Tensor[T], r int, need []bool, alloc func(...int) *Tensor[T]) []*Tensor[T] {
	res := make([]*Tensor[T], len(in))
	gy := gout[0]
	if gy == nil {
		return res
	}
	m, n, k, c2, _ := g.dims(in)
	lda, ldb := g.lds(m, n, k)
	a, b := in[0], in[1]
	if wants(need, 0) {
		// Ā' = α·Ȳ·B'ᵀ (M×K); Ā is Ā' or its transpose.
		ga := alloc(BlockShape(r, a.Shape)...)
		if !g.transA { // one GEMM of (r·M)×N by N×K
			gemm(false, !g.transB, r*m, k, n, g.alpha, gy.Data, n, b.Data, ldb, 0, ga.Data, k)
		} else { // Ā = α·B'·Ȳᵀ (K×M)
			for j := 0; j < r; j++ {
				gemm(g.transB, true, k, m, n, g.alpha, b.Data, ldb, gy.Data[j*m*n:], n, 0, ga.Data[j*m*k:], m)
			}
		}
		res[0] = ga
	}
	if wants(need, 1) {
		res[1] = g.vjpWeight(a.Data, lda, gy.Data, alloc(BlockShape(r, b.Shape)...), m, n, k, r)
	}
	if c2 != nil && len(res) > 2 && wants(need, 2) {
		res[2] = sumMatrix(gy.Data, r, m, n, c2, g.beta).Reshape(BlockShape(r, in[2].Shape)...)
	}
	return res
}

// vjpWeight sets gb [r, B's shape] to B̄ for the cotangents gy [r, M, N]
// and returns it: B̄' = α·A'ᵀ·Ȳ_j (K×N), B̄ = B̄' or its transpose, one
// GEMM per direction (see jvpWeight).
func (g *gemmOp[T]) vjpWeight(a []T, lda int, gy []T, gb *Tensor[T], m, n, k, r int) *Tensor[T] {
	for j := 0; j < r; j++ {
		if !g.transB {
			gemm(!g.transA, false, k, n, m, g.alpha, a, lda, gy[j*m*n:], n, 0, gb.Data[j*k*n:], n)
		} else { // B̄ = α·Ȳᵀ·A' (N×K)
			gemm(true, g.transA, n, k, m, g.alpha, gy[j*m*n:], n, a, lda, 0, gb.Data[j*k*n:], k)
		}
	}
	return gb
}

// ---------------------------------------------------------------------------
// MatMul

// matMul is ONNX MatMul with numpy semantics: A [..., M, K] times
// B [..., K, N] gives [..., M, N], the leading (batch) axes broadcast; a 1-D
// A is a row [1, K] and a 1-D B a column [K, 1], whose axis is then dropped.
//
//	JVP: dY = dA·B + A·dB
//	VJP: Ā = SumTo(Ȳ·Bᵀ, shape(A)),  B̄ = SumTo(Aᵀ·Ȳ, shape(B))
type matMul[T Float] struct{ limited }

func newMatMul[T Float](n *Node) (*matMul[T], error) { return &matMul[T]{}, nil }

// mmDims is the geometry of one MatMul: batch shapes of A and B padded to
// the rank of the broadcast batch, the matrix sizes, and the output shape.
type mmDims struct {
	aBatch, bBatch, batch []int
	m, n, k               int
	outShape              []int
}

func matMulDims(as, bs []int) (d mmDims, err error) {
	if len(as) == 0 || len(bs) == 0 {
		return d, fmt.Errorf("MatMul of scalars: %v, %v", as, bs)
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	d.m, d.k = a2[len(a2)-2], a2[len(a2)-1]
	kb := b2[len(b2)-2]
	d.n = b2[len(b2)-1]
	if kb != d.k {
		return d, fmt.Errorf("MatMul: inner dimensions differ: %v, %v", as, bs)
	}
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	d.batch, err = BroadcastShapes(ab, bb)
	if err != nil {
		return d, fmt.Errorf("MatMul: batch axes of %v and %v do not broadcast", as, bs)
	}
	d.aBatch = mmPadOnes(ab, len(d.batch))
	d.bBatch = mmPadOnes(bb, len(d.batch))
	d.outShape = append([]int(nil), d.batch...)
	if len(as) > 1 {
		d.outShape = append(d.outShape, d.m)
	}
	if len(bs) > 1 {
		d.outShape = append(d.outShape, d.n)
	}
	return d, nil
}

func (mm *matMul[T]) Forward(in []*Tensor[T]) ([]*Tensor[T], error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMul needs two inputs")
	}
	d, err := matMulDims(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	if err := mm.checkOut(d.outShape); err != nil {
		return nil, err
	}
	y := New[T](d.outShape...)
	batchedGemm(false, false, d.m, d.n, d.k, 1, d.aBatch, in[0].Data, d.bBatch, in[1].Data, d.batch, y.Data)
	return []*Tensor[T]{y}, nil
}

func (*matMul[T]) JVP(in, out, tin []*Tensor[T], r int) []*Tensor[T] {
	d, _ := matMulDims(in[0].Shape, in[1].Shape)
	var dy *Tensor[T]
	rb := BlockShape(r, d.batch)
	if da := tin[0]; da != nil { // dA·B: the r directions are one more batch axis of A
		dy = New[T](BlockShape(r, d.outShape)...)
		batchedGemm(false, false, d.m, d.n, d.k, 1, BlockShape(r, d.aBatch), da.Data, BlockShape(1, d.bBatch), in[1].Data, rb, dy.Data)
	}
	if db := tin[1]; db != nil { // A·dB, one direction at a time (B is usually unbatched)
		t := New[T](BlockShape(r, d.outShape)...)
		step, bstep := Size(d.batch)*d.m*d.n, Size(d.bBatch)*d.k*d.n
		for j := 0; j < r; j++ {
			batchedGemm(false, false, d.m, d.n, d.k, 1, d.aBatch, in[0].Data, d.bBatch, db.Data[j*bstep:(j+1)*bstep], d.batch, t.Data[j*step:(j+1)*step])
		}
		if dy == nil {
			dy = t
		} else {
			for i, v := range t.Data {
				dy.Data[i] += v
			}
		}
	}
	return []*Tensor[T]{dy}
}

func (mm *matMul[T]) VJP(in, out, gout []*Tensor[T], r int) []*Tensor[T] {
	return mm.VJPNeeded(in, out, gout, r, nil)
}

// VJPNeeded computes the cotangents of the wanted operands only.
func (*matMul[T]) VJPNeeded(in, out, gout []*Tensor[T], r int, need []bool) []*Tensor[T] {
	gy := gout[0]
	if gy == nil {
		return []*Tensor[T]{nil, nil}
	}
	d, _ := matMulDims(in[0].Shape, in[1].Shape)
	var ga, gb *Tensor[T]
	if wants(need, 0) {
		// Ā = Ȳ·Bᵀ summed over A's broadcast axes; the r directions are a batch axis.
		ga = New[T](BlockShape(r, in[0].Shape)...)
		batchedGemm(false, true, d.m, d.k, d.n, 1, BlockShape(r, d.batch), gy.Data, BlockShape(1, d.bBatch), in[1].Data, BlockShape(r, d.aBatch), ga.Data)
	}
	if wants(need, 1) {
		// B̄ = Aᵀ·Ȳ summed over B's broadcast axes, one direction at a time
		// (for an unbatched B, one GEMM over the whole batch).
		gb = New[T](BlockShape(r, in[1].Shape)...)
		step, bstep := Size(d.batch)*d.m*d.n, Size(d.bBatch)*d.k*d.n
		for j := 0; j < r; j++ {
			batchedGemm(true, false, d.k, d.n, d.m, 1, d.aBatch, in[0].Data, d.batch, gy.Data[j*step:(j+1)*step], d.bBatch, gb.Data[j*bstep:(j+1)*bstep])
		}
	}
	return []*Tensor[T]{ga, gb}
}
