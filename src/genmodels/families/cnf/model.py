r"""The continuous normalizing flow: a time-conditioned vector field between data and a prior.

:math:`\dot x_t = F_\theta(x_t, t)` carries data (:math:`t = 0`) to the prior
:math:`p_T = \mathcal N(0, I)` (:math:`t = T`); by the instantaneous change of variables

.. math:: \log p_\theta(x) = \log p_T(x_T) + \int_0^T \nabla\cdot F_\theta(x_t, t)\,dt,

with the exact trace for small ``d`` and Hutchinson's :math:`\epsilon^\top J\epsilon`
otherwise (FFJORD). The integral is the shared :func:`genmodels.solvers.likelihood.ode_flow`,
the one that diffusion's probability-flow ODE uses. Sampling integrates from :math:`T` to 0.

References:
    Neural Ordinary Differential Equations (Chen et al., 2018), https://arxiv.org/abs/1806.07366

    FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models
    (Grathwohl et al., 2019), https://arxiv.org/abs/1810.01367
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core import DensityModel, IterativeModel
from ...distributions import StandardNormal
from ...errors import InputError
from ...solvers import Solution, integrate, integrate_adaptive, path_states
from ...solvers.likelihood import ODEFlowTerms, ode_flow

SOLVERS = ("rk4", "heun", "euler", "dopri5")


class CNF(IterativeModel, DensityModel):
    """A CNF on points of shape ``event_shape`` (flattened for the network).

    Args:
        net: ``net(x, t, cond) -> (B, d)`` on flat ``x`` of ``(B, d)`` and ``t`` of ``(B,)``
            in [0, 1] (the time :math:`t/T`).
        event_shape: the shape ``D`` of one point.
        T: the prior end of the time interval.
        solver: the solver of training and of every pass with gradients on (``rk4``,
            ``heun``, ``euler``, ``dopri5``).
        steps: its fixed step count.
        likelihood_solver: the solver of passes without gradients (evaluation: ``log_prob``,
            importance weights); adaptive ``dopri5`` by default, because a model trained
            with a coarse fixed grid can exploit that grid's error (its log-determinant is
            then not the integrated divergence), which only an accurate solve reveals.
        likelihood_steps: its fixed step count.
        likelihood_rtol: its adaptive tolerance.
        backend: ``"genmodels"`` or ``"torchdiffeq"``.
        adjoint: gradients by the adjoint method (``torchdiffeq``).
        rtol: the adaptive tolerance.
        trace: ``"exact"`` or ``"hutchinson"``.
        probes: Hutchinson probes per point.
        probe: ``"rademacher"`` or ``"gaussian"``.
        sampler: the default sampler.
        nfe: the default sampling budget.
    """

    samplers: tuple[str, ...] = SOLVERS
    default_nfe: int = 32

    def __init__(self, net: nn.Module, event_shape: tuple[int, ...], *, T: float = 1.0,
                 solver: str = "rk4", steps: int = 8, backend: str = "genmodels",
                 adjoint: bool = False, rtol: float = 1e-5, trace: str = "exact",
                 probes: int = 1, probe: str = "rademacher", sampler: str = "rk4",
                 nfe: int = 32, likelihood_solver: str = "dopri5", likelihood_steps: int = 32,
                 likelihood_rtol: float = 1e-5) -> None:
        super().__init__()
        for name, value, known in (("solver", solver, SOLVERS), ("sampler", sampler, SOLVERS),
                                   ("likelihood_solver", likelihood_solver, SOLVERS),
                                   ("trace", trace, ("exact", "hutchinson")),
                                   ("backend", backend, ("genmodels", "torchdiffeq"))):
            if value not in known:
                raise InputError(f"model.{name}: {value!r} unknown (known: {', '.join(known)})")
        if min(T, steps, nfe, probes, rtol, likelihood_steps, likelihood_rtol) <= 0:
            raise InputError("model.T, steps, nfe, probes, rtol, likelihood_steps and "
                             "likelihood_rtol must be positive")
        if adjoint and backend != "torchdiffeq":
            raise InputError("model.adjoint needs model.backend = 'torchdiffeq'")
        self.net = net
        self.event_shape = tuple(event_shape)
        self.base = StandardNormal(self.event_shape)
        self.T, self.solver, self.steps = float(T), solver, int(steps)
        self.likelihood = (likelihood_solver, int(likelihood_steps), float(likelihood_rtol))
        self.backend, self.adjoint, self.rtol = backend, bool(adjoint), float(rtol)
        self.exact = trace == "exact"
        self.probes, self.probe = int(probes), probe
        self.samplers = (sampler, *[s for s in SOLVERS if s != sampler])
        self.default_nfe = int(nfe)
        self.log_prob_kind = "exact" if self.exact else "estimate"
        self.last_nfe = 0

    # ---- the vector field ----------------------------------------------------------------
    def velocity(self, t: Tensor, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """:math:`F_\\theta(x, t)` for ``x`` of ``(B, *D)`` and a scalar or ``(B,)`` time."""
        t = torch.as_tensor(t, device=x.device).to(x.dtype)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        return self.net(x.flatten(1), t / self.T, cond).reshape(x.shape)

    def _grid(self, start: float, end: float, steps: int, like: Tensor) -> Tensor:
        return torch.linspace(start, end, steps + 1, dtype=torch.float64, device=like.device)

    def flow(self, x: Tensor, *, reverse: bool = False, cond: Tensor | None = None,
             create_graph: bool = False, regularize: bool = False,
             generator: torch.Generator | None = None) -> ODEFlowTerms:
        """Solves the augmented ODE from the data end (or, with ``reverse``, the prior end).

        ``create_graph`` keeps the result differentiable and solves with the training solver;
        without it, the likelihood solver. ``generator`` draws the Hutchinson probes (fixed
        during the solve).
        """
        t0, t1 = (self.T, 0.0) if reverse else (0.0, self.T)
        solver, steps, rtol = ((self.solver, self.steps, self.rtol) if create_graph
                               else self.likelihood)
        ts = None if solver == "dopri5" else self._grid(t0, t1, steps, x)
        params = tuple(p for p in self.parameters() if p.requires_grad)
        return ode_flow(lambda t, y: self.velocity(t, y, cond), x, ts=ts, t0=t0, t1=t1,
                        solver=solver, exact=self.exact, probes=self.probes,
                        probe_kind=self.probe, generator=generator, rtol=rtol,
                        atol=rtol, create_graph=create_graph, regularize=regularize,
                        backend=self.backend,
                        adjoint_params=params if self.adjoint and create_graph else None)

    # ---- density -------------------------------------------------------------------------
    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """:math:`\\log p_\\theta(x)` in nats ``(B,)`` (the likelihood solver without
        gradients, the training solver with them); a Hutchinson run uses probes from a fixed
        seed, so the same points give the same value."""
        g = None if self.exact else torch.Generator(device=x.device).manual_seed(0)
        sol = self.flow(x, cond=cond, generator=g, create_graph=torch.is_grad_enabled())
        self.last_nfe = sol.nfe
        return self.base.log_prob(sol.x) + sol.div

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """The same as :meth:`log_prob`."""
        return self.log_prob(x, cond=cond)

    def rsample_and_log_prob(self, n: int, *, cond: Tensor | None = None,
                             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` reparameterised samples and their log-densities (gradients reach the
        parameters): :math:`\\log q(x_0) = \\log p_T(x_T) - \\int_T^0 \\nabla\\cdot F\\,dt`."""
        z = self.base.rsample(n, generator=generator).to(self.device)
        sol = self.flow(z, reverse=True, cond=cond, generator=generator,
                        create_graph=torch.is_grad_enabled())
        return sol.x, self.base.log_prob(z) - sol.div

    # ---- sampling ------------------------------------------------------------------------
    @torch.no_grad()
    def sample_with_info(self, n: int, *, cond: Tensor | None = None,
                         generator: torch.Generator | None = None, sampler: str | None = None,
                         nfe: int | None = None) -> Solution:
        """Draws ``n`` points (prior end to data end) and reports the evaluations used."""
        name = sampler or self.samplers[0]
        if name not in SOLVERS:
            raise InputError(f"sampler {name!r}: unknown (known: {', '.join(SOLVERS)})")
        budget = self.default_nfe if nfe is None else int(nfe)
        z = self.base.sample(n, generator=generator).to(self.device)

        def f(t: Tensor, y: Tensor) -> Tensor:
            return self.velocity(t, y, cond)

        if name == "dopri5":
            sol = integrate_adaptive(f, z, self.T, 0.0, rtol=self.rtol, atol=self.rtol)
        else:
            evals = {"euler": 1, "heun": 2, "rk4": 4}[name]
            sol = integrate(f, z, self._grid(self.T, 0.0, max(1, budget // evals), z), name)
        self.last_nfe = sol.nfe
        return sol

    @torch.no_grad()
    def trajectory(self, n: int, *, generator: torch.Generator | None = None,
                   nfe: int | None = None) -> Tensor:
        """``(K + 1, n, *D)`` states from the base draw (``t = T``) to the data end, by Heun's
        method on a uniform grid of ``K = nfe // 2`` steps."""
        steps = max(1, (nfe or self.default_nfe) // 2)
        z = self.base.sample(n, generator=generator).to(self.device)
        return path_states(lambda t, y: self.velocity(t, y, None), z,
                           self._grid(self.T, 0.0, steps, z))

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None, sampler: str | None = None,
               nfe: int | None = None) -> Tensor:
        """Draws ``n`` points ``(n, *D)``."""
        return self.sample_with_info(n, cond=cond, generator=generator, sampler=sampler,
                                     nfe=nfe).x
