r"""The score-based diffusion model: a denoiser network on a forward SDE.

The network sees :math:`c_\mathrm{in} x_t` and :math:`t/T`, with
:math:`c_\mathrm{in} = (\alpha_t^2 s_d^2 + \sigma_t^2)^{-1/2}` (unit-scale input whatever the
process, VE included; :math:`s_d` is ``sigma_data``). Its output :math:`F_\theta` is one of
noise, data, velocity or score (``prediction``). With ``precondition`` (the default) it is
the residual over the prediction that is optimal for :math:`x_0 \sim \mathcal N(0, s_d^2 I)`:

.. math:: \hat y = y^*(x_t) + J\,\sqrt{\mathrm{Var}(x_0 \mid x_t)}\,F_\theta, \qquad
    \hat x_0^* = \frac{\alpha_t s_d^2}{\alpha_t^2 s_d^2 + \sigma_t^2}x_t, \qquad
    \mathrm{Var}(x_0 \mid x_t) = \frac{s_d^2\sigma_t^2}{\alpha_t^2 s_d^2 + \sigma_t^2},

where :math:`J = \partial y/\partial x_0` at fixed :math:`x_t` (1 for data,
:math:`-\alpha/\sigma` for noise, :math:`\alpha/\sigma^2` for score,
:math:`\dot\alpha - \dot\sigma\alpha/\sigma` for velocity). For data prediction this is
the preconditioning of Karras et al. (2022, EDM, Table 1); for every target it makes the
prediction extrapolate correctly far out in the tails, where a plain network saturates and
the probability-flow ODE then throws samples away. Every sampler and the likelihood consume
the score :math:`s_\theta = \mathrm{convert}(\hat y, \text{prediction} \to \text{score})`.

A class-conditional model (``n_classes > 0``) takes integer labels as ``cond`` (``-1`` or
``None``: the null token); labelled sampling uses the classifier-free guided score
:math:`(1 + w)s_\theta(x, t, c) - w\,s_\theta(x, t, \varnothing)`
(:func:`genmodels.paths.guidance.guided`, Ho & Salimans 2022). A model trained with
``p_uncond = 0`` (``null_label=False``) never saw the null token: without labels it samples
and scores the label mixture :math:`\sum_c\pi_c\,p_\theta(x \mid c)` instead
(:class:`~genmodels.core.LabelConditional`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...core import IterativeModel, LabelConditional, VariationalBound
from ...errors import InputError
from ...paths import coefficients, convert, expand
from ...paths.guidance import (
    as_labels,
    check_guidance,
    check_null_label,
    guided,
    mixture_log_prob,
)
from ...paths.sde import ForwardSDE
from ...solvers import Solution
from .bound import variational_bound
from .likelihood import pf_ode_log_prob
from .samplers import SAMPLERS, SamplerOptions, sample


class ScoreDiffusion(IterativeModel, VariationalBound, LabelConditional):
    """A diffusion model: sampling by the reverse SDE or the probability-flow ODE, density
    by the probability-flow ODE, and the variational bound of the reverse SDE.

    Args:
        net: ``net(x, t, cond) -> (B, *D)`` with ``t`` of ``(B,)`` in [0, 1].
        sde: the forward process (a :class:`~genmodels.paths.ForwardSDE`).
        event_shape: the shape ``D`` of one point.
        prediction: ``"noise"``, ``"data"``, ``"velocity"`` or ``"score"``.
        sampler: the default sampler (a name of :data:`SAMPLERS`).
        nfe: the default number of network evaluations.
        options: sampler knobs (:class:`SamplerOptions`).
        likelihood: keyword arguments of :func:`pf_ode_log_prob` (solver, steps, probes…);
            ``exact_max_dim`` sets where the exact divergence gives way to Hutchinson.
        log_prob: what :meth:`log_prob` returns: ``"pf-ode"`` (the probability-flow ODE
            likelihood) or ``"bound"`` (the variational bound, :meth:`log_prob_bound`).
        bound_samples: network evaluations per point of the bound's Monte Carlo estimate.
        n_classes: the classes ``net`` embeds (0: unconditional).
        guidance: the default guidance weight :math:`w` of labelled sampling.
        null_label: whether training dropped labels to the null token (``p_uncond > 0``);
            without it, unlabelled sampling and density use the label mixture.
    """

    #: every sampler; an instance puts its configured default first
    samplers: tuple[str, ...] = tuple(SAMPLERS)
    default_nfe: int = 20

    def __init__(self, net: nn.Module, sde: ForwardSDE, event_shape: tuple[int, ...], *,
                 prediction: str = "noise", sampler: str = "dpm-solver++", nfe: int = 20,
                 options: SamplerOptions | None = None, likelihood: dict | None = None,
                 precondition: bool = True, sigma_data: float = 1.0,
                 log_prob: str = "pf-ode", bound_samples: int = 32, n_classes: int = 0,
                 guidance: float = 0.0, null_label: bool = True) -> None:
        super().__init__()
        self.init_classes(n_classes, null_label)
        self.guidance = check_guidance(guidance)
        if log_prob not in ("pf-ode", "bound"):
            raise InputError(f"log_prob {log_prob!r}: unknown (known: pf-ode, bound)")
        if bound_samples < 2:
            raise InputError(f"bound_samples {bound_samples} must be >= 2")
        self.log_prob_method, self.bound_samples = log_prob, int(bound_samples)
        if sampler not in SAMPLERS:
            raise InputError(f"sampler {sampler!r}: unknown (known: {', '.join(SAMPLERS)})")
        if nfe < 1:
            raise InputError(f"nfe {nfe} must be >= 1")
        self.net, self.sde = net, sde
        self.event_shape = tuple(event_shape)
        self.prediction = prediction
        if sigma_data <= 0:
            raise InputError(f"sigma_data {sigma_data} must be positive")
        self.precondition, self.sigma_data = precondition, float(sigma_data)
        self.samplers = (sampler, *[s for s in SAMPLERS if s != sampler])
        self.default_nfe = nfe
        self.options = options or SamplerOptions()
        lk = dict(likelihood or {})
        self.exact_max_dim = int(lk.pop("exact_max_dim", 16))
        self.probe_seed = int(lk.pop("seed", 0))
        self.likelihood_kwargs = lk
        self.exact_trace = math.prod(self.event_shape) <= self.exact_max_dim
        self.log_prob_kind = ("bound" if log_prob == "bound" else
                              "exact" if self.exact_trace else "estimate")
        self.last_nfe = 0

    # ---- the network and its conversions -------------------------------------------------
    def predict(self, x: Tensor, t: Tensor, kind: str = "noise", *,
                cond: Tensor | None = None) -> Tensor:
        """The network's prediction at ``(x, t)`` as ``kind`` (``t``: scalar or ``(B,)``)."""
        t = torch.as_tensor(t, dtype=torch.float64, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        c = coefficients(self.sde, t)
        a, s, sd2 = c.alpha, c.sigma, self.sigma_data**2
        denom = a**2 * sd2 + s**2
        out = self.net(expand(denom.rsqrt(), x).to(x.dtype) * x, (t / self.sde.T).to(x.dtype),
                       cond)
        c32 = type(c)(*(v.to(x.dtype) for v in (c.alpha, c.sigma, c.d_alpha, c.d_sigma)))
        if self.precondition:
            jac = {"data": torch.ones_like(a), "noise": -a / s, "score": a / s**2,
                   "velocity": c.d_alpha - c.d_sigma * a / s}[self.prediction]
            scale = jac * (sd2 * s**2 / denom).sqrt()
            x0_star = expand((a * sd2 / denom).to(x.dtype), x) * x
            out = convert(x0_star, "data", self.prediction, x, c32) + \
                expand(scale.to(x.dtype), x) * out
        return convert(out, self.prediction, kind, x, c32)

    def score(self, x: Tensor, t: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """:math:`s_\\theta(x, t) \\approx \\nabla_x \\log q_t(x)`."""
        return self.predict(x, t, "score", cond=cond)

    # ---- sampling ------------------------------------------------------------------------
    def sampling_score(self, n: int, cond: Tensor | None = None,
                       guidance: float | None = None) -> Callable[[Tensor, Tensor], Tensor]:
        r"""The score ``f(t, x)`` the samplers integrate: :math:`s_\theta(x, t, c)`, or for a
        class-conditional model given labels the guided
        :math:`(1 + w)s_\theta(x, t, c) - w\,s_\theta(x, t, \varnothing)`."""
        if not self.n_classes:
            if guidance is not None:
                raise InputError("model.guidance: the model was trained without labels "
                                 "(set model.conditional=true)")
            return lambda t, y: self.score(y, t, cond=cond)
        w = self.guidance if guidance is None else check_guidance(guidance)
        check_null_label(self, w)
        if cond is None:
            return lambda t, y: self.score(y, t)
        labels = as_labels(cond.to(self.device), n, self.n_classes)
        return guided(lambda t, y, c: self.score(y, t, cond=c), labels, w)

    @torch.no_grad()
    def sample_with_info(self, n: int, *, cond: Tensor | None = None,
                         generator: torch.Generator | None = None, sampler: str | None = None,
                         nfe: int | None = None, guidance: float | None = None) -> Solution:
        """Draws ``n`` points and reports the score evaluations used (``Solution.nfe``; a
        guided evaluation runs the network once on a doubled batch).

        ``cond``: ``(n,)`` labels of a class-conditional model (none: unconditional
        samples); ``guidance``: the weight :math:`w` (default: the configured one)."""
        name = sampler or self.samplers[0]
        budget = self.default_nfe if nfe is None else nfe
        if cond is not None and cond.shape[0] != n:
            raise ValueError(f"cond has {cond.shape[0]} rows for {n} samples")
        if cond is None:
            cond = self.unconditional_labels(n, generator)
        score = self.sampling_score(n, cond, guidance)
        x = self.sde.prior_sample((n, *self.event_shape), generator=generator,
                                  device=self.device)
        sol = sample(name, score, self.sde, x, nfe=budget,
                     generator=generator, options=self.options)
        self.last_nfe = sol.nfe
        return sol

    @torch.no_grad()
    def trajectory(self, n: int, *, generator: torch.Generator | None = None,
                   nfe: int | None = None) -> Tensor:
        """``(K + 1, n, *D)`` states of the probability-flow ODE from the prior (``t = T``) to
        ``t_eps``, by Heun's method on a uniform grid of ``K = nfe // 2`` steps."""
        from ...solvers import path_states
        from .samplers import probability_flow

        steps = max(1, (nfe or 32) // 2)
        x = self.sde.prior_sample((n, *self.event_shape), generator=generator,
                                  device=self.device)
        field = probability_flow(lambda t, y: self.score(y, t), self.sde)
        return path_states(field, x, self.sde.time_grid(steps, "uniform"))

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None, sampler: str | None = None,
               nfe: int | None = None, guidance: float | None = None) -> Tensor:
        """Draws ``n`` points ``(n, *D)`` with ``sampler`` (default: the configured one);
        ``cond`` and ``guidance`` as in :meth:`sample_with_info`."""
        return self.sample_with_info(n, cond=cond, generator=generator, sampler=sampler,
                                     nfe=nfe, guidance=guidance).x

    # ---- density -------------------------------------------------------------------------
    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """:math:`\\log p_\\theta(x)` in nats ``(B,)`` by the probability-flow ODE (exact trace
        up to ``exact_max_dim`` coordinates, else a Hutchinson estimate with fixed probes), or
        the variational bound when the model was built with ``log_prob="bound"``; for a
        model whose null label was never trained, without ``cond``, the label mixture."""
        if self.mixes_labels(cond):
            return mixture_log_prob(lambda c: self.log_prob(x, cond=c), x,
                                    self.label_log_prior())
        if self.log_prob_method == "bound":
            return self.log_prob_bound(x, cond=cond)
        g = torch.Generator(device=x.device).manual_seed(self.probe_seed)
        lp, nfe = pf_ode_log_prob(lambda t, y: self.score(y, t, cond=cond), self.sde, x,
                                  exact=self.exact_trace, generator=g,
                                  **self.likelihood_kwargs)
        self.last_nfe = nfe
        return lp

    def log_prob_bound(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """The variational lower bound on :math:`\\log p_\\theta(x)` in nats ``(B,)`` (see
        :mod:`~genmodels.families.diffusion.bound`), from ``bound_samples`` network evaluations
        per point with draws from a fixed seed (the same points give the same value). For a
        model whose null label was never trained, without ``cond``, the bound of the label
        mixture, :math:`\\log\\sum_c\\pi_c e^{\\mathrm{ELBO}_c(x)} \\le \\log p_\\theta(x)`."""
        if self.mixes_labels(cond):
            return mixture_log_prob(lambda c: self.log_prob_bound(x, cond=c), x,
                                    self.label_log_prior())
        g = torch.Generator().manual_seed(self.probe_seed)
        if cond is not None and cond.shape[0] != x.shape[0]:
            raise ValueError(f"cond has {cond.shape[0]} rows for {x.shape[0]} points")
        lb = variational_bound(lambda t, y: self.predict(y, t, "noise", cond=cond), self.sde, x,
                               samples=self.bound_samples, sigma_data=self.sigma_data,
                               generator=g)
        self.last_nfe = self.bound_samples
        return lb.to(x.dtype)
