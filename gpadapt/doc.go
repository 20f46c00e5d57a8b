// Package gpadapt adapts a pretrained network to a new domain by exact
// Gaussian-process inference in its linearization (the finite neural
// tangent kernel; Maddox et al., AISTATS 2021).
//
// With parameters θ̂, Jacobian J = ∂f/∂θ over the n target points (nK rows),
// residual r = vec(Y − f(X)), noise variance σ² and prior θ − θ̂ ~ N(0, s·I):
//
//	function space:  A = s·J·Jᵀ + σ²·I,   α = A⁻¹·r,   δ = s·Jᵀ·α
//	parameter space: B = Jᵀ·J/σ² + I/s,   δ = B⁻¹·Jᵀ·r/σ²
//	mean(x*) = f(x*) + J*·δ
//	var(x*)  = s·‖J*‖² − s²·J*·Jᵀ·A⁻¹·J·J*ᵀ = J*·B⁻¹·J*ᵀ
//
// The two forms give the same numbers; Fit picks the cheaper one. The
// predictor keeps δ and a factor F of the posterior covariance so that a
// prediction costs a forward sweep, one JVP with δ and one block JVP with
// the rows of F.
//
// Classification uses the same linearized model with a softmax likelihood:
// a Laplace approximation found by Newton's method, with dense Cholesky in
// function or parameter space while those systems are small, else
// matrix-free (Newton-CG: each step solved by conjugate gradients on
// softmax Fisher products, preconditioned by a randomized Nyström sketch
// of the Fisher, newtoncg.go and nystrom.go). The prior scale s is chosen
// by the Laplace evidence on a grid of decades and half decades, each fit
// starting from the mode at the nearest scale. Class probabilities come from the
// Gaussian over the K logits with its full K×K covariance: by Monte Carlo
// (default) or the pairwise probit approximation (Options.Predictive).
//
// Importing the package makes simd.BLAS64 gonum's float64 BLAS (see
// blas.go): dense factorizations run on the AVX-512/AVX2 float64 kernels.
package gpadapt
