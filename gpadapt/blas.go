package gpadapt

import "github.com/onnx-adapt/onnx-adapt/simd"

// Importing gpadapt makes simd.BLAS64 gonum's float64 BLAS for the whole
// process (simd.UseForGonum): the dense Cholesky of the kernel (lapack's
// blocked Dpotrf) spends nearly all of its n³/3 multiply-adds in Dgemm and
// Dsyrk, which run there on the AVX-512/AVX2 float64 micro-kernels — a
// 4,000×4,000 Cholesky in 2.1 s instead of 6.6 s on gonum's pure-Go
// kernels. Results agree with gonum's to rounding.
func init() { simd.UseForGonum() }
