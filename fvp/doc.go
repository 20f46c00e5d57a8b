// Package fvp builds the linear operators of the linearized network from
// the engine's JVP and VJP sweeps alone, over a data set streamed in
// batches:
//
//	J      u = J·v      (p → nK, one forward-mode sweep per batch)
//	Jᵀ     g = Jᵀ·w     (nK → p, one reverse-mode sweep per batch, summed)
//	JᵀJ    the Gauss-Newton (Fisher) matrix of a Gaussian likelihood
//	JᵀHJ   the Fisher of a softmax likelihood, H_i = diag(p_i) − p_i p_iᵀ
//	JJᵀ    the finite neural tangent kernel, formed per layer as
//	       (A·Aᵀ) ⊙ (G·Gᵀ) for dense layers (Novak et al. 2022)
//
// The kernel factors A and G (one reverse sweep with K cotangents per
// batch) also give J, Jᵀ and the Fisher products without sweeps
// (FactorOp): one n·in·out product per dense layer each way, half the
// multiply-adds of a JVP plus a VJP sweep.
//
// J is the Jacobian of the first graph output with respect to the active
// parameters of the engine, with rows ordered example-major: row i·K + k is
// output k of example i. Vectors in parameter space are flat p-vectors: the
// active parameter tensors, in order, each row-major. Every product takes a
// block of r vectors at once (r rows of a row-major r×p or r×nK slice), and
// pushes them through one sweep. No finite differences are used anywhere.
package fvp
