"""DDP on CPU: two gloo processes under torchrun equal one process on the joined batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _models import DiagGaussian, TwoPhase, indexed_data
from genmodels.core import Batch
from genmodels.data.loader import BatchLoader
from genmodels.train import RunStore

HERE = Path(__file__).resolve().parent


def _reference(steps: int, lr: float) -> dict[str, torch.Tensor]:
    """One process, plain PyTorch: each phase step on the rows of both ranks' two
    accumulated micro-batches, joined."""
    torch.manual_seed(100)
    model = DiagGaussian(2)
    obj = TwoPhase()
    x = indexed_data(64)[:, :2]
    loaders = [BatchLoader(x, 8, seed=0, rank=r, world_size=2) for r in range(2)]
    opts = {p.name: torch.optim.Adam(list(obj.parameters(model, p.name)), lr=lr * p.lr_scale)
            for p in obj.phases}
    for _ in range(steps):
        for phase in obj.phases:
            for _ in range(phase.steps):
                idx = torch.cat([lo.next_index() for lo in loaders for _ in range(2)])
                opts[phase.name].zero_grad()
                obj(model, Batch(x[idx]), phase.name).loss.backward()
                opts[phase.name].step()
    return model.state_dict()


@pytest.mark.timeout(120)
def test_two_processes_match_one_on_joined_batches(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1",
               GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"),
               PYTHONPATH=str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           str(HERE / "_ddp_script.py"), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]

    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    assert r0["steps"] == r1["steps"] == 6
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), f"ranks differ in {k}"
    ref = _reference(6, 1e-2)
    for k, v in ref.items():
        torch.testing.assert_close(r0["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)

    ck = out / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["best.json", "last.json", "step-00000006"]
    store = RunStore(out)
    w, _ = store.load_model_weights("last", ema=False)
    assert all(torch.equal(w[k], r0["state"][k]) for k in w)
    steps = [r["step"] for r in store.read_metrics() if "mean_loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # rank 0 alone writes metrics
    assert json.loads((ck / "last.json").read_text())["step"] == 6
