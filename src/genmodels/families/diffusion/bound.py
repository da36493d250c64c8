r"""The variational bound (ELBO) of a score-based diffusion model.

The model is the reverse SDE on :math:`[t_\varepsilon, T]`, started from the prior
:math:`\pi = \mathcal N(0, \sigma_T^2 I)`, with a Gaussian decoder
:math:`p(x_0 \mid x_{t_\varepsilon}) = \mathcal N(x_{t_\varepsilon}/\alpha_\varepsilon,
\rho_\varepsilon I)`, :math:`\rho = \sigma^2/\alpha^2`. The forward process conditioned on
:math:`x_0` is the variational posterior; Girsanov's theorem for the two reverse-time
diffusions (same :math:`g`, drifts differing by :math:`g^2(s_\theta - \nabla\log q_{t|0})`)
gives

.. math:: \log p_\theta(x_0) \ge
    \underbrace{-\tfrac d2\big(\log 2\pi\rho_\varepsilon + 1\big)}_{\text{decoder}}
    - \underbrace{\mathrm{KL}\big(q_{T|0}(\cdot\mid x_0)\,\Vert\,\pi\big)}_{\text{prior}}
    - \tfrac12\int_{t_\varepsilon}^T g(t)^2\,
      \mathbb E\big\lVert s_\theta(x_t, t) + \varepsilon/\sigma_t\big\rVert^2 dt .

Since :math:`g^2/\sigma^2 = -2\,d\lambda/dt` with :math:`\lambda = \log(\alpha/\sigma)`,
the integral is :math:`(\lambda_\varepsilon - \lambda_T)\,
\mathbb E_{\lambda\sim\mathcal U[\lambda_T, \lambda_\varepsilon]}
\lVert\varepsilon - \hat\varepsilon_\theta(x_{t(\lambda)}, t(\lambda))\rVert^2`: the
likelihood-weighted DSM loss with importance sampling, estimated here with stratified
:math:`\lambda` (the continuous-time form of Kingma et al. 2021, "Variational Diffusion
Models", Eq. 17; Song et al. 2021, "Maximum Likelihood Training of Score-Based Diffusion
Models", Thm. 1; Huang et al. 2021). With the true score and :math:`\pi = q_T` the posterior
is exact up to the decoder, so the bound is tight to :math:`O(\sigma_\varepsilon^2)`: the
oracle tests pin that.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ...errors import InputError
from ...paths.sde import ForwardSDE, expand

#: ``noise(t, x) -> ε̂`` with ``t`` of shape ``(B,)`` (float64) and ``x`` of ``(B, *D)``.
NoiseFn = Callable[[Tensor, Tensor], Tensor]


def _gaussian_error_integral(lam_t: float, lam_e: float, sd: float) -> tuple[float, float]:
    """For :math:`x_0 \\sim \\mathcal N(0, s_d^2 I)` the optimal denoiser has
    :math:`\\mathbb E_\\varepsilon\\lVert\\varepsilon - \\hat\\varepsilon^*\\rVert^2
    = c_1(\\lambda)\\,d + c_2(\\lambda)\\lVert x_0\\rVert^2` with :math:`r = e^{2\\lambda}s_d^2`,
    :math:`c_1 = (r/(1+r))^2`, :math:`c_2 = r/(s_d^2(1+r)^2)`. Returns their integrals over
    :math:`[\\lambda_T, \\lambda_\\varepsilon]` in closed form (:math:`d\\lambda = dr/2r`):
    :math:`\\tfrac12[\\log(1+r) + 1/(1+r)]` and :math:`-1/(2s_d^2(1+r))` between the ends."""

    def softplus(v: float) -> float:  # log(1 + e^v), stable
        return max(v, 0.0) + math.log1p(math.exp(-abs(v)))

    def inv1p(v: float) -> float:  # 1 / (1 + e^v), stable
        return math.exp(-softplus(v))

    v_t, v_e = 2 * lam_t + 2 * math.log(sd), 2 * lam_e + 2 * math.log(sd)
    i1 = 0.5 * (softplus(v_e) - softplus(v_t) + inv1p(v_e) - inv1p(v_t))
    i2 = 0.5 / sd**2 * (inv1p(v_t) - inv1p(v_e))
    return i1, i2


def bound_terms(noise: NoiseFn, sde: ForwardSDE, x: Tensor, *, samples: int = 32,
                sigma_data: float = 1.0,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """The three terms of the bound per point, in nats, each ``(B,)`` float64.

    Returns ``decoder`` (:math:`\\mathbb E\\log p(x_0\\mid x_\\varepsilon)`), ``prior``
    (the KL to the prior) and ``diffusion`` (the Girsanov term); the bound is
    ``decoder - prior - diffusion``. The Girsanov term is a Monte Carlo estimate from
    ``samples`` network evaluations per point: ``samples // 2`` stratified log-SNR draws, each
    with an antithetic pair :math:`\\pm\\varepsilon`, and the Gaussian-optimal denoiser for
    :math:`\\mathcal N(0, s_d^2 I)` data (``sigma_data``) as a control variate, its expectation
    integrated exactly (an unbiased estimate whatever the data; much less variance near the
    Gaussian case).
    """
    if samples < 2:
        raise InputError(f"variational bound: samples {samples} must be >= 2")
    f64 = torch.float64
    n, d = x.shape[0], x[0].numel()
    t_eps = torch.tensor(sde.t_eps, dtype=f64)
    t_end = torch.tensor(sde.T, dtype=f64)
    a_e, s_e = float(sde.alpha(t_eps)), float(sde.sigma(t_eps))
    a_t, s_t = float(sde.alpha(t_end)), float(sde.sigma(t_end))
    lam_e, lam_t = float(sde.log_snr(t_eps)), float(sde.log_snr(t_end))
    x64 = x.to(f64)
    sq = x64.flatten(1).square().sum(1)
    decoder = torch.full((n,), -0.5 * d * (math.log(2 * math.pi * (s_e / a_e) ** 2) + 1),
                         dtype=f64, device=x.device)
    p2 = sde.prior_std**2
    prior = 0.5 * d * (s_t**2 / p2 - 1 - math.log(s_t**2 / p2)) + a_t**2 * sq / (2 * p2)
    sd2 = sigma_data**2
    pairs = samples // 2
    err = torch.zeros(n, dtype=f64, device=x.device)
    for k in range(pairs):
        u = (k + torch.rand(n, generator=generator, dtype=f64)) / pairs
        t = sde.t_of_log_snr(lam_t + u * (lam_e - lam_t)).to(x.device)
        z = torch.randn(x.shape, generator=generator, dtype=f64).to(x.device)
        a, s = expand(sde.alpha(t), z), expand(sde.sigma(t), z)
        for zz in (z, -z):
            xt = a * x64 + s * zz
            eps_hat = noise(t, xt.to(x.dtype)).to(f64)
            eps_star = s * xt / (a**2 * sd2 + s**2)
            err = err + 0.5 * ((zz - eps_hat).flatten(1).square().sum(1)
                               - (zz - eps_star).flatten(1).square().sum(1))
    i1, i2 = _gaussian_error_integral(lam_t, lam_e, sigma_data)
    exact = i1 * d + i2 * sq
    diffusion = (lam_e - lam_t) * err / pairs + exact
    return {"decoder": decoder, "prior": prior, "diffusion": diffusion}


def variational_bound(noise: NoiseFn, sde: ForwardSDE, x: Tensor, *, samples: int = 32,
                      sigma_data: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
    """A lower bound on :math:`\\log p_\\theta(x)` in nats ``(B,)`` (see the module docstring).

    Args:
        noise: the noise prediction :math:`\\hat\\varepsilon_\\theta(x_t, t)`, ``t`` of ``(B,)``.
        sde: the forward process.
        x: points ``(B, *D)`` in the model's units.
        samples: network evaluations per point (an even number: antithetic pairs).
        sigma_data: the data scale of the Gaussian control variate.
        generator: the source of those draws (fixed for a reproducible value).

    Example:
        >>> import torch
        >>> from genmodels.paths import VP
        >>> sde, x = VP(), torch.randn(4, 2)
        >>> exact = -0.5 * x.square().sum(1) - torch.log(torch.tensor(2 * torch.pi))
        >>> # the true noise prediction for N(0, I) data: eps_hat = sigma_t * x_t
        >>> lb = variational_bound(lambda t, y: sde.sigma(t)[:, None].float() * y, sde, x,
        ...                        samples=8)
        >>> bool(((lb - exact).abs() < 1e-3).all())
        True
    """
    terms = bound_terms(noise, sde, x, samples=samples, sigma_data=sigma_data,
                        generator=generator)
    return terms["decoder"] - terms["prior"] - terms["diffusion"]
