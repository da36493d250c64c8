"""Fixed permutations of the coordinates (volume preserving: log-det 0)."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Bijection


class Permutation(Bijection):
    r"""A fixed permutation :math:`z_i = x_{\pi(i)}`, with :math:`\log|\det J| = 0`.

    The permutation is structure, not state: it is rebuilt from its definition (reverse, or
    a seed) and kept out of the ``state_dict``.

    Args:
        perm: a permutation of ``range(d)``, shape ``(d,)``.
    """

    def __init__(self, perm: Tensor) -> None:
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(perm.sort().values, torch.arange(len(perm))):
            raise ValueError(f"not a permutation of range({len(perm)}): {perm.tolist()}")
        self.register_buffer("perm", perm, persistent=False)
        self.register_buffer("inverse_perm", torch.argsort(perm), persistent=False)

    @classmethod
    def reverse(cls, features: int) -> Permutation:
        """The reversal :math:`z_i = x_{d-1-i}`."""
        return cls(torch.arange(features - 1, -1, -1))

    @classmethod
    def random(cls, features: int, seed: int = 0) -> Permutation:
        """A uniformly random permutation, drawn from its own generator seeded with ``seed``."""
        return cls(torch.randperm(features, generator=torch.Generator().manual_seed(seed)))

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z[:, self.inverse_perm], z.new_zeros(z.shape[0])
