"""Unnormalised targets: normalisers against quadrature, gradients against finite differences,
exact samples against the density (Kolmogorov-Smirnov on 1-D marginals, p > 1e-3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from genmodels.data.targets import TARGETS, get_target
from genmodels.errors import InputError

DIM = {"banana": 2, "funnel": 2, "gmm": 2, "double-well": 2, "many-well": 2}


def _grid_mass(t, lo: float, hi: float, m: int = 1201) -> float:  # noqa: ANN001
    g = torch.linspace(lo, hi, m, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    lp = t.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).reshape(m, m)
    return float(torch.trapezoid(torch.trapezoid(lp.exp(), g), g))


@pytest.mark.parametrize(("name", "box"), [("banana", 8.0), ("gmm", 10.0),
                                           ("double-well", 6.0), ("many-well", 6.0)])
def test_log_normaliser_makes_the_density_integrate_to_one(name: str, box: float) -> None:
    t = get_target(name, dim=2)
    assert abs(_grid_mass(t, -box, box) - 1.0) < 2e-3


def test_one_d_normalisers_match_scipy_quad_and_funnel_is_exact() -> None:
    z1, _ = integrate.quad(lambda s: math.exp(-s**4 + 6 * s * s + 0.5 * s), -np.inf, np.inf)
    mw = get_target("many-well", dim=8)
    assert math.isclose(mw.log_z, 4 * (math.log(z1) + 0.5 * math.log(2 * math.pi)),
                        rel_tol=1e-9)
    z2, _ = integrate.quad(lambda s: math.exp(-((s * s - 1) ** 2) / 0.25), -np.inf, np.inf)
    dw = get_target("double-well", dim=3)
    assert math.isclose(dw.log_z, math.log(z2) + math.log(2 * math.pi), rel_tol=1e-9)
    f = get_target("funnel", dim=4)
    x = f.sample(50, generator=torch.Generator().manual_seed(0))
    v = x[:, 0].numpy()
    ref = stats.norm.logpdf(v, scale=3.0) + stats.norm.logpdf(
        x[:, 1:].numpy(), scale=np.exp(v / 2)[:, None]).sum(1)
    assert np.allclose(f.log_prob(x).numpy(), ref, atol=1e-10)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_gradient_matches_finite_differences(name: str) -> None:
    t = get_target(name, dim=4)
    x = 0.5 * torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    g = t.grad_log_prob(x)
    eps = 1e-6
    for i in range(4):
        e = torch.zeros(4, dtype=torch.float64)
        e[i] = eps
        fd = (t.log_unnorm(x + e) - t.log_unnorm(x - e)) / (2 * eps)
        assert torch.allclose(g[:, i], fd, atol=1e-5, rtol=1e-6)


def _ks_1d(samples: np.ndarray, logpdf, lo: float, hi: float) -> float:  # noqa: ANN001
    grid = np.linspace(lo, hi, 20001)
    dens = np.exp(logpdf(grid))
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(grid))])
    cdf /= cdf[-1]
    return stats.kstest(samples, lambda s: np.interp(s, grid, cdf)).pvalue


def test_exact_samples_follow_the_density() -> None:
    g = torch.Generator().manual_seed(2)
    n = 4000
    dw = get_target("double-well", dim=2).sample(n, generator=g)
    assert _ks_1d(dw[:, 0].numpy(), lambda s: -((s * s - 1) ** 2) / 0.25, -4, 4) > 1e-3
    mw = get_target("many-well", dim=4).sample(n, generator=g)
    for j in (0, 2):
        assert _ks_1d(mw[:, j].numpy(), lambda s: -s**4 + 6 * s * s + 0.5 * s, -5, 5) > 1e-3
    assert stats.kstest(mw[:, 1].numpy(), "norm").pvalue > 1e-3
    b = get_target("banana", dim=3).sample(n, generator=g)
    y2 = b[:, 1] + 0.5 * (b[:, 0] ** 2 - 1)  # un-twisted: standard normal
    for col in (b[:, 0], y2, b[:, 2]):
        assert stats.kstest(col.numpy(), "norm").pvalue > 1e-3
    f = get_target("funnel", dim=3).sample(n, generator=g)
    assert stats.kstest((f[:, 0] / 3).numpy(), "norm").pvalue > 1e-3
    assert stats.kstest((f[:, 1] * torch.exp(-f[:, 0] / 2)).numpy(), "norm").pvalue > 1e-3
    gm = get_target("gmm", dim=2, k=3, spread=4.0, seed=5)
    s = gm.sample(n, generator=g).numpy()
    # binned chi-square of the samples against log_prob integrated over 1x1 cells of [-8, 8]²
    h = 0.05
    mid = np.arange(-8 + h / 2, 8, h)
    xx, yy = np.meshgrid(mid, mid, indexing="ij")
    pts = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))
    dens = gm.log_prob(pts).exp().numpy().reshape(len(mid), len(mid)) * h * h
    k = int(round(1 / h))
    probs = dens.reshape(16, k, 16, k).sum((1, 3)).ravel()
    counts, _, _ = np.histogram2d(s[:, 0], s[:, 1], bins=16, range=[[-8, 8], [-8, 8]])
    keep = probs * n > 5
    expected = probs[keep] / probs[keep].sum() * counts.ravel()[keep].sum()
    chi2 = float(((counts.ravel()[keep] - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_registry_lookup_and_bad_arguments() -> None:
    assert set(TARGETS) == {"banana", "funnel", "gmm", "double-well", "many-well"}
    with pytest.raises(InputError, match=r"^unknown target 'nope' \(known: banana"):
        get_target("nope")
    with pytest.raises(InputError, match="many-well: dim 3 must be even"):
        get_target("many-well", dim=3)
