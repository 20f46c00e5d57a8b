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
    for exp in spec["experiments"]:
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
    with open(dst, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
