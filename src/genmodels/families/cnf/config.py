"""The config of the ``cnf`` family (every field has a default; ``--set`` overrides them)."""

from __future__ import annotations

from dataclasses import dataclass, field

_SOLVERS = ("rk4", "heun", "euler", "dopri5")


@dataclass
class CNFConfig:
    """A continuous normalizing flow (FFJORD) with optional RNODE regularisation.

    Attributes:
        width: the dynamics MLP's hidden width.
        blocks: its residual blocks.
        activation: its activation (smooth ones keep the ODE easy to solve).
        T: the prior end of the time interval (the data end is 0).
        solver: the training solver: ``rk4``, ``heun``, ``euler`` (fixed ``steps``) or
            ``dopri5`` (adaptive, ``rtol``; with ``backend = "torchdiffeq"`` only).
        steps: fixed steps of training and of ``log_prob``.
        backend: ``genmodels`` (the library's solvers) or ``torchdiffeq`` (its methods,
            adaptive ``dopri5`` and the adjoint).
        adjoint: gradients by the adjoint method (``torchdiffeq`` backend).
        rtol: the tolerance (relative and absolute) of adaptive solves.
        trace: ``auto`` (exact up to ``exact_max_dim`` coordinates, else Hutchinson),
            ``exact`` or ``hutchinson``.
        exact_max_dim: where ``auto`` switches to Hutchinson.
        probes: Hutchinson probes per point.
        probe: ``rademacher`` or ``gaussian`` probes.
        kinetic: :math:`\\lambda_K` of the RNODE kinetic energy :math:`\\int\\lVert F\\rVert^2`.
        jacobian: :math:`\\lambda_J` of the Jacobian norm :math:`\\int\\lVert\\nabla F\\rVert_F^2`.
        likelihood_solver: the solver of evaluation (``log_prob`` without gradients,
            ``score``, the ``nll`` metric, importance weights): adaptive ``dopri5`` by default,
            since a coarse training grid can be exploited and only an accurate solve shows it.
        likelihood_steps: its fixed steps (when not ``dopri5``).
        likelihood_rtol: its tolerance (relative and absolute) when adaptive.
        sampler: the default sampler.
        nfe: the default sampling budget (network evaluations).
    """

    width: int = 64
    blocks: int = 2
    activation: str = field(default="tanh", metadata={"choices": ("tanh", "silu", "elu",
                                                                   "relu")})
    T: float = 1.0
    solver: str = field(default="rk4", metadata={"choices": _SOLVERS})
    steps: int = 8
    backend: str = field(default="genmodels", metadata={"choices": ("genmodels",
                                                                     "torchdiffeq")})
    adjoint: bool = False
    rtol: float = 1e-5
    trace: str = field(default="auto", metadata={"choices": ("auto", "exact", "hutchinson")})
    exact_max_dim: int = 16
    probes: int = 1
    probe: str = field(default="rademacher", metadata={"choices": ("rademacher", "gaussian")})
    kinetic: float = 0.0
    jacobian: float = 0.0
    likelihood_solver: str = field(default="dopri5", metadata={"choices": _SOLVERS})
    likelihood_steps: int = 32
    likelihood_rtol: float = 1e-5
    sampler: str = field(default="rk4", metadata={"choices": _SOLVERS})
    nfe: int = 32
