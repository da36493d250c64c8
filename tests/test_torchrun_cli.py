"""`torchrun -m genmodels train` trains data-parallel on 2 CPU processes (gloo, 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from conftest import ROOT


def test_torchrun_two_processes(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "genmodels", "train", "--model", "realnvp", "--data", "moons", "--steps", "40",
           "--batch-size", "64", "--set", "layers=2", "data.n_train=2000",
           "train.checkpoint_every=20", "--out", str(run), "--no-progress"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert last["step"] == 40
    weights = load_file(str(run / "checkpoints" / last["dir"] / "model.safetensors"))
    assert weights and all(v.isfinite().all() for v in weights.values())
    # one process wrote: a single run directory, a single metrics stream
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]  # training records (not validation)
    assert len(steps) == len(set(steps)), "metrics written by more than one rank"
