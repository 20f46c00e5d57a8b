// Package autodiff holds the project's op graph, the registry of op rules,
// and the engine that evaluates a graph forward and differentiates it.
//
// Every op registers, in one place and keyed by its ONNX op type, three
// rules side by side:
//
//   - Forward:  y = f(x)
//   - JVP:      ẏ = ∂f(x)·ẋ      (forward mode; linear in the tangents ẋ)
//   - VJP:      x̄ = ∂f(x)ᵀ·ȳ     (reverse mode; linear in the cotangents ȳ)
//
// Tangents and cotangents come in blocks: a block of r directions for a
// value of shape S is one tensor of shape [r, S...]. Rules fold the leading
// axis into their matrix products, so r directions cost one sweep of
// r-times-wider products rather than r sweeps. A nil tangent or cotangent is
// a symbolic zero: rules skip it, and return nil for outputs that only
// depend on zeros.
//
// Every value is held as a float tensor of the engine's precision T
// (float32 for production, float64 for checks). Integer-typed ONNX values
// (shapes, indices, axes) are held as their float values; they are exact up
// to 2²⁴ in float32, far beyond any shape this tool accepts.
package autodiff
