r"""The adversarial objectives: a critic phase and a generator phase, one optimiser each.

:class:`Adversarial` plays any :class:`~.losses.AdversarialLoss`, with an optional gradient
penalty (WGAN-GP) or weight clipping (WGAN); :class:`MomentMatching` is the MMD game
(fixed kernel: generator only; learned kernel: an embedding critic maximises MMD²).
``n_critic`` critic steps per generator step is ``Phase("critic", steps=n_critic)``; the
trainer draws a fresh batch for every phase step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ...core import Batch, LossOutput, Objective, Phase, noise
from .losses import AdversarialLoss
from .model import GAN


@contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """No gradients to ``module``'s parameters for the graph built inside (the generator
    phase need not backpropagate into the critic's weights, only through them).

    Under ``torch.distributed`` nothing is frozen (DDP expects ``requires_grad`` to stay as
    it was when it wrapped the model); the critic's gradients of this phase are then simply
    discarded, since only the generator's optimiser steps."""
    dist = torch.distributed.is_available() and torch.distributed.is_initialized()
    params = [] if module is None or dist else [p for p in module.parameters()
                                                 if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def clip_weights(module: nn.Module, c: float) -> None:
    """Clamps every parameter of ``module`` to ``[-c, c]`` in place (WGAN)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


def gradient_penalty(model: GAN, real: Tensor, fake: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    r"""The two-sided penalty :math:`\mathbb E_{\hat x}[(\lVert\nabla_{\hat x} V(\hat x)\rVert_2
    - 1)^2]` on :math:`\hat x = \epsilon x + (1 - \epsilon)\tilde x` with **one**
    :math:`\epsilon \sim U[0, 1]` per sample, for points of any shape ``(B, *D)``. With
    PacGAN packing (``model.pack = m``) a sample is a pack of m points: one ε per pack, and
    the norm over the whole pack (the critic's input).

    Reference: Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017,
    https://arxiv.org/abs/1704.00028
    """
    m = model.pack
    groups = real.shape[0] // m
    real, fake = real[: groups * m], fake[: groups * m]
    shape = (groups,) + (1,) * (real.dim() - 1)
    device = real.device if generator is None else generator.device
    eps = noise.rand(shape, generator=generator, device=device, dtype=real.dtype).to(real.device)
    if m > 1:
        eps = eps.repeat_interleave(m, dim=0)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    v = model.critic_out(x_hat)
    (grad,) = torch.autograd.grad(v.sum(), x_hat, create_graph=True)
    return (grad.reshape(groups, -1).norm(dim=1) - 1).square().mean()


def mmd2_biased(x: Tensor, y: Tensor, bandwidths: Sequence[float]) -> Tensor:
    r"""The biased MMD² (a V-statistic, ≥ 0) of flat samples ``(n, d)``, ``(m, d)`` with
    :math:`k(a, b) = \sum_\sigma \exp(-\lVert a-b \rVert^2 / 2\sigma^2)`, in the inputs'
    dtype (a training loss; :func:`genmodels.divergences.mmd2` is the float64 metric).

    .. math:: \frac{1}{n^2}\sum_{ij} k(x_i, x_j) + \frac{1}{m^2}\sum_{ij} k(y_i, y_j)
        - \frac{2}{nm}\sum_{ij} k(x_i, y_j)
    """
    z = torch.cat([x, y])
    sq = (z * z).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * z @ z.T).clamp(min=0)
    k = sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)
    n = x.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class _TwoPlayer(Objective):
    def __init__(self, n_critic: int, critic_lr_scale: float, generator_lr_scale: float,
                 critic: bool = True) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        gen = Phase("generator", 1, generator_lr_scale)
        self.phases = (Phase("critic", n_critic, critic_lr_scale), gen) if critic else (gen,)

    def parameters(self, model: nn.Module, phase: str) -> Iterator[nn.Parameter]:
        assert isinstance(model, GAN)
        if phase == "critic":
            return model.critic.parameters()
        if phase == "generator":
            return model.generator.parameters()
        raise ValueError(f"unknown phase {phase!r} (critic, generator)")


class Adversarial(_TwoPlayer):
    r"""A two-player game :math:`\min_\theta \max_\omega` played by alternating phases.

    Critic phase: minimise ``loss.critic(V(x), V(G(z)))`` (+ ``gp_weight`` · penalty), the
    generated points detached. Generator phase: minimise ``loss.generator(V(G(z)))``.

    Args:
        loss: the game (:mod:`.losses`).
        n_critic: critic steps per generator step.
        gp_weight: λ of the gradient penalty (0: none).
        clip: weight clipping bound of the critic (0: none), applied before each use.
        critic_lr_scale: the critic's learning-rate factor.
        generator_lr_scale: the generator's learning-rate factor.

    Logs ``v_real``, ``v_fake`` (mean critic outputs) and ``gp`` where used.
    """

    def __init__(self, loss: AdversarialLoss, *, n_critic: int = 1, gp_weight: float = 0.0,
                 clip: float = 0.0, critic_lr_scale: float = 1.0,
                 generator_lr_scale: float = 1.0) -> None:
        super().__init__(n_critic, critic_lr_scale, generator_lr_scale)
        if gp_weight < 0 or clip < 0:
            raise ValueError("gp_weight and clip must be >= 0")
        self.loss = loss
        self.gp_weight = gp_weight
        self.clip = clip

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "critic") -> LossOutput:
        assert isinstance(model, GAN)
        if self.clip:
            clip_weights(model.critic, self.clip)
        n = batch.x.shape[0]
        if phase == "critic":
            with torch.no_grad():
                fake = model.rsample(n)
            vr, vf = model.critic_out(batch.x), model.critic_out(fake)
            loss = self.loss.critic(vr, vf)
            logs: dict[str, Tensor | float] = {"v_real": vr.detach().mean(),
                                              "v_fake": vf.detach().mean()}
            if self.gp_weight:
                gp = gradient_penalty(model, batch.x, fake)
                loss = loss + self.gp_weight * gp
                logs["gp"] = gp.detach()
            return LossOutput(loss, logs)
        if phase == "generator":
            with frozen(model.critic):
                vf = model.critic_out(model.rsample(n))
            return LossOutput(self.loss.generator(vf), {"v_fake": vf.detach().mean()})
        raise ValueError(f"unknown phase {phase!r} (critic, generator)")


class MomentMatching(_TwoPlayer):
    r"""The MMD game with the biased (V-statistic) estimator of MMD² and Gaussian kernels
    :math:`k(a, b) = \sum_\sigma \exp(-\lVert a - b\rVert^2 / 2\sigma^2)`.

    * ``learned=False`` (GMMN; Li, Swersky, Zemel 2015; Dziugaite et al. 2015): the
      generator minimises :math:`\mathrm{MMD}^2(x, G(z))` on the points themselves; no
      critic, one phase.
    * ``learned=True`` (MMD-GAN; Li et al. 2017): the kernel acts on
      :math:`\phi(x) = [x, h_\omega(x)]` with :math:`h_\omega` the critic's embedding
      (weights clipped to ``clip``); the critic maximises MMD², the generator minimises it.
      Keeping :math:`x` in :math:`\phi` makes :math:`\phi` injective, so the kernel stays
      characteristic whatever :math:`h_\omega` learns (the role of Li et al.'s autoencoder).

    Args:
        bandwidths: the σ's.
        learned: whether a critic embedding is learned.
        n_critic: critic steps per generator step (learned kernel).
        clip: weight clipping bound of the embedding (0: none).
        critic_lr_scale: the critic's learning-rate factor.
        generator_lr_scale: the generator's learning-rate factor.
    """

    def __init__(self, bandwidths: Sequence[float], *, learned: bool = False,
                 n_critic: int = 1, clip: float = 0.0, critic_lr_scale: float = 1.0,
                 generator_lr_scale: float = 1.0) -> None:
        super().__init__(n_critic, critic_lr_scale, generator_lr_scale, critic=learned)
        self.bandwidths = tuple(float(b) for b in bandwidths)
        self.learned = learned
        self.clip = clip

    def features(self, model: GAN, x: Tensor) -> Tensor:
        """:math:`\\phi(x)`: the flat points, with the critic's embedding when learned."""
        flat = x.reshape(x.shape[0], -1)
        if not self.learned:
            return flat
        h = model.critic_out(x)
        return torch.cat([flat, h.reshape(x.shape[0], -1)], dim=1)

    def mmd2(self, model: GAN, real: Tensor, fake: Tensor) -> Tensor:
        """The biased MMD² between ``real`` and ``fake`` in feature space."""
        return mmd2_biased(self.features(model, real), self.features(model, fake),
                           self.bandwidths)

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "generator") -> LossOutput:
        assert isinstance(model, GAN)
        if self.learned and self.clip:
            clip_weights(model.critic, self.clip)
        n = batch.x.shape[0]
        if phase == "critic" and self.learned:
            with torch.no_grad():
                fake = model.rsample(n)
            m = self.mmd2(model, batch.x, fake)
            return LossOutput(-m, {"mmd2": m.detach()})
        if phase == "generator":
            with frozen(model.critic):
                m = self.mmd2(model, batch.x, model.rsample(n))
            return LossOutput(m, {"mmd2": m.detach()})
        raise ValueError(f"unknown phase {phase!r}")
