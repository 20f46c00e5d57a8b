// Package experiments reproduces the experiments of Maddox et al., "Fast
// Adaptation with Linearized Neural Networks" (AISTATS 2021) with
// onnx-adapt, and compares the finite-NTK GP (gpadapt) with the base
// network, fine-tuning, last-layer retraining, an RBF-kernel GP and, when
// their Python environment is present, the peers laplace-torch and
// GPyTorch.
//
// Every experiment is seeded and deterministic up to floating-point
// summation order. The entry point is experiments/cmd/run, which writes
// EXPERIMENTS.md and the figures in experiments/figures:
//
//	go run ./experiments/cmd/run -out EXPERIMENTS.md          # full, < 20 min on 2 cores
//	go run ./experiments/cmd/run -quick -out /tmp/quick.md    # a 2-minute subset
//	go run ./experiments/cmd/run -quick -only digits -out /tmp/d.md  # one section
package experiments
