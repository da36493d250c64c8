"""Divergences against named references: sorted pairs, closed forms, POT, scipy, brute force."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from genmodels.divergences import (
    energy_distance,
    kl_gaussians,
    median_bandwidth,
    mmd2,
    wasserstein2,
    wasserstein2_gaussians,
)
from genmodels.errors import InputError

pytest.importorskip("scipy")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- W2


def _w2_1d_quantiles(x: np.ndarray, y: np.ndarray) -> float:
    """W2 in 1-D from the quantile functions: (∫0^1 (F⁻¹(u) − G⁻¹(u))² du)^{1/2}."""
    xs, ys = np.sort(x), np.sort(y)
    n, m = len(xs), len(ys)
    cuts = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    mid = 0.5 * (cuts[1:] + cuts[:-1])
    qx = xs[np.minimum((mid * n).astype(int), n - 1)]
    qy = ys[np.minimum((mid * m).astype(int), m - 1)]
    return math.sqrt(float(np.sum(np.diff(cuts) * (qx - qy) ** 2)))


@pytest.mark.parametrize("backend", ["pot", "scipy"])
def test_w2_1d_equals_sorted_pairs(backend: str) -> None:
    pytest.importorskip("ot")
    g = _gen(1)
    x, y = torch.randn(300, generator=g), 2.0 * torch.rand(300, generator=g) + 0.5
    xs, ys = x.double().sort().values, y.double().sort().values
    expected = math.sqrt(float(((xs - ys) ** 2).mean()))
    assert wasserstein2(x[:, None], y[:, None], backend=backend) == pytest.approx(
        expected, rel=1e-12
    )


def test_w2_1d_unequal_sizes_equals_quantile_formula() -> None:
    pytest.importorskip("ot")
    g = _gen(2)
    x, y = torch.randn(120, generator=g), torch.randn(75, generator=g) * 0.5 + 1.0
    expected = _w2_1d_quantiles(x.double().numpy(), y.double().numpy())
    assert wasserstein2(x, y) == pytest.approx(expected, rel=1e-10)


def test_w2_scipy_fallback_matches_pot_on_2d_points() -> None:
    ot = pytest.importorskip("ot")
    g = _gen(3)
    x, y = torch.randn(150, 2, generator=g), torch.rand(150, 2, generator=g) * 3
    pot = math.sqrt(ot.emd2([], [], ot.dist(x.double().numpy(), y.double().numpy())))
    assert wasserstein2(x, y, backend="scipy") == pytest.approx(pot, rel=1e-10)
    assert wasserstein2(x, y, backend="pot") == pytest.approx(pot, rel=1e-10)


def test_w2_auto_falls_back_to_scipy_without_pot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ot", None)  # `import ot` now raises ImportError
    g = _gen(4)
    x, y = torch.randn(40, 3, generator=g), torch.randn(40, 3, generator=g)
    assert wasserstein2(x, y) == pytest.approx(wasserstein2(x, y, backend="scipy"), rel=1e-12)
    with pytest.raises(ImportError, match=r"genmodels\[metrics\]"):
        wasserstein2(x, y[:30])


def test_w2_gaussian_samples_approach_closed_form() -> None:
    """Empirical W2 of 1500 vs 1500 Gaussian samples within 4 % of the closed form (≈ 3.24).

    W2² between empirical measures is biased upwards in expectation (joint convexity) and
    fluctuates from draw to draw (here 3.187 against 3.239, −1.6 %); the tolerance is
    relative to a distance well above that sampling noise.
    """
    g = _gen(5)
    mu0, mu1 = torch.tensor([0.0, 0.0]), torch.tensor([3.0, 1.0])
    c0 = torch.tensor([[1.0, 0.0], [0.0, 0.25]])
    c1 = torch.tensor([[2.0, 0.6], [0.6, 1.0]])
    x = mu0 + torch.randn(1500, 2, generator=g) @ torch.linalg.cholesky(c0).T
    y = mu1 + torch.randn(1500, 2, generator=g) @ torch.linalg.cholesky(c1).T
    exact = wasserstein2_gaussians(mu0, c0, mu1, c1)
    # independent closed form: scipy's sqrtm, with the other ordering Σ0^{1/2} Σ1 Σ0^{1/2}
    from scipy.linalg import sqrtm

    a0, a1 = c0.double().numpy(), c1.double().numpy()
    r0 = sqrtm(a0).real
    bures = np.trace(a0 + a1 - 2 * sqrtm(r0 @ a1 @ r0).real)
    assert exact == pytest.approx(math.sqrt(10.0 + bures), rel=1e-10)
    assert wasserstein2(x, y) == pytest.approx(exact, rel=0.04)


def test_w2_gaussians_closed_form_special_cases() -> None:
    # 1-D: W2² = (μ0 − μ1)² + (σ0 − σ1)²
    w = wasserstein2_gaussians(torch.tensor([1.0]), torch.tensor([[4.0]]),
                               torch.tensor([-1.0]), torch.tensor([[9.0]]))
    assert w == pytest.approx(math.sqrt(4.0 + 1.0), rel=1e-12)
    # commuting (diagonal) covariances: W2² = ‖Δμ‖² + ‖√diag0 − √diag1‖²
    d0 = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    d1 = torch.tensor([0.5, 2.0, 5.0], dtype=torch.float64)
    w = wasserstein2_gaussians(torch.zeros(3), d0.diag(), torch.ones(3), d1.diag())
    expected = math.sqrt(3.0 + float(((d0.sqrt() - d1.sqrt()) ** 2).sum()))
    assert w == pytest.approx(expected, rel=1e-10)
    # identical Gaussians: 0
    c = torch.tensor([[2.0, 0.7], [0.7, 1.0]])
    assert wasserstein2_gaussians(torch.ones(2), c, torch.ones(2), c) == pytest.approx(
        0.0, abs=1e-6
    )


def test_w2_input_checks_and_flattening() -> None:
    with pytest.raises(InputError, match="10000"):
        wasserstein2(torch.zeros(10_001, 1), torch.zeros(5, 1))
    with pytest.raises(InputError, match="dimensions"):
        wasserstein2(torch.zeros(5, 2), torch.zeros(5, 3))
    g = _gen(6)
    x, y = torch.randn(30, 1, 2, 2, generator=g), torch.randn(30, 1, 2, 2, generator=g)
    assert wasserstein2(x, y) == pytest.approx(wasserstein2(x.reshape(30, 4),
                                                            y.reshape(30, 4)))


# ----------------------------------------------------------------------------- MMD


def _brute_mmd2(x: np.ndarray, y: np.ndarray, k, estimator: str) -> float:
    """MMD² by explicit double loops (Gretton et al. 2012, eqs. 2 and 3)."""
    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if estimator == "biased"
              or i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if estimator == "biased"
              or i != j)
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    if estimator == "biased":
        return sxx / n**2 + syy / m**2 - 2 * sxy / (n * m)
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)


def _gauss(h: float):
    return lambda a, b: math.exp(-float(np.sum((a - b) ** 2)) / (2 * h * h))


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_mmd2_matches_double_loop(estimator: str) -> None:
    g = _gen(7)
    x, y = torch.randn(7, 3, generator=g), torch.randn(9, 3, generator=g) + 0.5
    xn, yn = x.double().numpy(), y.double().numpy()
    h = 1.3
    ours = float(mmd2(x, y, bandwidth=h, estimator=estimator))
    assert ours == pytest.approx(_brute_mmd2(xn, yn, _gauss(h), estimator), rel=1e-10)
    # blocks of 2 rows give the same sums (the diagonal is masked per block)
    assert float(mmd2(x, y, bandwidth=h, estimator=estimator, block=2)) == pytest.approx(
        ours, rel=1e-12
    )
    # multi-bandwidth: the kernel is the sum of the Gaussian kernels
    hs = [0.5, 1.0, 2.0]
    ksum = lambda a, b: sum(_gauss(t)(a, b) for t in hs)  # noqa: E731
    assert float(mmd2(x, y, bandwidth=hs, estimator=estimator)) == pytest.approx(
        _brute_mmd2(xn, yn, ksum, estimator), rel=1e-10
    )
    # Laplacian kernel exp(−‖a−b‖/h)
    klap = lambda a, b: math.exp(-float(np.linalg.norm(a - b)) / h)  # noqa: E731
    assert float(mmd2(x, y, kernel="laplacian", bandwidth=h, estimator=estimator)) == (
        pytest.approx(_brute_mmd2(xn, yn, klap, estimator), rel=1e-10)
    )


def test_median_heuristic_is_median_of_pooled_distances() -> None:
    from scipy.spatial.distance import pdist

    g = _gen(8)
    x, y = torch.randn(20, 2, generator=g), torch.randn(15, 2, generator=g) * 2
    pooled = torch.cat([x, y]).double().numpy()
    h = float(np.median(pdist(pooled)))  # distances, not squared; diagonal excluded
    assert median_bandwidth(x, y) == pytest.approx(h, rel=1e-12)
    ours = float(mmd2(x, y))
    assert ours == pytest.approx(_brute_mmd2(x.double().numpy(), y.double().numpy(),
                                             _gauss(h), "unbiased"), rel=1e-10)
    # scales multiply the median bandwidth
    assert float(mmd2(x, y, scales=(0.5, 2.0))) == pytest.approx(
        float(mmd2(x, y, bandwidth=[0.5 * h, 2.0 * h])), rel=1e-12
    )


def test_mmd2_linear_estimator_matches_pairs_formula() -> None:
    g = _gen(9)
    x, y = torch.randn(11, 2, generator=g), torch.randn(8, 2, generator=g)
    k = _gauss(0.8)
    xn, yn = x.double().numpy(), y.double().numpy()
    hs = [k(xn[2 * i], xn[2 * i + 1]) + k(yn[2 * i], yn[2 * i + 1]) - k(xn[2 * i], yn[2 * i + 1])
          - k(xn[2 * i + 1], yn[2 * i]) for i in range(4)]
    assert float(mmd2(x, y, bandwidth=0.8, estimator="linear")) == pytest.approx(
        float(np.mean(hs)), rel=1e-10
    )


def test_mmd2_same_vs_shifted_distributions() -> None:
    g = _gen(10)
    x, y = torch.randn(600, 2, generator=g), torch.randn(600, 2, generator=g)
    same = float(mmd2(x, y))
    shifted = float(mmd2(x, y + torch.tensor([1.0, 0.0])))
    assert abs(same) < 5e-3
    assert shifted > 0.1
    assert float(mmd2(x, y, estimator="biased")) > 0.0


def test_mmd2_unbiased_is_not_clamped() -> None:
    values = [float(mmd2(torch.randn(30, 2, generator=_gen(s)),
                         torch.randn(30, 2, generator=_gen(100 + s)))) for s in range(20)]
    assert min(values) < 0.0 < max(values)


def test_mmd2_is_differentiable() -> None:
    x = torch.randn(20, 2, requires_grad=True)
    y = torch.randn(25, 2)
    mmd2(x, y, bandwidth=1.0).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_mmd2_input_checks() -> None:
    with pytest.raises(InputError, match="estimator"):
        mmd2(torch.randn(4, 2), torch.randn(4, 2), estimator="bogus")
    with pytest.raises(InputError, match="kernel"):
        mmd2(torch.randn(4, 2), torch.randn(4, 2), kernel="bogus")
    with pytest.raises(InputError):
        mmd2(torch.randn(1, 2), torch.randn(4, 2), bandwidth=1.0)


# ----------------------------------------------------------------------------- energy


@pytest.mark.parametrize("sizes", [(50, 50), (40, 65)])
def test_energy_distance_is_scipy_squared_in_1d(sizes: tuple[int, int]) -> None:
    """scipy.stats.energy_distance returns √(2∫(F−G)²) = √(V-statistic): ours = scipy²."""
    from scipy.stats import energy_distance as scipy_energy

    g = _gen(11)
    x, y = torch.randn(sizes[0], generator=g), torch.rand(sizes[1], generator=g) * 2
    ref = scipy_energy(x.double().numpy(), y.double().numpy())
    assert float(energy_distance(x, y)) == pytest.approx(ref**2, rel=1e-10)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_energy_distance_matches_double_loop(estimator: str) -> None:
    g = _gen(12)
    x, y = torch.randn(8, 3, generator=g), torch.randn(6, 3, generator=g) + 1.0
    dist = lambda a, b: -float(np.linalg.norm(a - b))  # noqa: E731
    ref = _brute_mmd2(x.double().numpy(), y.double().numpy(), dist, estimator)
    assert float(energy_distance(x, y, estimator=estimator)) == pytest.approx(ref, rel=1e-10)


def test_energy_distance_gradient_finite_with_duplicates() -> None:
    x = torch.randn(10, 2)
    x = torch.cat([x, x[:3]]).requires_grad_(True)  # duplicate points: ‖a − b‖ = 0
    energy_distance(x, torch.randn(12, 2)).backward()
    assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------- KL


def test_kl_gaussians_full_matches_torch_distributions() -> None:
    from torch.distributions import MultivariateNormal, kl_divergence

    g = _gen(13)
    a = torch.randn(5, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(5, 3, 3, generator=g, dtype=torch.float64)
    c0 = a @ a.mT + 0.5 * torch.eye(3, dtype=torch.float64)
    c1 = b @ b.mT + 0.5 * torch.eye(3, dtype=torch.float64)
    m0 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    m1 = torch.randn(5, 3, generator=g, dtype=torch.float64)
    ref = kl_divergence(MultivariateNormal(m0, c0), MultivariateNormal(m1, c1))
    assert torch.allclose(kl_gaussians(m0, c0, m1, c1), ref, rtol=1e-10)
    # mixed: diagonal against full
    v0 = torch.rand(5, 3, generator=g, dtype=torch.float64) + 0.1
    ref = kl_divergence(MultivariateNormal(m0, torch.diag_embed(v0)), MultivariateNormal(m1, c1))
    assert torch.allclose(kl_gaussians(m0, v0, m1, c1), ref, rtol=1e-10)


def test_kl_gaussians_diagonal_matches_torch_distributions() -> None:
    from torch.distributions import Independent, Normal, kl_divergence

    g = _gen(14)
    m0, m1 = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    v0 = torch.rand(4, 6, generator=g) + 0.2
    v1 = torch.rand(4, 6, generator=g) + 0.2
    p0 = Independent(Normal(m0, v0.sqrt()), 1)
    ref = kl_divergence(p0, Independent(Normal(m1, v1.sqrt()), 1))
    assert torch.allclose(kl_gaussians(m0, v0, m1, v1), ref, rtol=1e-5)
    assert float(kl_gaussians(m0[0], v0[0], m0[0], v0[0])) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InputError):
        kl_gaussians(m0, torch.ones(4, 5), m1, v1)


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
def test_kernel_values_match_double_loop(estimator: str) -> None:
    from genmodels.divergences import Energy, Gaussian, InverseMultiquadric, multi_bandwidth

    g = _gen(20)
    x, y = torch.randn(7, 3, generator=g), torch.randn(9, 3, generator=g) + 0.5
    xn, yn = x.double().numpy(), y.double().numpy()
    imq = lambda a, b: (1.5**2 + float(np.sum((a - b) ** 2))) ** -0.5  # noqa: E731
    assert float(mmd2(x, y, kernel=InverseMultiquadric(1.5), estimator=estimator)) == (
        pytest.approx(_brute_mmd2(xn, yn, imq, estimator), rel=1e-10))
    assert float(mmd2(x, y, kernel="imq", bandwidth=1.5, estimator=estimator)) == (
        pytest.approx(_brute_mmd2(xn, yn, imq, estimator), rel=1e-10))
    # the energy kernel −‖a−b‖ makes MMD² the energy distance exactly
    assert float(mmd2(x, y, kernel=Energy(), estimator=estimator)) == pytest.approx(
        float(energy_distance(x, y, estimator=estimator)), rel=1e-12)
    # multi-bandwidth = the sum of Gaussians at median × scales
    h = median_bandwidth(x, y)
    scales = (0.5, 1.0, 2.0)
    ksum = lambda a, b: sum(_gauss(h * s)(a, b) for s in scales)  # noqa: E731
    assert float(mmd2(x, y, kernel=multi_bandwidth(scales), estimator=estimator)) == (
        pytest.approx(_brute_mmd2(xn, yn, ksum, estimator), rel=1e-10))
    assert float(mmd2(x, y, kernel=Gaussian(1.3), estimator=estimator)) == pytest.approx(
        float(mmd2(x, y, bandwidth=1.3, estimator=estimator)), rel=1e-12)


def test_gaussian_kernel_mmd_between_gaussians_matches_closed_form() -> None:
    """For P = N(0, s²I), Q = N(μ, s²I) and k = exp(−‖a−b‖²/(2h²)) in d dims:
    E k(X, X') = (h²/(h²+2s²))^{d/2}, E k(X, Y) = the same · exp(−‖μ‖²/(2(h²+2s²)))."""
    d, s, h = 2, 1.0, 1.5
    mu = torch.tensor([1.0, 0.5])
    base = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    exact = 2 * base * (1 - math.exp(-float(mu @ mu) / (2 * (h * h + 2 * s * s))))
    g = _gen(21)
    x, y = torch.randn(3000, 2, generator=g), torch.randn(3000, 2, generator=g) + mu
    assert float(mmd2(x, y, bandwidth=h)) == pytest.approx(exact, abs=0.01)


# ----------------------------------------------------------------------------- permutation


def test_permutation_test_matches_brute_force_relabelling() -> None:
    from genmodels.divergences import mmd2_permutation_test

    g = _gen(22)
    x, y = torch.randn(10, 2, generator=g), torch.randn(12, 2, generator=g) + 0.7
    for estimator in ("unbiased", "biased"):
        res = mmd2_permutation_test(x, y, bandwidth=1.0, estimator=estimator,
                                    n_permutations=30, generator=_gen(5))
        assert res.statistic == pytest.approx(float(mmd2(x, y, bandwidth=1.0,
                                                         estimator=estimator)), rel=1e-10)
        z = torch.cat([x, y])
        keys = torch.rand(30, 22, generator=_gen(5))  # the same draws as the function's
        ranks = keys.argsort(1).argsort(1)
        null = [float(mmd2(z[r < 10], z[r >= 10], bandwidth=1.0, estimator=estimator))
                for r in ranks]
        exceed = sum(t >= res.statistic - 1e-12 * abs(res.statistic) for t in null)
        assert res.p_value == pytest.approx((1 + exceed) / 31, abs=1e-12)


def test_permutation_test_false_positive_rate_is_alpha() -> None:
    """Under H0 (both samples N(0, I₂)), over 200 seeded draws, P(p ≤ 0.05) ≈ 0.05."""
    from genmodels.divergences import mmd2_permutation_test

    pvals = []
    for seed in range(200):
        g = _gen(1000 + seed)
        x, y = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g)
        pvals.append(mmd2_permutation_test(x, y, n_permutations=99, generator=g).p_value)
    pvals = np.array(pvals)
    rate = float(np.mean(pvals <= 0.05))
    assert 0.015 <= rate <= 0.095, rate  # binomial(200, 0.05): ±3 sd
    assert 0.4 < float(np.mean(pvals)) < 0.6  # p-values uniform under H0
    g = _gen(7)
    x, y = torch.randn(30, 2, generator=g), torch.randn(30, 2, generator=g) + 1.5
    assert mmd2_permutation_test(x, y, n_permutations=99, generator=g).p_value == 0.01


# ----------------------------------------------------------------------------- Sinkhorn


def test_entropic_ot_equals_pot_log_sinkhorn() -> None:
    """Same plan as POT with reg = ε: ⟨π, M⟩ = ot.sinkhorn2, and OT_ε adds ε(Σπ log π +
    log nm) (our regulariser is ε·KL(π‖a⊗b))."""
    ot = pytest.importorskip("ot")
    from genmodels.divergences import entropic_ot

    g = _gen(23)
    x, y = torch.randn(40, 2, generator=g), torch.randn(30, 2, generator=g) + 1.0
    xn, yn = x.double().numpy(), y.double().numpy()
    a, b, cost = np.full(40, 1 / 40), np.full(30, 1 / 30), ot.dist(xn, yn)
    for eps in (0.5, 0.1):
        r = entropic_ot(x, y, eps=eps, tol=1e-11, max_iter=20000)
        plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", stopThr=1e-13,
                           numItermax=200000)
        lin = float(ot.sinkhorn2(a, b, cost, eps, method="sinkhorn_log", stopThr=1e-13,
                                 numItermax=200000))
        assert r.converged and r.transport_cost == pytest.approx(lin, rel=1e-7)
        full = lin + eps * (float(np.sum(plan * np.log(plan))) + math.log(40 * 30))
        assert float(r.value) == pytest.approx(full, rel=1e-7)


def test_sinkhorn_divergence_debiased_and_limits() -> None:
    ot = pytest.importorskip("ot")
    from genmodels.divergences import entropic_ot, sinkhorn_divergence

    g = _gen(24)
    x, y = torch.randn(50, 2, generator=g), torch.randn(45, 2, generator=g) + 1.0
    eps = 0.2
    s = float(sinkhorn_divergence(x, y, eps=eps, tol=1e-10, max_iter=20000))
    parts = [float(entropic_ot(p, q, eps=eps, tol=1e-10, max_iter=20000).value)
             for p, q in ((x, y), (x, None), (y, None))]
    assert s == pytest.approx(parts[0] - 0.5 * (parts[1] + parts[2]), rel=1e-10)
    # the symmetric solver (averaged updates) = the general alternating one on (x, x), which
    # converges far more slowly there (the plan is nearly a permutation)
    with pytest.warns(UserWarning, match="not converged"):
        general = float(entropic_ot(x, x, eps=eps, tol=1e-12, max_iter=3000).value)
    assert general == pytest.approx(parts[1], rel=1e-5)
    assert s > 0
    assert abs(float(sinkhorn_divergence(x, x, eps=eps))) < 1e-5  # tol-limited
    # ε → 0: S_ε → W2² (the squared distance) of ot.emd2 with M = ‖x−y‖²
    w2sq = float(ot.emd2([], [], ot.dist(x.double().numpy(), y.double().numpy())))
    small = float(sinkhorn_divergence(x, y, eps=0.005, tol=1e-5, max_iter=20000))
    assert small == pytest.approx(w2sq, rel=0.03)
    assert wasserstein2(x, y) ** 2 == pytest.approx(w2sq, rel=1e-10)


def test_sinkhorn_gradient_matches_finite_differences() -> None:
    from genmodels.divergences import sinkhorn_divergence

    g = _gen(25)
    x = torch.randn(12, 2, generator=g, dtype=torch.float64)
    y = torch.randn(10, 2, generator=g, dtype=torch.float64) + 0.5
    kw = dict(eps=0.3, tol=1e-13, max_iter=50000)
    xr = x.clone().requires_grad_(True)
    sinkhorn_divergence(xr, y, **kw).backward()
    h = 1e-5
    for i, j in ((0, 0), (3, 1), (11, 0)):
        xp, xm = x.clone(), x.clone()
        xp[i, j] += h
        xm[i, j] -= h
        fd = (float(sinkhorn_divergence(xp, y, **kw)) - float(sinkhorn_divergence(xm, y, **kw)))
        assert float(xr.grad[i, j]) == pytest.approx(fd / (2 * h), rel=1e-4, abs=1e-8)


def test_sinkhorn_blocked_equals_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    import genmodels.divergences.sinkhorn as sk

    g = _gen(26)
    x, y = torch.randn(30, 2, generator=g), torch.randn(20, 2, generator=g)
    dense = float(sk.sinkhorn_divergence(x, y, eps=0.3, tol=1e-10))
    monkeypatch.setattr(sk, "DENSE_ENTRIES", 0)
    monkeypatch.setattr(sk, "BLOCK_ENTRIES", 64)  # 2–3 rows per block
    assert float(sk.sinkhorn_divergence(x, y, eps=0.3, tol=1e-10)) == pytest.approx(
        dense, rel=1e-10)


@pytest.mark.parametrize("case", ["fallback", "absorb", "sym"])
def test_sinkhorn_scaling_form_equals_log_domain(monkeypatch: pytest.MonkeyPatch,
                                                 case: str) -> None:
    """The kept-cost scaling form (absorbed kernel) = the blocked log domain: at a small ε
    without annealing (whole rows of exp(-C/ε) underflow, so the log-domain fallback runs),
    with absorption at every step, and on the symmetric problem."""
    import genmodels.divergences._sinkhorn_dense as skd
    import genmodels.divergences.sinkhorn as sk

    g = _gen(28)
    x, y = torch.randn(40, 2, generator=g), torch.randn(35, 2, generator=g) * 2 + 1.0
    kw = dict(eps=0.5, tol=1e-11, max_iter=20000)
    if case == "fallback":
        y = y + 8.0
        kw.update(eps=0.05, scaling=0.0)
        # the premise: without potentials, some row of the kernel underflows to 0
        c = sk._cost(x.double(), y.double(), 2, 1.0)
        assert bool((torch.exp(-c / 0.05).sum(1) == 0).any())
    if case == "absorb":
        monkeypatch.setattr(skd, "ABSORB_LOG", 1e-3)
    other = None if case == "sym" else y
    dense = sk.entropic_ot(x, other, **kw)
    monkeypatch.setattr(sk, "DENSE_ENTRIES", 0)
    ref = sk.entropic_ot(x, other, **kw)
    assert dense.converged and ref.converged
    assert float(dense.value) == pytest.approx(float(ref.value), rel=1e-9)
    assert dense.transport_cost == pytest.approx(ref.transport_cost, rel=1e-9)
    assert torch.allclose(dense.f, ref.f, atol=1e-8)


def test_sinkhorn_marginal_rule_is_pots() -> None:
    """criterion="marginal" stops on POT's statistic: at the same stopThr the plan's
    marginal violation is below it, and the value agrees with POT's to the tolerance."""
    ot = pytest.importorskip("ot")
    from genmodels.divergences import entropic_ot

    g = _gen(29)
    n = 300
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.0
    tol = 1e-6
    r = entropic_ot(x, y, eps=0.5, tol=tol, criterion="marginal")
    cost = ot.dist(x.numpy(), y.numpy())
    plan = torch.exp((r.f[:, None] + r.g[None, :] - torch.as_tensor(cost)) / 0.5) / n**2
    assert float((plan.sum(1) - 1 / n).norm()) < tol  # rows; columns exact after g
    assert float((plan.sum(0) - 1 / n).abs().max()) < 1e-12
    w = np.full(n, 1 / n)
    pot = float(ot.sinkhorn2(w, w, cost, 0.5, method="sinkhorn_log", stopThr=tol))
    assert r.transport_cost == pytest.approx(pot, rel=1e-4)
    tight = entropic_ot(x, y, eps=0.5, tol=1e-12, max_iter=20000).transport_cost
    assert r.transport_cost == pytest.approx(tight, rel=1e-4)
    with pytest.raises(InputError, match="criterion"):
        entropic_ot(x, y, eps=0.5, criterion="l1")


def test_sinkhorn_matches_geomloss_with_half_cost() -> None:
    """geomloss SamplesLoss('sinkhorn', p=2, blur=σ) = ours with cost_scale=½, ε = σ²
    (up to geomloss' unconverged annealing; scaling 0.99 makes it converge)."""
    geomloss = pytest.importorskip("geomloss")
    from genmodels.divergences import sinkhorn_divergence

    g = _gen(27)
    x = torch.randn(60, 2, generator=g, dtype=torch.float64)
    y = torch.randn(50, 2, generator=g, dtype=torch.float64) + 0.8
    sigma = 0.5
    ref = float(geomloss.SamplesLoss("sinkhorn", p=2, blur=sigma, scaling=0.99,
                                     backend="tensorized")(x, y))
    ours = float(sinkhorn_divergence(x, y, eps=sigma**2, cost_scale=0.5, tol=1e-10))
    assert ours == pytest.approx(ref, rel=1e-3)


def test_sinkhorn_input_checks() -> None:
    from genmodels.divergences import sinkhorn_divergence

    x = torch.randn(5, 2)
    for kw in (dict(eps=0.0), dict(eps=0.1, p=3), dict(eps=0.1, cost_scale=-1.0)):
        with pytest.raises(InputError):
            sinkhorn_divergence(x, x, **kw)
    with pytest.warns(UserWarning, match="not converged"):
        sinkhorn_divergence(x, x + 1, eps=1e-3, max_iter=2, scaling=0)


# ----------------------------------------------------------------------------- sliced


@pytest.mark.parametrize("sizes", [(80, 80), (70, 45)])
def test_sliced_wasserstein_equals_pot_with_same_projections(sizes: tuple[int, int]) -> None:
    ot = pytest.importorskip("ot")
    from genmodels.divergences import random_directions, sliced_wasserstein

    g = _gen(28)
    x, y = torch.randn(sizes[0], 3, generator=g), torch.rand(sizes[1], 3, generator=g) * 2
    theta = random_directions(20, 3, generator=_gen(1))
    for p in (1, 2):
        ref = ot.sliced_wasserstein_distance(x.double().numpy(), y.double().numpy(),
                                             projections=theta.numpy().T, p=p)
        assert float(sliced_wasserstein(x, y, p=p, projections=theta)) == pytest.approx(
            float(ref), rel=1e-8)


def test_sliced_wasserstein_in_1d_is_exact_w() -> None:
    from scipy.stats import wasserstein_distance

    from genmodels.divergences import sliced_wasserstein

    g = _gen(29)
    x, y = torch.randn(90, generator=g), torch.randn(60, generator=g) * 2 + 1
    one = torch.ones(1, 1)
    assert float(sliced_wasserstein(x, y, p=1, projections=one)) == pytest.approx(
        wasserstein_distance(x.double().numpy(), y.double().numpy()), rel=1e-10)
    assert float(sliced_wasserstein(x, y, p=2, projections=one)) == pytest.approx(
        wasserstein2(x, y), rel=1e-8)
    # seeded directions are reproducible; SW ≤ W2; gradients flow
    x2, y2 = torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g) + 1
    a = sliced_wasserstein(x2, y2, generator=_gen(3))
    assert float(a) == float(sliced_wasserstein(x2, y2, generator=_gen(3)))
    assert float(a) <= wasserstein2(x2, y2)
    xr = x2.clone().requires_grad_(True)
    sliced_wasserstein(xr, y2, generator=_gen(3)).backward()
    assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- Monte Carlo


def test_kl_monte_carlo_matches_torch_distributions() -> None:
    from torch.distributions import MultivariateNormal, kl_divergence

    from genmodels.divergences import kl_monte_carlo

    p = MultivariateNormal(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.5, 2.0]]))
    q = MultivariateNormal(torch.tensor([1.0, -0.5]), torch.eye(2) * 1.5)
    torch.manual_seed(0)
    x = p.sample((20000,))
    est = kl_monte_carlo(p.log_prob(x), q.log_prob(x))
    exact = float(kl_divergence(p, q))
    assert abs(est.value - exact) < 4 * est.se and 0.003 < est.se < 0.02
    assert kl_monte_carlo(p.log_prob(x), p.log_prob(x)).value == 0.0
    with pytest.raises(InputError):
        kl_monte_carlo(torch.zeros(3), torch.tensor([0.0, -math.inf, 0.0]))


def test_js_monte_carlo_matches_quadrature() -> None:
    from scipy.integrate import quad
    from scipy.stats import norm

    from genmodels.divergences import js_monte_carlo

    p, q = norm(0, 1), norm(1.5, 0.7)

    def integrand(t: float) -> float:
        pm = 0.5 * (p.pdf(t) + q.pdf(t))
        return 0.5 * (p.pdf(t) * math.log(p.pdf(t) / pm) + q.pdf(t) * math.log(q.pdf(t) / pm))

    exact = quad(integrand, -12, 12, limit=200)[0]
    rng = np.random.default_rng(0)
    x, y = p.rvs(20000, random_state=rng), q.rvs(15000, random_state=rng)
    t = lambda v: torch.as_tensor(v)  # noqa: E731
    est = js_monte_carlo(t(p.logpdf(x)), t(q.logpdf(x)), t(p.logpdf(y)), t(q.logpdf(y)))
    assert abs(est.value - exact) < 4 * est.se and est.se < 0.005
    assert 0 < est.value < math.log(2)
    same = js_monte_carlo(t(p.logpdf(x)), t(p.logpdf(x)), t(p.logpdf(y)), t(p.logpdf(y)))
    assert same.value == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- features


def test_frechet_distance_is_w2_squared_of_fitted_gaussians() -> None:
    from genmodels.divergences import frechet_distance

    g = _gen(30)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64)
    fx = a @ torch.randn(5, 5, generator=g, dtype=torch.float64)
    fy = torch.randn(300, 5, generator=g, dtype=torch.float64) * 1.5 + 0.3
    ref = wasserstein2_gaussians(fx.mean(0), torch.cov(fx.T), fy.mean(0), torch.cov(fy.T)) ** 2
    assert frechet_distance(fx, fy) == pytest.approx(ref, rel=1e-9)
    assert abs(frechet_distance(fx, fx)) < 1e-8


def test_kid_matches_polynomial_kernel_formula() -> None:
    from genmodels.divergences import kid

    g = _gen(31)
    fx, fy = torch.randn(9, 4, generator=g), torch.randn(9, 4, generator=g) + 0.5
    xn, yn = fx.double().numpy(), fy.double().numpy()
    poly = lambda a, b: (float(a @ b) / 4 + 1.0) ** 3  # noqa: E731
    mean, std = kid(fx, fy, n_subsets=3, subset_size=100)  # subset = everything
    assert mean == pytest.approx(_brute_mmd2(xn, yn, poly, "unbiased"), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)
