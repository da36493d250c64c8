"""A learnable mixture of diagonal Gaussians, as a flow base distribution."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Distribution, standard_normal

_LOG_2PI = math.log(2 * math.pi)


class GaussianMixture(Distribution):
    r"""A mixture :math:`\sum_k \pi_k \mathcal N(\mu_k, \mathrm{diag}\,\sigma_k^2)`, all learnable.

    .. math:: \log p(x) = \operatorname{logsumexp}_k \Big[\log \pi_k
        - \tfrac12 \sum_i \Big(\frac{x_i - \mu_{ki}}{\sigma_{ki}}\Big)^2
        - \sum_i \log\sigma_{ki} - \tfrac d2 \log 2\pi\Big]

    with :math:`\pi = \mathrm{softmax}(\text{logits})`. The means start at seeded draws of
    :math:`\mathcal N(0, I)`, the scales at 1 and the weights uniform. :meth:`rsample`
    draws the component index (not differentiable in :math:`\pi`) and reparameterises the
    Gaussian draw (differentiable in :math:`\mu, \sigma`).

    Args:
        event_shape: the shape ``D`` of one point (an int for vectors).
        components: the number :math:`K` of components.
        seed: the seed of the initial means.
    """

    def __init__(self, event_shape: tuple[int, ...] | int, components: int = 8,
                 seed: int = 0) -> None:
        super().__init__()
        if components < 1:
            raise ValueError(f"a mixture needs at least one component, got {components}")
        self.event_shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        self.dim = math.prod(self.event_shape)
        g = torch.Generator().manual_seed(seed)
        self.logits = nn.Parameter(torch.zeros(components))
        self.loc = nn.Parameter(torch.randn(components, self.dim, generator=g))
        self.log_scale = nn.Parameter(torch.zeros(components, self.dim))

    def component_log_prob(self, x: Tensor) -> Tensor:
        """:math:`\\log \\pi_k + \\log \\mathcal N(x; \\mu_k, \\sigma_k^2)`, shape ``(B, K)``."""
        u = (x.flatten(1)[:, None, :] - self.loc) * torch.exp(-self.log_scale)
        lp = -0.5 * (u.square().sum(-1) + self.dim * _LOG_2PI) - self.log_scale.sum(-1)
        return lp + torch.log_softmax(self.logits, 0)

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_prob(x), dim=1)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        probs = torch.softmax(self.logits.detach(), 0)
        device = self.loc.device if generator is None else generator.device
        k = torch.multinomial(probs.to(device), n, replacement=True, generator=generator)
        k = k.to(self.loc.device)
        eps = standard_normal((n, self.dim), self.loc, generator)
        x = torch.addcmul(self.loc[k], eps, self.log_scale[k].exp())
        return x.reshape(n, *self.event_shape)
