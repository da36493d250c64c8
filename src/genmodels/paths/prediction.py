r"""One conversion between the four things a denoiser may predict: noise, data, velocity, score.

For an affine path :math:`x_t = \alpha_t x_0 + \sigma_t \varepsilon` (diffusion marginals,
flow-matching interpolants alike), with :math:`\dot\alpha_t, \dot\sigma_t` its time
derivatives:

.. math::
    \text{noise } \varepsilon, \qquad
    \text{data } x_0 = (x_t - \sigma_t\varepsilon)/\alpha_t, \qquad
    \text{score } s = -\varepsilon/\sigma_t, \qquad
    \text{velocity } v = \dot\alpha_t x_0 + \dot\sigma_t \varepsilon

(the velocity is the path's time derivative :math:`\partial_t x_t`, the flow-matching target).
Given :math:`x_t` any one of them determines the pair :math:`(x_0, \varepsilon)`, and so every
other one; for the velocity the 2×2 system has determinant
:math:`\alpha_t\dot\sigma_t - \sigma_t\dot\alpha_t`.

Reference: Kingma et al., "Variational Diffusion Models" (2021); Lipman et al., "Flow Matching
Guide and Code" (2024), §4.8 (the converters of affine paths).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from ..errors import InputError
from .sde import expand

PREDICTIONS = ("noise", "data", "velocity", "score")


@dataclass(frozen=True)
class Coefficients:
    """:math:`\\alpha_t, \\sigma_t, \\dot\\alpha_t, \\dot\\sigma_t` (scalars or ``(B,)``)."""

    alpha: Tensor
    sigma: Tensor
    d_alpha: Tensor
    d_sigma: Tensor


def coefficients(path: object, t: Tensor) -> Coefficients:
    """The coefficients of any object with ``alpha, sigma, d_alpha, d_sigma`` methods of ``t``."""
    return Coefficients(path.alpha(t), path.sigma(t), path.d_alpha(t), path.d_sigma(t))


def _data_noise(pred: Tensor, kind: str, x: Tensor, c: Coefficients) -> tuple[Tensor, Tensor]:
    a, s = expand(c.alpha, x), expand(c.sigma, x)
    if kind == "noise":
        return (x - s * pred) / a, pred
    if kind == "data":
        return pred, (x - a * pred) / s
    if kind == "score":
        eps = -s * pred
        return (x - s * eps) / a, eps
    da, ds = expand(c.d_alpha, x), expand(c.d_sigma, x)
    det = a * ds - s * da
    return (ds * x - s * pred) / det, (a * pred - da * x) / det


def convert(pred: Tensor, src: str, dst: str, x: Tensor, c: Coefficients) -> Tensor:
    """Converts a prediction of kind ``src`` at ``x`` (``(B, *D)``) to kind ``dst``.

    Args:
        pred: the prediction, shape of ``x``.
        src: ``"noise"``, ``"data"``, ``"velocity"`` or ``"score"``.
        dst: the same choices.
        x: the noisy point :math:`x_t`.
        c: the path's coefficients at the points' times.
    """
    for k in (src, dst):
        if k not in PREDICTIONS:
            raise InputError(f"prediction {k!r}: unknown (known: {', '.join(PREDICTIONS)})")
    if src == dst:
        return pred
    x0, eps = _data_noise(pred, src, x, c)
    if dst == "data":
        return x0
    if dst == "noise":
        return eps
    if dst == "score":
        return -eps / expand(c.sigma, x)
    return expand(c.d_alpha, x) * x0 + expand(c.d_sigma, x) * eps
