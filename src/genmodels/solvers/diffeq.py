"""ODE solves through torchdiffeq (the ``ode`` extra): adaptive methods and the adjoint method.

torchdiffeq is imported lazily, on the first call; a missing install is an
:class:`~genmodels.errors.InputError` naming the extra. The adjoint method (Chen et al. 2018,
*Neural Ordinary Differential Equations*, https://arxiv.org/abs/1806.07366) computes the
gradients of the end point by solving the adjoint ODE backwards in time, so memory does not
grow with the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import InputError

#: genmodels solver names and their torchdiffeq methods.
METHODS = {"euler": "euler", "heun": "heun2", "midpoint": "midpoint", "rk4": "rk4",
           "dopri5": "dopri5"}


def _torchdiffeq() -> Any:
    try:
        import torchdiffeq
    except ImportError:  # pragma: no cover - the extra is installed in development
        raise InputError("the torchdiffeq backend needs the ode extra: "
                         "pip install 'genmodels[ode]'") from None
    return torchdiffeq


def odeint(f: Callable[[Tensor, Tensor], Tensor], x: Tensor, ts: Tensor | None = None, *,
           t0: float | None = None, t1: float | None = None, solver: str = "dopri5",
           rtol: float = 1e-5, atol: float = 1e-5,
           adjoint_params: tuple[Tensor, ...] | None = None) -> Tensor:
    """The end point of :math:`\\dot x = f(t, x)` from ``x`` (at ``ts[0]`` or ``t0``).

    Args:
        f: the vector field.
        x: the start point ``(B, d)``.
        ts: a fixed grid (fixed-step methods step along it; ``dopri5`` reports at its ends).
        t0: the start time when ``ts`` is None.
        t1: the end time when ``ts`` is None.
        solver: ``euler``, ``heun``, ``midpoint``, ``rk4`` or ``dopri5`` (adaptive).
        rtol: relative tolerance of ``dopri5``.
        atol: absolute tolerance of ``dopri5``.
        adjoint_params: parameters that get gradients by the adjoint method (``None``:
            backpropagation through the solver's operations).
    """
    if solver not in METHODS:
        raise InputError(f"torchdiffeq solver {solver!r}: unknown (known: {', '.join(METHODS)})")
    tde = _torchdiffeq()
    if ts is None:
        if t0 is None or t1 is None:
            raise InputError("odeint: give ts, or t0 and t1")
        ts = torch.tensor([t0, t1], dtype=x.dtype, device=x.device)
        options: dict[str, Any] = {}
        if solver != "dopri5":
            raise InputError(f"odeint: the fixed-step solver {solver!r} needs a grid ts")
    else:
        ts = ts.to(x.dtype)  # fixed-step methods step from one grid point to the next
        options = {}
    method = METHODS[solver]
    if adjoint_params is not None:
        out = tde.odeint_adjoint(f, x, ts, rtol=rtol, atol=atol, method=method,
                                 options=options, adjoint_params=tuple(adjoint_params))
    else:
        out = tde.odeint(f, x, ts, rtol=rtol, atol=atol, method=method, options=options)
    return out[-1]
