r"""Reverse-time samplers driven by a score function :math:`s(x, t) \approx \nabla\log q_t(x)`.

Every sampler starts from :math:`x_T \sim \mathcal N(0, \sigma_T^2 I)` and runs a decreasing
grid :math:`T = t_0 > \dots > t_N = t_\varepsilon`. With :math:`\hat\varepsilon = -\sigma_t s`
and :math:`\hat x_0 = (x - \sigma_t\hat\varepsilon)/\alpha_t`:

* ``em``: Euler–Maruyama on the reverse SDE
  :math:`dx = [f x - g^2 s]\,dt + g\,d\bar B` (Anderson 1982; Song et al. 2021).
* ``exp``: the score frozen on :math:`[t_{k+1}, t_k)` and the linear SDE solved exactly
  (an exponential integrator): with :math:`\rho = \sigma^2/\alpha^2`,
  :math:`x_s = \frac{\alpha_s}{\alpha_t}x_t + \alpha_s s_k\int_s^t \frac{g^2}{\alpha}
  + \alpha_s\sqrt{\rho_t - \rho_s}\,z`.
* ``pc``: a Langevin corrector :math:`x \leftarrow x + \epsilon s + \sqrt{2\epsilon}z`,
  :math:`\epsilon = 2(r\overline{\lVert z\rVert}/\overline{\lVert s\rVert})^2` (batch means,
  signal-to-noise ratio ``r``), then
  an ``em`` predictor (Song et al. 2021, Alg. 2–3).
* ``euler``, ``heun``, ``rk4``, ``dopri5``: the probability-flow ODE
  :math:`\dot x = f x - \tfrac12 g^2 s`.
* ``ddim``: :math:`x_s = \alpha_s\hat x_0 + \sqrt{\sigma_s^2 - c^2}\,\hat\varepsilon + c z`,
  :math:`c = \eta\sigma_s\sqrt{1 - e^{-2(\lambda_s - \lambda_t)}}` (Song, Meng & Ermon 2021).
* ``dpm-solver`` (noise form) and ``dpm-solver++`` (data form), multistep, orders 1–3, in
  :math:`\lambda = \log(\alpha/\sigma)` with :math:`h = \lambda_s - \lambda_t`
  (Lu et al. 2022, arXiv 2206.00927 and 2211.01095).
* ``unipc-2``, ``-3``, ``-4``: UniPC, an exponential multistep predictor in data form with a
  corrector that reuses the next step's evaluation, global order 2–4 (Zhao et al. 2023,
  arXiv 2302.04867; :mod:`.unipc`).

The number of network evaluations (NFE) is counted; ``nfe`` sets the budget
(``heun`` takes ``nfe // 2`` steps, ``rk4`` ``nfe // 4``, ``pc`` ``nfe // 2``; ``dopri5`` is
adaptive and reports what it used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ...errors import InputError
from ...paths.sde import ForwardSDE, expand, integrate_scalar
from ...solvers import Counted, Solution, get_solver, integrate, integrate_adaptive
from .unipc import unipc

ScoreFn = Callable[[Tensor, Tensor], Tensor]

#: ``name: (kind, order)``: the declared order of each sampler's time discretisation.
SAMPLERS: dict[str, tuple[str, int]] = {
    "dpm-solver++": ("dpm++", 0), "dpm-solver": ("dpm", 0),
    "dpm-solver-2": ("dpm", 2), "dpm-solver-3": ("dpm", 3),
    "dpm-solver++2": ("dpm++", 2), "dpm-solver++3": ("dpm++", 3),
    "unipc-2": ("unipc", 2), "unipc-3": ("unipc", 3), "unipc-4": ("unipc", 4),
    "ddim": ("ddim", 1), "em": ("em", 1), "exp": ("exp", 1), "pc": ("pc", 1),
    "euler": ("ode", 1), "heun": ("ode", 2), "rk4": ("ode", 4), "dopri5": ("adaptive", 5),
}


#: The time grid each kind of sampler uses under ``grid="auto"``. ``"power"``: the power-ρ
#: grid in ``t`` (:data:`AUTO_RHO`) on VP and sub-VP, log-SNR elsewhere (DPM-Solver++ and
#: UniPC at <= 20 NFE; docs/families/diffusion.md). ``"process"``: the forward process's own
#: :attr:`~genmodels.paths.ForwardSDE.sampling_grid` (uniform in ``t`` for VP and sub-VP,
#: whose linear β schedule was designed on that clock; log-SNR for the others). DPM-Solver
#: (noise form) and ``exp`` keep uniform log-SNR steps (Lu et al. 2022). Measured on vp-sde,
#: W2 at 20 NFE over 3 seeds, uniform-t vs log-SNR, moons: DDIM 0.172 / 0.251, EM 0.115 /
#: 0.153, Euler 0.125 / 0.193; on OU (T = 6) a uniform-t grid wastes most steps where nothing
#: happens and ends with one huge step, so there log-SNR is the default
#: (docs/families/diffusion.md).
AUTO_GRID: dict[str, str] = {"dpm": "logsnr", "dpm++": "power", "adaptive": "logsnr",
                             "unipc": "power",
                             "exp": "logsnr", "ode": "process", "em": "process",
                             "pc": "process", "ddim": "process"}


#: The exponent of the power-ρ time grid (``"quadratic"``) that ``"power"`` picks under
#: ``grid="auto"``, by kind: measured on vp-sde on the three 2-D toys at 5 / 10 / 20 NFE over
#: ρ = 1.5, 2, 2.5, 3 and against uniform-t, log-SNR and EDM (ρ = 7) grids
#: (benchmarks/bench_diffusion_fewstep.py; the table is in docs/families/diffusion.md).
AUTO_RHO: dict[str, float] = {"dpm++": 2.0, "unipc": 2.5}
#: Where UniPC's power grid ends under ``grid="auto"`` (times ``T``), the last evaluation then
#: spent on the denoiser :math:`\hat x_0` there (a denoised last step, as EDM's last step to
#: σ = 0): moons, 10 NFE, 5 seeds, W2 / floor 1.53 ending at t_eps = 1e-3, 1.43 at 1e-2
#: denoised (the 100-NFE reference: 1.42).
AUTO_T_END = 1e-2


def grid_for(name: str, grid: str, sde: ForwardSDE) -> str:
    """The grid sampler ``name`` runs on for ``sde``: ``grid``, or under ``"auto"`` its own
    (:data:`AUTO_GRID`; ``"power"``: the power-ρ grid in ``t`` where the process's clock is
    ``t`` (VP, sub-VP), log-SNR elsewhere)."""
    if grid != "auto":
        return grid
    g = AUTO_GRID[SAMPLERS[name][0]]
    if g == "power":
        return "quadratic" if sde.sampling_grid == "uniform" else "logsnr"
    return sde.sampling_grid if g == "process" else g


def _rho(name: str, o: SamplerOptions) -> float | None:
    if o.grid_rho is not None or o.grid != "auto":
        return o.grid_rho
    return AUTO_RHO.get(SAMPLERS[name][0])


@dataclass
class SamplerOptions:
    """Knobs of the samplers.

    Attributes:
        grid: the time grid: ``"auto"`` (each sampler's own, :data:`AUTO_GRID`), ``"logsnr"``,
            ``"uniform"``, ``"quadratic"`` or ``"edm"``.
        grid_rho: the exponent of the ``"quadratic"`` (power-ρ in ``t``, default 2) and
            ``"edm"`` (default 7) grids; ``None`` for their defaults.
        t_end: the last time of DPM-Solver's and UniPC's grid (``None``: ``t_eps``, or
            :data:`AUTO_T_END` for UniPC under ``grid="auto"`` on VP and sub-VP).
        denoise: spend the last evaluation on the denoiser
            :math:`\\hat x_0 = (x + \\sigma^2 s)/\alpha` at ``t_end`` (``None``: only for
            UniPC under ``grid="auto"`` on VP and sub-VP).
        dpm_order: the order of ``dpm-solver``/``dpm-solver++`` without a suffix.
        ddim_eta: DDIM's :math:`\\eta` (0: deterministic).
        pc_snr: the Langevin corrector's signal-to-noise ratio.
        rtol: ``dopri5``'s relative tolerance.
        atol: ``dopri5``'s absolute tolerance.
    """

    grid: str = "auto"
    dpm_order: int = 3
    ddim_eta: float = 0.0
    pc_snr: float = 0.16
    rtol: float = 1e-3
    atol: float = 1e-3
    grid_rho: float | None = None
    t_end: float | None = None
    denoise: bool | None = None


def _t(t: Tensor) -> Tensor:
    return t.to(torch.float64)


class _Coef:
    """Scalar coefficients of the SDE at a time, as Python floats."""

    def __init__(self, sde: ForwardSDE, t: Tensor) -> None:
        t = _t(t)
        self.alpha = float(sde.alpha(t))
        self.sigma = float(sde.sigma(t))
        self.lam = math.log(self.alpha / self.sigma)


def probability_flow(score: ScoreFn, sde: ForwardSDE) -> Callable[[Tensor, Tensor], Tensor]:
    r"""The probability-flow ODE's field :math:`f(t)x - \tfrac12 g^2(t)\,s(x, t)` (Song et
    al. 2021), as ``field(t, x)``."""

    def field(t: Tensor, y: Tensor) -> Tensor:
        return sde.drift(y, t) - 0.5 * expand(sde.g2(_t(t)).to(y.dtype), y) * score(t, y)

    return field


def sample(name: str, score: ScoreFn, sde: ForwardSDE, x: Tensor, *, nfe: int,
           generator: torch.Generator | None = None,
           options: SamplerOptions | None = None) -> Solution:
    """Runs sampler ``name`` from ``x`` (a draw of the prior) down to ``t_eps``.

    Args:
        name: one of :data:`SAMPLERS`.
        score: :math:`s(x, t)` with ``t`` a 0-d float64 tensor.
        sde: the forward process.
        x: the start point ``(B, *D)``.
        nfe: the budget of score evaluations.
        generator: randomness of the stochastic samplers.
        options: :class:`SamplerOptions`.
    """
    if name not in SAMPLERS:
        raise InputError(f"sampler {name!r}: unknown (known: {', '.join(SAMPLERS)})")
    if nfe < 1:
        raise InputError(f"sampler {name!r}: nfe {nfe} must be >= 1")
    o = options or SamplerOptions()
    kind, order = SAMPLERS[name]
    grid = grid_for(name, o.grid, sde)
    sc = Counted(score)

    pf_ode = probability_flow(sc, sde)

    if kind == "adaptive":
        out = integrate_adaptive(pf_ode, x, sde.T, sde.t_eps, rtol=o.rtol, atol=o.atol)
        return Solution(out.x, sc.nfe, out.steps)
    if kind == "ode":
        solver = get_solver(name)
        steps = max(1, nfe // solver.evals)
        out = integrate(pf_ode, x, sde.time_grid(steps, grid, rho=_rho(name, o)), solver)
        return Solution(out.x, sc.nfe, steps)
    if kind == "em":
        def rev_drift(t: Tensor, y: Tensor) -> Tensor:
            return sde.drift(y, t) - expand(sde.g2(_t(t)).to(y.dtype), y) * sc(t, y)
        out = integrate(rev_drift, x, sde.time_grid(nfe, grid, rho=_rho(name, o)), "em", g=sde.g,
                        generator=generator)
        return Solution(out.x, sc.nfe, nfe)
    if kind == "pc":
        steps = max(1, nfe // 2)
        x = _pc(sc, sde, x, sde.time_grid(steps, grid, rho=_rho(name, o)), o.pc_snr, generator)
        return Solution(x, sc.nfe, steps)
    if kind in ("exp", "ddim"):
        ts = sde.time_grid(nfe, grid, rho=_rho(name, o))
        x = (_exponential(sc, sde, x, ts, generator) if kind == "exp" else
             _ddim(sc, sde, x, ts, o.ddim_eta, generator))
        return Solution(x, sc.nfe, nfe)
    t_end, denoise = _endpoint(name, o, sde)
    if denoise and nfe < 2:
        raise InputError(f"sampler {name!r}: a denoised last step needs nfe >= 2, got {nfe}")
    steps = nfe - 1 if denoise else nfe
    ts = sde.time_grid(steps, grid, rho=_rho(name, o), t_min=t_end)
    if kind == "unipc":
        x = unipc(sc, sde, x, ts, order)
    else:
        x = _dpm(sc, sde, x, ts, order or o.dpm_order, data=kind == "dpm++")
    if denoise:  # Tweedie: x̂0 = (x + σ² s(x, t)) / α at the grid's last time
        c = _Coef(sde, ts[-1])
        x = (x + c.sigma**2 * sc(ts[-1], x)) / c.alpha
    return Solution(x, sc.nfe, nfe)


def _endpoint(name: str, o: SamplerOptions, sde: ForwardSDE) -> tuple[float, bool]:
    """The grid's last time and whether the last evaluation denoises there (DPM-Solver and
    UniPC). Under ``grid="auto"`` UniPC on the power grid ends at :data:`AUTO_T_END` ``· T``
    and denoises; everything else ends at ``t_eps`` without."""
    auto = o.grid == "auto" and grid_for(name, "auto", sde) == "quadratic" and \
        SAMPLERS[name][0] == "unipc"
    t_end = o.t_end if o.t_end is not None else (AUTO_T_END * sde.T if auto else sde.t_eps)
    if not sde.t_eps <= t_end < sde.T:
        raise InputError(f"sampler {name!r}: t_end {t_end} must lie in [t_eps, T) = "
                         f"[{sde.t_eps}, {sde.T})")
    return t_end, o.denoise if o.denoise is not None else auto


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _pc(score: ScoreFn, sde: ForwardSDE, x: Tensor, ts: Tensor, snr: float,
        generator: torch.Generator | None) -> Tensor:
    for t0, t1 in zip(ts[:-1], ts[1:]):
        s = score(t0, x)  # Langevin corrector at t0
        z = _noise(x, generator)
        # batch-mean norms, as Song et al.: per-point ratios explode where the score vanishes
        ratio = z.flatten(1).norm(dim=1).mean() / s.flatten(1).norm(dim=1).mean().clamp_min(1e-12)
        eps = 2 * (snr * float(ratio)) ** 2
        x = x + eps * s + math.sqrt(2 * eps) * z
        h = float(t0 - t1)  # Euler–Maruyama predictor t0 -> t1
        g2 = float(sde.g2(_t(t0)))
        drift = sde.drift(x, t0) - g2 * score(t0, x)
        x = x - h * drift + math.sqrt(g2 * h) * _noise(x, generator)
    return x


def _exponential(score: ScoreFn, sde: ForwardSDE, x: Tensor, ts: Tensor,
                 generator: torch.Generator | None) -> Tensor:
    for t0, t1 in zip(ts[:-1], ts[1:]):
        a = _Coef(sde, t0)
        b = _Coef(sde, t1)
        s = score(t0, x)
        drift_int = float(integrate_scalar(lambda r: sde.g2(r) / sde.alpha(r), t1, t0))
        rho0, rho1 = (a.sigma / a.alpha) ** 2, (b.sigma / b.alpha) ** 2
        x = (b.alpha / a.alpha) * x + b.alpha * drift_int * s
        x = x + b.alpha * math.sqrt(max(rho0 - rho1, 0.0)) * _noise(x, generator)
    return x


def _data_noise(score: ScoreFn, t: Tensor, x: Tensor, c: _Coef) -> tuple[Tensor, Tensor]:
    eps = -c.sigma * score(t, x)
    return (x - c.sigma * eps) / c.alpha, eps


def _ddim(score: ScoreFn, sde: ForwardSDE, x: Tensor, ts: Tensor, eta: float,
          generator: torch.Generator | None) -> Tensor:
    for t0, t1 in zip(ts[:-1], ts[1:]):
        a, b = _Coef(sde, t0), _Coef(sde, t1)
        x0, eps = _data_noise(score, t0, x, a)
        c = eta * b.sigma * math.sqrt(max(1 - math.exp(-2 * (b.lam - a.lam)), 0.0))
        x = b.alpha * x0 + math.sqrt(max(b.sigma**2 - c**2, 0.0)) * eps
        if c > 0:
            x = x + c * _noise(x, generator)
    return x


def _dpm(score: ScoreFn, sde: ForwardSDE, x: Tensor, ts: Tensor, order: int,
         data: bool) -> Tensor:
    if order not in (1, 2, 3):
        raise InputError(f"dpm-solver: order {order} must be 1, 2 or 3")
    n = ts.numel() - 1
    hist: list[tuple[float, Tensor]] = []  # (lambda, model output) newest last
    for k, (t0, t1) in enumerate(zip(ts[:-1], ts[1:])):
        a, b = _Coef(sde, t0), _Coef(sde, t1)
        x0, eps = _data_noise(score, t0, x, a)
        hist = [*hist[-2:], (a.lam, x0 if data else eps)]
        # lower orders for warm-up and, with few steps, at the end (Lu et al. 2022b, §5)
        p = min(order, len(hist), n - k if n < 15 else order)
        h = b.lam - a.lam
        if p >= 2 and (a.lam - hist[-2][0]) < 0.5 * h:
            # a step over twice as long in lambda as the last one (the end of a uniform-t
            # grid): extrapolating the history over it is unstable, so take it first order
            p = 1
        m0 = hist[-1][1]
        d1 = d2 = None
        if p >= 2:
            h0 = a.lam - hist[-2][0]
            d1_0 = (m0 - hist[-2][1]) / (h0 / h)
            d1 = d1_0
            if p == 3:
                h1 = hist[-2][0] - hist[-3][0]
                r0, r1 = h0 / h, h1 / h
                d1_1 = (hist[-2][1] - hist[-3][1]) / r1
                d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)  # h m' + O(h^3)
                # h^2 m'' + O(h^3). Half of this (what this code had, and what diffusers
                # 0.42.1's third-order multistep update uses) gets the m'' term of the exact
                # integral wrong by a factor 2: local error O(h^3), measured global order 2
                d2 = 2 * (d1_0 - d1_1) / (r0 + r1)
        if data:
            phi1 = math.expm1(-h)
            x = (b.sigma / a.sigma) * x - b.alpha * phi1 * m0
            if p == 2:
                x = x - 0.5 * b.alpha * phi1 * d1
            elif p == 3:
                phi2 = phi1 / h + 1
                x = x + b.alpha * phi2 * d1 - b.alpha * (phi2 / h - 0.5) * d2
        else:
            phi1 = math.expm1(h)
            x = (b.alpha / a.alpha) * x - b.sigma * phi1 * m0
            if p == 2:
                x = x - 0.5 * b.sigma * phi1 * d1
            elif p == 3:
                phi2 = phi1 / h - 1
                x = x - b.sigma * phi2 * d1 - b.sigma * (phi2 / h - 0.5) * d2
    return x
