"""The solver contract and the one driver loop, :func:`integrate`, that counts evaluations.

A vector field is any callable ``f(t, x) -> dx/dt`` with ``t`` a 0-d tensor and ``x`` of
``(B, *D)``; solvers never import a network. A grid ``ts`` may decrease (reverse time).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..errors import InputError

VectorField = Callable[[Tensor, Tensor], Tensor]
#: ``brownian(t0, t1, like) -> dW`` over ``[t0, t1]`` (variance ``|t1 - t0|``).
Brownian = Callable[[Tensor, Tensor, Tensor], Tensor]


class Counted:
    """Wraps a vector field and counts its evaluations (``nfe``)."""

    def __init__(self, f: VectorField) -> None:
        self.f = f
        self.nfe = 0

    def __call__(self, t: Tensor, x: Tensor) -> Tensor:
        self.nfe += 1
        return self.f(t, x)


class Solver(ABC):
    """A one-step ODE method of declared order (checked empirically by the test suite).

    Attributes:
        name: the registered name.
        order: the global order of accuracy.
        evals: vector-field evaluations per step.
    """

    name: ClassVar[str]
    order: ClassVar[int]
    evals: ClassVar[int]
    stochastic: ClassVar[bool] = False

    def init(self, f: VectorField, t0: Tensor, x: Tensor) -> Any:
        """The solver state before the first step (``None`` for one-step methods)."""
        return None

    @abstractmethod
    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        """Advances ``x`` from ``t0`` to ``t1``; returns the new point and state."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order})"


class SDESolver(ABC):
    """A one-step method for :math:`dX = f(t, X)\\,dt + g(t)\\,dW` (additive noise)."""

    name: ClassVar[str]
    order: ClassVar[int]
    evals: ClassVar[int]
    stochastic: ClassVar[bool] = True

    @abstractmethod
    def step(self, f: VectorField, g: Callable[[Tensor], Tensor], t0: Tensor, t1: Tensor,
             x: Tensor, dw: Tensor) -> Tensor:
        """Advances ``x`` from ``t0`` to ``t1`` given the Brownian increment ``dw``."""


@dataclass
class Solution:
    """The end point of an integration and the number of vector-field evaluations."""

    x: Tensor
    nfe: int
    steps: int


def gaussian_brownian(generator: torch.Generator | None) -> Brownian:
    """Independent increments :math:`\\Delta W \\sim \\mathcal N(0, |t_1 - t_0| I)` drawn from
    ``generator``."""

    def dw(t0: Tensor, t1: Tensor, like: Tensor) -> Tensor:
        z = torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
        return z * float(abs(t1 - t0)) ** 0.5

    return dw


def integrate(
    f: VectorField,
    x: Tensor,
    ts: Tensor,
    solver: Solver | SDESolver | str = "heun",
    *,
    g: Callable[[Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
    brownian: Brownian | None = None,
    callback: Callable[[Tensor, Tensor], None] | None = None,
) -> Solution:
    """Integrates ``f`` (and the noise ``g`` for an SDE solver) along the grid ``ts``.

    Args:
        f: the vector field (the drift for an SDE).
        x: the start point, ``(B, *D)``.
        ts: a monotone 1-D grid; ``ts[0]`` is the start time.
        solver: a :class:`Solver`, an :class:`SDESolver` or a registered name.
        g: the diffusion coefficient :math:`g(t)` (SDE solvers only).
        generator: the source of the Brownian increments (SDE solvers).
        brownian: the increments themselves (overrides ``generator``; for strong-order tests).
        callback: called as ``callback(t, x)`` after every step.
    """
    from . import get_solver

    s = get_solver(solver) if isinstance(solver, str) else solver
    if ts.dim() != 1 or ts.numel() < 2:
        raise InputError(f"integrate: the grid needs at least two times, got {tuple(ts.shape)}")
    fc = Counted(f)
    ts = ts.to(torch.float64)
    if isinstance(s, SDESolver):
        if g is None:
            raise InputError(f"integrate: the SDE solver {s.name!r} needs a diffusion g")
        bm = brownian or gaussian_brownian(generator)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            x = s.step(fc, g, t0, t1, x, bm(t0, t1, x))
            if callback is not None:
                callback(t1, x)
    else:
        state = s.init(fc, ts[0], x)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            x, state = s.step(fc, t0, t1, x, state)
            if callback is not None:
                callback(t1, x)
    return Solution(x, fc.nfe, ts.numel() - 1)


def path_states(f: VectorField, x: Tensor, ts: Tensor, solver: Solver | str = "heun"
                ) -> Tensor:
    """The states ``(K + 1, B, *D)`` of an ODE solve along the grid ``ts`` (``K`` steps), the
    start included: what the report's trajectory figures draw."""
    states = [x]
    integrate(f, x, ts, solver, callback=lambda t, y: states.append(y))
    return torch.stack(states)
