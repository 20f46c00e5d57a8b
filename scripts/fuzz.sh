#!/usr/bin/env bash
# Runs each fuzz target for a while: scripts/fuzz.sh [DURATION] (default 2m
# each; `make fuzz-short` runs 10s each). New failing inputs are kept under
# each package's testdata/fuzz/ by the go tool; the script stops at the
# first target that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-2m}
go=${GO:-go}
targets=(
	"./onnximport FuzzDecode"
	"./dataset FuzzRead"
	"./gpadapt FuzzLoad"
	"./simd FuzzSgemm"
	"./simd FuzzMaps"
)
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== $name ($pkg) for $time"
	# -run '^$' skips the unit tests; the seed corpus runs as part of fuzzing.
	"$go" test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 2s
done
echo "fuzz: every target passed ($time each)"
