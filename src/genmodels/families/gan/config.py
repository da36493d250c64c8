"""Configs of the GAN families (every field has a default; ``--set`` overrides them).

One dataclass holds the options every adversarial family shares; each registered name
subclasses it only to change defaults (``n_critic = 5`` for the Wasserstein GANs, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...divergences.fdiv import F_DIVERGENCES

_ACT = {"choices": ("relu", "silu", "tanh", "elu")}
_CRITIC_NORM = {"choices": ("none", "layer", "batch")}


@dataclass
class GANConfig:
    """Networks and training ratios shared by every GAN family.

    Attributes:
        latent: the dimension of the generator's input :math:`z \\sim N(0, I)`.
        hidden: hidden widths of the MLP generator (points and tables).
        critic_hidden: hidden widths of the MLP critic.
        activation: the MLP activation.
        channels: the width of the DCGAN-style networks (images ``(C, H, W)``, H, W
            divisible by 4; other shapes use the MLPs on flattened points).
        generator_norm: ``"batch"`` or ``"none"`` in the convolutional generator.
        critic_norm: ``"none"``, ``"layer"`` or ``"batch"`` in the convolutional critic
            (``"batch"`` is refused with a gradient penalty).
        spectral_norm: spectral normalisation of every critic layer (Miyato et al. 2018).
        n_critic: critic steps per generator step.
        critic_lr_scale: the critic's learning rate relative to ``train.lr``.
        generator_lr_scale: the generator's learning rate relative to ``train.lr``.
        pack: PacGAN packing degree m: the critic judges m points at once (1: none; the
            critic games only, Lin et al. 2018).
    """

    latent: int = 8
    hidden: tuple[int, ...] = (128, 128, 128)
    critic_hidden: tuple[int, ...] = (128, 128, 128)
    activation: str = field(default="relu", metadata=_ACT)
    channels: int = 32
    generator_norm: str = field(default="batch", metadata={"choices": ("batch", "none")})
    critic_norm: str = field(default="none", metadata=_CRITIC_NORM)
    spectral_norm: bool = False
    n_critic: int = 1
    critic_lr_scale: float = 1.0
    generator_lr_scale: float = 1.0
    pack: int = 1


@dataclass
class MinimaxConfig(GANConfig):
    """``gan`` (saturating minimax) and ``ns-gan`` (non-saturating): no extra options."""


@dataclass
class FGANConfig(GANConfig):
    """``fgan``: variational divergence minimisation (Nowozin et al. 2016).

    Attributes:
        divergence: the f-divergence D_f(P_data ‖ Q_θ) the game estimates.
        alternative: the generator maximises E_Q[g_f(V)] instead of minimising
            -E_Q[f*(g_f(V))] (the paper's analogue of the non-saturating update).
        bound: the critic output v enters g_f as bound·tanh(v/bound), in (−bound, bound)
            (0: unbounded), which keeps the game finite where D_f is infinite
            (Pearson, Neyman on disjoint supports).
    """

    divergence: str = field(default="js", metadata={"choices": tuple(F_DIVERGENCES)})
    alternative: bool = False
    bound: float = 0.0


@dataclass
class WGANConfig(GANConfig):
    """``wgan``: Wasserstein GAN with weight clipping (Arjovsky et al. 2017).

    Attributes:
        clip: critic weights are clamped to ``[-clip, clip]`` before every critic use.
    """

    n_critic: int = 5
    clip: float = 0.01


@dataclass
class WGANGPConfig(GANConfig):
    """``wgan-gp``: Wasserstein GAN with a gradient penalty (Gulrajani et al. 2017).

    Attributes:
        gp_weight: λ of λ E[(‖∇f(x̂)‖ − 1)²] on per-sample interpolates (10 in the paper;
            its toy scripts use 0.1).
    """

    n_critic: int = 5
    gp_weight: float = 1.0


@dataclass
class HingeConfig(GANConfig):
    """``hinge-gan``: the hinge loss of SAGAN / SN-GAN (Lim & Ye 2017; Miyato et al. 2018)."""


@dataclass
class LSGANConfig(GANConfig):
    """``lsgan``: least squares GAN (Mao et al. 2017), targets fake ``a``, real ``b``, and
    ``c`` for the generator.

    Attributes:
        a: the critic's target on generated points.
        b: the critic's target on data.
        c: the generator's target.
    """

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0


@dataclass
class MMDGANConfig(GANConfig):
    """``mmd-gan``: generative moment matching (fixed kernel; Li et al. 2015, Dziugaite
    et al. 2015) or MMD-GAN with a learned critic embedding (Li et al. 2017).

    Attributes:
        kernel: ``"fixed"`` (Gaussian kernels on the data; no critic) or ``"learned"``
            (the same kernels on ``[x, h(x)]``, with ``h`` a critic embedding trained to
            maximise MMD²).
        bandwidths: the Gaussian bandwidths σ, summed: k = Σ exp(−‖a−b‖²/(2σ²)), in the
            units of the data the model sees (its standardised units when standardised).
        embedding: the output width of the learned embedding ``h``.
        clip: critic weights clamped to ``[-clip, clip]`` (learned kernel; 0: none).
    """

    kernel: str = field(default="fixed", metadata={"choices": ("fixed", "learned")})
    bandwidths: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)
    embedding: int = 16
    clip: float = 0.01
