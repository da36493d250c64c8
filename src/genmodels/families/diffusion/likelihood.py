r"""The probability-flow ODE log-likelihood (instantaneous change of variables).

Along :math:`\dot x = F(x, t) = f(t)x - \tfrac12 g(t)^2 s(x, t)`,
:math:`\frac{d}{dt}\log p_t(x_t) = -\nabla\cdot F(x_t, t)`, so

.. math:: \log p_{t_\varepsilon}(x) = \log p_T(x_T) + \int_{t_\varepsilon}^T
    \nabla\cdot F(x_t, t)\,dt.

The divergence is exact (``d`` vector–Jacobian products) for small ``d`` and Hutchinson's
estimate :math:`\mathbb E[\epsilon^\top J\epsilon]` with Rademacher probes, fixed during a
solve, otherwise (Grathwohl et al. 2019; Song et al. 2021, App. D).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...paths.sde import ForwardSDE, expand
from ...solvers import get_solver, integrate, integrate_adaptive
from .samplers import ScoreFn


def divergence(fn: ScoreFn, t: Tensor, x: Tensor, probes: Tensor | None) -> tuple[Tensor, Tensor]:
    """``fn(t, x)`` and its divergence ``(B,)``: exact when ``probes`` is None, else the
    Hutchinson mean over ``probes`` of shape ``(P, B, *D)``."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(t, x)
        if probes is None:
            flat = out.flatten(1)
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for i in range(flat.shape[1]):
                (gi,) = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True)
                div = div + gi.flatten(1)[:, i]
        else:
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for k, e in enumerate(probes):
                (ge,) = torch.autograd.grad((out * e).sum(), x,
                                            retain_graph=k < probes.shape[0] - 1)
                div = div + (ge * e).flatten(1).sum(1)
            div = div / probes.shape[0]
    return out.detach(), div.detach()


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
    shape = x.shape
    n = shape[0]
    eps = None
    if not exact:
        eps = torch.randint(0, 2, (probes, *shape), generator=generator, device=x.device)
        eps = eps.to(x.dtype) * 2 - 1

    def field(t: Tensor, y: Tensor) -> Tensor:
        return sde.drift(y, t) - 0.5 * expand(sde.g2(t.to(torch.float64)).to(y.dtype), y) * \
            score(t, y)

    def augmented(t: Tensor, z: Tensor) -> Tensor:
        y = z[:, :-1].reshape(shape)
        dy, div = divergence(field, t, y, eps)
        return torch.cat((dy.reshape(n, -1), div.unsqueeze(1)), dim=1)

    z = torch.cat((x.reshape(n, -1), torch.zeros(n, 1, dtype=x.dtype, device=x.device)), 1)
    if solver == "dopri5":
        sol = integrate_adaptive(augmented, z, sde.t_eps, sde.T, rtol=rtol, atol=atol)
    else:
        ts = sde.time_grid(steps, grid).flip(0)
        sol = integrate(augmented, z, ts, get_solver(solver))
    x_t = sol.x[:, :-1].reshape(shape)
    log_p_t = (prior or sde.prior_log_prob)(x_t)
    return log_p_t + sol.x[:, -1], sol.nfe
