"""The GAN model: a generator pushing N(0, I) forward, and the critic trained against it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core import GenerativeModel
from ...distributions.base import standard_normal


class GAN(GenerativeModel):
    r"""An implicit model :math:`x = G_\theta(z)`, :math:`z \sim \mathcal N(0, I_k)`, with its
    critic :math:`V_\omega` (a discriminator's logit, a Wasserstein potential, or an MMD
    embedding). Only :meth:`sample` is offered: the density of :math:`G_\theta(z)` is not
    available (there is no ``log_prob``).

    The networks work on flat vectors or images; :meth:`generate` reshapes the generator's
    output to ``event_shape`` and :meth:`critic_out` feeds the critic points ``(B, *D)``.

    Reference: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014,
    https://arxiv.org/abs/1406.2661

    Args:
        generator: maps ``(B, latent)`` to ``(B, *D)`` or ``(B, prod(D))``.
        critic: maps ``(B, *D)`` (``flat_critic=False``) or ``(B, prod(D))`` to ``(B, k)``;
            ``None`` for critic-free objectives (fixed-kernel moment matching).
        latent: the dimension ``k`` of :math:`z`.
        event_shape: the shape ``D`` of one point.
        flat_critic: whether the critic takes flattened points (MLPs) or ``(B, *D)`` (convs).
        pack: PacGAN packing: the critic judges ``pack`` points at once, concatenated
            (flat: ``(B/m, m·prod(D))``; images: along channels, ``(B/m, m·C, H, W)``), so
            its input is ``pack`` times wider (Lin et al., "PacGAN", NeurIPS 2018,
            https://arxiv.org/abs/1712.04086).
    """

    def __init__(self, generator: nn.Module, critic: nn.Module | None, latent: int,
                 event_shape: tuple[int, ...], flat_critic: bool = True,
                 pack: int = 1) -> None:
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.generator = generator
        self.critic = critic
        self.latent = latent
        self.event_shape = tuple(event_shape)
        self.flat_critic = flat_critic
        self.pack = int(pack)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def noise(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Latent draws ``(n, latent)`` from ``generator`` (on the model's device)."""
        return standard_normal((n, self.latent), self._anchor, generator)

    def generate(self, z: Tensor) -> Tensor:
        """:math:`G_\\theta(z)`, shape ``(n, *D)``, differentiable."""
        return self.generator(z).reshape(z.shape[0], *self.event_shape)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples with gradients to the generator, ``(n, *D)``."""
        return self.generate(self.noise(n, generator=generator))

    def packed(self, x: Tensor) -> Tensor:
        """Points ``(B, *D)`` as the critic's input: flat ``(B/m, m·prod(D))`` or
        ``(B/m, m·C, *D[1:])`` for ``m = pack`` consecutive points (the last ``B mod m``
        points are dropped)."""
        m = self.pack
        n = x.shape[0] // m
        if n == 0:
            raise ValueError(f"a batch of {x.shape[0]} points cannot be packed by {m}")
        x = x[: n * m]
        if self.flat_critic:
            return x.reshape(n, -1)
        return x.reshape(n, m * x.shape[1], *x.shape[2:])

    def critic_out(self, x: Tensor) -> Tensor:
        """The critic on points ``(B, *D)``: ``(B/m,)`` for a one-output critic, else
        ``(B/m, k)``, with ``m = pack`` points judged together (``m = 1``: one each)."""
        if self.critic is None:
            raise TypeError("this GAN has no critic")
        v = self.critic(self.packed(x))
        return v.squeeze(-1) if v.shape[-1] == 1 else v

    @torch.no_grad()
    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """Draws ``n`` points ``(n, *D)``: :math:`x = G_\\theta(z)`, :math:`z \\sim N(0, I)`."""
        if cond is not None:
            raise ValueError("GAN models here are unconditional; cond must be None")
        return self.rsample(n, generator=generator)
