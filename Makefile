# onnx-adapt: `make test` is the README's test command and what CI runs.
GO ?= go
PKGS := ./...

.PHONY: test vet fmt unit purego race build fuzz fuzz-short bench bench-gemm experiments test-ort

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
	$(GO) test -count=1 -race -short ./simd/... ./gpadapt/... ./fvp/... ./cmd/...

# Each fuzz target for two minutes (FUZZTIME=30s make fuzz for less).
fuzz:
	bash scripts/fuzz.sh $${FUZZTIME:-2m}

fuzz-short:
	bash scripts/fuzz.sh 10s

# Go against PyTorch and ONNX Runtime in one run; rewrites BENCHMARKS.md.
# Needs Python 3 and PyPI (bench/requirements.txt, in bench/.venv).
bench:
	bash bench/run.sh

# SGEMM against OpenBLAS (Debian's libopenblas-dev) through cgo. The
# environment's OPENBLAS_CORETYPE=Haswell is unset for the AVX-512 run only.
bench-gemm:
	cd bench/gemm && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE go run . -impl avx512 -threads 1,2 && OPENBLAS_CORETYPE=Haswell go run . -impl avx2 -threads 1,2

# The paper's experiments, baselines and peers; rewrites EXPERIMENTS.md.
experiments:
	$(GO) run ./experiments/cmd/run -out EXPERIMENTS.md

# The exported ONNX predictors in ONNX Runtime (fetches onnxruntime-node from npm).
test-ort:
	bash scripts/test-ort.sh
