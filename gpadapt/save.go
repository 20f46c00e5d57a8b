package gpadapt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/fvp"
	"gonum.org/v1/gonum/mat"
)

// The predictor file: a magic line, a format version, the length of the
// payload, the payload (gob), and the SHA-256 of the payload.
//
// Version 2 holds Meta as a sorted list (a gob map made the bytes depend on
// map order, and lets a few bytes claim a map of millions of entries) and
// no fit time, so that a fit saved twice gives the same bytes.
const (
	magic         = "onnx-adapt predictor\n"
	formatVersion = 2
	// MaxFileBytes bounds the payload a predictor file may claim.
	MaxFileBytes = 1 << 34
)

// IsPredictorFile reports whether data starts like a predictor file.
func IsPredictorFile(prefix []byte) bool { return bytes.HasPrefix(prefix, []byte(magic)) }

// ErrBadFile marks a predictor file that is corrupt, truncated or of another version.
var ErrBadFile = errors.New("bad predictor file")

// matrix is a dense matrix in a form gob can encode.
type matrix struct {
	R, C int
	Data []float64
}

func toMatrix(m mat.Matrix) *matrix {
	if m == nil {
		return nil
	}
	if d, ok := m.(*mat.Dense); ok && (d == nil || d.IsEmpty()) {
		return nil
	}
	r, c := m.Dims()
	return &matrix{R: r, C: c, Data: mat.DenseCopyOf(m).RawMatrix().Data}
}

func (m *matrix) dense() (*mat.Dense, error) {
	if m == nil {
		return nil, nil
	}
	// R and C are bounded by the data before they are multiplied.
	if m.R <= 0 || m.C <= 0 || m.R > len(m.Data) || m.C > len(m.Data) || m.R*m.C != len(m.Data) {
		return nil, fmt.Errorf("%w: a %d×%d matrix with %d values", ErrBadFile, m.R, m.C, len(m.Data))
	}
	return mat.NewDense(m.R, m.C, m.Data), nil
}

type layerPayload struct {
	Scale float64
	X, G  *matrix
}

type kernelPayload struct {
	N, K        int
	Single      bool
	Layers      []layerPayload
	Rows        *matrix
	L           *matrix
	WK          int
	W           [][]float64
	S           float64
	Alpha       []float64
	Independent bool
	// The matrix-free posterior (no L): the CG settings of its variance.
	// Files without these fields (older writers) decode with Free unset.
	Free    bool
	Noise   float64
	Tol     float64
	MaxIter int
	Accept  bool
	Rank    int // of the pivoted Cholesky preconditioner
}

type payload struct {
	Task        Task
	ZeroPrior   bool
	Batch       int
	Float64     bool
	Params      []string
	Fingerprint [32]byte
	Delta       []float64
	F           *matrix
	Kernel      *kernelPayload
	LaplaceCG   *laplaceCGPayload // classification by Newton-CG (newtoncg.go)
	Report      Report
	ModelBytes  []byte
	Meta        []metaEntry // sorted by key
	// How classification probabilities are computed (mc.go); "" in
	// older files means probit.
	Predictive string
	MCSamples  int
	Seed       uint64
}

type metaEntry struct{ Key, Value string }

// Save writes the predictor: what prediction needs, a fingerprint of the
// model's parameters, and the caller's ModelBytes and Meta.
func (p *Predictor) Save(w io.Writer) error {
	rep := p.st.rep
	rep.Seconds = 0 // the time a fit took is not part of it: the file is reproducible
	pl := payload{
		Task: p.task, ZeroPrior: p.zeroPrior, Batch: p.batch, Float64: p.float64,
		Fingerprint: fingerprint(p.g), Delta: p.st.delta, F: toMatrix(p.st.f),
		Report: rep, ModelBytes: p.ModelBytes,
	}
	for _, k := range slices.Sorted(maps.Keys(p.Meta)) {
		pl.Meta = append(pl.Meta, metaEntry{k, p.Meta[k]})
	}
	pl.LaplaceCG = p.st.lcg.payload()
	pl.Predictive, pl.MCSamples, pl.Seed = p.predictive, p.mcSamples, p.seed
	if ks := p.st.kern; ks != nil {
		kp := &kernelPayload{N: ks.train.N, K: ks.train.K, Single: ks.train.Single, Rows: toMatrix(ks.train.Rows),
			S: ks.s, Alpha: ks.alpha, Independent: ks.independent,
			Free: ks.free, Noise: ks.noise, Tol: ks.tol, MaxIter: ks.maxIter, Accept: ks.accept, Rank: ks.rank}
		if ks.l != nil { // nil for the matrix-free posterior
			kp.L = toMatrix(ks.l)
		}
		for _, l := range ks.train.Layers {
			kp.Layers = append(kp.Layers, layerPayload{Scale: l.Scale, X: toMatrix(l.X), G: toMatrix(l.G)})
		}
		if ks.w != nil {
			kp.WK, kp.W = ks.w.k, ks.w.blocks
		}
		pl.Kernel = kp
	}
	for _, id := range p.active {
		pl.Params = append(pl.Params, p.g.Values[id].Name)
	}
	return writeFile(w, &pl)
}

// writeFile writes the payload in the file format.
func writeFile(w io.Writer, pl *payload) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(pl); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	var hdr [12]byte
	binary.LittleEndian.PutUint32(hdr[:4], formatVersion)
	binary.LittleEndian.PutUint64(hdr[4:], uint64(buf.Len()))
	bw.Write(hdr[:])
	bw.Write(buf.Bytes())
	sum := sha256.Sum256(buf.Bytes())
	bw.Write(sum[:])
	return bw.Flush()
}

// Saved is a predictor file read back, before it is bound to its model.
type Saved struct {
	pl payload
	// ModelBytes and Meta are what the writer stored beside the predictor.
	ModelBytes []byte
	Meta       map[string]string
}

// Load reads a predictor file, checking its magic, version and checksum.
func Load(r io.Reader) (*Saved, error) {
	br := bufio.NewReader(r)
	head := make([]byte, len(magic)+12)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: truncated header", ErrBadFile)
	}
	if !IsPredictorFile(head) {
		return nil, fmt.Errorf("%w: not an onnx-adapt predictor", ErrBadFile)
	}
	if v := binary.LittleEndian.Uint32(head[len(magic):]); v != formatVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads version %d", ErrBadFile, v, formatVersion)
	}
	n := binary.LittleEndian.Uint64(head[len(magic)+4:])
	if n > MaxFileBytes {
		return nil, fmt.Errorf("%w: payload of %d bytes claimed", ErrBadFile, n)
	}
	body, err := io.ReadAll(io.LimitReader(br, int64(n)+sha256.Size+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(body)) != n+sha256.Size {
		return nil, fmt.Errorf("%w: %d bytes of payload and checksum, header says %d", ErrBadFile, len(body), n+sha256.Size)
	}
	if sum := sha256.Sum256(body[:n]); !bytes.Equal(sum[:], body[n:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (the file is corrupt)", ErrBadFile)
	}
	var pl payload
	if err := gob.NewDecoder(bytes.NewReader(body[:n])).Decode(&pl); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if math.IsNaN(sumOf(pl.Delta)) {
		return nil, fmt.Errorf("%w: NaN in the saved posterior", ErrBadFile)
	}
	meta := map[string]string{}
	for _, e := range pl.Meta {
		meta[e.Key] = e.Value
	}
	return &Saved{pl: pl, ModelBytes: pl.ModelBytes, Meta: meta}, nil
}

// Bind attaches the saved predictor to its model, which must be the model
// it was fitted on (same parameter names, shapes and values).
func (s *Saved) Bind(g *autodiff.Graph) (*Predictor, error) {
	if fingerprint(g) != s.pl.Fingerprint {
		return nil, fmt.Errorf("%w: the predictor was fitted on another model (parameter fingerprint differs)", ErrBadFile)
	}
	byName := map[string]int{}
	for _, id := range g.Params {
		byName[g.Values[id].Name] = id
	}
	var active []int
	for _, name := range s.pl.Params {
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%w: parameter %q is not in the model", ErrBadFile, name)
		}
		active = append(active, id)
	}
	st, err := s.pl.state()
	if err != nil {
		return nil, err
	}
	if s.pl.Batch < 0 || s.pl.Batch > 1<<24 {
		return nil, fmt.Errorf("%w: batch size %d", ErrBadFile, s.pl.Batch)
	}
	if s.pl.Task != Regression && s.pl.Task != Classification {
		return nil, fmt.Errorf("%w: unknown task %d", ErrBadFile, s.pl.Task)
	}
	p := &Predictor{g: g, active: active, task: s.pl.Task, zeroPrior: s.pl.ZeroPrior, batch: s.pl.Batch, float64: s.pl.Float64,
		st: st, ModelBytes: s.pl.ModelBytes, Meta: s.Meta}
	predictive := s.pl.Predictive
	if predictive == "" {
		predictive = PredictiveProbit // files written before the field existed
	}
	if err := p.SetPredictive(predictive, s.pl.MCSamples, s.pl.Seed); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if err := p.build(); err != nil {
		return nil, err
	}
	if n := p.activeSize(); n != len(s.pl.Delta) {
		return nil, fmt.Errorf("%w: %d adapted parameters saved, the model's selection has %d", ErrBadFile, len(s.pl.Delta), n)
	}
	return p, nil
}

func (p *Predictor) activeSize() int {
	n := 0
	for _, id := range p.active {
		n += len(p.g.Values[id].Data)
	}
	return n
}

// fingerprint hashes the names, shapes and values of g's parameters.
func fingerprint(g *autodiff.Graph) [32]byte {
	h := sha256.New()
	var b [8]byte
	for _, id := range g.Params {
		v := g.Values[id]
		h.Write([]byte(v.Name))
		for _, d := range v.Shape {
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		for _, x := range v.Data {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(x))
			h.Write(b[:])
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// state rebuilds the posterior from the payload, checking its sizes.
func (pl *payload) state() (state, error) {
	st := state{delta: pl.Delta, rep: pl.Report}
	var err error
	if st.f, err = pl.F.dense(); err != nil {
		return state{}, err
	}
	if st.f != nil {
		if _, c := st.f.Dims(); c != len(pl.Delta) {
			return state{}, fmt.Errorf("%w: covariance factor has %d columns for %d parameters", ErrBadFile, c, len(pl.Delta))
		}
	}
	if pl.LaplaceCG != nil {
		if st.f != nil || pl.Kernel != nil {
			return state{}, fmt.Errorf("%w: two posterior covariances", ErrBadFile)
		}
		if st.lcg, err = pl.LaplaceCG.state(len(pl.Delta)); err != nil {
			return state{}, err
		}
		return st, nil
	}
	kp := pl.Kernel
	if kp == nil {
		if st.f == nil {
			return state{}, fmt.Errorf("%w: no posterior covariance", ErrBadFile)
		}
		return st, nil
	}
	// N and K are bounded before they are multiplied; every matrix below
	// is then checked against nK, and holds its data.
	if kp.N <= 0 || kp.K <= 0 || kp.N > 1<<31 || kp.K > 1<<31 {
		return state{}, fmt.Errorf("%w: kernel of %d points and %d outputs", ErrBadFile, kp.N, kp.K)
	}
	nk := kp.N * kp.K
	train := &fvp.Factors{N: kp.N, K: kp.K, Single: kp.Single}
	if train.Rows, err = kp.Rows.dense(); err != nil {
		return state{}, err
	}
	if train.Rows != nil {
		if r, _ := train.Rows.Dims(); r != nk {
			return state{}, fmt.Errorf("%w: %d gradient rows for %d outputs", ErrBadFile, r, nk)
		}
	}
	for _, lp := range kp.Layers {
		x, err := lp.X.dense()
		if err != nil {
			return state{}, err
		}
		g, err := lp.G.dense()
		if err != nil || g == nil {
			return state{}, fmt.Errorf("%w: layer without cotangents", ErrBadFile)
		}
		if r, _ := g.Dims(); r != nk {
			return state{}, fmt.Errorf("%w: %d cotangent rows for %d outputs", ErrBadFile, r, nk)
		}
		if x != nil {
			if r, _ := x.Dims(); r != kp.N {
				return state{}, fmt.Errorf("%w: %d input rows for %d points", ErrBadFile, r, kp.N)
			}
		}
		train.Layers = append(train.Layers, fvp.Layer{Scale: lp.Scale, X: x, G: g})
	}
	var ks *kernelState
	if kp.Free {
		if !(kp.Noise > 0) || !(kp.S > 0) || !(kp.Tol > 0) || kp.MaxIter <= 0 || kp.Rank < 0 || kp.Rank > 1<<16 || kp.L != nil || kp.W != nil {
			return state{}, fmt.Errorf("%w: matrix-free posterior with σ²=%g, s=%g, tolerance %g, %d iterations", ErrBadFile, kp.Noise, kp.S, kp.Tol, kp.MaxIter)
		}
		ks = &kernelState{train: train, s: kp.S, alpha: kp.Alpha, independent: kp.Independent,
			free: true, noise: kp.Noise, tol: kp.Tol, maxIter: kp.MaxIter, accept: kp.Accept, rank: kp.Rank}
	} else {
		l, err := kp.L.dense()
		if err != nil || l == nil || kp.L.R != nk || kp.L.C != nk {
			return state{}, fmt.Errorf("%w: Cholesky factor is not %d×%d", ErrBadFile, nk, nk)
		}
		ks = &kernelState{train: train, l: mat.NewTriDense(nk, mat.Lower, l.RawMatrix().Data), s: kp.S, alpha: kp.Alpha, independent: kp.Independent}
	}
	if kp.Independent && len(kp.Alpha) != nk {
		return state{}, fmt.Errorf("%w: %d dual weights for %d outputs", ErrBadFile, len(kp.Alpha), nk)
	}
	if kp.W != nil {
		if len(kp.W) != kp.N || kp.WK != kp.K {
			return state{}, fmt.Errorf("%w: %d Hessian blocks for %d points", ErrBadFile, len(kp.W), kp.N)
		}
		for _, b := range kp.W {
			if len(b) != kp.K*kp.K {
				return state{}, fmt.Errorf("%w: Hessian block of %d values", ErrBadFile, len(b))
			}
		}
		ks.w = &blockDiag{k: kp.WK, blocks: kp.W}
	}
	st.kern = ks
	return st, nil
}

func sumOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}
