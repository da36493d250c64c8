r"""The variance of a gradient estimator, measured on a model and a batch.

For an estimator :math:`\hat g` of :math:`\nabla_\lambda \mathcal L` (the encoder's parameters
:math:`\lambda`, or the per-point :math:`\lambda^{(i)}` of a BBVI model at their initial value),
``repeats`` independent draws give

.. math:: \mathrm{Var}[\hat g] = \frac1P \sum_{p=1}^P \widehat{\mathrm{var}}(\hat g_p)

(the mean per-coordinate variance over the ``P`` parameters), beside the mean gradient's
squared norm, so estimators on the same model and batch compare by their variance ratio.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...errors import InputError
from .estimators import bound_surrogate, get_estimator
from .model import VAE


def gradient_variance(model: VAE, x: Tensor, estimators: list[str], *, repeats: int = 100,
                      samples: int = 1, bound: str = "elbo", seed: int = 0
                      ) -> list[dict[str, float | str]]:
    """One row per estimator: ``variance`` (mean per-coordinate), ``mean_sq_norm`` of the mean
    gradient, ``snr`` (``mean_sq_norm / (P·variance)``) and ``ratio`` (variance over the first
    estimator's). Each estimator sees the same ``repeats`` seeds.

    Raises:
        InputError: for an unknown estimator, ``repeats < 2`` or ``samples < 1``.
    """
    if repeats < 2:
        raise InputError(f"--repeats {repeats}: at least 2 draws are needed for a variance")
    if samples < 1:
        raise InputError(f"--samples {samples}: K must be >= 1")
    ests = [get_estimator(e) for e in estimators]
    if not ests:
        raise InputError("--estimators: name at least one estimator")
    was = model.training
    saved = (model.baseline.clone(), model.baseline_ready.clone())
    model.train(False)
    rows: list[dict[str, float | str]] = []
    try:
        if any(e.baseline == "moving-average" for e in ests):
            _settle_baseline(model, x, bound, samples, seed)
        for est in ests:
            grads = []
            for r in range(repeats):
                g = torch.Generator(device=x.device).manual_seed(seed + r)
                with torch.enable_grad():
                    if model.amortised:
                        q = model.amortised_posterior(x)
                        params = [p for p in model.encoder.parameters()]
                    else:
                        q0 = model.initial_posterior(x)
                        params = [p.clone().requires_grad_(True) for p in q0.parameters()]
                        from .inference import _rebuild

                        q = _rebuild(q0, params)
                    sur, _ = bound_surrogate(model, x, q, bound=bound, samples=samples,
                                             estimator=est, generator=g)
                    gr = torch.autograd.grad(sur.mean(), params, allow_unused=True)
                grads.append(torch.cat([(t if t is not None else torch.zeros_like(p)).flatten()
                                        for t, p in zip(gr, params)]))
            G = torch.stack(grads).double()
            var = float(G.var(0).mean())
            msq = float(G.mean(0).square().sum())
            rows.append({"estimator": est.name, "variance": var, "mean_sq_norm": msq,
                         "snr": msq / (G.shape[1] * var) if var > 0 else float("inf")})
    finally:
        model.train(was)
        model.baseline.copy_(saved[0])
        model.baseline_ready.copy_(saved[1])
    base = rows[0]["variance"]
    for row in rows:
        row["ratio"] = float(row["variance"]) / float(base) if base else float("nan")
    return rows


def _settle_baseline(model: VAE, x: Tensor, bound: str, samples: int, seed: int,
                     draws: int = 20) -> None:
    """Sets the moving-average baseline to the value it settles at on this batch: the mean
    learning signal over ``draws`` independent draws (seeds apart from the measured ones)."""
    from .estimators import ESTIMATORS

    values = []
    with torch.no_grad():
        for r in range(draws):
            g = torch.Generator(device=x.device).manual_seed(seed + 1_000_000 + r)
            q = model.posterior(x)
            _, v = bound_surrogate(model, x, q, bound=bound, samples=samples,
                                   estimator=ESTIMATORS["reparam"], generator=g)
            values.append(v.mean())
    model.baseline.fill_(float(torch.stack(values).mean()))
    model.baseline_ready.fill_(True)
