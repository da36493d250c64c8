"""Batch-sharded noise: ranks' draws interleave into the one-process draw."""

from __future__ import annotations

import torch

from genmodels.core import noise


def _draws(rank: int, world: int, n: int) -> tuple[torch.Tensor, ...]:
    with noise.sharded_noise(noise.shard_key(7, 3, 0, 0), rank, world):
        return (noise.randn((n, 2)), noise.rand((n,)), noise.randint(0, 2, (4, n, 3), batch_dim=1),
                noise.randn_like(torch.zeros(n, 5, dtype=torch.float64)))


def test_ranks_interleave_into_the_one_process_draw() -> None:
    one = _draws(0, 1, 8)
    parts = [_draws(r, 2, 4) for r in range(2)]
    for i, full in enumerate(one):
        dim = 1 if i == 2 else 0
        joined = torch.empty_like(full)
        for r in range(2):
            joined.index_copy_(dim, torch.arange(r, 8, 2), parts[r][i])
        assert torch.equal(joined, full)
    assert one[3].dtype == torch.float64


def test_keys_separate_draws_and_outside_the_context_is_the_global_rng() -> None:
    a, b = _draws(0, 1, 8)[0], _draws(0, 1, 8)[0]
    assert torch.equal(a, b)
    with noise.sharded_noise(noise.shard_key(7, 4, 0, 0)):
        c = noise.randn((8, 2))
    assert not torch.equal(a, c)
    torch.manual_seed(0)
    d = noise.randn((3,))
    torch.manual_seed(0)
    assert torch.equal(d, torch.randn(3))
    g = torch.Generator().manual_seed(1)
    with noise.sharded_noise(1, 0, 2):  # an explicit generator is not sharded
        e = noise.randn((4,), generator=g)
    assert torch.equal(e, torch.randn(4, generator=torch.Generator().manual_seed(1)))
