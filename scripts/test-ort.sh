#!/usr/bin/env bash
# Runs the exported adapted means of the shipped models in ONNX Runtime
# (export/ort_test.go, build tag ort) against the predictor's own means.
#
# ONNX Runtime's shared library comes from the npm package onnxruntime-node
# (fetched once with `npm pack` into .cache/ort), unless ONNXRUNTIME_LIB
# already names one. Its version must speak the C API version of the Go
# binding github.com/yalue/onnxruntime_go in go.mod: v1.27.0 is built
# against ORT_API_VERSION 24, that is ONNX Runtime 1.24.
#
#   scripts/test-ort.sh [go test flags...]      e.g. scripts/test-ort.sh -v
set -euo pipefail

ORT_VERSION=${ORT_VERSION:-1.24.3}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ORT_CACHE:-$root/.cache/ort}

if [ -z "${ONNXRUNTIME_LIB:-}" ]; then
	case "$(uname -s)/$(uname -m)" in
	Linux/x86_64) plat=linux/x64 ;;
	Linux/aarch64) plat=linux/arm64 ;;
	*) echo "test-ort.sh: no onnxruntime-node library for $(uname -s)/$(uname -m); set ONNXRUNTIME_LIB" >&2; exit 1 ;;
	esac
	lib=$cache/$ORT_VERSION/$plat/libonnxruntime.so.1
	if [ ! -f "$lib" ]; then
		command -v npm >/dev/null || { echo "test-ort.sh: needs npm to fetch onnxruntime-node@$ORT_VERSION (or set ONNXRUNTIME_LIB)" >&2; exit 1; }
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		echo "test-ort.sh: fetching onnxruntime-node@$ORT_VERSION" >&2
		(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
		tar -xzf "$tmp"/onnxruntime-node-"$ORT_VERSION".tgz -C "$tmp" --wildcards "package/bin/napi-v*/$plat/libonnxruntime.so*"
		src=$(ls "$tmp"/package/bin/napi-v*/"$plat"/libonnxruntime.so* | head -n 1)
		mkdir -p "$(dirname "$lib")"
		cp "$src" "$lib.part"
		mv "$lib.part" "$lib"
	fi
	export ONNXRUNTIME_LIB=$lib
fi

cd "$root"
echo "test-ort.sh: ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB" >&2
exec go test -count=1 -tags ort -run ORT "$@" ./export/
