"""The 2-D toys: shapes and seeding, agreement with their reference generators, exact densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genmodels.config import DataConfig
from genmodels.data import load_dataset, split_generator, toy, toy_density
from genmodels.errors import InputError
from genmodels.registry import DATASETS, get_dataset

ALL = sorted(toy.TOYS)
MIXTURES = ("8gaussians", "25gaussians", "ring8", "grid25", "8gaussians-cfm")
OVERLAPPING = ("8gaussians", "8gaussians-cfm")  # components overlap: H < log K + H(component)
ALPHA = 1e-3  # significance of every goodness-of-fit test below (fixed seeds: not flaky)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", ALL)
def test_sample_shape_dtype_and_seeding(name: str) -> None:
    x = toy.sample(name, 1001, generator=_gen(1))
    assert x.shape == (1001, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, toy.sample(name, 1001, generator=_gen(1)))
    assert not torch.equal(x, toy.sample(name, 1001, generator=_gen(2)))
    assert toy.sample(name, 0, generator=_gen(1)).shape == (0, 2)
    assert toy.sample(name, 3, generator=_gen(1)).shape == (3, 2)


def test_registry_and_load_dataset_contract() -> None:
    assert set(ALL) <= set(DATASETS)
    assert set(ALL) == {"8gaussians", "25gaussians", "checkerboard", "2spirals", "pinwheel",
                        "rings", "moons", "circles", "swissroll", "ring8", "grid25",
                        "8gaussians-cfm", "moons-cfm"}
    state = torch.get_rng_state()
    cfg = DataConfig(name="pinwheel", n_train=300, n_val=20, n_test=50, seed=3)
    d = load_dataset(cfg)
    assert torch.equal(torch.get_rng_state(), state), "load_dataset touched the global RNG"
    assert (d.train.shape, d.val.shape, d.test.shape) == ((300, 2), (20, 2), (50, 2))
    assert d.standardize is False and d.log_prob is None and d.entropy is None
    again = load_dataset(cfg)
    assert torch.equal(d.train, again.train) and torch.equal(d.test, again.test)
    other = load_dataset(DataConfig(name="pinwheel", n_train=300, n_val=20, n_test=50, seed=4))
    assert not torch.equal(d.train, other.train)
    # independent streams: the first test points are not the first training points
    assert not torch.allclose(d.train[:50], d.test)
    assert load_dataset(DataConfig(name="moons", n_val=0)).val is None
    with pytest.raises(InputError, match=r"data\.n_train: 0"):
        load_dataset(DataConfig(name="moons", n_train=0))
    with pytest.raises(InputError, match=r"unknown data set 'mooons' \(known: .*moons"):
        load_dataset(DataConfig(name="mooons"))
    assert get_dataset("ring8").description.startswith("2-D toy (VEEGAN)")
    g1, g2 = split_generator(0, "moons", "train"), split_generator(0, "moons", "test")
    assert g1.initial_seed() != g2.initial_seed()


# --- agreement with the reference generators (FFJORD maths, scikit-learn) ----------------------


def _ref_ffjord(name: str, n: int, rs: np.random.RandomState) -> np.ndarray:
    """Loop-free NumPy transcriptions of FFJORD's lib/toy_data.py (and sklearn's generators)."""
    if name == "2spirals":  # FFJORD's code for 2n points, then one of each mirrored pair
        s = np.sqrt(rs.rand(n, 1)) * 540 * (2 * np.pi) / 360
        d1x = -np.cos(s) * s + rs.rand(n, 1) * 0.5
        d1y = np.sin(s) * s + rs.rand(n, 1) * 0.5
        x = np.vstack((np.hstack((d1x, d1y)), np.hstack((-d1x, -d1y)))) / 3
        x = x + rs.randn(*x.shape) * 0.1
        return np.concatenate([x[: n // 2], x[n + n // 2:]])
    if name == "pinwheel":
        per = n // 5
        f = rs.randn(5 * per, 2) * np.array([0.3, 0.1])
        f[:, 0] += 1.0
        ang = np.repeat(np.linspace(0, 2 * np.pi, 5, endpoint=False), per) + 0.25 * np.exp(f[:, 0])
        rot = np.stack([np.cos(ang), -np.sin(ang), np.sin(ang), np.cos(ang)]).T.reshape(-1, 2, 2)
        return 2 * rs.permutation(np.einsum("ti,tij->tj", f, rot))
    if name == "rings":
        q = n // 4
        parts = []
        for r, c in zip((1.0, 0.75, 0.5, 0.25), (q, q, q, n - 3 * q), strict=True):
            a = np.linspace(0, 2 * np.pi, c, endpoint=False)
            parts.append(np.stack([np.cos(a), np.sin(a)], 1) * r)
        return rs.permutation(np.concatenate(parts) * 3.0) + rs.normal(scale=0.08, size=(n, 2))
    from sklearn import datasets

    if name == "moons":
        return datasets.make_moons(n, noise=0.1, random_state=rs)[0] * 2 + np.array([-1, -0.2])
    if name == "moons-cfm":  # torchcfm runner's SKLearnDataModule("moons")
        return datasets.make_moons(n, noise=0.05, random_state=rs)[0] * 2 - np.array([1, 0])
    if name == "circles":
        return datasets.make_circles(n, factor=0.5, noise=0.08, random_state=rs)[0] * 3
    if name == "swissroll":
        return datasets.make_swiss_roll(n, noise=1.0, random_state=rs)[0][:, [0, 2]] / 5
    if name == "checkerboard":
        x1 = rs.rand(n) * 4 - 2
        x2 = rs.rand(n) - rs.randint(0, 2, n) * 2 + np.floor(x1) % 2
        return np.stack([x1, x2], 1) * 2
    if name == "8gaussians-cfm":  # torchdyn's generate_gaussians(8, radius=5, std=1), n/8 each
        per = n // 8
        angle = 2 * np.pi * np.arange(1, 9) / 8
        centres = 5 * np.stack([np.cos(angle), np.sin(angle)], 1)
        return rs.permutation(np.repeat(centres, per, axis=0) + rs.randn(8 * per, 2))
    centres, std = toy.mixture_centres(name)
    return centres.numpy()[rs.randint(len(centres), size=n)] + std * rs.randn(n, 2)


@pytest.mark.parametrize("name", ALL)
def test_matches_reference_generator(name: str) -> None:
    """Two-sample KS tests on 6 projections and the radius: ours vs the reference code,
    N = 20,000 each. The worst p-value must exceed ALPHA / 7 (Bonferroni)."""
    from scipy.stats import ks_2samp

    def stats(x: np.ndarray) -> list[np.ndarray]:
        angles = np.arange(6) * np.pi / 6
        return [x @ np.array([np.cos(a), np.sin(a)]) for a in angles] + [np.hypot(*x.T)]

    n = 20_000
    ours = stats(toy.sample(name, n, generator=_gen(11)).double().numpy())
    ref_x = _ref_ffjord(name, n, np.random.RandomState(12))
    pvals = [ks_2samp(a, b).pvalue for a, b in zip(ours, stats(ref_x), strict=True)]
    assert min(pvals) > ALPHA / 7, f"{name}: KS p-values {np.round(pvals, 4)}"
    # the test has power: the reference scaled by 1.05 is rejected
    wrong = [ks_2samp(a, b).pvalue for a, b in zip(ours, stats(1.05 * ref_x), strict=True)]
    assert min(wrong) < ALPHA / 7


# --- exact densities ---------------------------------------------------------------------------


def _mixture_bin_probs(name: str, edges: torch.Tensor) -> torch.Tensor:
    """P(bin) for a grid of bins: isotropic Gaussians factorise, so it is closed form."""
    centres, std = toy.mixture_centres(name)
    cdf = torch.special.ndtr((edges[None, :, None] - centres.T[:, None, :]) / std)  # (2, E, K)
    mass = cdf[:, 1:] - cdf[:, :-1]  # (2, bins, K)
    return torch.einsum("ik,jk->ij", mass[0], mass[1]) / centres.shape[0]


@pytest.mark.parametrize("name", MIXTURES)
def test_mixture_samples_pass_binned_chi2(name: str) -> None:
    """Pearson χ² of 200,000 samples over a 40×40 grid (bins with E ≥ 5 kept, the rest and the
    outside pooled) against the exact bin probabilities; reject at ALPHA."""
    from scipy.stats import chi2

    n = 200_000
    x = toy.sample(name, n, generator=_gen(5)).double()
    centres, std = toy.mixture_centres(name)
    lim = float(centres.abs().max()) + 4 * std
    edges = torch.linspace(-lim, lim, 41, dtype=torch.float64)
    probs = _mixture_bin_probs(name, edges).flatten()
    ix = torch.bucketize(x.contiguous(), edges) - 1
    inside = ((ix >= 0) & (ix < 40)).all(1)
    counts = torch.bincount(ix[inside, 0] * 40 + ix[inside, 1], minlength=1600).double()
    keep = probs * n >= 5
    obs = torch.cat([counts[keep], (n - counts[keep].sum()).reshape(1)])
    exp = torch.cat([probs[keep] * n, (n - probs[keep].sum() * n).reshape(1)])
    stat = float(((obs - exp) ** 2 / exp).sum())
    dof = obs.numel() - 1
    assert chi2.sf(stat, dof) > ALPHA, f"{name}: χ² = {stat:.1f} on {dof} dof"
    # the test has power: samples of a 10 % wider mixture are rejected
    wide = centres[torch.randint(len(centres), (n,), generator=_gen(6))] + 1.1 * std * torch.randn(
        n, 2, generator=_gen(7), dtype=torch.float64)
    iw = torch.bucketize(wide.contiguous(), edges) - 1
    ok = ((iw >= 0) & (iw < 40)).all(1)
    cw = torch.bincount(iw[ok, 0] * 40 + iw[ok, 1], minlength=1600).double()
    ow = torch.cat([cw[keep], (n - cw[keep].sum()).reshape(1)])
    assert chi2.sf(float(((ow - exp) ** 2 / exp).sum()), dof) < ALPHA


def test_checkerboard_support_and_chi2() -> None:
    """All 1,000,000 samples lie in the support (log p = −log 32, never −inf); over the 64 unit
    cells of [−4, 4]², the 32 outside the support are empty and the 32 inside pass χ²(31)."""
    from scipy.stats import chi2

    n = 1_000_000
    x = toy.sample("checkerboard", n, generator=_gen(8))
    lp = toy_density.log_prob("checkerboard", x)
    assert torch.all(lp == -math.log(32.0))
    cell = torch.floor(x.double() + 4).long()
    counts = torch.bincount(cell[:, 0] * 8 + cell[:, 1], minlength=64).double().reshape(8, 8)
    support = (torch.arange(8)[:, None] // 2 + torch.arange(8)[None, :] // 2) % 2 == 0
    assert counts[~support].sum() == 0
    obs = counts[support]
    stat = float(((obs - n / 32) ** 2 / (n / 32)).sum())
    assert chi2.sf(stat, 31) > ALPHA, f"χ² = {stat:.1f} on 31 dof"
    outside = torch.tensor([[-4.0, -0.5], [4.0, 0.5], [0.5, 2.5], [-1.0, 1.0]])
    assert torch.isinf(toy_density.log_prob("checkerboard", outside)).all()


@pytest.mark.parametrize("name", [*MIXTURES, "checkerboard"])
def test_log_prob_integrates_to_one(name: str) -> None:
    """Midpoint rule with a step of at most σ/1.5 over the support ± 7σ: |∫p − 1| < 1e-4."""
    if name == "checkerboard":
        lim, h = 4.5, 0.0625
    else:
        centres, std = toy.mixture_centres(name)
        lim, h = float(centres.abs().max()) + 7 * std, std / 1.5
    m = math.ceil(2 * lim / h)
    mid = -lim + h * (torch.arange(m, dtype=torch.float64) + 0.5)
    grid = torch.cartesian_prod(mid, mid)
    total = float(toy_density.log_prob(name, grid).exp().sum()) * h * h
    assert abs(total - 1) < 1e-4, f"{name}: ∫p = {total}"


# Entropies measured with 10^6 draws (nats): 8gaussians 2.8328 ± 0.0010 (the reference's
# 2.832), 25gaussians −2.0128 ± 0.0010, ring8 −2.9057 ± 0.0010, grid25 0.0663 ± 0.0010,
# 8gaussians-cfm 4.7710 ± 0.0008 (a midpoint-rule −∫p log p on a 0.02 grid gives 4.7707).
ENTROPY = {"8gaussians": 2.8328, "25gaussians": -2.0128, "ring8": -2.9057, "grid25": 0.0663,
           "8gaussians-cfm": 4.7710}


@pytest.mark.parametrize("name", MIXTURES)
def test_entropy_agrees_with_independent_estimates(name: str) -> None:
    h, se = toy_density.entropy(name)
    assert 0 < se < 2e-3 and abs(h - ENTROPY[name]) < 5e-4
    assert toy_density.entropy(name) == (h, se)  # cached and deterministic
    # an independent Monte-Carlo estimate (another seed, 200,000 draws) within 4 combined SE
    nlp = -toy_density.log_prob(name, toy.sample(name, 200_000, generator=_gen(9)))
    h2, se2 = float(nlp.mean()), float(nlp.std()) / math.sqrt(nlp.numel())
    assert abs(h - h2) < 4 * math.hypot(se, se2), f"{name}: {h:.4f} vs {h2:.4f} ± {se2:.4f}"
    # where the components barely overlap, H = log K + log(2πeσ²) (overlap < 1e-6 nats)
    centres, std = toy.mixture_centres(name)
    separated = math.log(len(centres)) + math.log(2 * math.pi * math.e * std * std)
    if name not in OVERLAPPING:
        assert abs(h - separated) < 4 * se
    else:  # overlapping modes: H ≤ log K + H(component), with equality only when disjoint
        assert h < separated
    assert toy_density.entropy("checkerboard") == (math.log(32.0), 0.0)


def test_dataset_carries_density_and_entropy() -> None:
    d = load_dataset(DataConfig(name="grid25", n_train=1000, n_val=10, n_test=2000))
    assert d.log_prob is not None and d.entropy == toy_density.entropy("grid25")[0]
    lp = d.log_prob(d.test)
    assert lp.shape == (2000,) and lp.dtype == torch.float64
    assert abs(float(-lp.mean()) - d.entropy) < 4 * float(lp.std()) / math.sqrt(2000)
    assert d.entropy_se is not None and d.entropy_se > 0
    cb = load_dataset(DataConfig(name="checkerboard", n_train=10, n_val=0, n_test=10))
    assert cb.entropy == math.log(32.0) and cb.entropy_se == 0.0
