"""A small time-conditioned U-Net for ``(B, C, H, W)`` images (8×8 digits, 28×28 MNIST).

Two resolutions below the input (28 → 14 → 7, 8 → 4 → 2); each level has residual blocks
with GroupNorm, SiLU and an additive time embedding (Ho et al. 2020, without attention);
upsampling is nearest-neighbour to the skip's size, so odd sizes work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from .time import LabelEmbedding, TimeEmbedding


def _groups(c: int) -> int:
    for g in (8, 4, 2, 1):
        if c % g == 0:
            return g
    return 1


class ResBlock(nn.Module):
    """A residual block: ``skip(h) + conv(silu(GN(conv(silu(GN(h))) + e(t))))``."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(_groups(cin), cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(_groups(cout), cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """A U-Net :math:`F(x, t)` with the output shape of the input.

    Args:
        channels: image channels ``C``.
        base: channels at full resolution (doubled at each level below).
        levels: number of downsamplings.
        time_dim: width of the time embedding.
        n_classes: optional class conditioning: a :class:`~genmodels.nn.time.LabelEmbedding`
            (with a null token for labels ``-1`` or ``None``) added to the time embedding.
    """

    def __init__(self, channels: int = 1, base: int = 32, levels: int = 2, time_dim: int = 128,
                 n_classes: int = 0) -> None:
        super().__init__()
        self.temb = TimeEmbedding(time_dim, 64)
        self.label = LabelEmbedding(n_classes, time_dim) if n_classes else None
        self.inp = nn.Conv2d(channels, base, 3, padding=1)
        widths = [base * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList(ResBlock(widths[i], widths[i], time_dim) for i in range(levels))
        self.pool = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1)
                                  for i in range(levels))
        self.mid = ResBlock(widths[-1], widths[-1], time_dim)
        self.up = nn.ModuleList(ResBlock(widths[i + 1] + widths[i], widths[i], time_dim)
                                for i in reversed(range(levels)))
        self.out = nn.Sequential(nn.GroupNorm(_groups(base), base), nn.SiLU(),
                                 nn.Conv2d(base, channels, 3, padding=1))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        """``x`` of ``(B, C, H, W)``, ``t`` of ``(B,)`` in [0, 1]; ``cond`` class indices
        (``-1`` or ``None``: the null token)."""
        temb = self.temb(t)
        if self.label is not None:
            temb = temb + self.label(cond, x.shape[0])
        h = self.inp(x)
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, temb)
        for block in self.up:
            s = skips.pop()
            h = F.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = block(torch.cat((h, s), dim=1), temb)
        return self.out(h)
