"""Every registered family passes the shared conformance checks (new families get them free)."""

from __future__ import annotations

import pytest
import torch

from genmodels.registry import FAMILIES, DataInfo, load_all
from genmodels.testing import conformance as c

load_all()
NAMES = sorted(FAMILIES)


def _points(n: int = 256) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 2, generator=g) * torch.tensor([1.0, 0.5]) + torch.tensor([0.5, -1.0])


@pytest.mark.parametrize("name", NAMES)
def test_family_conformance(name: str) -> None:
    family = FAMILIES[name]
    info = DataInfo((2,))
    x = _points()
    model, objective = c.build(family, info)
    c.check_sample(model)
    c.check_log_prob(model, x)
    c.check_objective(model, objective, x[:64])
    c.check_save_load(family, info, model, x[:16])
    c.check_fit(model, objective, x)


@pytest.mark.parametrize("name", NAMES)
def test_family_seeded_build_is_deterministic(name: str) -> None:
    family = FAMILIES[name]
    a, _ = c.build(family, DataInfo((2,)), seed=5)
    b, _ = c.build(family, DataInfo((2,)), seed=5)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka


@pytest.mark.parametrize("name", NAMES)
def test_family_cli_smoke(name: str, tmp_path) -> None:
    """``train`` then ``sample`` through the CLI entry point, in this process (the subprocess
    path, exit codes and messages are covered once in ``tests/test_cli.py``)."""
    import numpy as np

    from genmodels.cli import main

    run, out = tmp_path / "run", tmp_path / "s.npy"
    assert main(["train", "--model", name, "--data", "moons", "--steps", "20", "--batch-size",
                 "32", "--set", "data.n_train=512", "--out", str(run), "--no-progress"]) == 0
    assert main(["sample", str(run), "--n", "10", "--seed", "1", "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (10, 2) and np.isfinite(x).all()
