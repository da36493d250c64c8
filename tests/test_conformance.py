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
def test_family_cli_smoke(name: str, tmp_path, cli_env) -> None:
    import subprocess

    from conftest import genmodels_cmd

    run = tmp_path / "run"
    cmd = genmodels_cmd()
    subprocess.run([*cmd, "train", "--model", name, "--data", "moons", "--steps", "20",
                    "--batch-size", "32", "--set", "data.n_train=512", "--out", str(run)],
                   env=cli_env, check=True, capture_output=True, timeout=300)
    subprocess.run([*cmd, "sample", str(run), "--n", "10", "--out", str(tmp_path / "s.npy")],
                   env=cli_env, check=True, capture_output=True, timeout=300)
