"""CNF / FFJORD: closed-form oracles (linear ODE), unbiased Hutchinson, RNODE integrals, the
adjoint, and a seeded learning test."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from genmodels.families.cnf import CNF, CNFLikelihood
from genmodels.solvers.likelihood import divergence_terms, hutchinson_probes

LOG2PI = math.log(2 * math.pi)
A = torch.tensor([[-0.3, 0.8], [-0.5, 0.4]], dtype=torch.float64)


class Linear(nn.Module):
    """:math:`F(x, t) = A x` (time ignored)."""

    def __init__(self, a: Tensor) -> None:
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        return x @ self.a.T


def _closed_form(x: Tensor, a: Tensor, T: float = 1.0) -> Tensor:
    """:math:`\\log p(x) = \\log\\mathcal N(e^{AT}x; 0, I) + T\\,\\mathrm{tr}A`."""
    z = x @ torch.linalg.matrix_exp(a * T).T
    return -0.5 * (z.square().sum(1) + z.shape[1] * LOG2PI) + T * torch.trace(a)


def _points(n: int = 64) -> Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("kw", [
    {"solver": "rk4", "steps": 16},
    {"solver": "dopri5", "rtol": 1e-8},
    {"solver": "dopri5", "rtol": 1e-8, "backend": "torchdiffeq"},
    # Rademacher probes: eps^T D eps = tr D exactly for a diagonal D
    {"solver": "rk4", "steps": 16, "trace": "hutchinson", "probes": 1, "diagonal": True},
])
def test_linear_ode_log_prob_equals_closed_form(kw: dict) -> None:
    a = torch.diag(torch.diagonal(A)) if kw.pop("diagonal", False) else A
    both = {"likelihood_solver": kw["solver"], "likelihood_steps": kw.get("steps", 8),
            "likelihood_rtol": kw.get("rtol", 1e-5)}  # evaluation and training solvers
    model = CNF(Linear(a), (2,), T=1.5, **kw, **both).double()
    x = _points()
    with torch.no_grad():
        lp = model.log_prob(x)
    torch.testing.assert_close(lp, _closed_form(x, a, 1.5), atol=1e-6, rtol=0)
    lp_train = model.log_prob(x)  # with gradients on: the differentiable (training) path
    torch.testing.assert_close(lp_train.detach(), lp, atol=1e-10, rtol=0)


def test_linear_ode_sampling_and_rsample_log_prob() -> None:
    """Samples are :math:`e^{-AT}z`; the density along the way matches the closed form."""
    model = CNF(Linear(A), (2,), steps=16).double()  # with gradients: rk4 × 16
    x, lq = model.rsample_and_log_prob(32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(lq, _closed_form(x, A), atol=1e-6, rtol=0)
    z = torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(x, z @ torch.linalg.matrix_exp(-A).T, atol=1e-6, rtol=0)
    lq.sum().backward()  # reparameterised: gradients reach the parameters
    assert model.net.a.grad is not None and torch.isfinite(model.net.a.grad).all()


def test_rnode_integrals_closed_form() -> None:
    """For :math:`F = a x`: :math:`\\int_0^1\\lVert F\\rVert^2 = a^2\\lVert x\\rVert^2
    (e^{2a} - 1)/2a` and :math:`\\int_0^1\\lVert\\nabla F\\rVert_F^2 = d a^2`."""
    a = 0.7
    model = CNF(Linear(a * torch.eye(2, dtype=torch.float64)), (2,), steps=32).double()
    x = _points(16)
    sol = model.flow(x, regularize=True, create_graph=True)  # the training solver: rk4 × 32
    kin = a * a * x.square().sum(1) * (math.exp(2 * a) - 1) / (2 * a)
    torch.testing.assert_close(sol.kinetic.detach(), kin, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(sol.frobenius.detach(), torch.full((16,), 2 * a * a, dtype=x.dtype))


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(kind: str) -> None:
    """Each row is one probe at the same point: the mean of N = 20 000 one-probe estimates of
    the divergence and of the squared Frobenius norm lies within 4 standard errors."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 3)).double()

    def f(t: Tensor, x: Tensor) -> Tensor:
        return net(x) * (1 + x[:, :1].square())

    x0 = torch.randn(1, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, div, frob = divergence_terms(f, torch.tensor(0.0), x0, None)
    n = 20_000
    eps = hutchinson_probes((n, 3), 1, kind, generator=torch.Generator().manual_seed(3),
                            dtype=torch.float64)
    _, d_hat, f_hat = divergence_terms(f, torch.tensor(0.0), x0.expand(n, 3), eps)
    for est, exact in ((d_hat, div), (f_hat, frob)):
        se = est.std() / math.sqrt(n)
        assert se > 0 and abs(est.mean() - exact[0]) < 4 * se, (est.mean(), exact, se)


def test_adjoint_gradient_equals_backprop() -> None:
    torch.manual_seed(0)
    x = _points(32)
    grads = []
    for adjoint in (False, True):
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
        model = CNF(_NoTime(net), (2,), solver="rk4", steps=8, backend="torchdiffeq",
                    adjoint=adjoint).double()
        loss = CNFLikelihood()(model, _batch(x)).loss
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1, atol=1e-5, rtol=1e-4)


class _NoTime(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.net(x) * (1 + t[:, None])


def _batch(x: Tensor):  # noqa: ANN202 - Batch
    from genmodels.core import Batch

    return Batch(x)


def test_cnf_learns_moons() -> None:
    """Seeded: 150 steps (≈3 s) of a small CNF on moons (Heun × 4 in training) reach a test
    NLL below 2.9 nats by the adaptive (rtol 1e-5) likelihood solve; a Gaussian fit of the
    same points has 3.28."""
    import genmodels as gm

    run = gm.fit(model={"name": "cnf", "width": 32, "blocks": 1, "steps": 4, "solver": "heun"},
                 data={"name": "moons", "n_train": 4096},
                 train={"steps": 150, "batch_size": 128, "lr": 5e-3, "seed": 0})
    test = run.dataset().test[:1000]
    nll = -run.log_prob(test).mean().item()
    gauss = 0.5 * torch.logdet(2 * math.pi * math.e * torch.cov(test.T)).item()
    assert nll < 2.9 < gauss, (nll, gauss)


def test_cnf_rnode_and_cli(tmp_path) -> None:
    """The RNODE keys train through the CLI; ``score`` and the ``nll`` metric work."""
    import json

    import numpy as np

    from genmodels.cli import main

    run = tmp_path / "run"
    assert main(["train", "--model", "cnf", "--data", "moons", "--steps", "5", "--batch-size",
                 "32", "--set", "data.n_train=256", "data.n_test=128", "model.kinetic=0.1",
                 "model.jacobian=0.1", "model.trace=hutchinson", "--out", str(run),
                 "--no-progress"]) == 0
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("kinetic" in json.dumps(r) for r in rows)
    pts = tmp_path / "p.npy"
    np.save(pts, np.zeros((4, 2), dtype=np.float32))
    assert main(["score", str(run), "--in", str(pts), "--out", str(tmp_path / "lp.npy")]) == 0
    assert np.isfinite(np.load(tmp_path / "lp.npy")).all()
    assert main(["evaluate", str(run), "--metrics", "nll", "--json"]) == 0


def test_trajectory_ends_where_heun_sampling_ends_and_follows_the_linear_flow() -> None:
    """The report's trajectory: ``(K + 1, n, D)`` states from the base draw; the last one is
    ``sample(sampler="heun")`` with the same budget, each state ``e^{-A(T - t_k)} z``."""
    model = CNF(Linear(A), (2,), steps=16).double()
    states = model.trajectory(32, generator=torch.Generator().manual_seed(1), nfe=32)
    assert states.shape == (17, 32, 2)
    x = model.sample(32, generator=torch.Generator().manual_seed(1), sampler="heun", nfe=32)
    torch.testing.assert_close(states[-1], x, atol=0, rtol=0)
    z = states[0]
    for k in (4, 8, 16):
        exact = z @ torch.linalg.matrix_exp(-A * (k / 16)).T
        torch.testing.assert_close(states[k], exact, atol=1e-3, rtol=0)  # Heun, h = 1/16
