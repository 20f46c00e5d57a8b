#!/usr/bin/env python3
"""The PyTorch and ONNX Runtime side of `make bench`.

The network is rebuilt in PyTorch from the ONNX file's own initializers (the MLPs of
bench/make_models.py and the digits CNN of models/), so both sides run the identical network.

  torch_bench.py versions
      versions of Python, torch, onnxruntime, onnx, numpy, laplace-torch, gpytorch, and the
      BLAS / oneDNN lines of torch.__config__.show()
  torch_bench.py ops MODEL.onnx [--batch 256] [--threads 1] [--vectors 16] [--ntk-batch 64]
      median milliseconds, on random normal inputs, of: forward (no_grad); ONNX Runtime's forward
      (InferenceSession, intra_op_num_threads = threads); VJP (autograd.grad of <w, f> w.r.t. the
      parameters, from a stored forward); JVP by torch.func.jvp, by the double-backward trick of
      the reference implementation, and by torch.func.linearize (stored linearization); the
      Fisher product JᵀJv (torch.func.jvp + a stored torch.func.vjp); --vectors Fisher products
      in a Python loop and under torch.func.vmap; and the empirical NTK of --ntk-batch rows
      (vmap of jacrev per example, then J·Jᵀ)
  torch_bench.py cg MODEL.onnx --data FILE --n N [--noise 0.01] [--prior-scale 1] [--tol 1e-5]
                    [--max-seconds 60] [--max-iters 20000] [--batch 0]
      parameter-space conjugate gradients, unpreconditioned, on B δ = Jᵀr/σ², with
      B v = JᵀJv/σ² + v/s (torch.func.jvp + stored vjp), r = y − f(X), stopping at relative
      residual ‖b − Bδ‖/‖b‖ ≤ tol or the caps; reports iterations, seconds, residual and the
      process's peak resident memory (getrusage)

Every result is one JSON object on stdout.
"""

import argparse
import json
import os
import platform
import re
import resource
import sys
import time


def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


# Thread pools read these at import: set them before torch and onnxruntime load.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = _threads_from_argv()

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from torch.func import functional_call, jacrev, jvp, linearize, vjp, vmap  # noqa: E402


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------
# Networks rebuilt from ONNX initializers
# ---------------------------------------------------------------------------------------------

class MLP(nn.Module):
    def __init__(self, sizes, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = {"relu": nn.ReLU(), "elu": nn.ELU()}[act]

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


class DigitsCNN(nn.Module):
    """models/digits-cnn: Conv-BN-ReLU-MaxPool-Conv-ReLU-GlobalAvgPool-Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.adaptive_avg_pool2d(F.relu(self.conv2(x)), 1)
        return self.fc(torch.flatten(x, 1))


def load_network(path):
    """Returns (torch module in eval mode, input shape without the batch axis)."""
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t).copy() for t in m.graph.initializer}
    ops = {n.op_type for n in m.graph.node}
    if "conv1.weight" in inits:
        net = DigitsCNN()
    else:
        sizes, i = [], 0
        while "layers.%d.weight" % i in inits:
            w = inits["layers.%d.weight" % i]
            if not sizes:
                sizes.append(w.shape[1])
            sizes.append(w.shape[0])
            i += 1
        if not sizes:
            raise SystemExit("%s: not a network this harness knows (an MLP of make_models.py or the digits CNN)" % path)
        net = MLP(sizes, "elu" if "Elu" in ops else "relu")
    state = net.state_dict()
    for k in state:
        if k.endswith("num_batches_tracked"):
            continue
        if k not in inits or tuple(inits[k].shape) != tuple(state[k].shape):
            raise SystemExit("%s: no initializer %s of shape %s" % (path, k, tuple(state[k].shape)))
        state[k] = torch.from_numpy(inits[k])
    net.load_state_dict(state)
    net.eval()
    shape = []
    for d in m.graph.input[0].type.tensor_type.shape.dim[1:]:
        shape.append(d.dim_value)
    return net, shape


def median_ms(fn, repeat, min_seconds=1.0, max_repeat=200):
    fn()  # warm-up
    ts = []
    start = time.perf_counter()
    while True:
        n = len(ts)
        if repeat > 0 and n >= repeat:
            break
        if repeat <= 0 and n >= 3 and (time.perf_counter() - start > min_seconds or n >= max_repeat):
            break
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts)), len(ts)


def functional(net):
    params = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}

    def f(p, x):
        return functional_call(net, (p, buffers), (x,))

    return f, params


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

def cmd_versions(a):
    import onnxruntime as ort

    def ver(mod):
        try:
            from importlib.metadata import version
            return version(mod)
        except Exception:
            return None

    cfg = torch.__config__.show()
    keep = [ln.strip().lstrip("- ") for ln in cfg.splitlines()
            if any(s in ln for s in ("Math Kernel", "MKL-DNN", "oneDNN", "OpenMP", "CPU capability",
                                     "LAPACK", "NNPACK", "OpenBLAS")) and "Build settings" not in ln]
    blas = re.findall(r"BLAS_INFO=(\w+)", cfg)
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "laplace-torch": ver("laplace-torch"),
        "gpytorch": ver("gpytorch"),
        "torch_blas": blas[0] if blas else None,
        "torch_config": keep,
        "mkldnn_available": torch.backends.mkldnn.is_available(),
    }


def cmd_ops(a):
    import onnxruntime as ort

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    net, shape = load_network(a.model)
    f, params = functional(net)
    gen = torch.Generator().manual_seed(a.seed)
    x = torch.randn([a.batch] + shape, generator=gen)
    res = {"model": a.model, "batch": a.batch, "threads": a.threads, "vectors": a.vectors,
           "params": sum(p.numel() for p in params.values()), "torch": torch.__version__,
           "torch_threads": torch.get_num_threads()}

    def rand_like_params():
        return {k: torch.randn(v.shape, generator=gen) for k, v in params.items()}

    with torch.no_grad():
        res["forward_ms"], res["repeat"] = median_ms(lambda: net(x), a.repeat)
        out = net(x)
    res["outputs"] = out[0].numel()

    # ONNX Runtime, one intra-op thread (or --threads), sequential execution.
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    res["ort_forward_ms"], _ = median_ms(lambda: sess.run(None, {"x": xn}), a.repeat)
    res["ort_version"] = ort.__version__

    v = rand_like_params()
    w = torch.randn(out.shape, generator=gen)

    # VJP: autograd.grad of <w, f> w.r.t. the parameters, from one stored forward.
    pl = {k: p.clone().requires_grad_(True) for k, p in params.items()}
    plist = list(pl.values())
    y = f(pl, x)
    res["vjp_ms"], _ = median_ms(lambda: torch.autograd.grad(y, plist, w, retain_graph=True), a.repeat)

    def fwd_bwd():
        yy = f(pl, x)
        torch.autograd.grad(yy, plist, w)

    res["forward_vjp_ms"], _ = median_ms(fwd_bwd, a.repeat)

    # JVP three ways.
    fp = lambda p: f(p, x)  # noqa: E731
    res["jvp_func_ms"], _ = median_ms(lambda: jvp(fp, (params,), (v,)), a.repeat)

    vlist = [v[k] for k in pl]

    def jvp_double_backward():
        # The reference implementation's trick: u ↦ Jᵀu is linear, so J v = ∂/∂u ⟨Jᵀu, v⟩.
        u = torch.zeros_like(y, requires_grad=True)
        g = torch.autograd.grad(y, plist, u, create_graph=True, retain_graph=True)
        return torch.autograd.grad(g, u, vlist, retain_graph=True)[0]

    res["jvp_double_backward_ms"], _ = median_ms(jvp_double_backward, a.repeat)
    try:
        _, jvp_fn = linearize(fp, params)
        res["jvp_linearize_ms"], _ = median_ms(lambda: jvp_fn(v), a.repeat)
    except Exception as e:  # linearize traces the function; report if it cannot
        jvp_fn = None
        res["jvp_linearize_error"] = str(e)[:200]

    # Fisher product JᵀJv: torch.func.jvp, then a stored vjp.
    _, vjp_fn = vjp(fp, params)

    def fvp_once(vv):
        _, jv = jvp(fp, (params,), (vv,))
        return vjp_fn(jv)[0]

    res["fvp_ms"], _ = median_ms(lambda: fvp_once(v), a.repeat)
    if jvp_fn is not None:
        res["fvp_linearize_ms"], _ = median_ms(lambda: vjp_fn(jvp_fn(v))[0], a.repeat)

    # R directions: a Python loop of single products, and torch.func.vmap over them.
    vs = [rand_like_params() for _ in range(a.vectors)]
    res["block_fvp_loop_ms"], _ = median_ms(lambda: [fvp_once(vv) for vv in vs], min(a.repeat, 5) if a.repeat else 3)
    res["block_fvp_loop_ms_per_vector"] = res["block_fvp_loop_ms"] / a.vectors
    stacked = {k: torch.stack([vv[k] for vv in vs]) for k in params}
    try:
        vfvp = vmap(fvp_once)
        res["block_fvp_vmap_ms"], _ = median_ms(lambda: vfvp(stacked), min(a.repeat, 5) if a.repeat else 3)
        res["block_fvp_vmap_ms_per_vector"] = res["block_fvp_vmap_ms"] / a.vectors
    except Exception as e:
        res["block_fvp_vmap_error"] = str(e)[:200]

    # Empirical NTK of ntk_batch rows: per-example Jacobians by vmap(jacrev), then J·Jᵀ.
    nb = min(a.ntk_batch, a.batch)
    if nb > 0:
        xs = x[:nb]

        def f1(p, xi):
            return f(p, xi.unsqueeze(0)).squeeze(0)

        def ntk():
            jac = vmap(jacrev(f1), (None, 0))(params, xs)  # each [nb, K, shape...]
            flat = torch.cat([j.reshape(nb * j.shape[1], -1) for j in jac.values()], dim=1)
            return flat @ flat.T

        try:
            res["ntk_batch"] = nb
            res["ntk_vmap_ms"], _ = median_ms(ntk, 2)
        except RuntimeError as e:  # out of memory for the explicit per-example Jacobian
            res["ntk_vmap_error"] = str(e)[:200]
    return res


def cmd_cg(a):
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    net, shape = load_network(a.model)
    f, params = functional(net)
    raw = np.fromfile(a.data, dtype="<f4")
    d = int(np.prod(shape))
    rows = raw.reshape(-1, d + 1)
    if rows.shape[0] < a.n:
        raise SystemExit("%s has %d rows, want %d" % (a.data, rows.shape[0], a.n))
    x = torch.from_numpy(rows[:a.n, :d].reshape([a.n] + shape).copy())
    yt = torch.from_numpy(rows[:a.n, d:].copy())
    base = rss_mb()
    t0 = time.perf_counter()
    sigma2, s = a.noise, a.prior_scale
    # One stored forward for the VJP; each JVP is torch.func.jvp (as the pipeline would run it).
    fp = lambda p: f(p, x)  # noqa: E731
    out, vjp_fn = vjp(fp, params)
    r = (yt - out).detach()
    keys = list(params)

    def flat(d_):
        return torch.cat([d_[k].reshape(-1) for k in keys])

    sizes = [params[k].numel() for k in keys]

    def unflat(vec):
        parts = torch.split(vec, sizes)
        return {k: t.reshape(params[k].shape) for k, t in zip(keys, parts)}

    def bmul(vec):
        _, jv = jvp(fp, (params,), (unflat(vec),))
        return flat(vjp_fn(jv)[0]) / sigma2 + vec / s

    b = flat(vjp_fn(r)[0]) / sigma2
    bnorm = b.norm().item()
    delta = torch.zeros_like(b)
    res_v = b.clone()
    p = res_v.clone()
    rr = res_v.dot(res_v)
    it = 0
    rel = 1.0
    converged = False
    per_iter = []
    deadline = t0 + a.max_seconds
    while it < a.max_iters:
        ti = time.perf_counter()
        bp = bmul(p)
        alpha = rr / p.dot(bp)
        delta += alpha * p
        res_v -= alpha * bp
        rr_new = res_v.dot(res_v)
        it += 1
        rel = (rr_new.sqrt() / bnorm).item()
        per_iter.append(time.perf_counter() - ti)
        if rel <= a.tol:
            converged = True
            break
        if time.perf_counter() > deadline:
            break
        p = res_v + (rr_new / rr) * p
        rr = rr_new
    secs = time.perf_counter() - t0
    true_rel = ((b - bmul(delta)).norm() / bnorm).item()
    return {
        "model": a.model, "n": a.n, "params": sum(sizes), "threads": a.threads, "noise": sigma2,
        "prior_scale": s, "tol": a.tol, "iterations": it, "converged": converged,
        "relative_residual": rel, "true_relative_residual": true_rel, "seconds": secs,
        "seconds_per_iteration": float(np.median(per_iter)) if per_iter else None,
        "max_seconds": a.max_seconds, "max_iters": a.max_iters,
        "baseline_rss_mb": base, "peak_rss_mb": rss_mb(), "torch": torch.__version__,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("versions")
    o = sub.add_parser("ops")
    o.add_argument("model")
    o.add_argument("--batch", type=int, default=256)
    o.add_argument("--threads", type=int, default=1)
    o.add_argument("--vectors", type=int, default=16)
    o.add_argument("--repeat", type=int, default=0, help="0: until 1 s has passed (3 to 200 runs)")
    o.add_argument("--ntk-batch", type=int, default=64)
    o.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("cg")
    c.add_argument("model")
    c.add_argument("--data", required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--noise", type=float, default=0.01)
    c.add_argument("--prior-scale", type=float, default=1.0)
    c.add_argument("--tol", type=float, default=1e-5)
    c.add_argument("--max-seconds", type=float, default=60)
    c.add_argument("--max-iters", type=int, default=20000)
    c.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    res = {"versions": cmd_versions, "ops": cmd_ops, "cg": cmd_cg}[a.cmd](a)
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
