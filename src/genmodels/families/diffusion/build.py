"""Builders of the diffusion families: ``build(config, info) -> (ScoreDiffusion, DSM)``."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn

from ...errors import InputError
from ...nn.time import TimeMLP
from ...nn.unet import UNet
from ...paths import OU, VE, VP, ConstantG, CosineSNRG, ForwardSDE, LinearG, SubVP
from ...paths.guidance import check_conditioning
from ...registry import DataInfo
from .config import DiffusionConfig, OUConfig, SubVPConfig, VEConfig, VPConfig
from .model import ScoreDiffusion
from .objective import DenoisingScoreMatching
from .samplers import SamplerOptions


class FlatNet(nn.Module):
    """Runs a vector network on points of any event shape (flattened, then reshaped)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.net(x.flatten(1), t, cond).reshape(x.shape)


def n_classes_of(config: Any, info: DataInfo) -> int:
    """The number of classes a ``model.conditional`` network embeds (0 when unconditional;
    ``config``: any family config with a ``conditional`` field)."""
    if not config.conditional:
        return 0
    if not info.n_classes:
        raise InputError("model.conditional=true: the data set has no class labels")
    return int(info.n_classes)


def make_network(config: DiffusionConfig, info: DataInfo) -> nn.Module:
    """A U-Net for ``(C, H, W)`` images, a time-conditioned residual MLP otherwise (both with
    a class embedding when ``config.conditional``)."""
    shape = tuple(info.event_shape)
    k = n_classes_of(config, info)
    kind = config.network
    if kind == "auto":
        kind = "unet" if len(shape) == 3 else "mlp"
    if kind == "unet":
        if len(shape) != 3:
            raise InputError(f"model.network: unet needs (C, H, W) images, got {shape}")
        return UNet(shape[0], config.unet_base, config.unet_levels, n_classes=k)
    if config.width < 1 or config.blocks < 0:
        raise InputError(f"model.width/blocks: {config.width}/{config.blocks} are invalid")
    return FlatNet(TimeMLP(math.prod(shape), config.width, config.blocks, config.activation,
                           n_classes=k))


def make_sde(config: DiffusionConfig) -> ForwardSDE:
    """The forward process named by the config's type."""
    if isinstance(config, OUConfig):
        gs = {"constant": lambda: ConstantG(config.g_scale),
              "linear": lambda: LinearG(config.g_scale, config.g_slope),
              "cosine": lambda: CosineSNRG(config.T, config.snr_min)}[config.g]()
        return OU(gs, T=config.T, t_eps=config.t_eps)
    if isinstance(config, SubVPConfig):
        return SubVP(config.beta_min, config.beta_max, t_eps=config.t_eps)
    if isinstance(config, VPConfig):
        return VP(config.beta_min, config.beta_max, t_eps=config.t_eps)
    if isinstance(config, VEConfig):
        return VE(config.sigma_min, config.sigma_max, t_eps=config.t_eps)
    raise InputError(f"no forward process for {type(config).__name__}")


def build_diffusion(config: DiffusionConfig,
                    info: DataInfo) -> tuple[ScoreDiffusion, DenoisingScoreMatching]:
    """A diffusion model on ``config``'s forward SDE and its DSM objective."""
    if config.nfe < 1:
        raise InputError(f"model.nfe: {config.nfe} must be >= 1")
    if config.dpm_order not in (1, 2, 3):
        raise InputError(f"model.dpm_order: {config.dpm_order} must be 1, 2 or 3")
    if config.likelihood_steps < 1 or config.probes < 1:
        raise InputError("model.likelihood_steps and model.probes must be >= 1")
    if config.bound_samples < 2:
        raise InputError(f"model.bound_samples: {config.bound_samples} must be >= 2")
    if config.grid_rho < 0:
        raise InputError(f"model.grid_rho: {config.grid_rho} must be positive (0: default)")
    check_conditioning(config.conditional, config.p_uncond, config.guidance)
    options = SamplerOptions(config.grid, config.dpm_order, config.ddim_eta, config.pc_snr,
                             config.rtol, config.rtol, config.grid_rho or None)
    likelihood = {"solver": config.likelihood_solver, "steps": config.likelihood_steps,
                  "rtol": config.likelihood_rtol, "atol": config.likelihood_rtol,
                  "probes": config.probes, "exact_max_dim": config.exact_max_dim,
                  "grid": "logsnr" if config.grid == "auto" else config.grid}
    model = ScoreDiffusion(make_network(config, info), make_sde(config), info.event_shape,
                           prediction=config.prediction, sampler=config.sampler,
                           nfe=config.nfe, options=options, likelihood=likelihood,
                           precondition=config.precondition, sigma_data=config.sigma_data,
                           log_prob=config.log_prob, bound_samples=config.bound_samples,
                           n_classes=n_classes_of(config, info), guidance=config.guidance,
                           null_label=config.p_uncond > 0)
    objective = DenoisingScoreMatching(config.weighting, config.t_sampling,
                                       config.min_snr_gamma, p_uncond=config.p_uncond)
    return model, objective
