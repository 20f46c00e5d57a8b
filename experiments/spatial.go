package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// The spatial simulator stands in for the paper's malaria experiment
// (Malaria Atlas Project incidence in Nigeria, 2012 → 2016), whose data
// are not available here. A location z lies in the unit square, and the
// network sees x = 2z − 1 ∈ [−1, 1]².
//
//   - Source period: y = F(z) + ε, F a smooth stationary random field: a
//     sum of 256 random Fourier features of an RBF kernel with lengthscale
//     0.15 (F(z) ≈ GP(0, k_RBF) sample, unit variance).
//   - Target period: the pattern drifts and decays, and new hot-spots
//     appear: y = 0.8·F(z − d) + 0.6·G(z) + Σ bumps + 0.2 + ε, with d a
//     drift of length 0.05 in a random direction, G an independent field of
//     lengthscale 0.3, and 3 Gaussian bumps of height U(0.5, 1.5) and
//     width 0.08 at random places.
//   - Noise ε ~ N(0, 0.1²) in both periods.
//
// The source network (MLP 2-64-64-1, tanh) is trained on 2,000 source
// points with full-batch Adam; it is then adapted with n target points and
// tested on 1,000 fresh target points.

// SpatialNoise is the observation noise standard deviation of both periods.
const SpatialNoise = 0.1

// rff is a random field Σ_j a_j·√(2/J)·cos(ω_j·z + φ_j).
type rff struct {
	w   [][2]float64
	phi []float64
	a   []float64
}

func newRFF(rng *rand.Rand, j int, lengthscale float64) *rff {
	f := &rff{}
	for range j {
		f.w = append(f.w, [2]float64{rng.NormFloat64() / lengthscale, rng.NormFloat64() / lengthscale})
		f.phi = append(f.phi, 2*math.Pi*rng.Float64())
		f.a = append(f.a, rng.NormFloat64())
	}
	return f
}

func (f *rff) at(z0, z1 float64) float64 {
	s := 0.0
	for j, w := range f.w {
		s += f.a[j] * math.Cos(w[0]*z0+w[1]*z1+f.phi[j])
	}
	return s * math.Sqrt(2/float64(len(f.w)))
}

// SpatialWorld is one draw of the simulator.
type SpatialWorld struct {
	Source, Target func(z0, z1 float64) float64
	Drift          [2]float64
}

func newSpatialWorld(seed uint64) *SpatialWorld {
	rng := rand.New(rand.NewPCG(seed, 0x5ba7))
	f := newRFF(rng, 256, 0.15)
	g := newRFF(rng, 256, 0.3)
	ang := 2 * math.Pi * rng.Float64()
	d := [2]float64{0.05 * math.Cos(ang), 0.05 * math.Sin(ang)}
	type bump struct{ c0, c1, h float64 }
	var bumps []bump
	for range 3 {
		bumps = append(bumps, bump{rng.Float64(), rng.Float64(), 0.5 + rng.Float64()})
	}
	w := &SpatialWorld{Drift: d}
	w.Source = f.at
	w.Target = func(z0, z1 float64) float64 {
		v := 0.8*f.at(z0-d[0], z1-d[1]) + 0.6*g.at(z0, z1) + 0.2
		for _, b := range bumps {
			r2 := (z0-b.c0)*(z0-b.c0) + (z1-b.c1)*(z1-b.c1)
			v += b.h * math.Exp(-r2/(2*0.08*0.08))
		}
		return v
	}
	return w
}

// sample draws m noisy points of field f at uniform locations; the
// inputs are x = 2z − 1.
func sampleField(rng *rand.Rand, f func(z0, z1 float64) float64, m int) ([][]float64, [][]float64) {
	xs, ys := make([][]float64, m), make([][]float64, m)
	for i := range m {
		z0, z1 := rng.Float64(), rng.Float64()
		xs[i] = []float64{2*z0 - 1, 2*z1 - 1}
		ys[i] = []float64{f(z0, z1) + SpatialNoise*rng.NormFloat64()}
	}
	return xs, ys
}

// SpatialSource is a trained source network and what its training did.
type SpatialSource struct {
	G                   *autodiff.Graph
	World               *SpatialWorld
	TrainRMSE, TestRMSE float64 // on source points (test: fresh ones)
	TargetRMSE          float64 // the base network on target test points
	Steps               int
	Seconds             float64
}

// trainSpatialSource trains the MLP 2-64-64-1 on 2,000 source points:
// Adam on mini-batches of 128, learning rate 3e-3 for the first two
// thirds of the steps and 1e-3 after.
func trainSpatialSource(seed uint64, steps int) (*SpatialSource, error) {
	start := time.Now()
	w := newSpatialWorld(seed)
	rng := rand.New(rand.NewPCG(seed, 0x50c))
	xs, ys := sampleField(rng, w.Source, 2000)
	xv, yv := sampleField(rng, w.Source, 1000)
	g := MLP(seed, 2, 64, 64, 1)
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return nil, err
	}
	x := rows2tensor(xs)
	first := steps * 2 / 3
	if err := trainBatches(e, MSE, x, ys, 3e-3, first, 128, rng, nil); err != nil {
		return nil, fmt.Errorf("training the source network: %w", err)
	}
	if err := trainBatches(e, MSE, x, ys, 1e-3, steps-first, 128, rng, nil); err != nil {
		return nil, fmt.Errorf("training the source network: %w", err)
	}
	storeParams(g, e)
	s := &SpatialSource{G: g, World: w, Steps: steps, Seconds: time.Since(start).Seconds()}
	l, _ := evalLoss(e, MSE, x, ys)
	s.TrainRMSE = math.Sqrt(l)
	l, _ = evalLoss(e, MSE, rows2tensor(xv), yv)
	s.TestRMSE = math.Sqrt(l)
	return s, nil
}

// spatialTask draws n adaptation points and 1,000 test points of the
// target period. The test points depend only on seed.
func spatialTask(w *SpatialWorld, seed uint64, n int) *RegTask {
	rt := rand.New(rand.NewPCG(seed, 0x7e57))
	xte, yte := sampleField(rt, w.Target, 1000)
	ra := rand.New(rand.NewPCG(seed, 0xada))
	xtr, ytr := sampleField(ra, w.Target, n)
	return &RegTask{Name: fmt.Sprintf("world %d", seed), Xtr: rows2tensor(xtr), Ytr: ytr, Xte: rows2tensor(xte), Yte: yte,
		F: func(x []float64) float64 { return w.Target((x[0]+1)/2, (x[1]+1)/2) }}
}
