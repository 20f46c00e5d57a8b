package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SineNoise is the standard deviation of the observation noise of the
// sinusoid tasks.
const SineNoise = 0.05

// sineTasks draws count tasks y = A·sin(w·x + b) + ε, A ~ U(0.1, 5),
// b ~ U(0, 2π), w ~ U(0.5, 2), ε ~ N(0, SineNoise²), with n adaptation
// points and 100 test points, x ~ U(lo, hi) (the paper's family).
// Tasks depend only on seed and their index, not on n.
func sineTasks(seed uint64, count, n int, lo, hi float64) []*RegTask {
	var tasks []*RegTask
	for t := range count {
		rng := rand.New(rand.NewPCG(seed, uint64(t)))
		a := 0.1 + 4.9*rng.Float64()
		b := 2 * math.Pi * rng.Float64()
		w := 0.5 + 1.5*rng.Float64()
		f := func(x []float64) float64 { return a * math.Sin(w*x[0]+b) }
		draw := func(m int) ([][]float64, [][]float64) {
			xs, ys := make([][]float64, m), make([][]float64, m)
			for i := range m {
				x := lo + (hi-lo)*rng.Float64()
				xs[i] = []float64{x}
				ys[i] = []float64{f(xs[i]) + SineNoise*rng.NormFloat64()}
			}
			return xs, ys
		}
		// Test points first, so that they are the same whatever n is; the
		// adaptation points are the first n of a fixed pool of 40.
		xte, yte := draw(100)
		xpool, ypool := draw(40)
		tasks = append(tasks, &RegTask{
			Name: fmt.Sprintf("A=%.2f w=%.2f b=%.2f", a, w, b),
			Xtr:  rows2tensor(xpool[:n]), Ytr: ypool[:n],
			Xte: rows2tensor(xte), Yte: yte, F: f,
		})
	}
	return tasks
}
