"""The flow density model: a bijection to a base distribution, scored by change of variables."""

from __future__ import annotations

import torch
from torch import Tensor

from ...bijections import Bijection
from ...core import DensityModel
from ...distributions import Distribution


class Flow(DensityModel):
    r"""A normalizing flow :math:`p(x \mid c)` defined by :math:`z = f(x \mid c) \sim p_Z`.

    .. math:: \log p(x \mid c) = \log p_Z\big(f(x \mid c)\big)
        + \log\left|\det \frac{\partial f(x \mid c)}{\partial x}\right|

    Points of any event shape ``D`` (2-D points, tabular rows, images ``(C, H, W)``) are
    flattened to vectors for the bijection and reshaped for the base. Sampling draws
    :math:`z \sim p_Z` and returns :math:`x = f^{-1}(z \mid c)`; scoring one's own samples
    needs no second pass, since :math:`\log p(x) = \log p_Z(z) - \log|\det \partial x/\partial z|`.

    References:
        Variational Inference with Normalizing Flows (Rezende & Mohamed, 2015),
        https://arxiv.org/abs/1505.05770

        Normalizing Flows for Probabilistic Modeling and Inference (Papamakarios et al.,
        2021), https://arxiv.org/abs/1912.02762

    Args:
        bijection: :math:`f`, mapping data vectors ``(B, d)`` to latent vectors.
        base: :math:`p_Z` over points of shape ``D`` (its ``event_shape`` is the flow's).
    """

    log_prob_kind = "exact"

    def __init__(self, bijection: Bijection, base: Distribution) -> None:
        super().__init__()
        self.bijection = bijection
        self.base = base
        self.event_shape = tuple(base.event_shape)

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """Returns :math:`\\log p(x \\mid c)` in nats, shape ``(B,)`` for ``x`` of ``(B, *D)``."""
        n = x.shape[0]
        z, log_det = self.bijection.forward_and_log_det(x.reshape(n, -1), cond)
        return self.base.log_prob(z.reshape(n, *self.event_shape)) + log_det

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """The same as :meth:`log_prob` (so wrappers that call ``forward`` see the density)."""
        return self.log_prob(x, cond=cond)

    def rsample_and_log_prob(
        self, n: int, *, cond: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draws ``n`` reparameterised samples ``(n, *D)`` and their log-densities ``(n,)``.

        One pass through the inverse; gradients flow to the parameters (reverse-KL training).
        """
        _check_cond(cond, n)
        z = self.base.rsample(n, generator=generator)
        base_lp = self.base.log_prob(z)
        x, log_det = self.bijection.inverse_and_log_det(z.reshape(n, -1), cond)
        return x.reshape(n, *self.event_shape), base_lp - log_det

    @torch.no_grad()
    def sample_and_log_prob(
        self, n: int, *, cond: Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draws ``n`` samples and their log-densities in one inverse pass, without gradients."""
        return self.rsample_and_log_prob(n, cond=cond, generator=generator)

    @torch.no_grad()
    def sample(
        self, n: int, *, cond: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draws ``n`` points ``(n, *D)``: :math:`x = f^{-1}(z \\mid c)`, :math:`z \\sim p_Z`."""
        _check_cond(cond, n)
        z = self.base.sample(n, generator=generator)
        return self.bijection.inverse(z.reshape(n, -1), cond).reshape(n, *self.event_shape)


def _check_cond(cond: Tensor | None, n: int) -> None:
    if cond is not None and cond.shape[0] != n:
        raise ValueError(f"cond has {cond.shape[0]} rows for {n} samples")
