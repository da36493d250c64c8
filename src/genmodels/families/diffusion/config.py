"""Configs of the diffusion families (every field has a default; ``--set`` overrides them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...paths.prediction import PREDICTIONS
from .objective import T_DENSITIES, WEIGHTINGS
from .samplers import SAMPLERS

_GRIDS = {"choices": ("auto", "logsnr", "uniform", "quadratic", "edm")}


@dataclass
class DiffusionConfig:
    """What every diffusion family shares: network, objective, samplers, likelihood.

    Attributes:
        network: ``"auto"`` (U-Net for ``(C, H, W)`` images, else an MLP), ``"mlp"``, ``"unet"``.
        width: the MLP's hidden width.
        blocks: the MLP's residual blocks.
        activation: the MLP's activation.
        unet_base: the U-Net's channels at full resolution.
        unet_levels: the U-Net's downsamplings.
        prediction: what the network predicts: ``noise``, ``data``, ``velocity``, ``score``.
        precondition: the network predicts the residual over the Gaussian-optimal prediction
            (EDM-style skip and output scaling; extrapolates correctly in the tails).
        sigma_data: the data scale :math:`s_d` that the preconditioning assumes.
        weighting: :math:`\\lambda(t)`: ``sigma2``, ``likelihood``, ``uniform``, ``min-snr``.
        min_snr_gamma: :math:`\\gamma` of ``min-snr``.
        t_sampling: training times: ``uniform`` or ``importance`` (:math:`\\propto g^2/\\sigma^2`).
        sampler: the default sampler (``genmodels sample --sampler`` overrides it).
        nfe: the default number of network evaluations.
        grid: the sampling time grid: ``auto`` (log-SNR for DPM-Solver and ``exp``; for the
            others uniform in ``t`` on VP and sub-VP, log-SNR on OU and VE), ``logsnr``,
            ``uniform``, ``quadratic``, ``edm``;
            the likelihood's ODE uses log-SNR under ``auto``; UniPC under ``auto`` takes the
            power-ρ grid in ``t`` (``quadratic``, ρ = 2.5) on VP and sub-VP.
        grid_rho: the exponent of the ``quadratic`` (power-ρ in ``t``) and ``edm`` grids;
            0 for the grid's own (2, 7; 2.5 for UniPC under ``auto``).
        dpm_order: the order of ``dpm-solver`` / ``dpm-solver++`` without a suffix.
        ddim_eta: DDIM's :math:`\\eta`.
        pc_snr: the Langevin corrector's signal-to-noise ratio.
        rtol: ``dopri5`` sampling tolerance (relative and absolute).
        likelihood_solver: ``rk4``, ``heun``, ``euler`` or ``dopri5`` for ``log_prob``.
        likelihood_steps: its fixed step count.
        likelihood_rtol: its tolerance when adaptive.
        exact_max_dim: exact divergence up to this dimension, Hutchinson above.
        probes: Hutchinson probes per point.
        log_prob: what ``log_prob`` (``score``, the ``nll`` metric) returns: ``pf-ode`` (the
            probability-flow ODE likelihood) or ``bound`` (the variational bound).
        bound_samples: network evaluations per point of the variational bound.
        conditional: condition the network on the data's class labels (a learnt embedding
            with a null token, added to the time embedding); the data must have labels.
        p_uncond: the probability that a training label is replaced by the null token
            (Ho & Salimans 2022), so the same network is also unconditional.
        guidance: the classifier-free guidance weight :math:`w` of labelled sampling,
            :math:`\\tilde\\varepsilon = (1 + w)\\varepsilon(x, t, c) - w\\varepsilon(x, t,
            \\varnothing)`; 0 is conditional sampling, diffusers' guidance scale is
            :math:`1 + w` (:mod:`genmodels.paths.guidance`). ``genmodels sample --set
            model.guidance=2`` changes it at sampling time.
    """

    network: str = field(default="auto", metadata={"choices": ("auto", "mlp", "unet")})
    width: int = 128
    blocks: int = 3
    activation: str = field(default="silu", metadata={"choices": ("relu", "silu", "tanh", "elu")})
    unet_base: int = 32
    unet_levels: int = 2
    prediction: str = field(default="noise", metadata={"choices": PREDICTIONS})
    precondition: bool = True
    sigma_data: float = 1.0
    weighting: str = field(default="sigma2", metadata={"choices": WEIGHTINGS})
    min_snr_gamma: float = 5.0
    t_sampling: str = field(default="uniform", metadata={"choices": T_DENSITIES})
    sampler: str = field(default="dpm-solver++", metadata={"choices": tuple(SAMPLERS)})
    nfe: int = 20
    grid: str = field(default="auto", metadata=_GRIDS)
    grid_rho: float = 0.0
    dpm_order: int = 3
    ddim_eta: float = 0.0
    pc_snr: float = 0.16
    rtol: float = 1e-3
    likelihood_solver: str = field(default="rk4", metadata={"choices": ("rk4", "heun",
                                                                         "euler", "dopri5")})
    likelihood_steps: int = 24
    likelihood_rtol: float = 1e-5
    exact_max_dim: int = 16
    probes: int = 1
    log_prob: str = field(default="pf-ode", metadata={"choices": ("pf-ode", "bound")})
    bound_samples: int = 32
    conditional: bool = False
    p_uncond: float = 0.1
    guidance: float = 0.0


@dataclass
class OUConfig(DiffusionConfig):
    """The OU form :math:`dX = -X\\,dt + g(t)\\,dB`.

    Attributes:
        g: ``constant`` (:math:`g = c`), ``linear`` (:math:`g = c + b t`) or ``cosine``
            (derived from a cosine SNR curve ending at ``snr_min``).
        g_scale: :math:`c` (:math:`\\sqrt2` makes it variance preserving).
        g_slope: :math:`b` of ``linear``.
        snr_min: the SNR at ``T`` of ``cosine``.
        T: the end time.
        t_eps: the smallest time.
    """

    g: str = field(default="constant", metadata={"choices": ("constant", "linear", "cosine")})
    g_scale: float = math.sqrt(2.0)
    g_slope: float = 1.0
    snr_min: float = 1e-4
    T: float = 5.0
    t_eps: float = 1e-4


@dataclass
class VPConfig(DiffusionConfig):
    """The VP SDE: :math:`\\beta(t) = \\beta_{\\min} + t(\\beta_{\\max} - \\beta_{\\min})`.

    Attributes:
        beta_min: :math:`\\beta_{\\min}`.
        beta_max: :math:`\\beta_{\\max}`.
        t_eps: the smallest time.
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_eps: float = 1e-3


@dataclass
class SubVPConfig(VPConfig):
    """The sub-VP SDE (same :math:`\\beta` schedule, smaller variance)."""


@dataclass
class VEConfig(DiffusionConfig):
    """The VE SDE: :math:`\\sigma(t) = \\sigma_{\\min}(\\sigma_{\\max}/\\sigma_{\\min})^t`.

    Attributes:
        sigma_min: :math:`\\sigma_{\\min}`.
        sigma_max: :math:`\\sigma_{\\max}` (about the largest distance between data points).
        t_eps: the smallest time.
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    t_eps: float = 1e-3
