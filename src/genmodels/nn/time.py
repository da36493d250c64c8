"""Time embeddings and a time-conditioned residual MLP (for points and tables)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .mlp import make_activation


class SinusoidalEmbedding(nn.Module):
    r"""Fixed Fourier features of a scalar time :math:`t \in [0, 1]`.

    .. math:: e(t) = [\sin(\omega_k t), \cos(\omega_k t)]_{k<K}, \quad
        \omega_k = \omega_{\min}(\omega_{\max}/\omega_{\min})^{k/(K-1)}

    (Vaswani et al. 2017; Ho et al. 2020 with :math:`t` rescaled to [0, 1000]).

    Args:
        dim: the embedding size (even).
        max_freq: :math:`\omega_{\max}`; :math:`\omega_{\min} = 1`.
    """

    def __init__(self, dim: int = 64, max_freq: float = 1000.0) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"time embedding: dim {dim} must be an even number >= 2")
        k = torch.arange(dim // 2, dtype=torch.float32)
        freqs = torch.exp(k / max(dim // 2 - 1, 1) * math.log(max_freq))
        self.register_buffer("freqs", freqs, persistent=False)
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        """``t`` of ``(B,)`` to ``(B, dim)``."""
        a = t.to(self.freqs.dtype).reshape(-1, 1) * self.freqs
        return torch.cat((a.sin(), a.cos()), dim=-1)


class TimeEmbedding(nn.Module):
    """Sinusoidal features followed by a two-layer MLP: ``(B,)`` to ``(B, out)``."""

    def __init__(self, out: int, dim: int = 64, activation: str = "silu") -> None:
        super().__init__()
        self.features = SinusoidalEmbedding(dim)
        self.net = nn.Sequential(nn.Linear(dim, out), make_activation(activation),
                                 nn.Linear(out, out))

    def forward(self, t: Tensor) -> Tensor:
        return self.net(self.features(t))


class LabelEmbedding(nn.Module):
    """A learnt embedding of ``n_classes`` labels plus a null token: ``(B,)`` to ``(B, dim)``.

    Negative labels (the null label ``-1`` of classifier-free guidance, Ho & Salimans 2022)
    and ``labels=None`` map to the null row ``n_classes``, so one network is conditional and
    unconditional at once. It is added to the time embedding.

    Args:
        n_classes: the number of classes ``K`` (rows ``0..K-1``; row ``K`` is the null token).
        dim: the embedding size.
    """

    def __init__(self, n_classes: int, dim: int) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"label embedding: n_classes {n_classes} must be >= 1")
        self.n_classes = n_classes
        self.table = nn.Embedding(n_classes + 1, dim)

    def forward(self, labels: Tensor | None, batch: int) -> Tensor:
        """The embeddings of ``labels`` (``(batch,)`` integers, or ``None``: all null)."""
        if labels is None:
            idx = torch.full((batch,), self.n_classes, device=self.table.weight.device)
        else:
            idx = labels.reshape(-1).long()
            if idx.numel() != batch:
                raise ValueError(f"{idx.numel()} labels for a batch of {batch}")
            if (idx >= self.n_classes).any():
                raise ValueError(f"label {int(idx.max())} >= n_classes {self.n_classes}")
            idx = torch.where(idx < 0, torch.full_like(idx, self.n_classes), idx)
        return self.table(idx)


class _Block(nn.Module):
    def __init__(self, width: int, activation: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.act = make_activation(activation)
        self.fc2 = nn.Linear(width, width)
        self.time = nn.Linear(width, width)

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        u = self.act(self.fc1(self.norm(h)) + self.time(temb))
        return h + self.fc2(self.act(u))


class TimeMLP(nn.Module):
    r"""A residual MLP :math:`F(x, t, c)` for vectors: each block adds
    :math:`W_2\sigma(W_1 \mathrm{LN}(h) + U e(t, y))` to :math:`h`, with
    :math:`e(t, y) = e(t) + E[y]` when class-conditional (:class:`LabelEmbedding`).

    Args:
        features: the input and output dimension ``d``.
        width: the hidden width.
        blocks: the number of residual blocks.
        activation: the activation name.
        time_dim: the size of the sinusoidal time features.
        context: the size of an optional condition vector, concatenated to the input.
        n_classes: class conditioning instead: ``cond`` holds integer labels (``-1``: none).
    """

    def __init__(self, features: int, width: int = 128, blocks: int = 3,
                 activation: str = "silu", time_dim: int = 64, context: int = 0,
                 n_classes: int = 0) -> None:
        super().__init__()
        if context and n_classes:
            raise ValueError("TimeMLP: a context vector or class labels, not both")
        self.features, self.context = features, context
        self.label = LabelEmbedding(n_classes, width) if n_classes else None
        self.inp = nn.Linear(features + context, width)
        self.temb = TimeEmbedding(width, time_dim, activation)
        self.blocks = nn.ModuleList(_Block(width, activation) for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), make_activation(activation),
                                 nn.Linear(width, features))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        """``x`` of ``(B, d)``, ``t`` of ``(B,)`` in [0, 1], ``cond`` of ``(B, context)`` (or
        ``(B,)`` labels when class-conditional)."""
        if self.context:
            if cond is None:
                raise ValueError(f"this network needs a context of {self.context} features")
            x = torch.cat((x, cond), dim=-1)
        h = self.inp(x)
        temb = self.temb(t)
        if self.label is not None:
            temb = temb + self.label(cond, x.shape[0])
        for b in self.blocks:
            h = b(h, temb)
        return self.out(h)
