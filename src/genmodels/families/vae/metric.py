"""The ``latent`` metric: what ``evaluate`` reports for a latent-variable model beside ``nll``
(the importance-weighted estimate) and ``nll_bound`` (the ELBO).

* ``iw_k``: the ``K`` of the ``nll`` estimate;
* ``iw_ess``, ``iw_ess_fraction``, ``iw_log_se``: mean per-point ESS, ESS/K and delta-method
  standard error of :math:`\\log\\hat p_K(x)`, on the first :data:`POINTS` test points;
* ``bound_gap`` = ``nll_bound - nll``: the estimate of
  :math:`\\log p(x) - \\mathcal L(x) = \\mathrm{KL}(q \\,\\|\\, p(z|x))` (up to the IW bias),
  with ``bound_gap_se``;
* ``amortisation_gap`` (nats, ``≥ 0`` in expectation) with its SE and ``refine_steps``: the
  ELBO gained by refining the encoder's :math:`q` on those points
  (:func:`~genmodels.families.vae.inference.amortisation_gap`).
"""

from __future__ import annotations

import math

import torch

from ...metrics.builtin import register
from ...metrics.context import EvalContext
from ...units import DataUnits
from .evaluate.iw import importance_weighted
from .inference import amortisation_gap
from .model import VAE

#: The test points of the ESS and amortisation-gap diagnostics.
POINTS = 256


def latent_metric(ctx: EvalContext) -> dict[str, float]:
    """IW diagnostics, the bound gap and the amortisation gap of a :class:`VAE` (else ``{}``)."""
    model, std = ctx.model, None
    if isinstance(model, DataUnits):
        model, std = model.inner, model.standardize
    if not isinstance(model, VAE) or ctx.test.shape[0] == 0:
        return {}
    x = ctx.test[:POINTS].to(model.device, torch.float32)
    if std is not None:
        x = std.forward(x)
    iw = importance_weighted(model, x, model.eval_samples, chunk=model.eval_chunk,
                             generator=ctx.generator)
    out = {"iw_k": float(iw.k), "iw_ess": float(iw.ess.mean()),
           "iw_ess_fraction": float((iw.ess / iw.k).mean()), "iw_log_se": float(iw.se.mean())}
    nlp, nlb = ctx.neg_log_prob(), ctx.neg_log_prob(bound=True)
    if nlp is not None and nlb is not None:
        gap = nlb - nlp
        if bool(gap.isfinite().all()):
            out["bound_gap"] = float(gap.mean())
            out["bound_gap_se"] = float(gap.std() / math.sqrt(gap.numel())) if gap.numel() > 1 \
                else 0.0
    if model.amortised and model.local.steps > 0:
        gaps = amortisation_gap(model, x, model.local, generator=ctx.generator)
        out.update({k: v for k, v in gaps.items() if k.startswith("amortisation")})
        out["refine_steps"] = float(model.local.steps)
    return out


register("latent", "latent-variable models: IW K, ESS and SE, ELBO gap, amortisation gap",
         latent_metric)
