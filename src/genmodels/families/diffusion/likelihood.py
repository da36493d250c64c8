r"""The probability-flow ODE log-likelihood (instantaneous change of variables).

Along :math:`\dot x = F(x, t) = f(t)x - \tfrac12 g(t)^2 s(x, t)`,
:math:`\frac{d}{dt}\log p_t(x_t) = -\nabla\cdot F(x_t, t)`, so

.. math:: \log p_{t_\varepsilon}(x) = \log p_T(x_T) + \int_{t_\varepsilon}^T
    \nabla\cdot F(x_t, t)\,dt.

The integral and the divergence (exact or Hutchinson) are the shared
:func:`genmodels.solvers.likelihood.ode_log_prob` (Song et al. 2021, App. D).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...paths.sde import ForwardSDE, expand
from ...solvers.likelihood import divergence, ode_log_prob
from .samplers import ScoreFn

__all__ = ["divergence", "pf_ode_log_prob"]


def pf_ode_log_prob(score: ScoreFn, sde: ForwardSDE, x: Tensor, *, solver: str = "rk4",
                    steps: int = 32, grid: str = "logsnr", exact: bool = True,
                    probes: int = 1, generator: torch.Generator | None = None,
                    rtol: float = 1e-5, atol: float = 1e-5,
                    prior: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, int]:
    """:math:`\\log p(x)` in nats ``(B,)`` by the probability-flow ODE, and the NFE used.

    Args:
        score: :math:`s(x, t)`.
        sde: the forward process.
        x: points ``(B, *D)`` (the model's units).
        solver: ``"euler"``, ``"heun"``, ``"rk4"`` (fixed ``steps``) or ``"dopri5"``
            (adaptive, ``rtol``/``atol``).
        steps: fixed-step count.
        grid: the time grid of the fixed-step solvers (reversed: data to noise).
        exact: the exact divergence, else Hutchinson with ``probes`` Rademacher probes.
        generator: the source of the probes.
        prior: :math:`\\log p_T` (default: the SDE's Gaussian prior).
    """
    def field(t: Tensor, y: Tensor) -> Tensor:
        return sde.drift(y, t) - 0.5 * expand(sde.g2(t.to(torch.float64)).to(y.dtype), y) * \
            score(t, y)

    ts = None if solver == "dopri5" else sde.time_grid(steps, grid).flip(0)
    return ode_log_prob(field, x, prior or sde.prior_log_prob, ts=ts, t0=sde.t_eps, t1=sde.T,
                        solver=solver, exact=exact, probes=probes, generator=generator,
                        rtol=rtol, atol=atol)
