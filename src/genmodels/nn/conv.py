"""DCGAN-style convolutional generator and critic for small images (8×8 digits, 28×28 MNIST).

Networks only: nothing adversarial or probabilistic lives here. Both take any ``(C, H, W)``
with ``H`` and ``W`` divisible by 4 (two stride-2 stages).

Reference: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016, https://arxiv.org/abs/1511.06434
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["DCGANCritic", "DCGANGenerator", "conv_shape_ok"]


def conv_shape_ok(shape: tuple[int, ...]) -> bool:
    """Whether ``shape`` is an image ``(C, H, W)`` with ``H`` and ``W`` divisible by 4."""
    return len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0 and shape[1] >= 4


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # layer norm over (C, H, W)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r} (batch, layer, none)")


class DCGANGenerator(nn.Module):
    r""":math:`z \mapsto x`: a linear map to ``(2c, H/4, W/4)``, then two stride-2
    transposed convolutions (kernel 4) up to ``(C, H, W)``; ReLU, optional batch norm,
    no output squashing (data may be standardised).

    Args:
        latent: the dimension of :math:`z`.
        shape: the image shape ``(C, H, W)``.
        channels: the width ``c`` of the last hidden stage.
        norm: ``"batch"`` (DCGAN) or ``"none"``.
    """

    def __init__(self, latent: int, shape: tuple[int, int, int], channels: int = 64,
                 norm: str = "batch") -> None:
        super().__init__()
        c, h, w = shape
        self.base = (2 * channels, h // 4, w // 4)
        self.fc = nn.Linear(latent, 2 * channels * (h // 4) * (w // 4))
        self.net = nn.Sequential(
            _norm(norm, 2 * channels), nn.ReLU(),
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1), _norm(norm, channels), nn.ReLU(),
            nn.ConvTranspose2d(channels, c, 4, 2, 1),
        )

    def forward(self, z: Tensor) -> Tensor:
        """Maps ``(B, latent)`` to ``(B, C, H, W)``."""
        return self.net(self.fc(z).reshape(z.shape[0], *self.base))


class DCGANCritic(nn.Module):
    r"""``(C, H, W) -> (out,)``: two stride-2 convolutions (kernel 4), LeakyReLU(0.2), a
    linear head. ``norm="none"`` or ``"layer"`` for critics trained with a gradient penalty
    (batch norm couples the samples of a batch, which the penalty assumes it does not).

    Args:
        shape: the image shape ``(C, H, W)``.
        out_features: the output width (1 for a critic, ``k`` for an MMD embedding).
        channels: the width ``c`` of the first stage.
        norm: ``"none"``, ``"layer"`` or ``"batch"``.
    """

    def __init__(self, shape: tuple[int, int, int], out_features: int = 1, channels: int = 64,
                 norm: str = "none") -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, channels, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1), _norm(norm, 2 * channels),
            nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(2 * channels * (h // 4) * (w // 4), out_features),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Maps ``(B, C, H, W)`` to ``(B, out_features)``."""
        return self.net(x)
