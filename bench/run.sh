#!/usr/bin/env bash
# make bench: onnx-adapt against PyTorch and ONNX Runtime, side by side in one run, on one
# thread (and two where cheap), and BENCHMARKS.md rewritten from the results.
#
#   bash bench/run.sh            full run (about 20 minutes)
#   QUICK=1 bash bench/run.sh    a subset (about 3-4 minutes)
#
# Results go to bench/results/ (JSON per measurement, /usr/bin/time -v logs, profiles);
# bench/report.py turns them into BENCHMARKS.md at the repository root.
set -uo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
VENV=bench/.venv
PY=$VENV/bin/python
RES=bench/results
MODELS=bench/models
GO=${GO:-go}

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# The Python side: the pinned requirements in bench/.venv.
if ! "$PY" -c "import torch, onnx, onnxruntime" 2>/dev/null; then
	log "creating $VENV (the torch wheel is large: minutes)"
	python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r bench/requirements.txt || {
		log "could not install bench/requirements.txt"
		exit 1
	}
fi

rm -rf "$RES"
mkdir -p "$RES"
echo "$QUICK" >"$RES/quick"
# The environment presets OpenBLAS variables for other tools; neither side uses OpenBLAS here,
# but keep the comparison free of them.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

log "building the Go bench"
"$GO" build -o "$RES/gobench" ./bench/gobench || exit 1
GB=$RES/gobench

if [ "$QUICK" = 1 ]; then
	NS="1000,2000"
	"$PY" bench/make_models.py --quick --n "$NS" || exit 1
else
	NS="1000,2000,10000,100000"
	"$PY" bench/make_models.py --n "$NS" ${P1E7:+--p1e7} || exit 1
fi

{
	lscpu
	echo "---"
	nproc
	uname -srm
	"$GO" version
	echo "---"
	uptime
} >"$RES/machine.txt" 2>&1
"$PY" bench/torch_bench.py versions >"$RES/versions.json" || log "versions failed"

# step NAME TIMEOUT CMD...: run one measurement, stdout to NAME.json, /usr/bin/time -v to
# NAME.time, stderr to NAME.err; a failure or timeout is recorded, not fatal.
step() {
	local name=$1 limit=$2
	shift 2
	log "$name"
	timeout --signal=KILL "$limit" /usr/bin/time -v -o "$RES/$name.time" "$@" >"$RES/$name.json" 2>"$RES/$name.err"
	local rc=$?
	echo "$rc" >"$RES/$name.rc"
	[ "$rc" = 0 ] || log "$name: exit $rc (see $RES/$name.err)"
}

# Rows of the empirical NTK timing (PyTorch's vmap(jacrev) takes seconds at 64 rows).
NTK=64
[ "$QUICK" = 1 ] && NTK=16

# Sweeps and products: forward, JVP, VJP, Fisher product, block Fisher product, NTK.
OPS_CASES="mlp784:$MODELS/mlp784.onnx cnn:models/digits-cnn/model.onnx elu803k:$MODELS/elu803k.onnx"
for c in $OPS_CASES; do
	name=${c%%:*} model=${c#*:}
	[ -f "$model" ] || { log "no $model"; continue; }
	threads="1"
	[ "$QUICK" = 1 ] || [ "$name" != mlp784 ] || threads="1 2"
	for t in $threads; do
		step "go-ops-$name-t$t" 300 "$GB" bench "$model" --threads "$t" --vectors 16 --ntk-batch "$NTK" --json
		step "torch-ops-$name-t$t" 300 "$PY" bench/torch_bench.py ops "$model" --threads "$t" --vectors 16 \
			--ntk-batch "$NTK"
	done
done

# Where the time goes: CPU profiles of the product sweeps of mlp784 and the adaptation below.
step "go-prof-ops-mlp784" 300 "$GB" bench "$MODELS/mlp784.onnx" --repeat 10 --ntk-batch 0 --json \
	--cpuprofile "$RES/ops-mlp784.prof"
"$GO" tool pprof -top -nodecount=25 "$GB" "$RES/ops-mlp784.prof" >"$RES/profile-ops-mlp784.txt" 2>/dev/null

# End-to-end adaptation of the 803k-parameter MLP: gpadapt.Fit (function space, fixed σ² and s)
# against PyTorch's parameter-space CG to relative residual 1e-5, capped in time.
if [ "$QUICK" = 1 ]; then
	ADAPT="2000:15:300"
	SWEEP_CAP=5
	GO_LIMIT=300
else
	# N:CG time cap:Go time limit. N = 10,000 in function space is dense (10⁴×10⁴, several
	# copies) and its kernel costs N²; N = 100,000 exceeds the dense limit of gpadapt, which
	# says so after the forward sweep of the data.
	ADAPT="1000:30:300 2000:120:300 10000:30:240"
	SWEEP_CAP=20
	GO_LIMIT=300
fi
# The shipped models, adapted by the CLI as a user would (issue 5): fit, test prediction, the
# last-layer baseline and the metrics, one thread, three repeats each.
log "building the CLI"
"$GO" build -o "$RES/onnx-adapt" ./cmd/onnx-adapt || exit 1
for m in sine-mlp drift-lnmlp digits-cnn; do
	for r in 1 2 3; do
		step "cli-$m-r$r" 300 "$RES/onnx-adapt" "models/$m/model.onnx" --target "models/$m/target.csv" \
			--test "models/$m/test.csv" --threads 1 --json
	done
done

# The other forms (issue 5), name:N:method:solver:iteration cap:time limit. The parameter form
# of the 803k MLP needs thousands of CG iterations to 1e-5 (it converges like PyTorch's: residual
# 1e-2 after 60), so it runs to a cap and reports its residual and time per iteration; N = 100,000
# is beyond the dense limit (an 80 GB kernel) and runs matrix-free, also capped.
FORMS="param:1000:parameter:auto:200:600 param:10000:parameter:auto:10:600 free:100000:function:cg:20:600"
[ "$QUICK" = 1 ] && FORMS="param:1000:parameter:auto:20:300"
for a in $ADAPT; do
	n=${a%%:*} rest=${a#*:}
	cap=${rest%%:*} limit=${rest#*:}
	data=$MODELS/data-n$n.f32
	prof=()
	[ "$n" != 2000 ] || prof=(--cpuprofile "$RES/adapt-elu803k-n2000.prof")
	step "go-adapt-elu803k-n$n" "$limit" "$GB" adapt "$MODELS/elu803k.onnx" --n "$n" --data "$data" \
		--method function --noise 0.01 --prior-scale 1 --json "${prof[@]}"
	if [ "$cap" != 0 ]; then
		step "torch-cg-elu803k-n$n" $((cap + 120)) "$PY" bench/torch_bench.py cg "$MODELS/elu803k.onnx" \
			--data "$data" --n "$n" --noise 0.01 --prior-scale 1 --tol 1e-5 --max-seconds "$cap"
	fi
done
for f in $FORMS; do
	IFS=: read -r tag n method solver cap limit <<<"$f"
	step "go-adapt-elu803k-$tag-n$n" "$limit" "$GB" adapt "$MODELS/elu803k.onnx" --n "$n" --data "$MODELS/data-n$n.f32" \
		--method "$method" --solver "$solver" --tol 1e-5 --max-iter "$cap" --noise 0.01 --prior-scale 1 --json
done
if [ -f "$RES/adapt-elu803k-n2000.prof" ]; then
	"$GO" tool pprof -top -nodecount=25 "$GB" "$RES/adapt-elu803k-n2000.prof" >"$RES/profile-adapt-elu803k-n2000.txt" 2>/dev/null
fi

# The p sweep at N = 1000.
for model in "$MODELS"/sweep-p*.onnx; do
	name=$(basename "$model" .onnx)
	step "go-adapt-$name-n1000" "$GO_LIMIT" "$GB" adapt "$model" --n 1000 --data "$MODELS/data-n1000.f32" \
		--method function --noise 0.01 --prior-scale 1 --json
	step "torch-cg-$name-n1000" $((SWEEP_CAP + 120)) "$PY" bench/torch_bench.py cg "$model" \
		--data "$MODELS/data-n1000.f32" --n 1000 --noise 0.01 --prior-scale 1 --tol 1e-5 --max-seconds "$SWEEP_CAP"
done

log "writing BENCHMARKS.md"
"$PY" bench/report.py "$RES" "$MODELS/cases.json" >BENCHMARKS.md || exit 1
log "done"
