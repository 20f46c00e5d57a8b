// Package export writes an adapted predictor as a standalone ONNX model.
//
// Mean(p) returns ModelProto bytes (IR version 8, the model's opset but at
// least 13, one input per input of the original model with a symbolic batch
// dimension "N", one output "mean" shaped like the original output) that
// compute the adapted predictive mean
//
//	mean(x) = f(x) + J(x)·δ
//
// where f is the original network and δ the posterior mean shift of the
// adapted parameters. The Jacobian-vector product is written out as ONNX
// ops, forward mode as graph rewrites: for each original node, the node
// itself and a tangent subgraph computing its outputs' tangents from its
// inputs' tangents. The tangent of an adapted parameter θ is δ's slice for
// it, an initializer named "<θ>__delta"; tangents of constants and of
// parameters that were not adapted are zero and skipped, as in the engine;
// the output is Add(f, df). Every initializer and folded constant of the
// original graph is written back (integer ones as INT64).
//
// # Rules
//
// Every op of the autodiff registry that has a differentiable input has a
// rule (Rules lists them), written in the registry's own conventions
// (Relu'(0) = 0, first maximum of a pooling window, and so on):
//
//   - linear ops apply the same op to the tangent with the same other
//     inputs: Identity, Dropout (the identity), Flatten, Reshape, Squeeze,
//     Unsqueeze, Transpose, Split, Slice, Expand, Gather, Cast (to a float
//     type), ReduceSum, ReduceMean, AveragePool, GlobalAveragePool, Pad
//     (with a zero pad value), Concat (zeros for inputs without a tangent);
//   - products: Gemm dY = Gemm(dA, B, dC) + Gemm(A, dB) with the node's
//     alpha, beta, transA, transB; MatMul dA·B + A·dB; Conv and
//     ConvTranspose conv(dX, W, dB) + conv(X, dW); Mul, Div, Add, Sub
//     (broadcast to the output's shape), Pow with an exponent that carries
//     no tangent;
//   - unary ops: dY = f'(x)·dX with f' written from x and y (Tanh 1 − y²,
//     Sigmoid y(1 − y), Erf (2/√π)e^(−x²), Exp, Log, Sqrt, Neg, Abs, Relu,
//     LeakyRelu, Elu, Selu, Softplus, HardSigmoid, Gelu, Clip);
//   - Softmax, LogSoftmax (axis semantics of the model's opset),
//     BatchNormalization in inference form (as two BatchNormalization
//     nodes), LayerNormalization and InstanceNormalization (the JVP
//     formula with ReduceMean);
//   - MaxPool and GlobalMaxPool route the tangent through each window's
//     first maximum (see below).
//
// An op without a rule, a Pow whose exponent depends on the adapted
// parameters, or LayerNormalization's Mean/InvStdDev outputs in use make
// Mean fail with an error naming the node ("cannot export: ...").
//
// # Only ops the importer reads
//
// The exported graph uses only ops of the autodiff registry, so that
// onnximport reads it back (the tests run it with this project's engine)
// and it can be inspected or adapted again. The registry has no comparison
// ops, Where, GatherElements or MaxPool Indices output, so:
//
//   - the indicator [x > 0] is step(x) = Clip(Clip(x·2¹²⁷, 0, 1)·2¹²⁷, 0, 1),
//     exact for every float32 (subnormals included, unless a runtime flushes
//     denormals to zero, where it is 0 for them);
//   - MaxPool extracts each window's taps with a Conv of one-hot kernels,
//     marks the taps equal to the maximum, keeps the first of them with a
//     MaxPool over the taps of e·(K − t), and sums the selected tap
//     tangents. It costs K (the window size) times the pooled tensor.
//
// Models older than opset 13 are written at opset 13: Squeeze, Unsqueeze,
// ReduceSum and Split get their axes or split as inputs, Clip, Pad, Slice
// and old Reshape their attributes as inputs, Softmax and LogSoftmax their
// coercion to 2-D as Flatten and Reshape nodes; Dropout becomes Identity.
//
// # Limits
//
// Only the first graph output is exported (the predictor adapts that one).
// Boolean constants are written as INT64, which runtimes reject where an
// op wants a boolean. Mean refuses predictors whose mean is not f + J·δ:
// those fitted with independent outputs or a zero prior mean.
//
// The standard deviation is not exported: WithStd always returns an error
// wrapping ErrStdUnsupported. The latent variance needs the posterior
// covariance, kept by the predictor either as a parameter-space factor F
// (var = ‖F·J(x)ᵀ‖², q JVPs per point: the tangent subgraph with a leading
// direction axis) or as kernel factors of the training set; the predictor
// exposes neither.
package export
