"""Explicit Runge–Kutta ODE steppers: Euler (1), midpoint (2), Heun (2), RK4 (4),
Dormand–Prince (5)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .base import Solver, VectorField


class Euler(Solver):
    """:math:`x_1 = x_0 + h f(t_0, x_0)`; order 1, one evaluation per step."""

    name, order, evals = "euler", 1, 1

    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        return x + (t1 - t0).to(x.dtype) * f(t0, x), None


class Midpoint(Solver):
    r"""The explicit midpoint method: :math:`k_1 = f(t_0, x_0)`,
    :math:`x_1 = x_0 + h f(t_0 + \tfrac h2, x_0 + \tfrac h2 k_1)`; order 2, two evaluations."""

    name, order, evals = "midpoint", 2, 2

    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        h = (t1 - t0).to(x.dtype)
        k1 = f(t0, x)
        return x + h * f(0.5 * (t0 + t1), x + 0.5 * h * k1), None


class Heun(Solver):
    r"""Heun's method (explicit trapezoid): :math:`k_1 = f(t_0, x_0)`,
    :math:`k_2 = f(t_1, x_0 + h k_1)`, :math:`x_1 = x_0 + \frac h2 (k_1 + k_2)`; order 2."""

    name, order, evals = "heun", 2, 2

    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        h = (t1 - t0).to(x.dtype)
        k1 = f(t0, x)
        k2 = f(t1, x + h * k1)
        return x + 0.5 * h * (k1 + k2), None


class RK4(Solver):
    """The classical fourth-order Runge–Kutta method; four evaluations per step."""

    name, order, evals = "rk4", 4, 4

    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        h = (t1 - t0).to(x.dtype)
        tm = 0.5 * (t0 + t1)
        k1 = f(t0, x)
        k2 = f(tm, x + 0.5 * h * k1)
        k3 = f(tm, x + 0.5 * h * k2)
        k4 = f(t1, x + h * k3)
        return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None


# Dormand–Prince 5(4) tableau (Dormand & Prince 1980; Hairer, Nørsett & Wanner, Table II.5.2).
DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
DP_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def dopri_stages(f: VectorField, t0: Tensor, h: Tensor, x: Tensor, k1: Tensor,
                 last: bool) -> list[Tensor]:
    """The stages :math:`k_1..k_6` (and :math:`k_7 = f(t_1, x_1^{(5)})` when ``last``)."""
    ks = [k1]
    for i in range(1, 7 if last else 6):
        xi = x + h * sum(a * k for a, k in zip(DP_A[i], ks) if a != 0.0)
        ks.append(f(t0 + DP_C[i] * h, xi))
    return ks


class Dopri5(Solver):
    """Dormand–Prince's fifth-order method on a fixed grid (six evaluations per step).

    For step-size control use :func:`genmodels.solvers.integrate_adaptive`.
    """

    name, order, evals = "dopri5", 5, 6

    def step(self, f: VectorField, t0: Tensor, t1: Tensor, x: Tensor,
             state: Any) -> tuple[Tensor, Any]:
        h = (t1 - t0).to(x.dtype)
        ks = dopri_stages(f, t0, h, x, f(t0, x), last=False)
        return x + h * sum(b * k for b, k in zip(DP_B5, ks) if b != 0.0), None
