"""Image layers on flattened images ``(B, C·H·W)``: masks, squeeze, split, a conv conditioner.

Bijections act on vectors; an image layer knows its image shape ``(C, H, W)`` and reads the
vector in channel-major order (what ``x.reshape(B, -1)`` gives for ``(B, C, H, W)``). In
that view *squeeze* is a fixed permutation and a multiscale *split* hands the first half of
the coordinates to the next scale and leaves the rest untouched on their way to the base.

References:
    Density estimation using Real NVP (Dinh et al., 2017), https://arxiv.org/abs/1605.08803;
    Glow (Kingma & Dhariwal, 2018), https://arxiv.org/abs/1807.03039
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Bijection
from .permutation import Permutation

Shape = tuple[int, int, int]


def checkerboard_mask(shape: Shape, flip: bool = False) -> Tensor:
    """The flat mask ``(C·H·W,)`` keeping pixels with ``h + w`` even (odd with ``flip``)."""
    c, h, w = shape
    board = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == 0
    board = board.expand(c, h, w).reshape(-1)
    return ~board if flip else board


def channel_mask(shape: Shape, flip: bool = False) -> Tensor:
    """The flat mask ``(C·H·W,)`` keeping the first ``C // 2`` channels (the rest if ``flip``)."""
    c, h, w = shape
    keep = (torch.arange(c) < c // 2)[:, None].expand(c, h * w).reshape(-1)
    return ~keep if flip else keep


def squeeze_shape(shape: Shape) -> Shape:
    """``(C, H, W) → (4C, H/2, W/2)``."""
    c, h, w = shape
    if h % 2 or w % 2:
        raise ValueError(f"cannot squeeze an image of shape {shape}: odd height or width")
    return 4 * c, h // 2, w // 2


def squeeze(shape: Shape) -> Permutation:
    r"""The space-to-depth squeeze as a permutation of the flat vector (log-det 0).

    Each :math:`2 \times 2` block of every channel becomes 4 channels at half resolution:
    :math:`y_{4c + 2i + j,\, h,\, w} = x_{c,\, 2h + i,\, 2w + j}`.
    """
    c, h, w = shape
    squeeze_shape(shape)
    idx = torch.arange(c * h * w).reshape(c, h // 2, 2, w // 2, 2)
    return Permutation(idx.permute(0, 2, 4, 1, 3).reshape(-1))


class Split(Bijection):
    r"""Multiscale factoring: an inner bijection on the first ``keep`` coordinates only.

    .. math:: z = \big(g(x_{1:k}),\, x_{k+1:d}\big), \qquad
        \log|\det J| = \log|\det J_g(x_{1:k})|

    The remaining coordinates are factored out: they go to the base distribution as they
    are (the RealNVP/Glow multiscale architecture with a standard normal prior on them).
    The Jacobian is block diagonal, :math:`\mathrm{diag}(J_g, I)`.

    Args:
        inner: the bijection of the kept coordinates.
        keep: the number :math:`k` of coordinates passed to ``inner``.
    """

    def __init__(self, inner: Bijection, keep: int) -> None:
        super().__init__()
        self.inner, self.keep = inner, keep

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ld = self.inner.forward_and_log_det(x[:, : self.keep], cond)
        return torch.cat((z, x[:, self.keep :]), dim=1), ld

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, ld = self.inner.inverse_and_log_det(z[:, : self.keep], cond)
        return torch.cat((x, z[:, self.keep :]), dim=1), ld


class ConvConditioner(nn.Module):
    r"""A small conv net conditioner for image couplings: ``net(x_a, cond) → (B, P·|b|)``.

    The kept coordinates are scattered back into a ``(C, H, W)`` image (zeros at the
    transformed ones), the condition vector is broadcast as constant extra channels, and
    :math:`\text{conv}_{3\times3} \to \text{act} \to \text{conv}_{1\times1} \to \text{act}
    \to \text{conv}_{3\times3}` gives ``params`` maps per channel, read at the transformed
    coordinates. The last convolution starts at zero (identity coupling).

    Args:
        mask: the coupling's flat mask ``(C·H·W,)`` (true = kept).
        shape: the image shape ``(C, H, W)``.
        params: outputs per transformed coordinate.
        channels: the hidden width.
        context: the dimension of the condition vector (0 for none).
    """

    def __init__(self, mask: Tensor, shape: Shape, params: int, channels: int = 64,
                 context: int = 0) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        self.shape, self.params, self.context = tuple(shape), params, context
        c = shape[0]
        self.register_buffer("idx_a", mask.nonzero()[:, 0], persistent=False)
        self.register_buffer("idx_b", (~mask).nonzero()[:, 0], persistent=False)
        self.net = nn.Sequential(
            nn.Conv2d(c + context, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 1), nn.ReLU(),
            nn.Conv2d(channels, params * c, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    @property
    def last(self) -> nn.Conv2d:
        """The output convolution."""
        return self.net[-1]

    def forward(self, xa: Tensor, cond: Tensor | None = None) -> Tensor:
        n = xa.shape[0]
        full = xa.new_zeros(n, self.shape[0] * self.shape[1] * self.shape[2])
        full = full.index_copy(1, self.idx_a, xa)
        img = full.view(n, *self.shape)
        if self.context:
            if cond is None:
                raise ValueError(f"this network needs a context of {self.context} features")
            img = torch.cat((img, cond[:, :, None, None].expand(-1, -1, *self.shape[1:])), 1)
        out = self.net(img).reshape(n, self.params, -1)
        return out[:, :, self.idx_b].reshape(n, -1)
