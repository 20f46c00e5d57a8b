package main

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/autodiff"
	"github.com/onnx-adapt/onnx-adapt/baseline"
	"github.com/onnx-adapt/onnx-adapt/dataset"
	"github.com/onnx-adapt/onnx-adapt/gpadapt"
	"github.com/onnx-adapt/onnx-adapt/metrics"
)

// lastLayerScores fits the last-layer retraining baseline on the training
// rows and scores it on the test rows: the network frozen up to its last
// dense layer, whose inputs φ(x) are the features, and that layer refitted
// around its trained weights (ridge regression with λ by leave-one-out for
// regression, L2-regularized logistic regression with λ by validation for
// classification; see package baseline). It returns the scores
// (metrics.RegressionScores or metrics.ClassificationScores) and a note
// saying how it was fitted, or nil scores and a note saying why there are
// none: a model without a dense last layer is not an error.
func lastLayerScores(g *autodiff.Graph, task gpadapt.Task, train, test *dataset.Table, seed uint64) (any, string) {
	na := func(err error) (any, string) {
		return nil, fmt.Sprintf("last layer: n/a: %v", err)
	}
	if _, err := baseline.LastLinear(g); err != nil {
		return na(fmt.Errorf("the model has no dense last layer to retrain (%w)", err))
	}
	phi, f, err := baseline.Features(g, train.X)
	if err != nil {
		return na(err)
	}
	phiT, fT, err := baseline.Features(g, test.X)
	if err != nil {
		return na(err)
	}
	if task == gpadapt.Classification {
		k := len(f[0])
		probs, lam, err := baseline.Logistic(phi, f, labels(train.Y), k, phiT, fT, seed)
		if err != nil {
			return na(err)
		}
		s, err := metrics.Classification(probs, labels(test.Y))
		if err != nil {
			return na(err)
		}
		return s, fmt.Sprintf("last layer: logistic regression on the last layer's inputs, L2 by validation (λ = %.3g, shrunk towards the trained layer)", lam)
	}
	mean, noise, lam, err := baseline.Ridge(phi, f, train.Y, phiT, fT)
	if err != nil {
		return na(err)
	}
	v := make([][]float64, len(mean))
	for i := range v {
		v[i] = make([]float64, len(mean[i]))
		for j := range v[i] {
			v[i][j] = noise
		}
	}
	s, err := metrics.Regression(mean, v, test.Y)
	if err != nil {
		return na(err)
	}
	return s, fmt.Sprintf("last layer: ridge on the last layer's inputs, λ by leave-one-out (λ = %.3g); its NLL and coverage use the leave-one-out mean squared error %.6g as a constant predictive variance", lam, noise)
}
