package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// Loss is the training objective of fine-tuning.
type Loss int

const (
	MSE          Loss = iota // mean squared error over all outputs
	CrossEntropy             // mean softmax cross-entropy; targets are labels
)

// adam holds Adam's moment estimates for the active parameters of an engine.
type adam struct {
	lr, b1, b2, eps float64
	t               int
	m, v            [][]float64
}

func newAdam(e *autodiff.Engine[float32], lr float64) *adam {
	a := &adam{lr: lr, b1: 0.9, b2: 0.999, eps: 1e-8}
	for _, id := range e.Active() {
		n := e.Param(id).Len()
		a.m = append(a.m, make([]float64, n))
		a.v = append(a.v, make([]float64, n))
	}
	return a
}

// step updates the engine's parameters in place from their gradients.
func (a *adam) step(e *autodiff.Engine[float32], grads []*autodiff.Tensor[float32]) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for j, id := range e.Active() {
		p := e.Param(id).Data
		m, v := a.m[j], a.v[j]
		for i, g32 := range grads[j].Data {
			g := float64(g32)
			m[i] = a.b1*m[i] + (1-a.b1)*g
			v[i] = a.b2*v[i] + (1-a.b2)*g*g
			p[i] -= float32(a.lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + a.eps))
		}
	}
}

// lossGrad returns the loss of the outputs out ([n, K]) against y and the
// cotangent block [1, n, K] of its gradient.
func lossGrad(loss Loss, out *autodiff.Tensor[float32], y [][]float64) (float64, *autodiff.Tensor[float32]) {
	n := out.Shape[0]
	k := out.Len() / n
	cot := autodiff.New[float32](autodiff.BlockShape(1, out.Shape)...)
	l := 0.0
	switch loss {
	case MSE:
		for i := range n {
			for j := range k {
				d := float64(out.Data[i*k+j]) - y[i][j]
				l += d * d
				cot.Data[i*k+j] = float32(2 * d / float64(n*k))
			}
		}
		return l / float64(n*k), cot
	default:
		for i := range n {
			row := out.Data[i*k : (i+1)*k]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			lab := int(y[i][0])
			l += mx + math.Log(s) - float64(row[lab])
			for j, v := range row {
				p := math.Exp(float64(v)-mx) / s
				if j == lab {
					p--
				}
				cot.Data[i*k+j] = float32(p / float64(n))
			}
		}
		return l / float64(n), cot
	}
}

// evalLoss is the loss of the engine's predictions on (x, y).
func evalLoss(e *autodiff.Engine[float32], loss Loss, x *autodiff.Tensor[float32], y [][]float64) (float64, error) {
	t, err := e.Forward(x)
	if err != nil {
		return 0, err
	}
	l, _ := lossGrad(loss, t.Outputs()[0], y)
	return l, nil
}

// train runs full-batch Adam for steps steps on (x, y), calling check
// (when not nil) after each step.
func train(e *autodiff.Engine[float32], loss Loss, x *autodiff.Tensor[float32], y [][]float64, lr float64, steps int, check func(step int) error) error {
	return trainBatches(e, loss, x, y, lr, steps, 0, nil, check)
}

// trainBatches is train with mini-batches of batch rows drawn at random
// by rng (batch 0: full batch).
func trainBatches(e *autodiff.Engine[float32], loss Loss, x *autodiff.Tensor[float32], y [][]float64, lr float64, steps, batch int, rng *rand.Rand, check func(step int) error) error {
	opt := newAdam(e, lr)
	n := x.Shape[0]
	for s := 1; s <= steps; s++ {
		xb, yb := x, y
		if batch > 0 && batch < n {
			idx := make([]int, batch)
			for i := range idx {
				idx[i] = rng.IntN(n)
			}
			xb, yb = subset(x, y, idx)
		}
		t, err := e.Forward(xb)
		if err != nil {
			return err
		}
		l, cot := lossGrad(loss, t.Outputs()[0], yb)
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("fine-tuning diverged at step %d", s)
		}
		grads, _, err := e.VJP(t, 1, []*autodiff.Tensor[float32]{cot})
		if err != nil {
			return err
		}
		opt.step(e, grads)
		if check != nil {
			if err := check(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// FineTuneGrid is the grid of step counts and learning rates that
// fine-tuning chooses from on a validation split.
type FineTuneGrid struct {
	Steps []int
	LRs   []float64
}

// DefaultGrid: 10 to 1000 steps, learning rates 1e-3 and 1e-2.
var DefaultGrid = FineTuneGrid{Steps: []int{10, 20, 50, 100, 200, 500, 1000}, LRs: []float64{1e-3, 1e-2}}

// FineTuned is the result of fine-tuning.
type FineTuned struct {
	E       *autodiff.Engine[float32]
	Steps   int
	LR      float64
	ValLoss float64 // the validation loss at the chosen setting (MSE: the noise variance estimate)
}

// fineTune trains all weights of g on (x, y) with Adam: the number of
// steps and the learning rate are chosen on a random validation quarter
// of the points, then the network is retrained from the pretrained
// weights on all points with the chosen setting.
func fineTune(g *autodiff.Graph, loss Loss, x *autodiff.Tensor[float32], y [][]float64, grid FineTuneGrid, seed uint64) (*FineTuned, error) {
	rng := rand.New(rand.NewPCG(seed, 0xf1e))
	n := x.Shape[0]
	tr, va := baseline.ValidationSplit(rng, n)
	xt, yt := subset(x, y, tr)
	xv, yv := subset(x, y, va)
	best := &FineTuned{ValLoss: math.Inf(1)}
	maxSteps := grid.Steps[len(grid.Steps)-1]
	for _, lr := range grid.LRs {
		e, err := autodiff.NewEngine[float32](g)
		if err != nil {
			return nil, err
		}
		gi := 0
		err = train(e, loss, xt, yt, lr, maxSteps, func(s int) error {
			if gi < len(grid.Steps) && s == grid.Steps[gi] {
				gi++
				l, err := evalLoss(e, loss, xv, yv)
				if err != nil {
					return err
				}
				if l < best.ValLoss {
					best.ValLoss, best.Steps, best.LR = l, s, lr
				}
			}
			return nil
		})
		if err != nil {
			// A diverged run is skipped; the others may still be fine.
			continue
		}
	}
	if best.Steps == 0 {
		return nil, fmt.Errorf("fine-tuning diverged at every learning rate")
	}
	e, err := autodiff.NewEngine[float32](g)
	if err != nil {
		return nil, err
	}
	if err := train(e, loss, x, y, best.LR, best.Steps, nil); err != nil {
		return nil, err
	}
	best.E = e
	return best, nil
}

// softmaxRows applies the softmax to logits rows.
func softmaxRows(logits [][]float64) [][]float64 { return metrics.Softmax(logits) }
