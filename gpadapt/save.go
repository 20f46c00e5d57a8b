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
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"gonum.org/v1/gonum/mat"
)

// The predictor file: a magic line, a format version, the length of the
// payload, the payload (gob), and the SHA-256 of the payload.
const (
	magic         = "onnx-adapt predictor\n"
	formatVersion = 1
	// MaxFileBytes bounds the payload a predictor file may claim.
	MaxFileBytes = 1 << 34
)

// IsPredictorFile reports whether data starts like a predictor file.
func IsPredictorFile(prefix []byte) bool { return bytes.HasPrefix(prefix, []byte(magic)) }

// ErrBadFile marks a predictor file that is corrupt, truncated or of another version.
var ErrBadFile = errors.New("bad predictor file")

type payload struct {
	Task        Task
	ZeroPrior   bool
	Batch       int
	Float64     bool
	Params      []string
	Fingerprint [32]byte
	Delta       []float64
	FRows       int
	FCols       int
	F           []float64
	C, Sign     float64
	Report      Report
	ModelBytes  []byte
	Meta        map[string]string
}

// Save writes the predictor: what prediction needs, a fingerprint of the
// model's parameters, and the caller's ModelBytes and Meta.
func (p *Predictor) Save(w io.Writer) error {
	r, c := p.st.f.Dims()
	pl := payload{
		Task: p.task, ZeroPrior: p.zeroPrior, Batch: p.batch, Float64: p.float64,
		Fingerprint: fingerprint(p.g), Delta: p.st.delta,
		FRows: r, FCols: c, F: mat.DenseCopyOf(p.st.f).RawMatrix().Data,
		C: p.st.c, Sign: p.st.sign, Report: p.st.rep, ModelBytes: p.ModelBytes, Meta: p.Meta,
	}
	for _, id := range p.active {
		pl.Params = append(pl.Params, p.g.Values[id].Name)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&pl); err != nil {
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
	if pl.FRows < 0 || pl.FCols < 0 || pl.FRows*pl.FCols != len(pl.F) || pl.FCols != len(pl.Delta) || math.IsNaN(pl.C) {
		return nil, fmt.Errorf("%w: inconsistent sizes", ErrBadFile)
	}
	return &Saved{pl: pl, ModelBytes: pl.ModelBytes, Meta: pl.Meta}, nil
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
	var f *mat.Dense
	if s.pl.FRows > 0 && s.pl.FCols > 0 {
		f = mat.NewDense(s.pl.FRows, s.pl.FCols, s.pl.F)
	} else {
		f = &mat.Dense{}
	}
	p := &Predictor{g: g, active: active, task: s.pl.Task, zeroPrior: s.pl.ZeroPrior, batch: s.pl.Batch, float64: s.pl.Float64,
		st: state{delta: s.pl.Delta, f: f, c: s.pl.C, sign: s.pl.Sign, rep: s.pl.Report}, ModelBytes: s.pl.ModelBytes, Meta: s.pl.Meta}
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
