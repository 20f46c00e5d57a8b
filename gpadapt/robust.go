package gpadapt

import (
	"errors"
	"fmt"
	"math"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"gonum.org/v1/gonum/mat"
)

// Jitter escalation for a Cholesky factorization that fails: ε·mean(diag)
// added to the diagonal, ε from jitterMin up to jitterMax by factors of 10.
const (
	jitterMin = 1e-10
	jitterMax = 1e-4
)

// factorJitter factors the symmetric matrix a. When a is not numerically
// positive definite it retries with escalating jitter on the diagonal,
// records the jitter in rep and warns through o.Logf; when that fails too,
// or a holds a NaN or an infinity, it returns ErrNumerical. what names the
// system; entry, when not nil, describes row i (which data row and output).
func factorJitter(a *mat.SymDense, what string, entry func(i int) string, o *Options, rep *Report) (*mat.Cholesky, error) {
	mean, err := checkSystem(a, what, entry)
	if err != nil {
		return nil, err
	}
	n := a.SymmetricDim()
	var chol mat.Cholesky
	var b *mat.SymDense
	err = withJitter(n, mean, what, o, rep, func(jitter float64) bool {
		if jitter == 0 {
			return chol.Factorize(a)
		}
		if b == nil {
			b = mat.NewSymDense(n, nil)
		}
		b.CopySym(a)
		for i := 0; i < n; i++ {
			b.SetSym(i, i, b.At(i, i)+jitter)
		}
		return chol.Factorize(b)
	})
	if err != nil {
		return nil, err
	}
	return &chol, nil
}

// checkSystem returns the mean diagonal of the symmetric a, or
// ErrNumerical naming the first NaN or infinity in a (see factorJitter).
func checkSystem(a *mat.SymDense, what string, entry func(i int) string) (float64, error) {
	n := a.SymmetricDim()
	raw := a.RawSymmetric()
	mean := 0.0
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			if v := raw.Data[i*raw.Stride+j]; math.IsNaN(v) || math.IsInf(v, 0) {
				where := fmt.Sprintf("row %d, column %d", i+1, j+1)
				if entry != nil {
					where = entry(i) + " and " + entry(j)
				}
				return 0, numerical("%s holds %v at %s", what, v, where)
			}
		}
		mean += raw.Data[i*raw.Stride+i]
	}
	return mean / float64(max(n, 1)), nil
}

// withJitter calls factor(0) and, when that fails, factor(ε·mean) for ε
// from jitterMin up to jitterMax by factors of 10 (mean: the system's mean
// diagonal) until one succeeds, recording the jitter in rep and warning
// through o.Logf; ErrNumerical when none does (see factorJitter).
func withJitter(n int, mean float64, what string, o *Options, rep *Report, factor func(jitter float64) bool) error {
	if factor(0) {
		return nil
	}
	if !(mean > 0) {
		return numerical("%s (%d×%d) is not positive definite (mean diagonal %g)", what, n, n, mean)
	}
	for eps := jitterMin; eps <= jitterMax*1.0001; eps *= 10 {
		jitter := eps * mean
		if factor(jitter) {
			rep.Jitter = max(rep.Jitter, jitter)
			if o.Logf != nil {
				o.Logf("warning: %s (%d×%d) is not numerically positive definite; factored with jitter %.3g (%.0e × its mean diagonal) added to the diagonal", what, n, n, jitter, eps)
			}
			return nil
		}
	}
	return numerical("%s (%d×%d) is not positive definite, even with jitter %.3g (%.0e × its mean diagonal) on the diagonal", what, n, n, jitterMax*mean, jitterMax)
}

// kernelEntry describes row i of an nK×nK kernel: data row i/k+1, output i%k.
func kernelEntry(k int) func(i int) string {
	return func(i int) string {
		if k == 1 {
			return fmt.Sprintf("data row %d", i/k+1)
		}
		return fmt.Sprintf("data row %d (output %d)", i/k+1, i%k)
	}
}

// nonFiniteOutputs reports where the network's outputs f(X) stop being
// finite: the node, parameter or row the forward sweeps blame, or the
// first non-finite output when they blame none.
func nonFiniteOutputs(diagnose func() error, f []float64, k int) error {
	for i, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			err := diagnose()
			var nf *autodiff.NonFiniteError
			if errors.As(err, &nf) && nf.Kind != autodiff.Computed && nf.Kind != autodiff.Input {
				return err // the model's weights: a bad model, not a numerical failure
			}
			if err != nil {
				return fmt.Errorf("%w: the network's output %d of row %d is %g: %w", ErrNumerical, i%k, i/k+1, v, err)
			}
			return numerical("the network's output %d of row %d is %g", i%k, i/k+1, v)
		}
	}
	return nil
}

// unconverged is the error, or the warning, of an iterative solver that
// hit its iteration cap.
func unconverged(o *Options, rep *Report, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if !o.AcceptUnconverged {
		return numerical("%s; --accept-unconverged (Options.AcceptUnconverged) keeps its last iterate", msg)
	}
	rep.Unconverged = true
	if o.Logf != nil {
		o.Logf("warning: %s; keeping the last iterate (accepted)", msg)
	}
	return nil
}
