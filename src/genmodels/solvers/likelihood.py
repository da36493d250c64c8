r"""The log-likelihood of an ODE flow by the instantaneous change of variables.

Along :math:`\dot x = F(x, t)`, :math:`\frac{d}{dt}\log p_t(x_t) = -\nabla\cdot F(x_t, t)`, so
integrating from the data end :math:`t_0` to the prior end :math:`t_1`

.. math:: \log p_{t_0}(x) = \log p_{t_1}(x_{t_1}) + \int_{t_0}^{t_1} \nabla\cdot F(x_t, t)\,dt.

The divergence is exact (``d`` vector–Jacobian products) for small ``d`` and Hutchinson's
estimate :math:`\mathbb E[\epsilon^\top J\epsilon]` otherwise, with Rademacher or Gaussian
probes held fixed during a solve (Chen et al. 2018; Grathwohl et al. 2019, FFJORD).

One implementation serves every ODE model: diffusion's probability-flow ODE, continuous
normalizing flows and flow matching all call :func:`ode_log_prob`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError
from .adaptive import integrate_adaptive
from .base import integrate

Field = Callable[[Tensor, Tensor], Tensor]

#: The probe distributions of Hutchinson's trace estimator.
PROBES = ("rademacher", "gaussian")


def hutchinson_probes(shape: tuple[int, ...], count: int, kind: str = "rademacher", *,
                      generator: torch.Generator | None = None,
                      device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """``count`` probes of ``shape``: ``(count, *shape)``, each with
    :math:`\\mathbb E[\\epsilon\\epsilon^\\top] = I`.

    Args:
        shape: one probe's shape (the batch included).
        count: the number of probes.
        kind: ``"rademacher"`` (±1, the lower-variance choice) or ``"gaussian"``.
        generator: the source of randomness.
    """
    if kind not in PROBES:
        raise InputError(f"probe {kind!r}: unknown (known: {', '.join(PROBES)})")
    if count < 1:
        raise InputError(f"probes: {count} must be ≥ 1")
    if kind == "gaussian":
        return torch.randn((count, *shape), generator=generator, device=device, dtype=dtype)
    eps = torch.randint(0, 2, (count, *shape), generator=generator, device=device)
    return eps.to(dtype) * 2 - 1


def divergence(fn: Field, t: Tensor, x: Tensor, probes: Tensor | None) -> tuple[Tensor, Tensor]:
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


def ode_log_prob(field: Field, x: Tensor, log_prior: Callable[[Tensor], Tensor], *,
                 ts: Tensor | None = None, t0: float | None = None, t1: float | None = None,
                 solver: str = "rk4", exact: bool = True, probes: int = 1,
                 probe_kind: str = "rademacher", generator: torch.Generator | None = None,
                 rtol: float = 1e-5, atol: float = 1e-5) -> tuple[Tensor, int]:
    """:math:`\\log p(x)` in nats ``(B,)`` of the flow :math:`\\dot x = F(x, t)`, and the NFE.

    Args:
        field: :math:`F(t, x)`.
        x: points ``(B, *D)`` at the data end.
        log_prior: :math:`\\log p_{t_1}`, applied to the solution at the prior end.
        ts: the fixed-step grid from the data end to the prior end (either direction in t);
            with ``solver="dopri5"`` and ``ts`` None, ``t0`` → ``t1`` adaptively.
        solver: a fixed-step solver name (``"euler"``, ``"heun"``, ``"rk4"``, ``"dopri5"``)
            along ``ts``; ``"dopri5"`` without ``ts`` is adaptive (``rtol``/``atol``).
        exact: the exact divergence, else Hutchinson with ``probes`` probes of ``probe_kind``.
        generator: the source of the probes.
    """
    from . import get_solver

    shape = x.shape
    n = shape[0]
    eps = None if exact else hutchinson_probes(tuple(shape), probes, probe_kind,
                                               generator=generator, device=x.device,
                                               dtype=x.dtype)

    def augmented(t: Tensor, z: Tensor) -> Tensor:
        y = z[:, :-1].reshape(shape)
        dy, div = divergence(field, t, y, eps)
        return torch.cat((dy.reshape(n, -1), div.unsqueeze(1)), dim=1)

    z = torch.cat((x.reshape(n, -1), torch.zeros(n, 1, dtype=x.dtype, device=x.device)), 1)
    if ts is None:
        if solver != "dopri5" or t0 is None or t1 is None:
            raise InputError("ode_log_prob: a fixed-step solver needs ts; dopri5 needs t0, t1")
        sol = integrate_adaptive(augmented, z, t0, t1, rtol=rtol, atol=atol)
    else:
        sol = integrate(augmented, z, ts, get_solver(solver))
    x_end = sol.x[:, :-1].reshape(shape)
    # d log p/dt = -div F, so log p(t0) = log p(t1) + ∫_{t0}^{t1} div F dt: the augmented
    # state accumulated ∫ div F in the grid's direction of t.
    return log_prior(x_end) + sol.x[:, -1], sol.nfe
