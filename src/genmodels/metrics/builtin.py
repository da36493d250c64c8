"""The built-in metrics of ``genmodels evaluate``: ``nll``, ``elbo``, ``w2``, ``mmd2``,
``energy``, ``sliced-w2``, ``sinkhorn``.

Each is a function ``compute(ctx: EvalContext) -> dict[str, float]`` registered in
:data:`genmodels.registry.METRICS`. A two-sample metric ``<name>`` compares the ``m`` shared
model samples with the test half A and reports beside it its noise floor ``<name>_floor``:
the same metric between the disjoint test half B and A (two independent real samples of the
same size), i.e. the value a perfect model would get on average at this ``m``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import MetricEntry, register_metric
from .context import EvalContext

#: The metrics that ``evaluate(metrics=None)`` runs (each only where it applies).
DEFAULT_METRICS: list[str] = []

#: The metrics that need ``log_prob``: named explicitly for a model that says why it has no
#: density (``GenerativeModel.no_density``), ``evaluate`` refuses with that reason.
DENSITY_METRICS = ("nll", "elbo")

Compute = Callable[[EvalContext], dict[str, float]]


def register(name: str, description: str, compute: Compute, *, default: bool = True) -> None:
    """Registers a metric and, when ``default``, adds it to :data:`DEFAULT_METRICS`."""
    register_metric(MetricEntry(name, description, compute))
    if default and name not in DEFAULT_METRICS:
        DEFAULT_METRICS.append(name)


def nll(ctx: EvalContext) -> dict[str, float]:
    """Test negative log-likelihood in nats per example, with its standard error.

    ``nll = mean_i(-log p(x_i))`` over the whole test split, ``nll_se = std / √N`` (the
    sample standard deviation, ddof 1). With ``levels``: ``bpd = nll / (d ln 2)`` (and
    ``bpd_se``); ``nll`` is then already the continuous density of the dequantised data as
    the data set defines it (dequantisation offset included). With a known data entropy
    ``H``: ``kl_to_data = nll - H`` (≥ 0 in expectation: KL(p_data ‖ p_θ), the gap to the
    floor ``H``), ``kl_to_data_se = √(nll_se² + entropy_se²)``. Empty for a model that is
    not a :class:`~genmodels.core.DensityModel`; ``{"nll_nonfinite": k}`` when ``k`` test
    points get a non-finite log-density.
    """
    nlp = ctx.neg_log_prob()
    if nlp is None or nlp.numel() == 0:
        return {}
    out = _nll_summary(ctx, nlp, "")
    if "nll" in out and ctx.entropy is not None:
        value, se = out["nll"], out["nll_se"]
        out["kl_to_data"] = value - float(ctx.entropy)
        out["kl_to_data_se"] = math.hypot(se, float(ctx.entropy_se or 0.0))
    return out


def _nll_summary(ctx: EvalContext, nlp: Tensor, suffix: str) -> dict[str, float]:
    """``nll{suffix}``, its standard error and, with ``levels``, ``bpd{suffix}`` from the
    per-point negative log-densities; ``nll{suffix}_nonfinite`` when some are not finite."""
    bad = int((~nlp.isfinite()).sum())
    if bad:
        return {f"nll{suffix}_nonfinite": float(bad)}
    n = nlp.numel()
    value = float(nlp.mean())
    se = float(nlp.std() / math.sqrt(n)) if n > 1 else 0.0
    out = {f"nll{suffix}": value, f"nll{suffix}_se": se}
    if ctx.levels is not None:
        scale = ctx.event_dim * math.log(2.0)
        out[f"bpd{suffix}"] = value / scale
        out[f"bpd{suffix}_se"] = se / scale
    return out


def elbo(ctx: EvalContext) -> dict[str, float]:
    """The test variational bound as a negative log-likelihood: ``nll_bound = mean_i(-L(x_i))``
    in nats per example (``≥`` the model's true NLL, up to its Monte Carlo noise), with
    ``nll_bound_se`` (sample sd / √N, the spread over points and Monte Carlo draws together)
    and, with ``levels``, ``bpd_bound``. Empty unless the model is a
    :class:`~genmodels.core.VariationalBound` (diffusion models: the reverse-SDE ELBO;
    VAEs: the ELBO)."""
    nlb = ctx.neg_log_prob(bound=True)
    if nlb is None or nlb.numel() == 0:
        return {}
    return _nll_summary(ctx, nlb, "_bound")


def _flat(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)


def two_sample(name: str, stat: Callable[[EvalContext, Tensor, Tensor], float]) -> Compute:
    """A registered metric from ``stat(ctx, p, q)``: ``<name>`` = stat(samples, A),
    ``<name>_floor`` = stat(B, A), and ``n_eval`` = m."""

    def compute(ctx: EvalContext) -> dict[str, float]:
        if not ctx.two_sample_ok:
            return {}
        samples = ctx.samples()
        if not ctx.samples_finite():
            bad = (~samples.reshape(len(samples), -1).isfinite()).any(1).sum()
            return {"samples_nonfinite": float(bad)}
        a, b = _flat(ctx.half_a), _flat(ctx.half_b)
        return {
            name: float(stat(ctx, _flat(samples), a)),
            f"{name}_floor": float(stat(ctx, b, a)),
            "n_eval": float(ctx.n_eval),
        }

    compute.__name__ = name
    compute.__doc__ = f"``{name}`` between model samples and test half A, with its floor."
    return compute


def _w2(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from ..divergences import wasserstein2

    return wasserstein2(p, q)


def bandwidth(ctx: EvalContext) -> float:
    """The Gaussian-kernel bandwidth of ``mmd2``: the median heuristic on the **test data**
    (A ∪ B), fixed before the model is compared, so that the metric and its floor use one
    kernel and a model cannot move the bandwidth."""
    if "bandwidth" not in ctx.cache:
        from ..divergences import median_bandwidth

        ctx.cache["bandwidth"] = median_bandwidth(_flat(ctx.half_a), _flat(ctx.half_b))
    return ctx.cache["bandwidth"]


def _mmd2(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from ..divergences import mmd2

    return float(mmd2(p, q, bandwidth=bandwidth(ctx), estimator="unbiased"))


def _energy(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from ..divergences import energy_distance

    return float(energy_distance(p, q, estimator="biased"))


_mmd2_compute = two_sample("mmd2", _mmd2)

#: Points per side of the permutation test and of the Sinkhorn metric; permutations.
PVALUE_POINTS, PVALUE_PERMUTATIONS, SINKHORN_POINTS = 500, 200, 500
#: The Sinkhorn metric's ε, as a fraction of the squared median bandwidth of the test data.
SINKHORN_EPS_FRACTION = 0.1
#: Directions of ``sliced-w2`` (drawn from a fixed seed: every model sees the same ones).
SLICED_PROJECTIONS = 256


def _fixed_generator(seed: int) -> torch.Generator:
    """A generator of its own per metric: its draws never shift the model samples' stream."""
    return torch.Generator().manual_seed(seed)


def mmd2_with_bandwidth(ctx: EvalContext) -> dict[str, float]:
    """``mmd2`` (unbiased, Gaussian kernel) with its floor, the bandwidth used and
    ``mmd2_pvalue``: the permutation-test p-value of H0 "samples ~ data" on the first
    ``min(m, 500)`` samples and points of A (200 permutations, fixed seed)."""
    out = _mmd2_compute(ctx)
    if "mmd2" in out:
        from ..divergences import mmd2_permutation_test

        h = bandwidth(ctx)
        out["mmd2_bandwidth"] = h
        k = min(ctx.n_eval, PVALUE_POINTS)
        test = mmd2_permutation_test(
            _flat(ctx.samples())[:k], _flat(ctx.half_a)[:k], bandwidth=h,
            n_permutations=PVALUE_PERMUTATIONS, generator=_fixed_generator(1),
        )
        out["mmd2_pvalue"] = test.p_value
        out["mmd2_pvalue_n"] = float(k)
    return out


def _sliced(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from ..divergences import random_directions, sliced_wasserstein

    if "sliced_dirs" not in ctx.cache:
        ctx.cache["sliced_dirs"] = random_directions(
            SLICED_PROJECTIONS, p.shape[1], generator=_fixed_generator(2)
        )
    return float(sliced_wasserstein(p, q, p=2, projections=ctx.cache["sliced_dirs"]))


def _sinkhorn(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from ..divergences import sinkhorn_divergence

    eps = SINKHORN_EPS_FRACTION * bandwidth(ctx) ** 2
    k = SINKHORN_POINTS
    return float(sinkhorn_divergence(p[:k], q[:k], eps=eps, tol=1e-3))


_sinkhorn_compute = two_sample("sinkhorn", _sinkhorn)


def sinkhorn_metric(ctx: EvalContext) -> dict[str, float]:
    """``sinkhorn`` / ``sinkhorn_floor``: the debiased Sinkhorn divergence (cost ‖x−y‖², in
    squared data units) on the first ``min(m, 500)`` points, ε = 0.1·h² (``sinkhorn_eps``)."""
    out = _sinkhorn_compute(ctx)
    if "sinkhorn" in out:
        out["sinkhorn_eps"] = SINKHORN_EPS_FRACTION * bandwidth(ctx) ** 2
        out["sinkhorn_n"] = float(min(ctx.n_eval, SINKHORN_POINTS))
    return out


register(
    "nll",
    "test negative log-likelihood, nats/example (+ bpd for discrete data, kl_to_data when "
    "the data entropy is known); density models only",
    nll,
)
register(
    "w2",
    "exact 2-Wasserstein distance, cost |x-y|^2, model samples vs test half A; "
    "w2_floor: test half B vs A",
    two_sample("w2", _w2),
)
register(
    "mmd2",
    "unbiased MMD^2, Gaussian kernel, median-heuristic bandwidth of the test data; "
    "mmd2_floor: test half B vs A; mmd2_pvalue: permutation test (500 points, 200 perms)",
    mmd2_with_bandwidth,
)
register(
    "energy",
    "squared energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (V-statistic); "
    "energy_floor: test half B vs A",
    two_sample("energy", _energy),
)
register(
    "elbo",
    "nll_bound: test negative variational bound, nats/example (+ bpd_bound for discrete "
    "data); models with a variational bound only (diffusion: the reverse-SDE ELBO; VAEs: the "
    "ELBO)",
    elbo,
)
register(
    "sliced-w2",
    "sliced_w2: sliced 2-Wasserstein distance (mean over 256 fixed directions of W2^2, then "
    "sqrt), model samples vs test half A; sliced_w2_floor: B vs A",
    two_sample("sliced_w2", _sliced),
)
register(
    "sinkhorn",
    "debiased Sinkhorn divergence S_eps, cost |x-y|^2, eps = 0.1 h^2 (h: median distance of "
    "the test data), 500 points; sinkhorn_floor: B vs A (opt-in: not run by default)",
    sinkhorn_metric,
    default=False,
)
