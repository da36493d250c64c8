"""The builder of the ``cnf`` family: ``build(config, info) -> (CNF, CNFLikelihood)``."""

from __future__ import annotations

import math

from ...errors import InputError
from ...nn.time import TimeMLP
from ...registry import DataInfo
from .config import CNFConfig
from .model import CNF
from .objective import CNFLikelihood


def build_cnf(config: CNFConfig, info: DataInfo) -> tuple[CNF, CNFLikelihood]:
    """A CNF with a residual time-conditioned MLP on the data's flat dimension."""
    if config.width < 1 or config.blocks < 0:
        raise InputError(f"model.width/blocks: {config.width}/{config.blocks} are invalid")
    if config.kinetic < 0 or config.jacobian < 0:
        raise InputError("model.kinetic and model.jacobian must be >= 0")
    if config.solver == "dopri5" and config.backend == "genmodels" and config.adjoint:
        raise InputError("model.adjoint needs model.backend = 'torchdiffeq'")
    d = math.prod(info.event_shape)
    trace = config.trace
    if trace == "auto":
        trace = "exact" if d <= config.exact_max_dim else "hutchinson"
    net = TimeMLP(d, config.width, config.blocks, config.activation)
    model = CNF(net, info.event_shape, T=config.T, solver=config.solver, steps=config.steps,
                backend=config.backend, adjoint=config.adjoint, rtol=config.rtol, trace=trace,
                probes=config.probes, probe=config.probe, sampler=config.sampler,
                nfe=config.nfe, likelihood_solver=config.likelihood_solver,
                likelihood_steps=config.likelihood_steps,
                likelihood_rtol=config.likelihood_rtol)
    return model, CNFLikelihood(config.kinetic, config.jacobian)
