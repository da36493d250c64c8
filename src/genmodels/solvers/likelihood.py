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
from typing import NamedTuple

import torch
from torch import Tensor

from ..core import noise
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
        return noise.randn((count, *shape), batch_dim=1, generator=generator, device=device,
                           dtype=dtype)
    eps = noise.randint(0, 2, (count, *shape), batch_dim=1, generator=generator, device=device)
    return eps.to(dtype) * 2 - 1


def divergence_terms(fn: Field, t: Tensor, x: Tensor, probes: Tensor | None, *,
                     create_graph: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """``fn(t, x)``, its divergence ``(B,)`` and the squared Jacobian Frobenius norm ``(B,)``.

    Exact (``d`` vector–Jacobian products, :math:`\\lVert J\\rVert_F^2 = \\sum_i
    \\lVert e_i^\\top J\\rVert^2`) when ``probes`` is None, else the Hutchinson means over
    ``probes`` ``(P, B, *D)`` of :math:`\\epsilon^\\top J\\epsilon` and
    :math:`\\lVert\\epsilon^\\top J\\rVert^2` (both unbiased). With ``create_graph`` the
    results stay differentiable (maximum-likelihood training of an ODE flow, RNODE
    regularisation; Finlay et al. 2020) and ``x`` keeps its graph; otherwise they are
    detached.
    """
    with torch.enable_grad():
        if not (create_graph and x.requires_grad):
            x = x.detach().requires_grad_(True)
        out = fn(t, x)
        div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        frob = torch.zeros_like(div)
        # a field that does not depend on x (no graph) has zero divergence
        if out.requires_grad and probes is None:
            flat = out.flatten(1)
            d = flat.shape[1]
            for i in range(d):
                (gi,) = torch.autograd.grad(flat[:, i].sum(), x, create_graph=create_graph,
                                            retain_graph=create_graph or i < d - 1)
                gi = gi.flatten(1)
                div = div + gi[:, i]
                frob = frob + gi.square().sum(1)
        elif out.requires_grad:
            for k, e in enumerate(probes):
                (ge,) = torch.autograd.grad((out * e).sum(), x, create_graph=create_graph,
                                            retain_graph=create_graph
                                            or k < probes.shape[0] - 1)
                div = div + (ge * e).flatten(1).sum(1)
                frob = frob + ge.flatten(1).square().sum(1)
            div, frob = div / probes.shape[0], frob / probes.shape[0]
    if create_graph:
        return out, div, frob
    return out.detach(), div.detach(), frob.detach()


def divergence(fn: Field, t: Tensor, x: Tensor, probes: Tensor | None) -> tuple[Tensor, Tensor]:
    """``fn(t, x)`` and its divergence ``(B,)``: exact when ``probes`` is None, else the
    Hutchinson mean over ``probes`` of shape ``(P, B, *D)`` (detached; see
    :func:`divergence_terms`)."""
    out, div, _ = divergence_terms(fn, t, x, probes)
    return out, div


class ODEFlowTerms(NamedTuple):
    """What one solve of the augmented ODE gives (all per point, ``(B,)`` but ``x``).

    Attributes:
        x: the end point ``(B, *D)``.
        div: :math:`\\int \\nabla\\cdot F\\,dt` in the grid's direction of ``t``.
        kinetic: :math:`\\int \\lVert F\\rVert^2 dt` (zeros unless ``regularize``).
        frobenius: :math:`\\int \\lVert \\partial F/\\partial x\\rVert_F^2 dt` (ditto).
        nfe: the field evaluations.
    """

    x: Tensor
    div: Tensor
    kinetic: Tensor
    frobenius: Tensor
    nfe: int


def ode_flow(field: Field, x: Tensor, *, ts: Tensor | None = None, t0: float | None = None,
             t1: float | None = None, solver: str = "rk4", exact: bool = True,
             probes: int = 1, probe_kind: str = "rademacher",
             generator: torch.Generator | None = None, rtol: float = 1e-5,
             atol: float = 1e-5, create_graph: bool = False, regularize: bool = False,
             backend: str = "genmodels", adjoint_params: tuple[Tensor, ...] | None = None
             ) -> ODEFlowTerms:
    """Solves :math:`\\dot x = F`, :math:`\\dot a = \\nabla\\cdot F` (and, with
    ``regularize``, the RNODE integrands) from ``x`` along ``ts`` or ``t0`` → ``t1``.

    The one integral behind :func:`ode_log_prob` (data end → prior end) and behind
    reparameterised sampling with densities (prior end → data end, where
    :math:`\\log q(x_0) = \\log p_1(x_1) - a`). Arguments as :func:`ode_log_prob`, and:

    Args:
        create_graph: keep everything differentiable (training by maximum likelihood).
        regularize: also integrate :math:`\\lVert F\\rVert^2` and the Frobenius norm.
        backend: ``"genmodels"`` (the solvers of :mod:`genmodels.solvers`) or
            ``"torchdiffeq"`` (its adaptive ``dopri5`` or fixed methods; imported lazily).
        adjoint_params: with ``backend="torchdiffeq"``, the parameters for the adjoint
            method (gradients by solving the adjoint ODE backwards; memory O(1) in steps).
    """
    from . import get_solver

    shape = x.shape
    n = shape[0]
    eps = None if exact else hutchinson_probes(tuple(shape), probes, probe_kind,
                                               generator=generator, device=x.device,
                                               dtype=x.dtype)
    extra = 3 if regularize else 1
    nfe = [0]

    def augmented(t: Tensor, z: Tensor) -> Tensor:
        nfe[0] += 1
        y = z[:, :-extra].reshape(shape)
        dy, div, frob = divergence_terms(field, t, y, eps, create_graph=create_graph)
        cols = [dy.reshape(n, -1), div.unsqueeze(1)]
        if regularize:
            cols += [dy.reshape(n, -1).square().sum(1, keepdim=True), frob.unsqueeze(1)]
        return torch.cat(cols, dim=1)

    z = torch.cat((x.reshape(n, -1), x.new_zeros(n, extra)), 1)
    if backend == "torchdiffeq":
        from .diffeq import odeint

        end = odeint(augmented, z, ts, t0=t0, t1=t1, solver=solver, rtol=rtol, atol=atol,
                     adjoint_params=adjoint_params)
    elif backend != "genmodels":
        raise InputError(f"backend {backend!r}: unknown (known: genmodels, torchdiffeq)")
    elif ts is None:
        if solver != "dopri5" or t0 is None or t1 is None:
            raise InputError("ode_log_prob: a fixed-step solver needs ts; dopri5 needs t0, t1")
        end = integrate_adaptive(augmented, z, t0, t1, rtol=rtol, atol=atol).x
    else:
        end = integrate(augmented, z, ts, get_solver(solver)).x
    zero = end.new_zeros(n)
    return ODEFlowTerms(end[:, :-extra].reshape(shape), end[:, -extra],
                        end[:, -2] if regularize else zero,
                        end[:, -1] if regularize else zero, nfe[0])


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
    sol = ode_flow(field, x, ts=ts, t0=t0, t1=t1, solver=solver, exact=exact, probes=probes,
                   probe_kind=probe_kind, generator=generator, rtol=rtol, atol=atol)
    # d log p/dt = -div F, so log p(t0) = log p(t1) + ∫_{t0}^{t1} div F dt: the augmented
    # state accumulated ∫ div F in the grid's direction of t.
    return log_prior(sol.x) + sol.div, sol.nfe
