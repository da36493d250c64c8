"""Every family under DDP: one torchrun launch (2 gloo processes on 127.0.0.1) trains each
case of ``_ddp_cases.CASES`` in turn through ``genmodels.fit``.

Asserted for every case: the run finishes (no unused-parameter error in any phase), both ranks
end with bit-identical weights, rank 0 alone wrote the run (one metrics stream, a checkpoint).
For the ``exact`` cases (every family but the MMD-GAN and ActNorm, see ``_ddp_cases``): two
processes with 8 points each equal one process with the same global batch of 16 within
``rtol=1e-4, atol=1e-5`` (float32 sums in another order).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genmodels as gm
from _ddp_cases import CASES, config
from conftest import ROOT

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp_families")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(HERE / "_ddp_families.py"), str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=out)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name, family, overrides, exact", CASES, ids=[c[0] for c in CASES])
def test_two_processes_train_every_family(ddp_runs: Path, name: str, family: str,
                                          overrides: list[str], exact: bool) -> None:
    run = ddp_runs / name
    r0 = torch.load(run / "rank0.pt", weights_only=True)
    r1 = torch.load(run / "rank1.pt", weights_only=True)
    for k, v in r0.items():
        assert torch.equal(v, r1[k]), f"{name}: ranks differ in {k}"
        assert v.isfinite().all() if v.is_floating_point() else True
    assert json.loads((run / "checkpoints" / "last.json").read_text())["step"] == 4
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "val_loss" not in line]
    assert steps == [1, 2, 3, 4], "metrics written by more than one rank"
    if exact:
        one = gm.fit(config(family, batch=16), overrides=overrides, progress=False)
        for k, v in one.family_model.state_dict().items():
            torch.testing.assert_close(r0[k], v, rtol=1e-4, atol=1e-5, msg=f"{name}: {k}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["realnvp", "vp-sde", "wgan-gp"])
def test_resume_on_another_world_size_continues_exactly(ddp_runs: Path, tmp_path: Path,
                                                        name: str) -> None:
    """A 2-process run (4 steps, 8 points each) resumed in 1 process with the same global
    batch (16) for 2 more steps equals a 1-process run of 6 steps: weights, Adam moments and
    the data order carry over (the loader's position, in batches per rank, is the same global
    position when the global batch is unchanged), and so does the noise of the stochastic
    objectives (keyed by step, drawn per data point)."""
    import shutil

    _, family, overrides, _ = next(c for c in CASES if c[0] == name)
    run = tmp_path / name
    shutil.copytree(ddp_runs / name, run)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["batch_size"] == 8
    cfg["train"].update(steps=6, batch_size=16)
    (run / "config.json").write_text(json.dumps(cfg))
    resumed = gm.fit(out=run, resume=True, progress=False)
    assert resumed.fit_result.resumed_from == 4 and resumed.fit_result.steps == 6
    c = config(family, batch=16)
    c["train"]["steps"] = 6
    straight = gm.fit(c, overrides=overrides, progress=False)
    for k, v in straight.family_model.state_dict().items():
        torch.testing.assert_close(resumed.family_model.state_dict()[k], v, rtol=1e-4,
                                   atol=1e-5, msg=k)


@pytest.mark.timeout(200)
def test_compare_under_torchrun_writes_one_report(tmp_path: Path) -> None:
    """``torchrun … -m genmodels compare`` trains each model data-parallel in turn (a fresh
    process group per fit) and rank 0 alone writes the results and prints the report line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "genmodels", "compare", "--data", "moons", "--models", "realnvp,ns-gan",
           "--steps", "10", "--set", "train.batch_size=32", "data.n_train=400",
           "data.n_test=300", "realnvp:layers=2", "--out", str(tmp_path / "cmp")]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=190, cwd=tmp_path)
    # every rank's own lines (the launcher's traceback after them is long and generic)
    assert p.returncode == 0, "\n".join(ln for ln in p.stderr.splitlines()
                                         if "genmodels" in ln or "Error" in ln)[-3000:]
    assert p.stdout.count("report: ") == 1
    rows = json.loads((tmp_path / "cmp" / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["realnvp", "ns-gan"]
    assert all(r["steps"] == 10 for r in rows)
