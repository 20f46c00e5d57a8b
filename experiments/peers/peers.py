#!/usr/bin/env python3
"""Peers for the onnx-adapt experiments: laplace-torch and GPyTorch.

Run by experiments/cmd/run (not by hand):

    bench/.venv/bin/python experiments/peers/peers.py TASKS.json RESULTS.json

TASKS.json (written by the Go runner) holds the networks as chains of dense
layers read from the ONNX initializers ({"W": in x out, "b", "act"}), and
every regression task of the experiments (adaptation points, test points,
and the network each task adapts). RESULTS.json receives, for every
experiment key and peer method, one score per task in task order:
RMSE, Gaussian NLL (mean per test point, predictive variance = latent
variance + fitted noise), 95% coverage and seconds.

Peers:
- laplace-torch: Laplace(model, "regression", subset_of_weights="all",
  hessian_structure="full" when the network has at most FULL_MAX_P
  parameters, else "kron" (KFAC; the full log-determinant of a 4,000-
  parameter network, recomputed at each marginal-likelihood step, takes
  minutes per task)) fitted at the pretrained weights, prior precision and
  observation noise by maximizing its marginal likelihood (100 Adam steps
  on their logs, as in the package's README), GLM predictive. The
  package treats the weights as a MAP estimate: its GLM predictive mean is
  the network itself, so only the uncertainty adapts.
- GPyTorch: exact GP whose kernel is the finite NTK of the same network,
  k(x, x') = v * J(x) J(x')^T (LinearKernel on the Jacobian rows, computed
  with torch.func), the network as prior mean (the GP is fitted to the
  residual y - f(x)), GaussianLikelihood; v and the noise by Adam on the
  exact marginal likelihood (100 steps, lr 0.1).

Classification (the digits of section 3): TASKS.json also holds networks as
op chains ("chains", experiments/chainspec.go), pools of inputs with labels
and the engine's logits ("pools"), and tasks as row indices into a pool
("classification"). Each rebuilt network is first checked against the
engine's logits (relative difference at most "logit_tol", else every task
of that network records the error), then RESULTS.json receives, per key
and method ("class_results"), the test rows' class probabilities (the Go
runner scores them with the metrics package), seconds and what was fitted,
and per network the measured logit difference ("checks"). Methods:
laplace_class (laplace-torch) and gpytorch_dirichlet (GPyTorch), see below.
"""
import importlib.metadata
import json
import os
import math
import sys
import time

import torch

torch.set_default_dtype(torch.float64)


def build(layers):
    mods = []
    for l in layers:
        w = torch.tensor(l["W"])  # in x out
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w.T)
            lin.bias.copy_(torch.tensor(l["b"]))
        mods.append(lin)
        if l["act"] == "tanh":
            mods.append(torch.nn.Tanh())
        elif l["act"] == "relu":
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def scores(mean, var, y):
    mean, var, y = mean.reshape(-1), var.reshape(-1), y.reshape(-1)
    rmse = torch.sqrt(torch.mean((mean - y) ** 2)).item()
    nll = torch.mean(0.5 * torch.log(2 * math.pi * var) + (y - mean) ** 2 / (2 * var)).item()
    cov = torch.mean(((y - mean).abs() <= 1.959963984540054 * var.sqrt()).double()).item()
    return rmse, nll, cov


FULL_MAX_P = 1500


def laplace_glm(model, xtr, ytr, xte):
    from laplace import Laplace

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=len(xtr))
    p = sum(v.numel() for v in model.parameters())
    structure = "full" if p <= FULL_MAX_P else "kron"
    la = Laplace(model, "regression", subset_of_weights="all", hessian_structure=structure)
    la.fit(loader)
    log_prior = torch.zeros(1, requires_grad=True)
    log_sigma = torch.log(torch.std(ytr - model(xtr).detach()).clamp_min(1e-3)).reshape(1).detach().requires_grad_(True)
    opt = torch.optim.Adam([log_prior, log_sigma], lr=1e-1)
    for _ in range(100):
        opt.zero_grad()
        nml = -la.log_marginal_likelihood(log_prior.exp(), log_sigma.exp())
        nml.backward()
        opt.step()
    f_mu, f_var = la(xte, pred_type="glm")
    sigma2 = la.sigma_noise.item() ** 2
    return f_mu.detach().reshape(-1), f_var.detach().reshape(-1) + sigma2


def jacobian(model, x):
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)
    n = x.shape[0]
    return torch.cat([j.reshape(n, -1) for j in jac.values()], dim=1)  # K = 1


def gpytorch_ntk(model, xtr, ytr, xte):
    import gpytorch

    jtr, jte = jacobian(model, xtr), jacobian(model, xte)
    with torch.no_grad():
        ftr, fte = model(xtr).reshape(-1), model(xte).reshape(-1)
    r = ytr.reshape(-1) - ftr

    class NTKGP(gpytorch.models.ExactGP):
        def __init__(self, x, y, lik):
            super().__init__(x, y, lik)
            self.mean_module = gpytorch.means.ZeroMean()
            self.covar_module = gpytorch.kernels.LinearKernel()

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    lik = gpytorch.likelihoods.GaussianLikelihood()
    gp = NTKGP(jtr, r, lik)
    gp.train()
    lik.train()
    opt = torch.optim.Adam(gp.parameters(), lr=0.1)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, gp)
    for _ in range(100):
        opt.zero_grad()
        loss = -mll(gp(jtr), r)
        loss.backward()
        opt.step()
    gp.eval()
    lik.eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
        pred = lik(gp(jte))
    return fte + pred.mean, pred.variance


def build_chain(ops):
    """Rebuilds a sequential network from the Go runner's op chain (see
    experiments/chainspec.go), in float64, in eval mode."""
    nn = torch.nn
    mods = []
    want = 0
    for o in ops:
        ts = [torch.tensor(t["data"]).reshape(t["shape"]) for t in o.get("tensors", [])]
        want += sum(t.numel() for t, d in zip(ts, o.get("tensors", [])) if d["param"])
        op = o["op"]
        if op == "Conv":
            w = ts[0]
            m = nn.Conv2d(w.shape[1], w.shape[0], tuple(o["kernel"]), stride=tuple(o["strides"]),
                          padding=tuple(o["pads"]), bias=len(ts) > 1)
            with torch.no_grad():
                m.weight.copy_(w)
                if len(ts) > 1:
                    m.bias.copy_(ts[1])
        elif op == "BatchNormalization":
            m = nn.BatchNorm2d(ts[0].numel(), eps=o["epsilon"])
            with torch.no_grad():
                m.weight.copy_(ts[0])
                m.bias.copy_(ts[1])
                m.running_mean.copy_(ts[2])
                m.running_var.copy_(ts[3])
        elif op == "Gemm":
            w = ts[0]  # out x in
            m = nn.Linear(w.shape[1], w.shape[0], bias=len(ts) > 1)
            with torch.no_grad():
                m.weight.copy_(w)
                if len(ts) > 1:
                    m.bias.copy_(ts[1].reshape(-1))
        elif op == "MaxPool":
            m = nn.MaxPool2d(tuple(o["kernel"]), stride=tuple(o["strides"]), padding=tuple(o["pads"]))
        elif op == "Relu":
            m = nn.ReLU()
        elif op == "Tanh":
            m = nn.Tanh()
        elif op == "GlobalAveragePool":
            m = nn.AdaptiveAvgPool2d(1)
        elif op == "Flatten":
            m = nn.Flatten(1)
        else:
            raise ValueError(f"op {op} not supported")
        mods.append(m)
    model = torch.nn.Sequential(*mods).double().eval()
    got = sum(v.numel() for v in model.parameters())
    if got != want:
        raise ValueError(f"rebuilt network has {got} parameters, the chain {want}")
    return model


CHUNK = 25  # rows per Jacobian sweep (torch.func.jacrev over a batch costs memory ~ batch squared)


def laplace_class(model, xtr, ytr, xte):
    """laplace-torch GLM Laplace over all weights, full GGN, scalar prior
    precision by its marginal likelihood (the package's 100 Adam steps),
    probit predictive. The GGN comes from the package's torch.func backend
    (GGNInterface), fed in batches of CHUNK: its default Curvlinops backend
    multiplies the GGN by a p x p identity and took 48 s and 3.7 GB for
    100 digits; the two agree to 1e-12."""
    from laplace import Laplace
    from laplace.curvature import GGNInterface

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=CHUNK)
    la = Laplace(model, "classification", subset_of_weights="all", hessian_structure="full", backend=GGNInterface)
    la.fit(loader)
    la.optimize_prior_precision(pred_type="glm", method="marglik", prior_structure="scalar", link_approx="probit")
    probs = torch.cat([la(xte[i:i + CHUNK], pred_type="glm", link_approx="probit") for i in range(0, len(xte), CHUNK)])
    return probs.detach(), "prior prec=%.3g" % la.prior_precision.reshape(-1)[0].item()


def class_jacobians(model, x):
    """Per-class Jacobian rows [K, n, p] of the logits, CHUNK rows at a time."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def f(p, xi):
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).squeeze(0)

    out = []
    for i in range(0, len(x), CHUNK):
        jac = vmap(jacrev(f), in_dims=(None, 0))(params, x[i:i + CHUNK])  # each [b, K, ...]
        b = x[i:i + CHUNK].shape[0]
        out.append(torch.cat([j.reshape(b, j.shape[1], -1) for j in jac.values()], dim=2))
    return torch.cat(out).permute(1, 0, 2)


def gpytorch_dirichlet(model, xtr, ytr, xte):
    """GPyTorch Dirichlet GP classification (Milios et al. 2018; GPyTorch's
    DirichletClassificationLikelihood): one exact GP per class on the
    Dirichlet-transformed labels, with the finite NTK of that class's logit
    as kernel, v_k * J_k(x) J_k(x')^T (the diagonal blocks of our K x K NTK:
    this model cannot couple the classes), precomputed once over training and
    test rows; prior mean log softmax(f(x))_k + c_k (the network's class
    log-probabilities); v_k, c_k and the additional noise by 100 Adam steps
    (lr 0.1) on the exact marginal likelihood; class probabilities by 256
    posterior samples, as in GPyTorch's example."""
    import gpytorch

    n = len(xtr)
    x = torch.cat([xtr, xte])
    jac = class_jacobians(model, x)  # [K, n + m, p]
    gram = jac @ jac.transpose(1, 2)  # [K, n + m, n + m]
    with torch.no_grad():
        logp = torch.log_softmax(model(x), dim=1).T.contiguous()  # [K, n + m]
    k = gram.shape[0]
    idx = torch.arange(len(x), dtype=torch.float64).unsqueeze(1)

    class Gram(gpytorch.kernels.Kernel):
        def forward(self, x1, x2, diag=False, **kw):
            g = gram[:, x1[0, :, 0].long()][:, :, x2[0, :, 0].long()]
            return torch.diagonal(g, dim1=-2, dim2=-1) if diag else g

    class NetMean(gpytorch.means.Mean):
        def __init__(self):
            super().__init__()
            self.register_parameter("c", torch.nn.Parameter(torch.zeros(k, 1)))

        def forward(self, x):
            return logp[:, x[0, :, 0].long()] + self.c

    lik = gpytorch.likelihoods.DirichletClassificationLikelihood(ytr, learn_additional_noise=True)

    class GP(gpytorch.models.ExactGP):
        def __init__(self, x, y):
            super().__init__(x, y, lik)
            self.mean_module = NetMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(Gram(batch_shape=torch.Size((k,))), batch_shape=torch.Size((k,)))

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    xin = idx[:n].expand(k, n, 1)
    gp = GP(xin, lik.transformed_targets)
    gp.train()
    lik.train()
    opt = torch.optim.Adam(gp.parameters(), lr=0.1)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, gp)
    for _ in range(100):
        opt.zero_grad()
        loss = -mll(gp(xin), lik.transformed_targets).sum()
        loss.backward()
        opt.step()
    gp.eval()
    lik.eval()
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
        dist = gp(idx[n:].expand(k, len(xte), 1))
        s = dist.sample(torch.Size((256,))).exp()  # [256, K, m]
        probs = (s / s.sum(-2, keepdim=True)).mean(0).T
    return probs, "scale=%.3g" % gp.covar_module.outputscale.mean().item()


CLASS_METHODS = {
    "peer: laplace-torch GLM Laplace (all params, full Hessian, probit)": laplace_class,
    "peer: GPyTorch Dirichlet GP, finite-NTK kernel": gpytorch_dirichlet,
}


def run_classification(spec, out, limit):
    """Runs the classification peers; checks each rebuilt network against
    the engine's logits on its pool first and refuses a mismatch."""
    tol = float(spec.get("logit_tol", 1e-5))
    checks, pools = {}, {}
    for net, pool in (spec.get("pools") or {}).items():
        x = torch.tensor(pool["x"]).reshape([-1] + pool["shape"])
        model = build_chain(spec["chains"][net])
        with torch.no_grad():
            f = model(x)
        ref = torch.tensor(pool["logits"])
        d = ((f - ref).abs() / (1 + ref.abs())).max().item()
        checks[net] = d
        err = ""
        if not d <= tol:
            err = f"rebuilt {net} differs from the engine: max relative logit difference {d:.3g} > {tol:g}"
            print(err, file=sys.stderr, flush=True)
        pools[net] = (x, torch.tensor(pool["labels"]), err)
    out["checks"] = checks
    out["class_results"] = {}
    for exp in spec.get("classification") or []:
        x, y, err = pools[exp["net"]]
        res = {m: [] for m in CLASS_METHODS}
        for t in exp["tasks"][: limit or None]:
            tr, te = torch.tensor(t["train"]), torch.tensor(t["test"])
            for name, fn in CLASS_METHODS.items():
                start = time.time()
                if err:
                    res[name].append({"probs": [], "seconds": 0, "info": "", "err": err})
                    continue
                model = build_chain(spec["chains"][exp["net"]])
                try:
                    probs, info = fn(model, x[tr], y[tr], x[te])
                    res[name].append({"probs": probs.tolist(), "seconds": time.time() - start, "info": info, "err": ""})
                except Exception as e:  # recorded, not fatal
                    res[name].append({"probs": [], "seconds": time.time() - start, "info": "",
                                      "err": f"{type(e).__name__}: {e}"[:200]})
        out["class_results"][exp["key"]] = res
        print(exp["key"], {m: len(v) for m, v in res.items()}, file=sys.stderr, flush=True)


METHODS = {
    "peer: laplace-torch GLM Laplace (all params)": laplace_glm,
    "peer: GPyTorch exact GP, finite-NTK kernel": gpytorch_ntk,
}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        spec = json.load(f)
    torch.set_num_threads(int(spec.get("threads", 1)))
    import gpytorch
    import laplace

    out = {
        "versions": {
            "torch": torch.__version__,
            "laplace-torch": importlib.metadata.version("laplace-torch"),
            "gpytorch": gpytorch.__version__,
        },
        "results": {},
    }
    limit = int(os.environ.get("PEERS_MAX_TASKS", "0"))
    for exp in spec.get("experiments") or []:
        res = {m: [] for m in METHODS}
        for t in exp["tasks"][: limit or None]:
            xtr, ytr = torch.tensor(t["xtr"]), torch.tensor(t["ytr"])
            xte, yte = torch.tensor(t["xte"]), torch.tensor(t["yte"])
            for name, fn in METHODS.items():
                model = build(spec["nets"][t["net"]])
                start = time.time()
                try:
                    mean, var = fn(model, xtr, ytr, xte)
                    sec = time.time() - start
                    rmse, nll, cov = scores(mean, var.clamp_min(1e-12), yte)
                    res[name].append({"rmse": rmse, "nll": nll, "coverage": cov, "seconds": sec, "err": ""})
                except Exception as e:  # recorded, not fatal: one failure must not hide the rest
                    res[name].append({"rmse": 0, "nll": 0, "coverage": 0, "seconds": time.time() - start,
                                      "err": f"{type(e).__name__}: {e}"[:200]})
        out["results"][exp["key"]] = res
        print(exp["key"], {m: len(v) for m, v in res.items()}, file=sys.stderr, flush=True)
    run_classification(spec, out, limit)
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
