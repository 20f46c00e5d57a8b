// Package baseline holds the last-layer retraining baselines that the
// adapted predictor is compared with: the network is frozen up to its last
// dense layer, whose inputs φ(x) (the penultimate features) are read off a
// forward pass, and only that layer is refitted on the target data.
//
//   - Regression: Ridge fits the residual y − f(x) with [φ(x), 1]·Δ by
//     ridge regression, λ chosen by exact leave-one-out error, and predicts
//     f(x*) + [φ(x*), 1]·Δ with the leave-one-out mean squared error as a
//     constant predictive variance.
//   - Classification: Logistic fits logits = offset(x) + [φ(x), 1]·W by
//     L2-regularized multinomial logistic regression, the L2 weight chosen
//     on a random validation quarter.
//
// With the network's own outputs as the offset both shrink towards the
// trained layer. Features finds the last dense layer (LastLinear) and runs
// the network.
package baseline
