package fvp

import (
	"errors"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
)

// NonFinite diagnoses the forward sweeps: nil when every output is finite,
// else the *autodiff.NonFiniteError of the first batch holding a NaN or an
// infinity (the parameter, input row or node where it arose), its row
// counted over the whole data set from 0.
func (o *Op[T]) NonFinite() error {
	for b, t := range o.tapes {
		if err := t.NonFinite(); err != nil {
			var nf *autodiff.NonFiniteError
			if errors.As(err, &nf) && nf.Row >= 0 {
				nf.Row += b * o.batch
			}
			return err
		}
	}
	return nil
}
