"""C2ST, PRDC, importance sampling, the accumulating Metric base and the registered metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from genmodels.core import GenerativeModel, LatentVariableModel
from genmodels.errors import InputError
from genmodels.metrics import (
    MMD2,
    FrechetDistance,
    ImportanceSampling,
    ImportanceWeighted,
    MeanNLL,
    c2st,
    evaluate,
    importance_sampling,
    prdc,
)
from genmodels.registry import METRICS, load_all

pytest.importorskip("ot")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- C2ST


def test_c2st_is_chance_on_identical_and_one_on_separated() -> None:
    g = _gen(0)
    x, y = torch.randn(600, 2, generator=g), torch.randn(600, 2, generator=g)
    same = c2st(x, y, generator=_gen(1))
    assert same.n_test == 600
    assert abs(same.accuracy - 0.5) < 0.065  # ±3.2 sd of Binomial(600, ½)/600
    assert same.p_value > 0.01
    far = c2st(x, y + torch.tensor([4.0, 0.0]), generator=_gen(1))
    assert far.accuracy > 0.97 and far.p_value < 1e-10
    # reproducible from the generator; unequal sizes are cut to the smaller one
    assert c2st(x, y, generator=_gen(1)) == same
    assert c2st(x[:300], y, generator=_gen(2), steps=10).n_test == 300
    with pytest.raises(InputError):
        c2st(x, y, test_fraction=1.5)


# ----------------------------------------------------------------------------- PRDC


def _prdc_brute(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """The four formulas with explicit loops over points (strict inequalities)."""
    def knn_radius(z: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(z[:, None] - z[None], axis=2)
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    rr, rf = knn_radius(real), knn_radius(fake)
    d = np.linalg.norm(real[:, None] - fake[None], axis=2)  # (N, M)
    inside_real = d < rr[:, None]
    inside_fake = d < rf[None, :]
    return {
        "precision": float(inside_real.any(0).mean()),
        "recall": float(inside_fake.any(1).mean()),
        "density": float(inside_real.sum() / (k * fake.shape[0])),
        "coverage": float(inside_real.any(1).mean()),
    }


def test_prdc_matches_formulas_and_reference_package() -> None:
    g = _gen(3)
    real, fake = torch.randn(120, 3, generator=g), torch.randn(90, 3, generator=g) * 1.3 + 0.4
    ours = prdc(real, fake, k=4)
    ref = _prdc_brute(real.double().numpy(), fake.double().numpy(), 4)
    assert ours == pytest.approx(ref, abs=1e-12)
    prdc_pkg = pytest.importorskip("prdc")
    pkg = prdc_pkg.compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=4)
    assert ours == pytest.approx({k: float(v) for k, v in pkg.items()}, abs=1e-12)


def test_prdc_sanity_identical_and_disjoint() -> None:
    g = _gen(4)
    real = torch.randn(800, 2, generator=g)
    same = prdc(real, real.clone(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    fresh = prdc(real, torch.randn(800, 2, generator=g), k=5)
    assert fresh["precision"] > 0.9 and fresh["recall"] > 0.9 and fresh["coverage"] > 0.9
    assert 0.8 < fresh["density"] < 1.2
    far = prdc(real, torch.randn(800, 2, generator=g) + 20.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = prdc(real, torch.randn(800, 2, generator=g) * 0.05, k=5)
    assert collapsed["precision"] > 0.95 and collapsed["recall"] < 0.2  # mode collapse
    with pytest.raises(InputError):
        prdc(real[:5], real[:5], k=5)


# ----------------------------------------------------------------------------- ESS


def test_importance_sampling_extremes_and_calibrated_se() -> None:
    r = importance_sampling(torch.full((100,), -3.0))
    assert r.ess == pytest.approx(100.0) and r.ess_fraction == pytest.approx(1.0)
    assert r.log_z == pytest.approx(-3.0) and r.log_z_se == pytest.approx(0.0, abs=1e-7)
    lw = torch.full((100,), -50.0)
    lw[7] = 0.0
    assert importance_sampling(lw).ess == pytest.approx(1.0, abs=1e-12)
    # target N(0, 1)·Z with Z = e², proposal N(0.5, 1.5²): log Z = 2
    from torch.distributions import Normal

    p, q = Normal(0.0, 1.0), Normal(0.5, 1.5)
    estimates, ses = [], []
    for seed in range(100):
        z = 0.5 + 1.5 * torch.randn(400, generator=_gen(seed))
        res = importance_sampling(p.log_prob(z) + 2.0 - q.log_prob(z), generator=_gen(seed))
        estimates.append(res.log_z)
        ses.append(res.log_z_se)
    spread = float(np.std(estimates))
    assert abs(float(np.mean(estimates)) - 2.0) < 4 * spread / 10
    assert float(np.mean(ses)) == pytest.approx(spread, rel=0.25)  # the SE is calibrated
    assert 0 < res.ess_se < res.ess
    with pytest.raises(InputError):
        importance_sampling(torch.tensor([0.0, math.nan]))


# ----------------------------------------------------------------------------- Metric base


def test_streaming_metrics_reduce_across_two_simulated_shards() -> None:
    from genmodels.divergences import frechet_distance, mmd2

    g = _gen(5)
    lp = torch.randn(301, generator=g)
    fx, fy = torch.randn(200, 4, generator=g), torch.randn(150, 4, generator=g) + 0.3
    lw = torch.randn(500, generator=g)
    whole = [MeanNLL(), FrechetDistance(4), MMD2(4, bandwidth=1.0), ImportanceSampling()]
    shards = [[MeanNLL(), FrechetDistance(4), MMD2(4, bandwidth=1.0), ImportanceSampling()]
              for _ in range(2)]
    cuts = [(slice(0, 120), slice(0, 90), slice(0, 70), slice(0, 260)),
            (slice(120, None), slice(90, None), slice(70, None), slice(260, None))]

    def feed(ms: list, sl: tuple) -> None:
        ms[0].update(lp[sl[0]])
        ms[1].update(fx[sl[1]], real=True)
        ms[1].update(fy[sl[2]], real=False)
        ms[2].update(fx[sl[1]], fy[sl[2]])
        ms[3].update(lw[sl[3]])

    feed(whole, (slice(None),) * 4)
    for ms, sl in zip(shards, cuts, strict=True):
        feed(ms, sl)
    merged = [a.merge(b) for a, b in zip(*shards, strict=True)]
    for w, m in zip(whole, merged, strict=True):
        for k, v in w.compute().items():
            assert m.compute()[k] == pytest.approx(v, rel=1e-10), k
    assert whole[0].compute()["nll"] == pytest.approx(float(-lp.double().mean()), rel=1e-12)
    assert whole[1].compute()["fd"] == pytest.approx(frechet_distance(fx, fy), rel=1e-8)
    assert whole[2].compute()["mmd2"] == pytest.approx(float(mmd2(fx, fy, bandwidth=1.0)))
    assert whole[3].compute()["ess"] == pytest.approx(importance_sampling(lw).ess, rel=1e-12)
    whole[0].reset()
    assert whole[0].compute() == {}
    with pytest.raises(InputError):
        merged[0].merge(merged[1])


# ----------------------------------------------------------------------------- registry


class ShiftedNormal(GenerativeModel):
    def __init__(self, shift: float = 0.0, event_shape: tuple[int, ...] = (2,)) -> None:
        super().__init__()
        self.event_shape, self.shift = event_shape, shift

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, *self.event_shape, generator=generator) + self.shift


class ExactPosterior(LatentVariableModel, ImportanceWeighted):
    """z ~ N(0, 1), x | z ~ N(z, 1) (so x ~ N(0, 2)), with q(z|x) = the exact posterior
    N(x/2, ½): every importance weight equals p(x)."""

    def __init__(self, exact: bool = True) -> None:
        super().__init__()
        self.event_shape, self.exact = (1,), exact

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        return math.sqrt(2.0) * torch.randn(n, 1, generator=generator)

    def encode(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        return x / 2

    def log_importance_weights(self, x: Tensor, k: int, *,
                               generator: torch.Generator | None = None) -> Tensor:
        from torch.distributions import Normal

        loc, sd = (x / 2, math.sqrt(0.5)) if self.exact else (0 * x, 1.5)
        z = loc + sd * torch.randn(x.shape[0], k, generator=generator)
        log_joint = Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(x)
        return log_joint - Normal(loc, sd).log_prob(z)


def test_all_names_are_registered() -> None:
    load_all()
    assert {"nll", "mmd2", "w2", "sinkhorn", "sliced-w2", "energy", "c2st", "prdc", "fd",
            "kid", "ess"} <= set(METRICS)
    for name in ("fd", "kid"):
        assert "NOT Inception" in METRICS[name].description


def test_registered_two_sample_metrics_separate_good_from_bad() -> None:
    test = torch.randn(800, 2, generator=_gen(6))
    names = ["sliced-w2", "sinkhorn", "c2st", "prdc", "mmd2"]
    good = evaluate(ShiftedNormal(), test, metrics=names, generator=_gen(7))
    bad = evaluate(ShiftedNormal(2.0), test, metrics=names, generator=_gen(7))
    assert abs(good["c2st_acc"] - 0.5) < 0.08 and bad["c2st_acc"] > 0.85
    assert abs(good["c2st_acc_floor"] - 0.5) < 0.08
    assert good["sliced_w2"] < 2 * good["sliced_w2_floor"] < bad["sliced_w2"] / 5
    # the mean shift (2, 2) has length 2√2; projected on a random direction, E(θ·μ)² = ‖μ‖²/2
    assert bad["sliced_w2"] == pytest.approx(2.0, rel=0.15)
    assert bad["sinkhorn"] > 10 * max(good["sinkhorn"], good["sinkhorn_floor"])
    assert good["mmd2_pvalue"] > 0.01 and bad["mmd2_pvalue"] < 0.01
    assert bad["prdc_precision"] < 0.7 < 0.9 < good["prdc_precision"]
    assert bad["prdc_coverage"] < 0.7 < 0.9 < good["prdc_coverage"]
    for k in ("sinkhorn_floor", "sliced_w2_floor", "c2st_acc_floor", "prdc_recall_floor"):
        assert good[k] == bad[k]  # floors compare the same two test halves
    # image metrics and ess do not apply here: named, they are refused, not dropped
    for name in ("fd", "kid", "ess"):
        with pytest.raises(InputError, match=f"metric {name!r} does not apply"):
            evaluate(ShiftedNormal(), test, metrics=[name, "w2"])


def test_ess_metric_on_an_exact_and_a_poor_posterior() -> None:
    test = math.sqrt(2.0) * torch.randn(300, 1, generator=_gen(8))
    exact = evaluate(ExactPosterior(), test, metrics=["ess"], generator=_gen(9))
    nll = float(-torch.distributions.Normal(0.0, math.sqrt(2.0)).log_prob(test[:256]).mean())
    assert exact["ess_fraction"] == pytest.approx(1.0, abs=1e-6)
    assert exact["iw_nll"] == pytest.approx(nll, rel=1e-5)
    assert exact["iw_log_z_se"] < 1e-3 and exact["ess_k"] == 64
    poor = evaluate(ExactPosterior(exact=False), test, metrics=["ess"], generator=_gen(9))
    assert poor["ess_fraction"] < 0.8 and poor["iw_log_z_se"] > exact["iw_log_z_se"]
    assert poor["iw_nll"] > nll - 3 * poor["iw_nll_se"]  # a bound: not below the NLL
