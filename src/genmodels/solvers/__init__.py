"""ODE/SDE solvers with a declared order; they integrate f(t, x) and never import a network."""

from ..errors import InputError
from .adaptive import integrate_adaptive
from .base import (
    Brownian,
    Counted,
    SDESolver,
    Solution,
    Solver,
    VectorField,
    integrate,
    path_states,
)
from .ode import RK4, Dopri5, Euler, Heun, Midpoint
from .sde import EulerMaruyama

#: Solvers by name (fixed-step ODE methods and the Euler–Maruyama SDE method).
SOLVERS: dict[str, type] = {c.name: c for c in (Euler, Midpoint, Heun, RK4, Dopri5, EulerMaruyama)}


def get_solver(name: str) -> Solver | SDESolver:
    """A fresh solver registered as ``name``."""
    if name not in SOLVERS:
        raise InputError(f"solver {name!r}: unknown (known: {', '.join(SOLVERS)})")
    return SOLVERS[name]()


__all__ = [
    "RK4",
    "SOLVERS",
    "Brownian",
    "Counted",
    "Dopri5",
    "Euler",
    "EulerMaruyama",
    "Heun",
    "Midpoint",
    "SDESolver",
    "Solution",
    "path_states",
    "Solver",
    "VectorField",
    "get_solver",
    "integrate",
    "integrate_adaptive",
]
