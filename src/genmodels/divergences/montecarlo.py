"""Monte Carlo KL and Jensen–Shannon divergences from log-densities, with standard errors."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InputError


class MCEstimate(NamedTuple):
    """A Monte Carlo estimate and its standard error (sample sd / √n, ddof 1)."""

    value: float
    se: float
    n: int


def _vec(t: Tensor, name: str) -> Tensor:
    t = torch.as_tensor(t).to(torch.float64).reshape(-1)
    if t.numel() == 0:
        raise InputError(f"{name}: empty")
    if not torch.isfinite(t).all():
        raise InputError(f"{name}: non-finite log-densities (a support mismatch?)")
    return t


def _mean_se(v: Tensor) -> tuple[float, float]:
    n = v.numel()
    return float(v.mean()), float(v.std() / math.sqrt(n)) if n > 1 else math.inf


def kl_monte_carlo(log_p: Tensor, log_q: Tensor) -> MCEstimate:
    """``KL(P ‖ Q)`` in nats from log-densities at samples of **P**.

    .. math::
        \\widehat{\\mathrm{KL}}(P \\| Q)
            = \\frac1n \\sum_i \\big(\\log p(x_i) - \\log q(x_i)\\big),
        \\qquad x_i \\sim P

    Unbiased; its standard error is the sample standard deviation of the log-ratios over √n.
    The direction is fixed by where the samples come from: ``x ~ P`` (the first argument's
    distribution). Both densities must be normalised (an unnormalised ``q`` shifts the value by
    its log-normaliser). Individual terms can be negative; the mean is ≥ 0 only in expectation.

    Args:
        log_p: ``log p(x_i)``, ``(n,)``.
        log_q: ``log q(x_i)`` at the same points, ``(n,)``.
    """
    lp, lq = _vec(log_p, "log_p"), _vec(log_q, "log_q")
    if lp.shape != lq.shape:
        raise InputError(f"log_p and log_q differ in size: {lp.numel()} vs {lq.numel()}")
    value, se = _mean_se(lp - lq)
    return MCEstimate(value, se, lp.numel())


def js_monte_carlo(
    log_p_x: Tensor, log_q_x: Tensor, log_p_y: Tensor, log_q_y: Tensor
) -> MCEstimate:
    """The Jensen–Shannon divergence in nats from log-densities at samples of both sides.

    .. math::
        \\mathrm{JS}(P, Q) = \\tfrac12 \\mathrm{KL}(P \\| M) + \\tfrac12 \\mathrm{KL}(Q \\| M),
        \\qquad M = \\tfrac12 (P + Q)

    estimated with ``x_i ~ P`` (n points) and ``y_j ~ Q`` (m points):
    ``½ mean_i[log p − log m](x_i) + ½ mean_j[log q − log m](y_j)`` with
    ``log m = logaddexp(log p, log q) − log 2``. In ``[0, log 2]`` (natural log: the
    divergence itself, not its square root, the JS *distance*; nats, not bits). Its standard
    error combines the two independent means: ``√(s_x²/(4n) + s_y²/(4m))``. The minimax GAN
    value at the optimal discriminator is ``2·JS − log 4`` (Goodfellow et al. 2014).

    Args:
        log_p_x, log_q_x: ``log p``, ``log q`` at ``x ~ P``, ``(n,)``.
        log_p_y, log_q_y: ``log p``, ``log q`` at ``y ~ Q``, ``(m,)``.
    """
    px, qx = _vec(log_p_x, "log_p_x"), _vec(log_q_x, "log_q_x")
    py, qy = _vec(log_p_y, "log_p_y"), _vec(log_q_y, "log_q_y")
    if px.shape != qx.shape or py.shape != qy.shape:
        raise InputError("js_monte_carlo: log-densities of one sample differ in size")
    log2 = math.log(2.0)
    tx = px - (torch.logaddexp(px, qx) - log2)
    ty = qy - (torch.logaddexp(py, qy) - log2)
    mx, sx = _mean_se(tx)
    my, sy = _mean_se(ty)
    return MCEstimate(0.5 * (mx + my), 0.5 * math.hypot(sx, sy), px.numel() + py.numel())
