"""Adaptive Dormand–Prince 5(4) with error control (the ``dopri5`` of scipy and torchdiffeq).

Local error estimate :math:`e = h\\sum_i (b_i - \\hat b_i) k_i`, accepted when
:math:`\\lVert e / (a + r\\max(|x_0|, |x_1|))\\rVert_{\\mathrm{RMS}} \\le 1`;
the next step is :math:`h \\cdot \\min(5, \\max(0.2, 0.9\\,\\mathrm{err}^{-1/5}))`. The last
stage is the first of the next step (FSAL), so an accepted step costs six evaluations.

Reference: Hairer, Nørsett & Wanner, *Solving Ordinary Differential Equations I*, §II.4–5.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError
from .base import Counted, Solution, VectorField
from .ode import DP_B4, DP_B5, dopri_stages


def _rms(x: Tensor) -> float:
    return float(x.detach().double().square().mean().sqrt())


def _first_step(f: VectorField, t: Tensor, x: Tensor, k1: Tensor, direction: float,
                span: float, rtol: float, atol: float) -> float:
    """Hairer's starting step (Hairer, Nørsett & Wanner, §II.4): :math:`h_0 = 0.01\\,d_0/d_1`
    from the sizes of ``x`` and ``f``, then :math:`h_1 = (0.01/\\max(d_1, d_2))^{1/5}` from
    :math:`d_2`, the change of ``f`` over one explicit Euler step of :math:`h_0` (one more
    evaluation); the first step is :math:`\\min(100 h_0, h_1)`."""
    scale = atol + rtol * x.abs()
    d0, d1 = _rms(x / scale), _rms(k1 / scale)
    h0 = 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6 * max(span, 1.0)
    h0 = min(h0, span)
    hs = torch.tensor(direction * h0, dtype=x.dtype, device=x.device)
    k = f(t + direction * h0, x + hs * k1)
    d2 = _rms((k - k1) / scale) / h0
    h1 = (max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15
          else (0.01 / max(d1, d2)) ** 0.2)
    return min(100 * h0, h1)


def integrate_adaptive(
    f: VectorField,
    x: Tensor,
    t0: float,
    t1: float,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    h0: float | None = None,
    max_steps: int = 10_000,
) -> Solution:
    """Integrates ``dx/dt = f(t, x)`` from ``t0`` to ``t1`` (either direction) adaptively.

    Args:
        f: the vector field.
        x: the start point ``(B, *D)``; one step size serves the whole batch.
        t0: start time.
        t1: end time.
        rtol: relative tolerance.
        atol: absolute tolerance.
        h0: the first step size (default: Hairer's estimate, :func:`_first_step`, which
            costs one evaluation).
        max_steps: give up (``RuntimeError``) after this many attempted steps.
    """
    if rtol <= 0 or atol <= 0:
        raise InputError(f"dopri5: rtol and atol must be positive, got {rtol}, {atol}")
    fc = Counted(f)
    direction = 1.0 if t1 >= t0 else -1.0
    span = abs(t1 - t0)
    t = torch.tensor(float(t0), dtype=torch.float64)
    k1 = fc(t, x)
    if h0 is None:
        h0 = _first_step(fc, t, x, k1, direction, span, rtol, atol)
    h = min(float(h0), span)
    steps = 0
    done = span == 0
    while not done:
        steps += 1
        if steps > max_steps:
            raise RuntimeError(f"dopri5: more than {max_steps} steps (tolerance too tight?)")
        remaining = abs(t1 - float(t))
        last = h >= remaining * (1 - 1e-12)
        h = min(h, remaining)
        hs = torch.tensor(direction * h, dtype=x.dtype, device=x.device)
        ks = dopri_stages(fc, t, hs, x, k1, last=False)
        x5 = x + hs * sum(b * k for b, k in zip(DP_B5, ks) if b != 0.0)
        t_new = t + direction * h
        k7 = fc(t_new, x5)
        ks.append(k7)
        err = hs * sum((b5 - b4) * k for b5, b4, k in zip(DP_B5, DP_B4, ks) if b5 != b4)
        scale = atol + rtol * torch.maximum(x.abs(), x5.abs())
        e = _rms(err / scale)
        if e <= 1.0:
            x, t, k1 = x5, t_new, k7
            done = last
        factor = 5.0 if e == 0 else min(5.0, max(0.2, 0.9 * e ** -0.2))
        h = h * factor
    return Solution(x, fc.nfe, steps)
