#!/usr/bin/python3
"""Train, export and write fixtures for onnx-adapt's small test models.

Run from anywhere with Debian's Python (see requirements-debian.txt):

    /usr/bin/python3 models/make_models.py            # everything
    /usr/bin/python3 models/make_models.py sine-mlp   # one model (or: digits-cnn, drift-lnmlp, external)

Everything is seeded; re-running reproduces the same files on the same torch build
(PyTorch 1.13 + onnx 1.12 from Debian bookworm, one CPU thread).

Outputs per model, under models/<name>/:
  model.onnx      exported with a dynamic batch axis "N" on input "x" and output "y"
  target.csv      labelled target-domain data to adapt to
  test.csv        held-out target-domain data
  reference.json  float64 fixtures: forward, JVP, VJP and (regression) a dense finite-NTK GP
and models/external/<name>.reference.json for the external models in /work/shared/models.

CSV contract: a header row; target columns are `y` (one target, or a class label) or y0, y1, ...;
every other column is a feature x0, x1, ... in file order, reshaped row by row to the model's
input shape without the batch dimension.
"""

import copy
import io
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

try:
    from torch.func import functional_call  # torch >= 2.0
except ImportError:  # torch 1.13
    from torch.nn.utils.stateless import functional_call

torch.set_num_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
EXTERNAL_DIR = os.environ.get("ONNX_ADAPT_EXTERNAL_MODELS", "/work/shared/models")

REPORT = []  # lines for the final summary


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    REPORT.append(s)


# ---------------------------------------------------------------------------------------------
# CSV helpers
# ---------------------------------------------------------------------------------------------

def write_csv(path, X, Y, classification=False):
    """X: [n, ...] features (flattened row-major), Y: [n] or [n, K]."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Y = np.asarray(Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    K = Y.shape[1]
    ycols = ["y"] if K == 1 else ["y%d" % k for k in range(K)]
    header = ["x%d" % j for j in range(X.shape[1])] + ycols
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i in range(len(X)):
            xs = ["%.9g" % v for v in X[i]]
            if classification:
                ys = ["%d" % int(v) for v in Y[i]]
            else:
                ys = ["%.9g" % v for v in Y[i]]
            f.write(",".join(xs + ys) + "\n")


def read_csv(path):
    """Returns (X [n, F] float64, Y [n, K] float64, header) exactly as a reader of the file sees it."""
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    ycols = [j for j, h in enumerate(header) if h == "y" or (h.startswith("y") and h[1:].isdigit())]
    xcols = [j for j in range(len(header)) if j not in ycols]
    return data[:, xcols], data[:, ycols], header


# ---------------------------------------------------------------------------------------------
# ONNX export and checks
# ---------------------------------------------------------------------------------------------

def export_onnx(model, example, path, opset, training=torch.onnx.TrainingMode.EVAL):
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model, example, buf,
        opset_version=opset,
        do_constant_folding=False,
        training=training,
        input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
    )
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    return m


def onnx_summary(m):
    g = m.graph
    ops = [n.op_type for n in g.node]
    return ops


def map_params(model, m):
    """Map every torch nn.Parameter to an ONNX initializer (by name, checking shape and value).

    Returns the list of {"name", "shape"} in ONNX initializer order and a dict
    onnx_name -> torch parameter name. Raises if a parameter cannot be matched exactly.
    """
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    order = [t.name for t in m.graph.initializer]
    tparams = dict(model.named_parameters())
    onnx_to_torch = {}
    for tname, p in tparams.items():
        a = p.detach().cpu().float().numpy()
        if tname in inits and inits[tname].shape == a.shape and np.array_equal(inits[tname], a):
            onnx_to_torch[tname] = tname
            continue
        # Search by value (renamed, maybe transposed).
        found = None
        for oname, b in inits.items():
            if b.dtype != np.float32:
                continue
            if b.shape == a.shape and np.array_equal(b, a):
                found = (oname, "renamed")
                break
            if b.ndim == 2 and b.shape == a.T.shape and np.array_equal(b, a.T):
                found = (oname, "renamed+transposed")
                break
        if found is None:
            raise RuntimeError("torch parameter %s has no matching ONNX initializer" % tname)
        if found[1] != "renamed":
            raise RuntimeError("torch parameter %s is %s in ONNX as %s" % (tname, found[1], found[0]))
        log("  note: torch parameter %s is ONNX initializer %s (%s)" % (tname, found[0], found[1]))
        onnx_to_torch[found[0]] = tname
    params = [{"name": n, "shape": list(inits[n].shape)} for n in order if n in onnx_to_torch]
    others = [n for n in order if n not in onnx_to_torch]
    return params, onnx_to_torch, others


# ---------------------------------------------------------------------------------------------
# Float64 derivative fixtures for a pure function f(params: dict name->tensor, x) -> [n, K...]
# ---------------------------------------------------------------------------------------------

def fixtures_jvp_vjp(f, params64, x, rng):
    """params64: ordered dict onnx_name -> float64 tensor (ONNX layout). Returns dict of fixtures."""
    names = list(params64.keys())
    with torch.no_grad():
        out = f(params64, x)
    # JVP via forward-mode AD.
    v = {n: torch.from_numpy(rng.standard_normal(params64[n].shape)) for n in names}
    with fwAD.dual_level():
        dual = {n: fwAD.make_dual(params64[n].detach(), v[n]) for n in names}
        y = f(dual, x)
        jv = fwAD.unpack_dual(y).tangent.detach().clone()
    # VJP via reverse mode.
    w = torch.from_numpy(rng.standard_normal(tuple(out.shape)))
    leaves = {n: params64[n].detach().clone().requires_grad_(True) for n in names}
    y = f(leaves, x)
    grads = torch.autograd.grad(y, [leaves[n] for n in names], grad_outputs=w)
    jtw = {n: g.detach() for n, g in zip(names, grads)}
    # Consistency: <w, J v> == <J^T w, v>.
    lhs = float((w * jv).sum())
    rhs = float(sum((jtw[n] * v[n]).sum() for n in names))
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs)), (lhs, rhs)
    return {
        "outputs": out.tolist(),
        "jvp": {"v": {n: v[n].reshape(-1).tolist() for n in names}, "jv": jv.tolist()},
        "vjp": {"w": w.tolist(), "jtw": {n: jtw[n].reshape(-1).tolist() for n in names}},
        "_check_w_jv_eq_jtw_v": [lhs, rhs],
    }


def explicit_jacobian(f, params64, x):
    """Dense J: rows i*K+k (output-major per example), columns params concatenated in order."""
    names = list(params64.keys())
    leaves = {n: params64[n].detach().clone().requires_grad_(True) for n in names}
    y = f(leaves, x)
    n = y.shape[0]
    yflat = y.reshape(n, -1)
    K = yflat.shape[1]
    rows = []
    for i in range(n):
        for k in range(K):
            g = torch.autograd.grad(yflat[i, k], [leaves[m] for m in names], retain_graph=True,
                                    allow_unused=True)
            rows.append(torch.cat([(gg if gg is not None else torch.zeros_like(leaves[m])).reshape(-1)
                                   for gg, m in zip(g, names)]))
    return yflat.detach(), torch.stack(rows)


def gp_fixture(f, params64, Xtr, Ytr, Xte, sigma2=0.01, s=1.0):
    ftr, J = explicit_jacobian(f, params64, Xtr)
    fte, Js = explicit_jacobian(f, params64, Xte)
    J = J.numpy()
    Js = Js.numpy()
    n, K = ftr.shape
    nt = fte.shape[0]
    r = (np.asarray(Ytr).reshape(n, K) - ftr.numpy()).reshape(-1)
    A = s * J @ J.T + sigma2 * np.eye(n * K)
    L = np.linalg.cholesky(A)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, r))
    Kst = s * Js @ J.T  # [nt*K, n*K]
    mean = fte.numpy().reshape(-1) + Kst @ alpha
    V = np.linalg.solve(L, Kst.T)  # [nK, nt*K]
    var = s * np.sum(Js * Js, axis=1) - np.sum(V * V, axis=0)
    lml = -0.5 * r @ alpha - np.sum(np.log(np.diag(L))) - 0.5 * n * K * np.log(2 * np.pi)
    assert np.all(var > 0), var.min()
    # Parameter-space form as a cross-check (p unknowns).
    p = J.shape[1]
    B = J.T @ J / sigma2 + np.eye(p) / s
    delta = np.linalg.solve(B, J.T @ r / sigma2)
    mean_p = fte.numpy().reshape(-1) + Js @ delta
    var_p = np.sum(Js * np.linalg.solve(B, Js.T).T, axis=1)
    dm = np.max(np.abs(mean_p - mean))
    dv = np.max(np.abs(var_p - var) / var)
    assert dm < 1e-6 and dv < 1e-4, (dm, dv)
    return {
        "sigma2": sigma2, "s": s,
        "mean": mean.reshape(nt, K).tolist(),
        "std": np.sqrt(var).reshape(nt, K).tolist(),
        "log_marginal_likelihood": float(lml),
        "f_train": ftr.numpy().tolist(),
        "f_test": fte.numpy().tolist(),
        "num_params": int(p),
        "_check_primal_vs_dual": {"max_abs_mean_diff": float(dm), "max_rel_var_diff": float(dv)},
    }


def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, separators=(",", ":"))
    log("  wrote %s (%.1f KB)" % (os.path.relpath(path, HERE), os.path.getsize(path) / 1024))


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def make_module_fn(model64, onnx_to_torch):
    """Pure function f(params by ONNX name, x) using the torch module (buffers stay fixed)."""
    def f(params, x):
        tp = {onnx_to_torch[n]: t for n, t in params.items()}
        return functional_call(model64, tp, (x,))
    return f


def standard_fixtures(name, model, m, X_in, opset_note, rng, gp=None):
    """Common reference.json content for a torch-trained model."""
    params, onnx_to_torch, others = map_params(model, m)
    log("  params (ONNX initializer order):", ", ".join("%s%s" % (p["name"], p["shape"]) for p in params))
    log("  non-param initializers:", others if others else "none")
    model64 = copy.deepcopy(model).double().eval()
    params64 = {}
    tp = dict(model64.named_parameters())
    for p in params:
        params64[p["name"]] = tp[onnx_to_torch[p["name"]]].detach().clone()
    f = make_module_fn(model64, onnx_to_torch)
    x = torch.from_numpy(X_in)
    fx = fixtures_jvp_vjp(f, params64, x, rng)
    ref = {
        "model": name,
        "onnx_opset": opset_note,
        "inputs_rows": "test.csv rows 0-%d" % (len(X_in) - 1),
        "inputs": X_in.tolist(),
        "outputs": fx["outputs"],
        "params": params,
        "jvp": fx["jvp"],
        "vjp": fx["vjp"],
        "checks": {"w_dot_jv_vs_jtw_dot_v": fx["_check_w_jv_eq_jtw_v"]},
    }
    if gp is not None:
        Xtr, Ytr, Xte, tr_rows, te_rows = gp
        g = gp_fixture(f, params64, torch.from_numpy(Xtr), Ytr, torch.from_numpy(Xte))
        ref["gp"] = {
            "train_rows": tr_rows, "train_file": "target.csv",
            "test_rows": te_rows, "test_file": "test.csv",
            "sigma2": g["sigma2"], "s": g["s"],
            "mean": g["mean"], "std": g["std"],
            "log_marginal_likelihood": g["log_marginal_likelihood"],
            "f_train": g["f_train"], "f_test": g["f_test"],
            "num_params": g["num_params"],
            "note": "J rows i*K+k; A = s J J^T + sigma2 I; std = sqrt of latent (noise-free) "
                    "posterior variance per output; log N(r; 0, A) with r = vec(Y - f(X)).",
        }
        ref["checks"]["gp_primal_vs_dual"] = g["_check_primal_vs_dual"]
        log("  GP: lml=%.6g, num_params=%d" % (g["log_marginal_likelihood"], g["num_params"]))
    return ref, f, params64


def model_dir(name):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    return d


# ---------------------------------------------------------------------------------------------
# 1. sine-mlp
# ---------------------------------------------------------------------------------------------

class SineMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 1)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def make_sine_mlp():
    name = "sine-mlp"
    log("== %s" % name)
    d = model_dir(name)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = SineMLP()
    x = torch.linspace(-5, 5, 512).reshape(-1, 1)
    y = torch.sin(x)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 3000)
    for _ in range(3000):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        xs = torch.from_numpy(rng.uniform(-5, 5, (1000, 1))).float()
        src_rmse = rmse(model(xs).numpy(), np.sin(xs.numpy()))
    log("  source RMSE (sin x on U(-5,5), 1000 pts): %.4g" % src_rmse)

    A, w, b, noise = 2.0, 1.3, 0.7, 0.05
    def target(n):
        xx = rng.uniform(-5, 5, (n, 1))
        return xx, A * np.sin(w * xx + b) + noise * rng.standard_normal((n, 1))
    Xt, Yt = target(20)
    Xs, Ys = target(200)
    write_csv(os.path.join(d, "target.csv"), Xt, Yt)
    write_csv(os.path.join(d, "test.csv"), Xs, Ys)

    m = export_onnx(model, torch.zeros(2, 1), os.path.join(d, "model.onnx"), 13)
    log("  ONNX ops:", onnx_summary(m))

    Xt, Yt, _ = read_csv(os.path.join(d, "target.csv"))
    Xs, Ys, _ = read_csv(os.path.join(d, "test.csv"))
    with torch.no_grad():
        pred = model.double()(torch.from_numpy(Xs)).numpy()
        model.float()
    log("  base model RMSE on target test (A=%g w=%g b=%g): %.4g; noise std %.3g" % (A, w, b, rmse(pred, Ys), noise))

    tr_rows = list(range(20))
    te_rows = list(range(20))
    ref, f, p64 = standard_fixtures(name, model, m, Xs[:4].reshape(4, 1), 13, rng,
                                    gp=(Xt[tr_rows], Yt[tr_rows], Xs[te_rows], tr_rows, te_rows))
    ref["domain"] = {"source": "y = sin(x), x in [-5,5]",
                     "target": "y = %g sin(%g x + %g) + N(0, %g^2), x ~ U(-5,5)" % (A, w, b, noise)}
    # Score of the GP fixture on its test rows, for the report.
    gm = np.array(ref["gp"]["mean"])
    log("  GP (s=1, sigma2=0.01, 20 target rows) RMSE on test rows 0-19: %.4g (base %.4g)" % (
        rmse(gm, Ys[te_rows]), rmse(np.array(ref["gp"]["f_test"]), Ys[te_rows])))
    write_json(os.path.join(d, "reference.json"), ref)


# ---------------------------------------------------------------------------------------------
# 2. digits-cnn
# ---------------------------------------------------------------------------------------------

class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # [N, 8, 4, 4]
        x = F.adaptive_avg_pool2d(F.relu(self.conv2(x)), 1)     # [N, 16, 1, 1] (GlobalAveragePool)
        return self.fc(torch.flatten(x, 1))                     # [N, 10]


def rotate_images(imgs, angles):
    try:
        from scipy.ndimage import rotate
        return np.stack([np.clip(rotate(im, a, reshape=False, order=1, mode="constant", cval=0.0), 0, 1)
                         for im, a in zip(imgs, angles)])
    except ImportError:
        out = np.zeros_like(imgs)
        H, W = imgs.shape[1:]
        cy, cx = (H - 1) / 2, (W - 1) / 2
        yy, xx = np.mgrid[0:H, 0:W]
        for i, (im, a) in enumerate(zip(imgs, angles)):
            t = np.deg2rad(a)
            # inverse map output pixel to input (counter-clockwise rotation of content)
            sy = cy + (yy - cy) * np.cos(t) - (xx - cx) * np.sin(t)
            sx = cx + (yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)
            y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
            fy, fx = sy - y0, sx - x0
            def px(yv, xv):
                ok = (yv >= 0) & (yv < H) & (xv >= 0) & (xv < W)
                return np.where(ok, im[np.clip(yv, 0, H - 1), np.clip(xv, 0, W - 1)], 0.0)
            out[i] = ((1 - fy) * (1 - fx) * px(y0, x0) + (1 - fy) * fx * px(y0, x0 + 1)
                      + fy * (1 - fx) * px(y0 + 1, x0) + fy * fx * px(y0 + 1, x0 + 1))
        return np.clip(out, 0, 1)


def make_digits_cnn():
    from sklearn.datasets import load_digits
    name = "digits-cnn"
    log("== %s" % name)
    d = model_dir(name)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    dg = load_digits()
    imgs = (dg.images / 16.0).astype(np.float64)   # [1797, 8, 8] in [0, 1]
    labels = dg.target.astype(np.int64)
    perm = rng.permutation(len(imgs))
    tr, te = perm[:1200], perm[1200:]
    Xtr = torch.from_numpy(imgs[tr]).float().unsqueeze(1)
    Ytr = torch.from_numpy(labels[tr])
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for epoch in range(40):
        model.train()
        order = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(Xtr), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = F.cross_entropy(model(Xtr[idx]), Ytr[idx])
            loss.backward()
            opt.step()
        if epoch == 29:
            for pg in opt.param_groups:
                pg["lr"] = 1e-3
    model.eval()

    def acc(X, Y):
        with torch.no_grad():
            return float((model(torch.from_numpy(X).float().reshape(-1, 1, 8, 8)).argmax(1).numpy() == Y).mean())

    log("  source accuracy: train %.4f, held-out %.4f (%d images)" % (
        acc(imgs[tr], labels[tr]), acc(imgs[te], labels[te]), len(te)))

    # Target domain: every image rotated counter-clockwise by an angle ~ U(30, 45) degrees.
    angles = rng.uniform(30, 45, len(imgs))
    rot = rotate_images(imgs, angles)
    tperm = rng.permutation(len(imgs))
    t_idx, s_idx = tperm[:300], tperm[300:800]
    write_csv(os.path.join(d, "target.csv"), rot[t_idx], labels[t_idx], classification=True)
    write_csv(os.path.join(d, "test.csv"), rot[s_idx], labels[s_idx], classification=True)
    log("  rotated accuracy (base model): all 1797 %.4f, target.csv %.4f, test.csv %.4f" % (
        acc(rot, labels), acc(rot[t_idx], labels[t_idx]), acc(rot[s_idx], labels[s_idx])))

    # Eval-mode export (TrainingMode.EVAL) fuses BatchNormalization into the Conv even with
    # do_constant_folding=False in torch 1.13; TrainingMode.PRESERVE on a model in eval mode keeps
    # a BatchNormalization node with training_mode=0 and running statistics as initializers.
    m = export_onnx(model, torch.zeros(2, 1, 8, 8), os.path.join(d, "model.onnx"), 13,
                    training=torch.onnx.TrainingMode.PRESERVE)
    ops = onnx_summary(m)
    log("  ONNX ops:", ops)
    assert "BatchNormalization" in ops, ops
    for n in m.graph.node:
        if n.op_type == "BatchNormalization":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            log("  BatchNormalization inputs:", list(n.input), "attrs:", attrs)
            assert attrs.get("training_mode", 0) == 0
            assert len(n.output) == 1, "BN must be in inference form"

    Xs, Ys, _ = read_csv(os.path.join(d, "test.csv"))
    X_in = Xs[:4].reshape(4, 1, 8, 8)
    ref, f, p64 = standard_fixtures(name, model, m, X_in, 13, rng, gp=None)
    ref["domain"] = {"source": "sklearn load_digits, pixels/16, unrotated",
                     "target": "same digits rotated counter-clockwise by U(30,45) degrees (bilinear, zero fill)"}
    ref["gp"] = None
    ref["gp_note"] = "classification model: no GP regression fixture"
    write_json(os.path.join(d, "reference.json"), ref)


# ---------------------------------------------------------------------------------------------
# 3. drift-lnmlp
# ---------------------------------------------------------------------------------------------

class DriftLNMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 32)
        self.ln1 = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 32)
        self.fc3 = nn.Linear(32, 2)

    def forward(self, x):
        h = F.gelu(self.ln1(self.fc1(x)))
        h = F.gelu(self.fc2(h))
        return self.fc3(h)


def drift_source(x):
    return np.stack([np.sin(x[:, 0]) + x[:, 1] * x[:, 2],
                     np.cos(x[:, 3]) - x[:, 0] * x[:, 1]], axis=1)


SHIFT = np.array([0.3, -0.2, 0.1, 0.4])


def drift_target(x):
    return np.stack([1.3 * np.sin(x[:, 0] + 0.4) + 0.7 * x[:, 1] * x[:, 2],
                     np.cos(0.8 * x[:, 3]) - 1.2 * x[:, 0] * x[:, 1] + 0.2], axis=1)


def make_drift_lnmlp():
    name = "drift-lnmlp"
    log("== %s" % name)
    d = model_dir(name)
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    Xsrc = rng.uniform(-1, 1, (2048, 4))
    Ysrc = drift_source(Xsrc)
    x = torch.from_numpy(Xsrc).float()
    y = torch.from_numpy(Ysrc).float()
    model = DriftLNMLP()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 2000)
    for _ in range(2000):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    Xv = rng.uniform(-1, 1, (1000, 4))
    with torch.no_grad():
        src = rmse(model(torch.from_numpy(Xv).float()).numpy(), drift_source(Xv))
    log("  source RMSE (U(-1,1)^4, 1000 pts): %.4g" % src)

    noise = 0.05
    def target(n):
        xx = rng.uniform(-1, 1, (n, 4)) + SHIFT
        return xx, drift_target(xx) + noise * rng.standard_normal((n, 2))
    Xt, Yt = target(200)
    Xs, Ys = target(300)
    write_csv(os.path.join(d, "target.csv"), Xt, Yt)
    write_csv(os.path.join(d, "test.csv"), Xs, Ys)

    m = export_onnx(model, torch.zeros(2, 4), os.path.join(d, "model.onnx"), 17)
    ops = onnx_summary(m)
    log("  ONNX ops:", ops)
    assert "LayerNormalization" in ops, ops

    Xt, Yt, _ = read_csv(os.path.join(d, "target.csv"))
    Xs, Ys, _ = read_csv(os.path.join(d, "test.csv"))
    with torch.no_grad():
        pred = copy.deepcopy(model).double()(torch.from_numpy(Xs)).numpy()
    log("  base model RMSE on target test: %.4g (per output %s); noise std %.3g" % (
        rmse(pred, Ys), np.sqrt(np.mean((pred - Ys) ** 2, axis=0)).round(4).tolist(), noise))

    tr_rows = list(range(30))
    te_rows = list(range(20))
    ref, f, p64 = standard_fixtures(name, model, m, Xs[:4], 17, rng,
                                    gp=(Xt[tr_rows], Yt[tr_rows], Xs[te_rows], tr_rows, te_rows))
    ref["domain"] = {
        "source": "y0 = sin(x0) + x1 x2, y1 = cos(x3) - x0 x1, x ~ U(-1,1)^4",
        "target": "x ~ U(-1,1)^4 + %s; y0 = 1.3 sin(x0 + 0.4) + 0.7 x1 x2, "
                  "y1 = cos(0.8 x3) - 1.2 x0 x1 + 0.2; noise N(0, %g^2)" % (SHIFT.tolist(), noise)}
    gm = np.array(ref["gp"]["mean"])
    log("  GP (s=1, sigma2=0.01, 30 target rows) RMSE on test rows 0-19: %.4g (base %.4g)" % (
        rmse(gm, Ys[te_rows]), rmse(np.array(ref["gp"]["f_test"]), Ys[te_rows])))
    write_json(os.path.join(d, "reference.json"), ref)


# ---------------------------------------------------------------------------------------------
# External models, rebuilt by hand in torch from their ONNX initializers
# ---------------------------------------------------------------------------------------------

def load_tensor_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as fh:
        t.ParseFromString(fh.read())
    return numpy_helper.to_array(t)


def make_external():
    log("== external")
    d = model_dir("external")

    # --- mnist-7 (CNTK): Conv5x5 SAME_UPPER + Add(bias[8,1,1]) -> Relu -> MaxPool2 ->
    #     Conv5x5 SAME_UPPER + Add(bias[16,1,1]) -> Relu -> MaxPool3/3 -> Reshape[1,256]
    #     -> MatMul(Reshape(Parameter193 [16,4,4,10] -> [256,10])) -> Add(bias [1,10]).
    path = os.path.join(EXTERNAL_DIR, "mnist-7", "model.onnx")
    m = onnx.load(path)
    onnx.checker.check_model(m)
    log("  mnist-7 ops:", onnx_summary(m))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    order = [t.name for t in m.graph.initializer]
    param_names = [n for n in order if inits[n].dtype == np.float32]
    log("  mnist-7 params:", [(n, list(inits[n].shape)) for n in param_names],
        "constants:", [n for n in order if n not in param_names])

    def mnist_f(P, x):
        h = F.conv2d(x, P["Parameter5"], padding=2) + P["Parameter6"]
        h = F.max_pool2d(F.relu(h), 2, 2)
        h = F.conv2d(h, P["Parameter87"], padding=2) + P["Parameter88"]
        h = F.max_pool2d(F.relu(h), 3, 3)
        h = h.reshape(1, 256)
        return h @ P["Parameter193"].reshape(256, 10) + P["Parameter194"]

    maxdiff = 0.0
    for k in range(3):
        ds = os.path.join(EXTERNAL_DIR, "mnist-7", "test_data_set_%d" % k)
        xin = load_tensor_pb(os.path.join(ds, "input_0.pb"))
        yref = load_tensor_pb(os.path.join(ds, "output_0.pb"))
        P32 = {n: torch.from_numpy(inits[n].copy()) for n in param_names}
        with torch.no_grad():
            y32 = mnist_f(P32, torch.from_numpy(xin.copy())).numpy()
        maxdiff = max(maxdiff, float(np.max(np.abs(y32 - yref)) / max(1.0, np.max(np.abs(yref)))))
    log("  mnist-7 torch rebuild vs ONNX test_data_set_0..2 outputs: max rel diff %.3g" % maxdiff)
    assert maxdiff < 1e-4
    rng = np.random.default_rng(100)
    P64 = {n: torch.from_numpy(inits[n].astype(np.float64)) for n in param_names}
    xin = load_tensor_pb(os.path.join(EXTERNAL_DIR, "mnist-7", "test_data_set_0", "input_0.pb")).astype(np.float64)
    fx = fixtures_jvp_vjp(mnist_f, P64, torch.from_numpy(xin), rng)
    ref = {
        "model": "mnist-7",
        "source": os.path.join(EXTERNAL_DIR, "mnist-7", "model.onnx"),
        "inputs_rows": "test_data_set_0/input_0.pb",
        "inputs": xin.tolist(),
        "outputs": fx["outputs"],
        "params": [{"name": n, "shape": list(inits[n].shape)} for n in param_names],
        "constants": [n for n in order if n not in param_names],
        "jvp": fx["jvp"], "vjp": fx["vjp"],
        "checks": {"w_dot_jv_vs_jtw_dot_v": fx["_check_w_jv_eq_jtw_v"],
                   "torch_vs_onnx_test_outputs_max_rel_diff": maxdiff},
        "note": "batch must be 1 (Reshape shape initializer is [1,256]). Parameter193 is listed in its "
                "initializer layout [16,4,4,10]; the graph reshapes it to [256,10] before MatMul.",
    }
    write_json(os.path.join(d, "mnist-7.reference.json"), ref)

    # --- sine-keras: MatMul/Add/Relu x2, MatMul/Add.
    path = os.path.join(EXTERNAL_DIR, "sine-keras", "model.onnx")
    m = onnx.load(path)
    onnx.checker.check_model(m)
    log("  sine-keras ops:", onnx_summary(m))
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    order = [t.name for t in m.graph.initializer]
    param_names = [n for n in order if inits[n].dtype == np.float32]
    log("  sine-keras params:", [(n, list(inits[n].shape)) for n in param_names])
    pre = "sequential/"

    def keras_f(P, x):
        h = F.relu(x @ P[pre + "dense/MatMul/ReadVariableOp:0"] + P[pre + "dense/BiasAdd/ReadVariableOp:0"])
        h = F.relu(h @ P[pre + "dense_1/MatMul/ReadVariableOp:0"] + P[pre + "dense_1/BiasAdd/ReadVariableOp:0"])
        return h @ P[pre + "dense_2/MatMul/ReadVariableOp:0"] + P[pre + "dense_2/BiasAdd/ReadVariableOp:0"]

    P64 = {n: torch.from_numpy(inits[n].astype(np.float64)) for n in param_names}
    # The Keras model was trained on x in [0, 2 pi]: it tracks sin there and not outside.
    xg = torch.linspace(0, 2 * np.pi, 201, dtype=torch.float64).reshape(-1, 1)
    with torch.no_grad():
        sin_rmse = rmse(keras_f(P64, xg).numpy(), np.sin(xg.numpy()))
    log("  sine-keras torch rebuild vs sin(x) on [0, 2 pi]: RMSE %.4g" % sin_rmse)
    rng = np.random.default_rng(101)
    xin = np.array([[0.5], [1.75], [3.0], [5.25]], dtype=np.float64)
    fx = fixtures_jvp_vjp(keras_f, P64, torch.from_numpy(xin), rng)
    ref = {
        "model": "sine-keras",
        "source": path,
        "inputs": xin.tolist(),
        "outputs": fx["outputs"],
        "params": [{"name": n, "shape": list(inits[n].shape)} for n in param_names],
        "jvp": fx["jvp"], "vjp": fx["vjp"],
        "checks": {"w_dot_jv_vs_jtw_dot_v": fx["_check_w_jv_eq_jtw_v"],
                   "torch_vs_sin_rmse_on_[0,2pi]": sin_rmse},
    }
    write_json(os.path.join(d, "sine-keras.reference.json"), ref)


# ---------------------------------------------------------------------------------------------

def main(argv):
    todo = argv[1:] or ["sine-mlp", "digits-cnn", "drift-lnmlp", "external"]
    makers = {"sine-mlp": make_sine_mlp, "digits-cnn": make_digits_cnn,
              "drift-lnmlp": make_drift_lnmlp, "external": make_external}
    log("torch %s, onnx %s, numpy %s" % (torch.__version__, onnx.__version__, np.__version__))
    for t in todo:
        makers[t]()
    log("== sizes")
    total = 0
    for root, _, files in os.walk(HERE):
        for fn in sorted(files):
            if "__pycache__" in root:
                continue
            p = os.path.join(root, fn)
            sz = os.path.getsize(p)
            total += sz
            log("  %8.1f KB  %s" % (sz / 1024, os.path.relpath(p, HERE)))
    log("  total %.1f KB" % (total / 1024))


if __name__ == "__main__":
    main(sys.argv)
