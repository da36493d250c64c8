"""The shared solver suite: measured convergence order equals the declared order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genmodels.solvers import (
    SOLVERS,
    Dopri5,
    EulerMaruyama,
    get_solver,
    integrate,
    integrate_adaptive,
)


def _field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dx/dt = cos(t) x, solution x0 exp(sin t): non-autonomous, so t-handling is tested."""
    return torch.cos(t) * x


def _exact(x0: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
    return x0 * math.exp(math.sin(t1) - math.sin(t0))


def _slope(ns: list[int], errs: list[float]) -> float:
    return -np.polyfit(np.log(ns), np.log(errs), 1)[0]


ODE = [n for n, c in SOLVERS.items() if not c.stochastic]


@pytest.mark.parametrize("name", ODE)
@pytest.mark.parametrize("reverse", [False, True])
def test_measured_order_equals_declared_order(name: str, reverse: bool) -> None:
    solver = get_solver(name)
    x0 = torch.tensor([[1.0], [-0.5]], dtype=torch.float64)
    span = 2.0 if solver.order < 5 else 1.0  # order 5 leaves the asymptotic range fast
    t0, t1 = (span, 0.0) if reverse else (0.0, span)
    # order 2 on this field leaves its pre-asymptotic range (midpoint: slope 1.6 at 8 → 16) from
    # 16 steps on
    ns = [16, 32, 64] if solver.order < 5 else [2, 4, 8]
    errs = []
    for n in ns:
        sol = integrate(_field, x0, torch.linspace(t0, t1, n + 1, dtype=torch.float64), solver)
        assert sol.nfe == n * solver.evals
        errs.append((sol.x - _exact(x0, t0, t1)).abs().max().item())
    assert abs(_slope(ns, errs) - solver.order) < 0.3, (name, errs)


def test_euler_maruyama_strong_order_one_for_additive_noise() -> None:
    """OU dX = -X dt + (1 + t) dW; refine one Brownian path; exact X_T by Itô isometry."""
    fine = 2048
    g = torch.Generator().manual_seed(0)
    paths = 2000
    dws = torch.randn(paths, fine, generator=g, dtype=torch.float64) * math.sqrt(1.0 / fine)
    tf = torch.linspace(0.0, 1.0, fine + 1, dtype=torch.float64)
    x0 = torch.ones(paths, 1, dtype=torch.float64)
    # reference: exact transition over each fine step, driven by the same increments
    x_ref = x0[:, 0].clone()
    for k in range(fine):  # x_{k+1} = e^{-h} x_k + ∫ e^{-(t_{k+1}-s)} g(s) dW ≈ (midpoint) g
        h = 1.0 / fine
        tm = tf[k] + h / 2
        x_ref = math.exp(-h) * x_ref + math.exp(-h / 2) * (1 + tm) * dws[:, k]
    ns, errs = [16, 32, 64, 128], []
    for n in ns:
        inc = dws.reshape(paths, n, fine // n).sum(-1)
        it = iter(range(n))

        def bm(t0: torch.Tensor, t1: torch.Tensor, like: torch.Tensor, it=it,
               inc=inc) -> torch.Tensor:
            return inc[:, next(it)].unsqueeze(1)

        sol = integrate(lambda t, x: -x, x0, torch.linspace(0, 1, n + 1, dtype=torch.float64),
                        EulerMaruyama(), g=lambda t: 1 + t, brownian=bm)
        errs.append((sol.x[:, 0] - x_ref).square().mean().sqrt().item())
    assert abs(_slope(ns, errs) - EulerMaruyama.order) < 0.25, errs


def test_em_is_seeded_by_the_generator() -> None:
    x = torch.zeros(4, 2)
    ts = torch.linspace(1, 0, 5)
    a = integrate(lambda t, x: -x, x, ts, "em", g=lambda t: t + 1,
                  generator=torch.Generator().manual_seed(3)).x
    b = integrate(lambda t, x: -x, x, ts, "em", g=lambda t: t + 1,
                  generator=torch.Generator().manual_seed(3)).x
    assert torch.equal(a, b) and a.abs().sum() > 0


@pytest.mark.parametrize("tol", [1e-4, 1e-7])
def test_adaptive_dopri5_meets_its_tolerance(tol: float) -> None:
    x0 = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    sol = integrate_adaptive(_field, x0, 0.0, 6.0, rtol=tol, atol=tol)
    err = (sol.x - _exact(x0, 0.0, 6.0)).abs().max().item()
    assert err < 20 * tol
    back = integrate_adaptive(_field, sol.x, 6.0, 0.0, rtol=tol, atol=tol)
    assert (back.x - x0).abs().max().item() < 40 * tol
    assert sol.nfe == 6 * sol.steps + 1 or sol.nfe > 6 * sol.steps  # rejected steps cost too


def test_dopri5_tighter_tolerance_costs_more_evaluations() -> None:
    x0 = torch.ones(3, 1, dtype=torch.float64)
    loose = integrate_adaptive(_field, x0, 0.0, 6.0, rtol=1e-3, atol=1e-3).nfe
    tight = integrate_adaptive(_field, x0, 0.0, 6.0, rtol=1e-8, atol=1e-8).nfe
    assert tight > 2 * loose
    assert Dopri5.order == 5
