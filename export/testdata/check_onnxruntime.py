"""Checks exported models with the ONNX checker and ONNX Runtime.

    mkdir -p /tmp/dump && EXPORT_DUMP=/tmp/dump go test ./export -run 'TestRules|TestShippedRandomDelta|TestMNIST7'
    python export/testdata/check_onnxruntime.py /tmp/dump     # needs onnx and onnxruntime

Each <name>.onnx has a <name>.json beside it with the input x and the
float64 reference f(x) + J(x)·δ from the Go engine; the exported model's
output must match it within 2e-6 of the largest |reference|.
"""
import glob
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

bad = 0
files = sorted(glob.glob(sys.argv[1] + "/*.onnx"))
for f in files:
    name = f[:-5]
    try:
        onnx.checker.check_model(onnx.load(f), full_check=True)
        ref = json.load(open(name + ".json"))
        x = np.array(ref["x"], dtype=np.float32).reshape(ref["shape"])
        want = np.array(ref["want"])
        s = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
        got = s.run(None, {s.get_inputs()[0].name: x})[0].reshape(-1)
        err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
        if not err <= 2e-6:
            raise ValueError("relative error %.3g" % err)
    except Exception as e:  # report every model, then fail
        bad += 1
        print(name, "FAIL", str(e)[:300])
print("checked %d models, %d failed" % (len(files), bad))
sys.exit(1 if bad or not files else 0)
