"""The builder of the ``cfm`` and ``ot-cfm`` families: ``build(config, info)``."""

from __future__ import annotations

import math

from ...distributions import StandardNormal
from ...errors import InputError
from ...nn.time import TimeMLP
from ...paths.couplings import make_coupling
from ...paths.guidance import check_conditioning
from ...paths.interpolants import make_interpolant
from ...registry import DataInfo
from ..diffusion.build import FlatNet, n_classes_of
from .config import CFMConfig
from .model import DensityFlowMatching, FlowMatching
from .objective import ConditionalFlowMatching
from .source import EmpiricalSource


def make_source(config: CFMConfig, info: DataInfo) -> StandardNormal | EmpiricalSource:
    """The standard normal (``gaussian``) or ``source_points`` points of a registered data set
    (drawn from its training split with ``source_seed``)."""
    if config.source == "gaussian":
        return StandardNormal(info.event_shape)
    if config.source_points < 1:
        raise InputError(f"model.source_points: {config.source_points} must be >= 1")
    from ...config import DataConfig
    from ...data import load_dataset

    data = load_dataset(DataConfig(name=config.source, n_train=config.source_points,
                                   n_val=0, n_test=0, seed=config.source_seed))
    if tuple(data.event_shape) != tuple(info.event_shape):
        raise InputError(f"model.source: {config.source!r} has points of shape "
                         f"{tuple(data.event_shape)}, the data's are {tuple(info.event_shape)}")
    return EmpiricalSource(data.train, config.source)


def build_cfm(config: CFMConfig,
              info: DataInfo) -> tuple[FlowMatching, ConditionalFlowMatching]:
    """A flow-matching model (a density model with the Gaussian source) and its objective."""
    if config.width < 1 or config.blocks < 0:
        raise InputError(f"model.width/blocks: {config.width}/{config.blocks} are invalid")
    if config.coupling_workers < 0:
        raise InputError(f"model.coupling_workers: {config.coupling_workers} must be >= 0")
    if not config.time_power > 0:
        raise InputError(f"model.time_power: {config.time_power} must be > 0")
    if config.nfe < 1:
        raise InputError(f"model.nfe: {config.nfe} must be >= 1")
    check_conditioning(config.conditional, config.p_uncond, config.guidance)
    k = n_classes_of(config, info)
    path = make_interpolant(config.path, sigma_min=config.sigma_min,
                            bridge_scale=config.bridge_scale, t_min=config.t_min)
    coupling = make_coupling(config.coupling, reg=config.sinkhorn_reg,
                             solver=config.coupling_solver)
    source = make_source(config, info)
    d = math.prod(info.event_shape)
    net = FlatNet(TimeMLP(d, config.width, config.blocks, config.activation, n_classes=k))
    common = dict(prediction=config.prediction, t_min=config.t_min, sampler=config.sampler,
                  nfe=config.nfe, rtol=config.rtol, n_classes=k, guidance=config.guidance,
                  null_label=config.p_uncond > 0)
    if isinstance(source, StandardNormal):
        trace = config.trace
        if trace == "auto":
            trace = "exact" if d <= config.exact_max_dim else "hutchinson"
        model: FlowMatching = DensityFlowMatching(
            net, path, source, info.event_shape, likelihood_solver=config.likelihood_solver,
            likelihood_steps=config.likelihood_steps, likelihood_rtol=config.likelihood_rtol,
            exact_trace=trace == "exact", probes=config.probes, **common)
    else:
        model = FlowMatching(net, path, source, info.event_shape, **common)
    return model, ConditionalFlowMatching(coupling, p_uncond=config.p_uncond,
                                          workers=config.coupling_workers,
                                          time_power=config.time_power)
