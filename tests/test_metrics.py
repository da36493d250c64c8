"""`evaluate` and the metrics registry, on models whose answers are known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from genmodels.core import DensityModel, GenerativeModel
from genmodels.errors import InputError
from genmodels.metrics import DEFAULT_METRICS, EvalContext, evaluate
from genmodels.registry import METRICS, get_metric, load_all

pytest.importorskip("ot")
pytest.importorskip("scipy")

DIM = 2
ENTROPY = 0.5 * DIM * math.log(2 * math.pi * math.e)  # of N(0, I_2): 2.8379 nats


class Normal(DensityModel):
    """N(shift, scale² I) with an exact log-density; counts its sample calls."""

    log_prob_kind = "exact"

    def __init__(self, shift: float = 0.0, scale: float = 1.0, event_shape=(DIM,)) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.shift, self.scale = shift, scale
        self.sample_calls = 0

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        z = ((x - self.shift) / self.scale).reshape(len(x), -1)
        d = z.shape[1]
        return -0.5 * z.pow(2).sum(1) - d * math.log(self.scale) - 0.5 * d * math.log(2 * math.pi)

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        self.sample_calls += 1
        return self.shift + self.scale * torch.randn(n, *self.event_shape, generator=generator)


class SamplerOnly(GenerativeModel):
    """A model without a density (like a GAN generator)."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.event_shape = (DIM,)
        self.value = value

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, DIM, generator=generator) + self.value


def _test_data(n: int = 2000, seed: int = 123) -> Tensor:
    return torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def perfect() -> dict[str, float]:
    """A perfect model: N(0, I) against N(0, I) test data (N = 2000, so m = 1000)."""
    return evaluate(Normal(), _test_data(), generator=_gen(), entropy=ENTROPY)


@pytest.fixture(scope="module")
def shifted() -> dict[str, float]:
    """A wrong model: N((1, 1), I) against N(0, I) test data."""
    return evaluate(Normal(shift=1.0), _test_data(), generator=_gen(), entropy=ENTROPY)


def test_registry_lists_the_builtin_metrics() -> None:
    load_all()
    assert {"nll", "w2", "mmd2", "energy"} <= set(METRICS)
    assert DEFAULT_METRICS[:4] == ["nll", "w2", "mmd2", "energy"]
    for entry in METRICS.values():
        assert entry.description and callable(entry.compute)
    with pytest.raises(InputError, match="known"):
        get_metric("fid_on_the_moon")


def test_perfect_model_keys_finite_and_nll_at_entropy(perfect: dict[str, float]) -> None:
    expected = {"nll", "nll_se", "entropy", "entropy_se", "kl_to_data", "kl_to_data_se",
                "w2", "w2_floor", "mmd2", "mmd2_floor", "mmd2_bandwidth", "mmd2_pvalue",
                "mmd2_pvalue_n", "energy", "energy_floor", "sliced_w2", "sliced_w2_floor",
                "c2st_acc", "c2st_acc_floor", "prdc_k", "n_eval"}
    expected |= {f"prdc_{k}{f}" for k in ("precision", "recall", "density", "coverage")
                 for f in ("", "_floor")}
    assert set(perfect) == expected  # no fd/kid (not images), no ess, no mode coverage
    assert all(isinstance(v, float) and math.isfinite(v) for v in perfect.values())
    assert perfect["n_eval"] == 1000
    # the exact model's test NLL is a Monte-Carlo estimate of the entropy: within 3 SE
    assert abs(perfect["nll"] - ENTROPY) < 3 * perfect["nll_se"]
    assert 0.01 < perfect["nll_se"] < 0.05  # sd of -log p under N(0, I_2) is 1, /√2000
    assert perfect["kl_to_data"] == pytest.approx(perfect["nll"] - ENTROPY)


def test_perfect_model_is_at_the_noise_floor(perfect: dict[str, float]) -> None:
    assert perfect["w2"] / perfect["w2_floor"] < 1.5
    assert perfect["energy"] < 3 * perfect["energy_floor"] + 1e-3
    assert abs(perfect["mmd2"]) < 5e-3 and abs(perfect["mmd2_floor"]) < 5e-3


def test_shifted_model_is_far_above_the_floor(
    perfect: dict[str, float], shifted: dict[str, float]
) -> None:
    assert shifted["w2"] > 5 * shifted["w2_floor"]
    assert shifted["w2"] == pytest.approx(math.sqrt(2.0), rel=0.1)  # W2 = ‖(1, 1)‖
    assert shifted["mmd2"] > 0.1 > 20 * abs(shifted["mmd2_floor"])
    assert shifted["energy"] > 10 * shifted["energy_floor"]
    # the floors compare the same two test halves, whatever the model
    for k in ("w2_floor", "mmd2_floor", "energy_floor", "mmd2_bandwidth"):
        assert shifted[k] == perfect[k]
    # NLL of N(μ, I) on N(0, I) data: entropy + ‖μ‖²/2 = entropy + 1
    assert shifted["kl_to_data"] == pytest.approx(1.0, abs=0.1)


def test_selection_reproducibility_and_shared_samples() -> None:
    model = Normal()
    test = _test_data(600)
    r1 = evaluate(model, test, metrics=["w2", "energy"], generator=_gen(7))
    assert set(r1) == {"w2", "w2_floor", "energy", "energy_floor", "n_eval"}
    assert model.sample_calls == 1  # drawn once, shared by both two-sample metrics
    r2 = evaluate(model, test, metrics=["w2", "energy"], generator=_gen(7))
    assert r1 == r2
    assert evaluate(model, test, metrics=["w2"], generator=_gen(8))["w2"] != r1["w2"]
    only_nll = evaluate(model, test, metrics=["nll"])
    assert set(only_nll) == {"nll", "nll_se"} and model.sample_calls == 3


def test_n_samples_caps_the_compared_size() -> None:
    out = evaluate(Normal(), _test_data(600), metrics=["mmd2"], n_samples=100, generator=_gen())
    assert out["n_eval"] == 100
    out = evaluate(Normal(), _test_data(61), metrics=["w2"], generator=_gen())
    assert out["n_eval"] == 30
    with pytest.raises(InputError, match="n_samples"):
        evaluate(Normal(), _test_data(60), n_samples=1)


def test_bits_per_dim_with_levels() -> None:
    model = Normal(event_shape=(1, 2, 2))
    test = torch.randn(200, 1, 2, 2, generator=_gen(3))
    out = evaluate(model, test, metrics=["nll", "w2"], levels=17, generator=_gen())
    assert out["bpd"] == pytest.approx(out["nll"] / (4 * math.log(2)), rel=1e-12)
    assert out["bpd_se"] == pytest.approx(out["nll_se"] / (4 * math.log(2)), rel=1e-12)
    assert "bpd" not in evaluate(model, test, metrics=["nll"])


def test_model_without_density_gets_no_nll() -> None:
    out = evaluate(SamplerOnly(), _test_data(400), generator=_gen(), entropy=ENTROPY,
                   entropy_se=0.01)
    assert "nll" not in out and "kl_to_data" not in out and "bpd" not in out
    assert {"w2", "w2_floor", "mmd2", "energy", "n_eval"} <= set(out)
    assert out["entropy"] == ENTROPY and out["entropy_se"] == 0.01
    for named in (["nll"], ["nll", "w2"], ["w2", "elbo"]):
        with pytest.raises(InputError, match="has no density"):
            evaluate(SamplerOnly(), _test_data(400), metrics=named)


def test_a_named_metric_that_does_not_apply_is_refused_not_dropped() -> None:
    """Asked for by name, a metric that gives nothing for this model and data (``fd`` on
    2-D points, ``elbo`` for a model without a bound) is an error, not a silent omission."""
    for named in (["w2", "fd"], ["nll", "elbo"]):
        with pytest.raises(InputError, match=f"metric {named[1]!r} does not apply"):
            evaluate(Normal(), _test_data(400), metrics=named)


def test_nonfinite_samples_and_log_probs_are_reported_not_nan() -> None:
    out = evaluate(SamplerOnly(value=float("nan")), _test_data(100), generator=_gen())
    assert out == {"samples_nonfinite": 50.0}

    class HalfSupport(Normal):
        def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
            lp = super().log_prob(x)
            return torch.where(x[:, 0] > 0, lp, torch.full_like(lp, -math.inf))

    test = _test_data(100)
    out = evaluate(HalfSupport(), test, metrics=["nll"], entropy=ENTROPY)
    assert out == {"nll_nonfinite": float((test[:, 0] <= 0).sum()), "entropy": ENTROPY,
                   "entropy_se": 0.0}


def test_input_errors_and_training_mode_restored() -> None:
    model = Normal()
    with pytest.raises(InputError, match="shape"):
        evaluate(model, torch.randn(10, 3))
    with pytest.raises(InputError, match="non-finite"):
        evaluate(model, torch.full((10, 2), float("inf")))
    with pytest.raises(InputError, match="unknown metric"):
        evaluate(model, torch.randn(10, 2), metrics=["w3"])
    model.train()
    evaluate(model, torch.randn(40, 2), metrics=["nll"])
    assert model.training


def test_a_new_metric_plugs_into_the_registry() -> None:
    from genmodels.metrics import register, two_sample
    from genmodels.registry import METRICS as table

    def mean_gap(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
        return float((p.mean(0) - q.mean(0)).norm())

    register("mean_gap", "distance between the means", two_sample("mean_gap", mean_gap),
             default=False)
    try:
        out = evaluate(Normal(shift=2.0), _test_data(400), metrics=["mean_gap"],
                       generator=_gen())
        assert set(out) == {"mean_gap", "mean_gap_floor", "n_eval"}
        assert out["mean_gap"] == pytest.approx(2 * math.sqrt(2), rel=0.1)
        assert "mean_gap" not in DEFAULT_METRICS
    finally:
        del table["mean_gap"]
