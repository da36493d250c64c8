"""f-divergences: conjugates against a brute-force supremum, f(1), tight variational bounds."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.divergences.fdiv import (
    F_DIVERGENCES,
    f_divergence,
    f_divergence_mc,
    get_f_divergence,
    jensen_shannon,
    variational_bound,
)
from genmodels.errors import InputError

NAMES = sorted(F_DIVERGENCES)
D = torch.float64


def _t_values(name: str) -> torch.Tensor:
    lo, hi = F_DIVERGENCES[name].domain
    lo = max(lo, -4.0 if name == "pearson" else -3.0)  # Pearson: u ≥ 0 binds below t = -2
    hi = min(hi, 3.0)
    return torch.linspace(lo + 0.02, hi - 0.02, 9, dtype=D)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_the_brute_force_supremum(name: str) -> None:
    d = F_DIVERGENCES[name]
    u = torch.cat([torch.logspace(-8, 4, 400_001, dtype=D), torch.zeros(1, dtype=D) + 1e-300])
    fu = d.f(u)
    for t in _t_values(name):
        brute = (u * t - fu).max()
        assert float(d.conjugate(t)) == pytest.approx(float(brute), abs=2e-4, rel=1e-4), t


@pytest.mark.parametrize("name", NAMES)
def test_activation_lands_in_the_domain_and_composite_is_stable(name: str) -> None:
    d = F_DIVERGENCES[name]
    v = torch.linspace(-30, 30, 601, dtype=D)
    g = d.activation(v)
    lo, hi = d.domain
    assert ((g > lo) | (g == lo) & (lo == -0.5)).all() and (g <= hi).all()
    inside = torch.linspace(-8, 8, 161, dtype=D)
    ref = d.conjugate(d.activation(inside))
    assert torch.allclose(d.conjugate_of_activation(inside), ref, rtol=1e-9, atol=1e-9)
    big = torch.tensor([-80.0, 80.0], dtype=torch.float32)
    if name not in ("kl", "pearson", "hellinger"):  # exp(v) / v² grow on purpose
        assert torch.isfinite(d.conjugate_of_activation(big)).all()


@pytest.mark.parametrize("name", NAMES)
def test_f_of_one_and_f_prime_of_one(name: str) -> None:
    d = F_DIVERGENCES[name]
    one = torch.ones((), dtype=D)
    expected = -math.log(4.0) if name == "gan" else 0.0  # 2 JSD - log 4 is -log 4 at P = Q
    assert float(d.f(one)) == pytest.approx(expected, abs=1e-12)
    assert float(d.f_prime(one)) == pytest.approx(d.f_prime_one, abs=1e-12)


def _grid_gaussians() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    x = torch.linspace(-14, 14, 40_001, dtype=D)
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=D), 1.0)
    q = torch.distributions.Normal(torch.tensor(0.7, dtype=D), 1.5)
    return x, p.log_prob(x), q.log_prob(x), float(x[1] - x[0])


@pytest.mark.parametrize("name", NAMES)
def test_bound_is_tight_at_the_optimal_critic(name: str) -> None:
    x, lp, lq, dx = _grid_gaussians()
    d = F_DIVERGENCES[name]
    value = f_divergence(d, lp, lq, dx)
    t_star = d.f_prime(torch.exp(lp - lq))
    w_p, w_q = lp.exp() * dx, lq.exp() * dx
    bound = (w_p * t_star).sum() - (w_q * d.conjugate(t_star)).sum()
    assert float(bound) == pytest.approx(float(value), rel=1e-5, abs=1e-7)
    # any other critic gives less
    worse = (w_p * 0.9 * t_star).sum() - (w_q * d.conjugate(0.9 * t_star)).sum()
    assert float(worse) < float(value) + 1e-9
    assert float(value) >= (-math.log(4) if name == "gan" else 0.0)


def test_quadrature_against_closed_forms() -> None:
    x, lp, lq, dx = _grid_gaussians()
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=D), 1.0)
    q = torch.distributions.Normal(torch.tensor(0.7, dtype=D), 1.5)
    kl = float(torch.distributions.kl_divergence(p, q))
    assert float(f_divergence("kl", lp, lq, dx)) == pytest.approx(kl, rel=1e-8)
    assert float(f_divergence("reverse-kl", lp, lq, dx)) == pytest.approx(
        float(torch.distributions.kl_divergence(q, p)), rel=1e-8)
    # squared Hellinger of Gaussians: 2(1 - BC), BC = √(2s1s2/(s1²+s2²)) e^{-Δ²/4(s1²+s2²)}
    s1, s2, dm = 1.0, 1.5, 0.7
    bc = math.sqrt(2 * s1 * s2 / (s1**2 + s2**2)) * math.exp(-dm**2 / (4 * (s1**2 + s2**2)))
    assert float(f_divergence("hellinger", lp, lq, dx)) == pytest.approx(2 * (1 - bc), rel=1e-7)
    js = float(jensen_shannon(lp, lq, dx))
    assert 0 < js < math.log(2)
    assert float(f_divergence("gan", lp, lq, dx)) == pytest.approx(2 * js - math.log(4), rel=1e-8)


def test_monte_carlo_matches_quadrature() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.distributions.Normal(torch.tensor(0.7, dtype=D), 1.5)
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=D), 1.0)
    xs = 0.7 + 1.5 * torch.randn(400_000, generator=g, dtype=D)
    x, lp, lq, dx = _grid_gaussians()
    for name in ("kl", "js", "hellinger", "tv"):
        mc = float(f_divergence_mc(name, p.log_prob(xs), q.log_prob(xs)))
        assert mc == pytest.approx(float(f_divergence(name, lp, lq, dx)), rel=0.02, abs=2e-3)


def test_variational_bound_forms_agree_and_bad_names_fail() -> None:
    v = torch.linspace(-3, 3, 11, dtype=D)
    for name in NAMES:
        d = get_f_divergence(name)
        a = variational_bound(name, v, v.flip(0))
        b = variational_bound(d, d.activation(v), d.activation(v.flip(0)), activated=False)
        assert torch.allclose(a, b)
    with pytest.raises(InputError, match="divergence"):
        get_f_divergence("jeffreys")
