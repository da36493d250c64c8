r"""Langevin refinement of samples: the unadjusted Langevin algorithm and MALA.

Both propose :math:`y = x + h\nabla\log\tilde p(x) + \sqrt{2h}\,\xi`, :math:`\xi\sim\mathcal
N(0, I)` (an Euler–Maruyama step of the Langevin diffusion, whose stationary law is
:math:`p`). ULA accepts every proposal (biased by :math:`O(h)`); MALA accepts with

.. math:: \alpha = \min\Big(1, \frac{\tilde p(y)\,q(x\mid y)}{\tilde p(x)\,q(y\mid x)}\Big),
    \quad q(y \mid x) = \mathcal N\big(y;\ x + h\nabla\log\tilde p(x),\ 2h I\big),

so :math:`p` is exactly invariant (Roberts & Tweedie 1996). Started from a flow's samples,
a few steps correct the flow's local errors; they cannot move mass between far-apart modes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.targets import grad_log_prob
from ..errors import InputError

LogDensity = Callable[[Tensor], Tensor]


@dataclass
class MCMCResult:
    """The chains' end points ``(B, d)`` and the mean acceptance rate (1 for ULA)."""

    x: Tensor
    acceptance: float


def langevin(log_prob: LogDensity, x: Tensor, *, steps: int, step_size: float,
             adjust: bool = True, generator: torch.Generator | None = None) -> MCMCResult:
    """Runs ``steps`` of MALA (``adjust``) or ULA from ``x``, one chain per row.

    Args:
        log_prob: :math:`\\log\\tilde p` (per row, ``(B,)``); gradients by autograd.
        x: the start points ``(B, d)``.
        steps: the number of steps.
        step_size: :math:`h`.
        adjust: the Metropolis–Hastings correction (MALA); ``False`` for ULA.
        generator: the source of the noise and of the accept/reject draws.
    """
    if steps < 0 or step_size <= 0:
        raise InputError(f"langevin: steps {steps} must be >= 0 and step_size {step_size} > 0")
    x = x.detach().clone()
    lp, g = log_prob(x).detach(), grad_log_prob(log_prob, x)
    accepted = torch.zeros((), dtype=torch.float64)
    for _ in range(steps):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        y = x + step_size * g + (2 * step_size) ** 0.5 * noise
        if not adjust:
            x, g = y, grad_log_prob(log_prob, y)
            accepted += 1
            continue
        lp_y, g_y = log_prob(y).detach(), grad_log_prob(log_prob, y)
        fwd = -(y - x - step_size * g).square().flatten(1).sum(1) / (4 * step_size)
        bwd = -(x - y - step_size * g_y).square().flatten(1).sum(1) / (4 * step_size)
        log_alpha = lp_y - lp + bwd - fwd
        u = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
        ok = torch.log(u) < log_alpha
        okx = ok.reshape(-1, *([1] * (x.dim() - 1)))
        x, g = torch.where(okx, y, x), torch.where(okx, g_y, g)
        lp = torch.where(ok, lp_y, lp)
        accepted += ok.double().mean()
    if adjust and steps:
        return MCMCResult(x, float(accepted) / steps)
    return MCMCResult(x, 1.0)
