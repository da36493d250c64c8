"""SDE steppers for additive noise :math:`dX = f(t, X)\\,dt + g(t)\\,dW`."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..paths.sde import expand
from .base import SDESolver, VectorField


class EulerMaruyama(SDESolver):
    r""":math:`x_1 = x_0 + f(t_0, x_0)\,h + g(t_0)\,\Delta W`.

    Order 1: weak order 1 in general, and strong order 1 for additive noise (``g`` free of
    ``x``, the case of every diffusion SDE), which is what the test suite measures.
    ``h`` and ``ΔW`` follow the grid's direction (a reverse-time SDE uses a decreasing grid;
    ``ΔW`` has variance ``|h|`` either way).
    """

    name, order, evals = "em", 1, 1

    def step(self, f: VectorField, g: Callable[[Tensor], Tensor], t0: Tensor, t1: Tensor,
             x: Tensor, dw: Tensor) -> Tensor:
        h = (t1 - t0).to(x.dtype)
        return x + h * f(t0, x) + expand(g(t0).to(x.dtype), x) * dw
