r"""The flow-matching model: a learned velocity field between data (:math:`t = 0`) and a
source (:math:`t = 1`).

The network predicts, at :math:`(x_t, t)`, the velocity, the source point ("noise") or the
data point; :func:`genmodels.paths.convert` turns the prediction into the velocity
:math:`v_\theta(x, t)` of the ODE :math:`\dot x = v_\theta(x, t)`. Sampling integrates it from
a source draw at :math:`t = 1` down to :math:`t = 0` with the shared solvers; with a Gaussian
source the log-density is the instantaneous change of variables

.. math:: \log p_\theta(x) = \log p_\mathrm{src}(x_1) + \int_0^1 \nabla\cdot v_\theta(x_t, t)\,dt,

the shared :func:`genmodels.solvers.likelihood.ode_flow` (the integral of the CNF family and
of diffusion's probability-flow ODE).

A class-conditional model (``n_classes > 0``) takes integer labels as ``cond`` (``-1`` or
``None``: the null token). Labelled sampling integrates the classifier-free guided velocity

.. math:: \tilde v(x, t) = (1 + w)\,v_\theta(x, t, c) - w\,v_\theta(x, t, \varnothing)

(:func:`genmodels.paths.guidance.guided`; Ho & Salimans 2022, Eq. 6, with the velocity in
place of the noise: the same sampler input, since the conversions are affine). ``w = 0`` is
the conditional flow, ``w = -1`` the unconditional one. ``log_prob(x, cond=labels)`` is the
conditional :math:`\log p_\theta(x \mid c)` of the unguided conditional flow (the guided
field is no trained model's flow, so the likelihood takes no guidance); without labels it is
the null label's unconditional :math:`\log p_\theta(x)`, or, for a model trained with
``p_uncond = 0`` (``null_label=False``), the label mixture :math:`\log\sum_c\pi_c\,
p_\theta(x \mid c)` (:class:`~genmodels.core.LabelConditional`).

References:
    Flow Matching for Generative Modeling (Lipman et al., 2023), https://arxiv.org/abs/2210.02747

    Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow
    (Liu et al., 2023), https://arxiv.org/abs/2209.03003
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...core import DensityModel, IterativeModel, LabelConditional
from ...distributions import StandardNormal
from ...errors import InputError
from ...paths import coefficients, convert
from ...paths.guidance import (
    as_labels,
    check_guidance,
    check_null_label,
    guided,
    mixture_log_prob,
)
from ...paths.interpolants import Interpolant
from ...solvers import Solution, integrate, integrate_adaptive, path_states
from ...solvers.likelihood import ode_flow
from .config import PREDICTIONS, SAMPLERS

_EVALS = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


class FlowMatching(IterativeModel, LabelConditional):
    """A velocity model on an interpolant, sampled by an ODE solver (any source).

    Args:
        net: ``net(x, t, cond) -> (B, *D)`` with ``t`` of ``(B,)`` in [0, 1]; ``cond`` is
            passed through untouched (a conditional network can use it; with ``n_classes``
            it holds integer labels).
        path: the interpolant (:mod:`genmodels.paths.interpolants`).
        source: the source end: a :class:`~genmodels.distributions.StandardNormal` or an
            :class:`~genmodels.families.fm.source.EmpiricalSource`.
        event_shape: the shape ``D`` of one point.
        prediction: ``"velocity"``, ``"noise"`` (the source point) or ``"data"``.
        t_min: the cut-off at an end where a coefficient is singular.
        sampler: the default sampler.
        nfe: the default budget of network evaluations.
        rtol: ``dopri5``'s sampling tolerance.
        n_classes: the classes ``net`` embeds (0: no class labels).
        guidance: the default guidance weight :math:`w` of labelled sampling.
        null_label: whether training dropped labels to the null token (``p_uncond > 0``);
            without it, unlabelled sampling and density use the label mixture.
    """

    samplers: tuple[str, ...] = SAMPLERS
    default_nfe: int = 40

    def __init__(self, net: nn.Module, path: Interpolant, source: nn.Module,
                 event_shape: tuple[int, ...], *, prediction: str = "velocity",
                 t_min: float = 1e-3, sampler: str = "rk4", nfe: int = 40,
                 rtol: float = 1e-4, n_classes: int = 0, guidance: float = 0.0,
                 null_label: bool = True) -> None:
        super().__init__()
        self.init_classes(n_classes, null_label)
        self.guidance = check_guidance(guidance)
        if not self.n_classes and self.guidance != 0:
            raise InputError("model.guidance: the model is unconditional (train it with "
                             "model.conditional=true)")
        if prediction not in PREDICTIONS:
            raise InputError(f"model.prediction: {prediction!r} unknown "
                             f"(known: {', '.join(PREDICTIONS)})")
        if path.stochastic and prediction != "velocity":
            raise InputError(f"model.prediction: the {path.name!r} path has extra noise, so "
                             "only the velocity target is defined (set prediction=velocity)")
        if sampler not in SAMPLERS:
            raise InputError(f"model.sampler: {sampler!r} unknown (known: {', '.join(SAMPLERS)})")
        if nfe < 1 or rtol <= 0 or not 0 < t_min < 0.5:
            raise InputError("model.nfe must be >= 1, model.rtol > 0, model.t_min in (0, 0.5)")
        if tuple(source.event_shape) != tuple(event_shape):
            raise InputError(f"model.source: points of shape {tuple(source.event_shape)}, the "
                             f"data's are {tuple(event_shape)}")
        self.net, self.path, self.source = net, path, source
        if not isinstance(source, StandardNormal):
            self.no_density = (
                f"the data-to-data flow (model.source={getattr(source, 'name', 'points')!r}) "
                "has no density: its source is an empirical data set, which has no "
                "log-density to carry through the flow")
        self.event_shape = tuple(event_shape)
        self.prediction = prediction
        # noise → velocity divides by α (0 at t = 1), data → velocity by σ (0 at t = 0)
        self.t_lo = max(path.t_min, t_min if prediction == "data" else 0.0)
        self.t_hi = min(path.t_max, 1 - t_min if prediction == "noise" else 1.0)
        self.samplers = (sampler, *[s for s in SAMPLERS if s != sampler])
        self.default_nfe, self.rtol = int(nfe), float(rtol)
        self.last_nfe = 0

    # ---- the network and the velocity ----------------------------------------------------
    def _times(self, t: Tensor | float, x: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
        return t.expand(x.shape[0]) if t.dim() == 0 else t

    def predict(self, x: Tensor, t: Tensor | float, kind: str | None = None, *,
                cond: Tensor | None = None) -> Tensor:
        """The network's prediction at ``(x, t)`` ``(B, *D)`` as ``kind`` (default: its own).

        Args:
            x: points :math:`x_t` ``(B, *D)``.
            t: a scalar time or times ``(B,)``.
            kind: ``"velocity"``, ``"noise"``, ``"data"`` (or ``"score"``, Gaussian source).
            cond: a context passed to the network.
        """
        t = self._times(t, x)
        out = self.net(x, t.to(x.dtype), cond)
        if kind is None or kind == self.prediction:
            return out
        c = coefficients(self.path, t)
        c = type(c)(*(v.to(x.dtype) for v in (c.alpha, c.sigma, c.d_alpha, c.d_sigma)))
        return convert(out, self.prediction, kind, x, c)

    def velocity(self, t: Tensor | float, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """:math:`v_\\theta(x, t)` ``(B, *D)`` (the ODE's field, in the solvers' ``f(t, x)``
        order)."""
        return self.predict(x, t, "velocity", cond=cond)

    def sampling_velocity(self, n: int, cond: Tensor | None = None,
                          guidance: float | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        """The field ``f(t, x)`` the solvers integrate for ``n`` points:
        :math:`v_\\theta(x, t, \\mathrm{cond})`, or for a class-conditional model given
        labels the guided :math:`(1 + w)v_\\theta(x, t, c) - w\\,v_\\theta(x, t,
        \\varnothing)` (``guidance``: :math:`w`, default :attr:`guidance`; a model without
        classes refuses it)."""
        if not self.n_classes:
            if guidance is not None:
                raise InputError("model.guidance: the model was trained without labels "
                                 "(set model.conditional=true)")
            return lambda t, y: self.velocity(t, y, cond)
        w = self.guidance if guidance is None else check_guidance(guidance)
        check_null_label(self, w)
        if cond is None:
            return lambda t, y: self.velocity(t, y)
        labels = as_labels(cond.to(self.device), n, self.n_classes)
        return guided(lambda t, y, c: self.velocity(t, y, c), labels, w)

    # ---- sampling ------------------------------------------------------------------------
    def integrate(self, x: Tensor, *, t0: float, t1: float, sampler: str | None = None,
                  nfe: int | None = None, cond: Tensor | None = None,
                  guidance: float | None = None) -> Solution:
        """Integrates :math:`\\dot x = v_\\theta` from ``t0`` to ``t1`` with ``sampler`` on
        ``nfe`` evaluations (``dopri5``: adaptive, ``rtol``) along
        :meth:`sampling_velocity` (guided for labelled points of a class-conditional model;
        a guided evaluation runs the network once on a doubled batch)."""
        name = sampler or self.samplers[0]
        if name not in SAMPLERS:
            raise InputError(f"sampler {name!r}: unknown (known: {', '.join(SAMPLERS)})")
        budget = self.default_nfe if nfe is None else int(nfe)
        if budget < 1:
            raise InputError(f"nfe {budget}: must be >= 1")

        f = self.sampling_velocity(x.shape[0], cond, guidance)
        if name == "dopri5":
            return integrate_adaptive(f, x, t0, t1, rtol=self.rtol, atol=self.rtol)
        steps = max(1, budget // _EVALS[name])
        ts = torch.linspace(t0, t1, steps + 1, dtype=torch.float64, device=x.device)
        return integrate(f, x, ts, name)

    @torch.no_grad()
    def trajectory(self, n: int, *, generator: torch.Generator | None = None,
                   nfe: int | None = None) -> Tensor:
        """``(K + 1, n, *D)`` states from the source (``t = 1``) to the data end, by Heun's
        method on a uniform grid of ``K = nfe // 2`` steps."""
        steps = max(1, (nfe or self.default_nfe) // 2)
        x = self.source.sample(n, generator=generator).to(self.device)
        ts = torch.linspace(self.t_hi, self.t_lo, steps + 1, dtype=torch.float64,
                            device=x.device)
        return path_states(lambda t, y: self.velocity(t, y), x, ts)

    @torch.no_grad()
    def sample_with_info(self, n: int, *, cond: Tensor | None = None,
                         generator: torch.Generator | None = None, sampler: str | None = None,
                         nfe: int | None = None, guidance: float | None = None) -> Solution:
        """Draws ``n`` points (source at :math:`t = 1` → data at 0) and reports the NFE.

        ``cond``: ``(n,)`` labels of a class-conditional model (none: unconditional
        samples); ``guidance``: the weight :math:`w` (default: the configured one)."""
        if cond is not None and cond.shape[0] != n:
            raise ValueError(f"cond has {cond.shape[0]} rows for {n} samples")
        if cond is None:
            cond = self.unconditional_labels(n, generator)
        x1 = self.source.sample(n, generator=generator).to(self.device)
        sol = self.integrate(x1, t0=self.t_hi, t1=self.t_lo, sampler=sampler, nfe=nfe,
                             cond=cond, guidance=guidance)
        self.last_nfe = sol.nfe
        return sol

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None, sampler: str | None = None,
               nfe: int | None = None, guidance: float | None = None) -> Tensor:
        """Draws ``n`` points ``(n, *D)`` with ``sampler`` (default: the configured one);
        ``cond`` and ``guidance`` as in :meth:`sample_with_info`."""
        return self.sample_with_info(n, cond=cond, generator=generator, sampler=sampler,
                                     nfe=nfe, guidance=guidance).x

    def transport(self, x_data: Tensor, *, sampler: str | None = None, nfe: int | None = None,
                  cond: Tensor | None = None, guidance: float | None = None) -> Tensor:
        """Carries data points to the source end (:math:`t = 0 \\to 1`), without gradients
        (labelled points of a class-conditional model along the guided field)."""
        with torch.no_grad():
            return self.integrate(x_data, t0=self.t_lo, t1=self.t_hi, sampler=sampler,
                                  nfe=nfe, cond=cond, guidance=guidance).x


class DensityFlowMatching(FlowMatching, DensityModel):
    """A flow-matching model with a standard-normal source, hence a log-density.

    Args:
        likelihood_solver: the solver of :meth:`log_prob` (``dopri5`` adaptive, or a fixed
            one on ``likelihood_steps`` steps).
        likelihood_steps: its fixed step count.
        likelihood_rtol: its adaptive tolerance.
        exact_trace: the exact divergence, else Hutchinson with ``probes`` probes.
        probes: Hutchinson probes per point.
        **kwargs: as :class:`FlowMatching`.
    """

    def __init__(self, net: nn.Module, path: Interpolant, source: nn.Module,
                 event_shape: tuple[int, ...], *, likelihood_solver: str = "dopri5",
                 likelihood_steps: int = 32, likelihood_rtol: float = 1e-5,
                 exact_trace: bool = True, probes: int = 1, **kwargs: object) -> None:
        super().__init__(net, path, source, event_shape, **kwargs)
        if not isinstance(source, StandardNormal):
            raise InputError("a flow-matching density needs the standard-normal source")
        if likelihood_solver not in SAMPLERS:
            raise InputError(f"model.likelihood_solver: {likelihood_solver!r} unknown "
                             f"(known: {', '.join(SAMPLERS)})")
        if likelihood_steps < 1 or likelihood_rtol <= 0 or probes < 1:
            raise InputError("model.likelihood_steps, likelihood_rtol and probes must be "
                             "positive")
        self.likelihood = (likelihood_solver, int(likelihood_steps), float(likelihood_rtol))
        self.exact, self.probes = bool(exact_trace), int(probes)
        self.log_prob_kind = "exact" if self.exact else "estimate"

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """:math:`\\log p_\\theta(x)` in nats ``(B,)``: the source log-density at the end of
        the flow plus the integrated divergence (exact trace, or Hutchinson probes from a
        fixed seed, so the same points give the same value).

        For a class-conditional model, ``cond`` labels ``(B,)`` give the conditional
        :math:`\\log p_\\theta(x \\mid c)` of the unguided conditional velocity (``-1``: the
        null label's unconditional density; no ``cond``: the same, or the label mixture when
        the null label was never trained); ``model.guidance`` plays no part (the guided
        field is no trained model's flow)."""
        if self.mixes_labels(cond):
            return mixture_log_prob(lambda c: self.log_prob(x, cond=c), x,
                                    self.label_log_prior())
        if self.n_classes and cond is not None:
            cond = as_labels(cond.to(x.device), x.shape[0], self.n_classes)
        solver, steps, rtol = self.likelihood
        t0, t1 = self.t_lo, self.t_hi
        ts = None if solver == "dopri5" else torch.linspace(t0, t1, steps + 1,
                                                            dtype=torch.float64,
                                                            device=x.device)
        g = None if self.exact else torch.Generator(device=x.device).manual_seed(0)
        sol = ode_flow(lambda t, y: self.velocity(t, y, cond), x, ts=ts, t0=t0, t1=t1,
                       solver=solver, exact=self.exact, probes=self.probes, generator=g,
                       rtol=rtol, atol=rtol, create_graph=torch.is_grad_enabled())
        self.last_nfe = sol.nfe
        return self.source.log_prob(sol.x) + sol.div

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """The same as :meth:`log_prob`."""
        return self.log_prob(x, cond=cond)
