"""Registers ``c2st``, ``prdc``, ``fd``, ``kid`` and ``ess`` (each only where it applies)."""

from __future__ import annotations

import torch
from torch import Tensor

from .builtin import register, two_sample
from .context import EvalContext
from .ess import ess_metric
from .image import fd_metric, kid_metric

#: Points per side and training steps of the ``c2st`` metric; k of ``prdc``.
C2ST_POINTS, C2ST_STEPS, PRDC_K = 1000, 200, 5


def _c2st(ctx: EvalContext, p: Tensor, q: Tensor) -> float:
    from .c2st import c2st

    k = C2ST_POINTS
    return c2st(p[:k], q[:k], steps=C2ST_STEPS,
                generator=torch.Generator().manual_seed(3)).accuracy


def prdc_metric(ctx: EvalContext) -> dict[str, float]:
    """``prdc_precision``, ``prdc_recall``, ``prdc_density``, ``prdc_coverage`` with A as the
    real sample and the model samples as fake (k = 5, flattened points), each with its
    ``_floor`` (B as fake)."""
    from .prdc import prdc

    if not ctx.two_sample_ok or ctx.n_eval <= PRDC_K:
        return {}
    samples = ctx.samples()
    if not ctx.samples_finite():
        return {}
    a = ctx.half_a.reshape(ctx.n_eval, -1)
    out: dict[str, float] = {}
    model = prdc(a, samples.reshape(len(samples), -1), k=PRDC_K)
    floor = prdc(a, ctx.half_b.reshape(ctx.n_eval, -1), k=PRDC_K)
    for key in model:
        out[f"prdc_{key}"] = model[key]
        out[f"prdc_{key}_floor"] = floor[key]
    out["prdc_k"] = float(PRDC_K)
    return out


register(
    "c2st",
    "c2st_acc: held-out accuracy of a small MLP telling model samples from test half A "
    "(0.5 = indistinguishable, 1 = separable; 1000 points per side); c2st_acc_floor: B vs A",
    two_sample("c2st_acc", _c2st),
)
register(
    "prdc",
    "precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020), "
    "k=5 nearest neighbours, test half A as real; _floor: B vs A",
    prdc_metric,
)
register(
    "fd",
    "fd_digits: Frechet distance on features of a small digits classifier - NOT Inception "
    "FID - plus cs_digits (classifier score, an Inception-score analogue) and "
    "label_entropy_digits; (1,8,8) images only",
    fd_metric,
)
register(
    "kid",
    "kid_digits: kernel distance (KID formula) on digits-classifier features - NOT "
    "Inception KID; (1,8,8) images only; kid_digits_floor: B vs A",
    kid_metric,
)
register(
    "ess",
    "importance sampling of the model's posterior: ess_fraction (Kish ESS / K), iw_nll and "
    "their SEs; models declaring ImportanceWeighted only",
    ess_metric,
)
