r"""Gaussian variational posteriors :math:`q_\lambda(z \mid x)`: diagonal and full covariance.

A posterior here is a batch of Gaussians, one per data point, given by its parameters (the
encoder's outputs, or free per-datapoint parameters in black-box VI). It draws ``K`` samples
per point with an explicit ``generator``, scores samples, and has the closed-form KL to the
standard normal prior,

.. math:: \mathrm{KL}\big(\mathcal N(\mu, \Sigma) \,\|\, \mathcal N(0, I)\big)
    = \tfrac12\big(\operatorname{tr}\Sigma + \mu^\top\mu - L - \log\det\Sigma\big).

The full-covariance form is parameterised by a Cholesky factor :math:`\Sigma = LL^\top` with a
positive diagonal :math:`\exp(s)` and a free strictly lower triangle.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ...distributions.base import standard_normal

_LOG_2PI = math.log(2 * math.pi)


class GaussianPosterior:
    r"""A batch of Gaussians :math:`\mathcal N(\mu_b, L_b L_b^\top)`, ``b = 1..B``.

    Args:
        loc: :math:`\mu`, ``(B, L)``.
        log_scale: :math:`\log` of the Cholesky diagonal, ``(B, L)``.
        tril: the strictly lower part of :math:`L`, ``(B, L, L)`` (``None``: diagonal).
    """

    def __init__(self, loc: Tensor, log_scale: Tensor, tril: Tensor | None = None) -> None:
        self.loc, self.log_scale, self.tril = loc, log_scale, tril

    @property
    def dim(self) -> int:
        """The latent dimension ``L``."""
        return int(self.loc.shape[-1])

    def scale_tril(self) -> Tensor:
        """The Cholesky factor :math:`L`, ``(B, L, L)``."""
        diag = torch.diag_embed(self.log_scale.exp())
        if self.tril is None:
            return diag
        return diag + torch.tril(self.tril, diagonal=-1)

    def rsample(self, k: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``k`` reparameterised draws per point, ``(k, B, L)``: :math:`z = \\mu + L\\epsilon`."""
        eps = standard_normal((k, *self.loc.shape), self.loc, generator, batch_dim=1)
        return self.transform(eps)

    def transform(self, eps: Tensor) -> Tensor:
        """:math:`\\mu + L\\epsilon` for standard-normal ``eps`` of shape ``(k, B, L)``."""
        if self.tril is None:
            return self.loc + eps * self.log_scale.exp()
        return self.loc + torch.einsum("bij,kbj->kbi", self.scale_tril(), eps)

    def log_prob(self, z: Tensor) -> Tensor:
        """:math:`\\log q(z)` for ``z`` of shape ``(k, B, L)``, returns ``(k, B)``."""
        d = z - self.loc
        if self.tril is None:
            u = d * torch.exp(-self.log_scale)
        else:
            scale = self.scale_tril().expand(z.shape[0], *self.scale_tril().shape)
            u = torch.linalg.solve_triangular(scale, d.unsqueeze(-1), upper=False).squeeze(-1)
        return -0.5 * (u.square().sum(-1) + self.dim * _LOG_2PI) - self.log_scale.sum(-1)

    def entropy(self) -> Tensor:
        """:math:`H[q] = \\tfrac L2 (1 + \\log 2\\pi) + \\sum_i s_i`, ``(B,)``."""
        return 0.5 * self.dim * (1.0 + _LOG_2PI) + self.log_scale.sum(-1)

    def kl_standard_normal(self) -> Tensor:
        """The closed-form :math:`\\mathrm{KL}(q \\,\\|\\, \\mathcal N(0, I))`, ``(B,)``."""
        if self.tril is None:
            trace = torch.exp(2 * self.log_scale).sum(-1)
        else:
            trace = self.scale_tril().square().sum((-2, -1))
        return 0.5 * (trace + self.loc.square().sum(-1) - self.dim) - self.log_scale.sum(-1)

    def detach(self) -> GaussianPosterior:
        """The same posterior with its parameters cut from the graph."""
        tril = None if self.tril is None else self.tril.detach()
        return GaussianPosterior(self.loc.detach(), self.log_scale.detach(), tril)

    def parameters(self) -> list[Tensor]:
        """The tensors that define the posterior (``loc``, ``log_scale`` and ``tril``)."""
        return [t for t in (self.loc, self.log_scale, self.tril) if t is not None]

    def select(self, index: Tensor) -> GaussianPosterior:
        """The posteriors of the points ``index``."""
        tril = None if self.tril is None else self.tril[index]
        return GaussianPosterior(self.loc[index], self.log_scale[index], tril)


def posterior_size(latent: int, full: bool) -> int:
    """The number of encoder outputs per point: ``2L`` (diagonal) or ``2L + L(L-1)/2``."""
    return 2 * latent + (latent * (latent - 1) // 2 if full else 0)


def posterior_from(out: Tensor, latent: int, full: bool) -> GaussianPosterior:
    """Splits an encoder's ``(B, posterior_size)`` output into a :class:`GaussianPosterior`.

    The log-scales are clamped to ``[-7, 5]`` so that a wild encoder output cannot give a
    zero or infinite variance.
    """
    loc, log_scale = out[:, :latent], out[:, latent:2 * latent].clamp(-7.0, 5.0)
    tril = None
    if full:
        rows, cols = torch.tril_indices(latent, latent, offset=-1, device=out.device)
        tril = out.new_zeros(out.shape[0], latent, latent)
        tril[:, rows, cols] = out[:, 2 * latent:]
    return GaussianPosterior(loc, log_scale, tril)
