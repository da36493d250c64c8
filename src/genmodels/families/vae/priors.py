r"""Priors :math:`p(z)` over the latent space: standard normal, a learnable Gaussian mixture,
or any registered flow (a flow prior, :math:`\log p(z) = \log p_U(f(z)) + \log|\det J_f|`)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from ...distributions import Distribution, GaussianMixture, StandardNormal
from ...errors import InputError
from ...registry import DataInfo, get_family

__all__ = ["FlowPrior", "make_prior"]


class FlowPrior(Distribution):
    """A registered flow used as the prior over latent vectors ``(L,)``.

    Args:
        flow: a :class:`~genmodels.families.flows.Flow` over ``(L,)``.
    """

    def __init__(self, flow: torch.nn.Module) -> None:
        super().__init__()
        self.flow = flow
        self.event_shape = tuple(flow.event_shape)

    def log_prob(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        return self.flow.rsample_and_log_prob(n, generator=generator)[0]


def make_prior(kind: str, latent: int, *, components: int = 8, layers: int = 4,
               seed: int = 0) -> Distribution:
    """The prior named ``kind``: ``standard``, ``mixture``, or a registered flow's name.

    Raises:
        InputError: for a name that is neither, or a flow that cannot take ``latent``.
    """
    if kind == "standard":
        return StandardNormal(latent)
    if kind == "mixture":
        if components < 1:
            raise InputError(f"model.components: {components} must be >= 1")
        return GaussianMixture(latent, components, seed=seed)
    try:
        family = get_family(kind)
    except InputError:
        family = None
    if family is None or family.kind != "flow":
        raise InputError(f"model.prior: {kind!r} is not 'standard', 'mixture' or a registered "
                         "flow (see `genmodels list`)")
    cfg = family.config()
    if any(f.name == "layers" for f in dataclasses.fields(cfg)):
        cfg = dataclasses.replace(cfg, layers=layers)
    if any(f.name == "actnorm" for f in dataclasses.fields(cfg)):
        cfg = dataclasses.replace(cfg, actnorm=False)  # no data-dependent init on latents
    flow, _ = family.build(cfg, DataInfo((latent,)))
    return FlowPrior(flow)
