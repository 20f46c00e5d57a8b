module github.com/onnx-adapt/onnx-adapt/bench/gemm

go 1.26.8

require github.com/onnx-adapt/onnx-adapt v0.0.0

require (
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)

replace github.com/onnx-adapt/onnx-adapt => ../..
