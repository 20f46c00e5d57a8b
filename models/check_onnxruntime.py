#!/usr/bin/env python3
"""Optional cross-check (not needed to build the models): run every model.onnx with ONNX Runtime
on the inputs stored in its reference.json and compare with the float64 torch outputs.

Needs only numpy and onnxruntime (e.g. a virtualenv: pip install numpy onnxruntime).
    python models/check_onnxruntime.py
"""
import json
import os

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
EXTERNAL_DIR = os.environ.get("ONNX_ADAPT_EXTERNAL_MODELS", "/work/shared/models")


def run(model_path, x):
    s = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.astype(np.float32)})[0]


def check(model_path, ref_path):
    ref = json.load(open(ref_path))
    x = np.array(ref["inputs"])
    want = np.array(ref["outputs"])
    got = run(model_path, x)
    err = np.max(np.abs(got - want)) / max(1.0, np.max(np.abs(want)))
    print("%-40s ort vs torch float64: max rel err %.2e" % (os.path.relpath(ref_path, HERE), err))
    assert err < 1e-5, err
    return ref


def main():
    print("onnxruntime", ort.__version__)
    for name in ["sine-mlp", "digits-cnn", "drift-lnmlp"]:
        d = os.path.join(HERE, name)
        check(os.path.join(d, "model.onnx"), os.path.join(d, "reference.json"))
        # Whole test set, to exercise the dynamic batch axis.
        hdr = open(os.path.join(d, "test.csv")).readline().strip().split(",")
        data = np.loadtxt(os.path.join(d, "test.csv"), delimiter=",", skiprows=1)
        yc = [j for j, h in enumerate(hdr) if h[0] == "y"]
        xc = [j for j, h in enumerate(hdr) if h[0] == "x"]
        X, Y = data[:, xc], data[:, yc]
        if name == "digits-cnn":
            X = X.reshape(-1, 1, 8, 8)
            acc = np.mean(run(os.path.join(d, "model.onnx"), X).argmax(1) == Y[:, 0])
            print("   test.csv accuracy (base): %.4f" % acc)
        else:
            out = run(os.path.join(d, "model.onnx"), X)
            print("   test.csv RMSE (base): %.4f" % np.sqrt(np.mean((out - Y) ** 2)))
    check(os.path.join(EXTERNAL_DIR, "mnist-7", "model.onnx"), os.path.join(HERE, "external", "mnist-7.reference.json"))
    check(os.path.join(EXTERNAL_DIR, "sine-keras", "model.onnx"), os.path.join(HERE, "external", "sine-keras.reference.json"))


if __name__ == "__main__":
    main()
