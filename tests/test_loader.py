"""The resumable batch sampler: permutations, resume, shards, memmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genmodels.core import Batch
from genmodels.data.loader import BatchLoader


def _rows(loader: BatchLoader, n: int) -> list[torch.Tensor]:
    return [next(loader).x[:, 0].long() for _ in range(n)]


def test_each_epoch_is_a_fresh_permutation_and_seeded() -> None:
    x = torch.arange(40, dtype=torch.float32)[:, None]
    loader = BatchLoader(x, 8, seed=3)
    assert len(loader) == 5
    e0 = torch.cat(_rows(loader, 5))
    e1 = torch.cat(_rows(loader, 5))
    assert sorted(e0.tolist()) == list(range(40))
    assert sorted(e1.tolist()) == list(range(40))
    assert not torch.equal(e0, e1)
    assert loader.state_dict() == {"epoch": 1, "position": 5, "seed": 3}
    again = torch.cat(_rows(BatchLoader(x, 8, seed=3), 5))
    other = torch.cat(_rows(BatchLoader(x, 8, seed=4), 5))
    assert torch.equal(e0, again)
    assert not torch.equal(e0, other)


def test_order_does_not_depend_on_global_rng() -> None:
    x = torch.arange(30, dtype=torch.float32)[:, None]
    torch.manual_seed(1)
    a = torch.cat(_rows(BatchLoader(x, 10, seed=0), 6))
    torch.manual_seed(2)
    b = torch.cat(_rows(BatchLoader(x, 10, seed=0), 6))
    assert torch.equal(a, b)


def test_resume_mid_epoch_regenerates_the_same_batches() -> None:
    x = torch.arange(50, dtype=torch.float32)[:, None]
    full = BatchLoader(x, 7, seed=11)
    expected = _rows(full, 20)
    first = BatchLoader(x, 7, seed=11)
    _rows(first, 9)
    state = dict(first.state_dict())
    resumed = BatchLoader(x, 7, seed=0)
    resumed.load_state_dict(state)
    got = _rows(resumed, 11)
    assert all(torch.equal(a, b) for a, b in zip(expected[9:], got))


def test_distributed_shards_are_disjoint_and_balanced() -> None:
    x = torch.arange(64, dtype=torch.float32)[:, None]
    r0 = BatchLoader(x, 8, seed=5, rank=0, world_size=2)
    r1 = BatchLoader(x, 8, seed=5, rank=1, world_size=2)
    assert len(r0) == len(r1) == 4
    a, b = torch.cat(_rows(r0, 4)), torch.cat(_rows(r1, 4))
    assert set(a.tolist()).isdisjoint(b.tolist())
    assert sorted(a.tolist() + b.tolist()) == list(range(64))
    perm = r0.permutation(0)
    assert torch.equal(a, perm[0::2]) and torch.equal(b, perm[1::2])


def test_uneven_shards_are_padded_to_equal_batch_counts() -> None:
    x = torch.arange(21, dtype=torch.float32)[:, None]
    loaders = [BatchLoader(x, 4, seed=0, rank=r, world_size=4) for r in range(4)]
    assert {len(lo) for lo in loaders} == {1}  # ceil(21 / 4) = 6 rows each: one batch of 4
    covered = set()
    for lo in loaders:
        covered |= set(lo._make_shard().tolist())
    assert covered == set(range(21))


def test_numpy_memmap_gives_the_same_batches_as_a_tensor(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).normal(size=(33, 3)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, arr)
    mm = np.load(path, mmap_mode="r")
    a = BatchLoader(mm, 5, seed=2)
    b = BatchLoader(torch.from_numpy(arr), 5, seed=2)
    for _ in range(9):
        ba, bb = next(a), next(b)
        assert isinstance(ba, Batch) and ba.x.dtype == torch.float32
        assert torch.equal(ba.x, bb.x)


def test_cond_and_labels_follow_the_rows_and_small_data_is_one_batch() -> None:
    x = torch.arange(6, dtype=torch.float32)[:, None]
    y = torch.arange(6) * 10
    cond = x * 2
    loader = BatchLoader(x, 100, seed=0, cond=cond, y=y)
    b = next(loader)
    assert len(b) == 6 and len(loader) == 1
    assert torch.equal(b.y, b.x[:, 0].long() * 10)
    assert torch.equal(b.cond, b.x * 2)


def test_one_path_for_dequantised_views_single_process_and_sharded(tmp_path: Path) -> None:
    """The same Prepared view (a memory map, dequantised per batch) through one loader and
    through two DistributedSampler-style shards: the shards are the single-process epoch's
    permutation split rank::2, and the per-batch noise differs between ranks."""
    from genmodels.data import Standardize
    from genmodels.data.loader import Rows
    from genmodels.data.preprocess import Prepared

    values = np.arange(64, dtype=np.float64) % 17  # column 0: the row number, 1: a level
    p = tmp_path / "x.npy"
    np.save(p, np.column_stack([np.arange(64), values]))
    mm = np.load(p, mmap_mode="r")
    view = Prepared(Rows(mm, np.arange(64)), Standardize.identity((2,)), levels=17)
    single = BatchLoader(view, 8, seed=5)
    r0 = BatchLoader(view, 8, seed=5, rank=0, world_size=2)
    r1 = BatchLoader(view, 8, seed=5, rank=1, world_size=2)
    a = torch.cat([next(r0).x for _ in range(4)])
    b = torch.cat([next(r1).x for _ in range(4)])
    perm = single.permutation(0)
    assert torch.equal(a[:, 0].floor().long(), perm[0::2])
    assert torch.equal(b[:, 0].floor().long(), perm[1::2])
    assert torch.equal(a[:, 1].floor(), torch.from_numpy(values[perm[0::2].numpy()]).float())
    frac_a, frac_b = a - a.floor(), b - b.floor()
    assert not torch.equal(frac_a, frac_b)
    assert ((frac_a > 0) & (frac_a < 1)).all()
    # a data point's dequantisation noise does not depend on the number of processes: one
    # loader with the global batch (16) draws exactly the rows and the noise of the two shards
    one = torch.cat([next(BatchLoader(view, 16, seed=5)).x])
    joined = torch.empty_like(one)
    joined[0::2], joined[1::2] = a[:8], b[:8]
    assert torch.equal(joined, one)
