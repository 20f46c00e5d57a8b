# onnx-adapt: `make test` is the README's test command and what CI runs.
GO ?= go
PKGS := ./...

.PHONY: test vet fmt unit purego race build fuzz bench bench-gemm experiments

test: vet fmt unit purego race

build:
	$(GO) build ./cmd/onnx-adapt

vet:
	$(GO) vet $(PKGS)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^simd/_asm/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 $(PKGS)

# The pure-Go twins of every kernel, without assembly.
purego:
	$(GO) test -count=1 -tags purego ./simd/... ./autodiff/...

# The race detector over the concurrent paths.
race:
	$(GO) test -count=1 -race -short ./simd/... ./gpadapt/...
