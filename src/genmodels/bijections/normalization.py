"""Activation normalisation with data-dependent initialisation (Glow)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .base import Bijection


class ActNorm(Bijection):
    r"""A per-coordinate affine map initialised from the first training batch.

    .. math:: z_i = (x_i - m_i)\, e^{-s_i}, \qquad \log|\det J| = -\sum_i s_i

    On the first forward call in training mode, :math:`m` and :math:`s` are set to the batch
    mean and log standard deviation, so that :math:`z` has zero mean and unit variance on that
    batch; afterwards they are ordinary parameters. The ``initialized`` flag is a buffer, so
    a loaded model is never re-initialised. Sampling (the inverse) never initialises.

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018),
        https://arxiv.org/abs/1807.03039

    With ``channels`` set, the input is a flattened image ``(B, C·P)`` (channel-major, ``P``
    pixels) and there is one :math:`(m_c, s_c)` per channel, shared by its pixels (Glow's
    per-channel ActNorm): :math:`\log|\det J| = -P \sum_c s_c`.

    Args:
        features: the dimension :math:`d`.
        eps: the smallest standard deviation used at initialisation.
        channels: the number of channels :math:`C` of an image input (``None``: vectors).
    """

    def __init__(self, features: int, eps: float = 1e-6, channels: int | None = None) -> None:
        super().__init__()
        if channels is not None and (channels < 1 or features % channels):
            raise ValueError(f"{features} features do not split into {channels} channels")
        self.eps = eps
        self.channels = channels
        self.pixels = 1 if channels is None else features // channels
        n = features if channels is None else channels
        self.loc = nn.Parameter(torch.zeros(n))
        self.log_scale = nn.Parameter(torch.zeros(n))
        self.register_buffer("initialized", torch.tensor(False))
        self._checked = False  # Python-side cache of `initialized` (no device sync per step)

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        self._checked = True
        if bool(self.initialized):
            return
        if self.channels is not None:
            x = x.reshape(x.shape[0], self.channels, self.pixels).transpose(1, 2)
            x = x.reshape(-1, self.channels)
        mean, std = _batch_moments(x)
        self.loc.copy_(mean)
        self.log_scale.copy_(std.clamp_min(self.eps).log())
        self.initialized.fill_(True)

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not self._checked:
            self._initialize(x)
        loc, log_scale = self._expanded()
        z = (x - loc) * torch.exp(-log_scale)
        return z, (-self.pixels * self.log_scale.sum()).expand(x.shape[0])

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        loc, log_scale = self._expanded()
        x = torch.addcmul(loc, z, log_scale.exp())
        return x, (self.pixels * self.log_scale.sum()).expand(z.shape[0])

    def _expanded(self) -> tuple[Tensor, Tensor]:
        if self.channels is None:
            return self.loc, self.log_scale
        return (self.loc.repeat_interleave(self.pixels),
                self.log_scale.repeat_interleave(self.pixels))

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._checked = False  # re-read the loaded flag on the next training forward


def _batch_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation over the batch, pooled over all processes under DDP.

    Pooling keeps the processes' initialisations identical (each sees its own shard).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        if x.shape[0] < 2:
            return x.mean(0), torch.ones_like(x[0])
        return x.mean(0), x.std(0, unbiased=False)
    count = torch.tensor([float(x.shape[0])], device=x.device, dtype=x.dtype)
    total = torch.cat((x.sum(0), count))
    dist.all_reduce(total)
    mean = total[:-1] / total[-1]
    sq = (x - mean).square().sum(0)
    dist.all_reduce(sq)
    return mean, (sq / total[-1]).sqrt()
