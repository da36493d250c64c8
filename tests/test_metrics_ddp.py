"""Metric.compute under torch.distributed: two gloo processes = one process on all the data."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from genmodels.metrics import MMD2, FrechetDistance, ImportanceSampling, MeanNLL

SCRIPT = r'''
import json, sys, datetime
import torch, torch.distributed as dist
from genmodels.metrics import MMD2, FrechetDistance, ImportanceSampling, MeanNLL
rank = int(sys.argv[1])
dist.init_process_group("gloo", rank=rank, world_size=2, init_method=sys.argv[2],
                        timeout=datetime.timedelta(seconds=60))
try:
    g = torch.Generator().manual_seed(0)
    lp, fx, fy, lw = (torch.randn(301, generator=g), torch.randn(200, 3, generator=g),
                      torch.randn(150, 3, generator=g) + 0.3, torch.randn(500, generator=g))
    cut = [(slice(0, 120), slice(0, 90), slice(0, 70), slice(0, 260)),
           (slice(120, None), slice(90, None), slice(70, None), slice(260, None))][rank]
    ms = [MeanNLL(), FrechetDistance(3), MMD2(3, bandwidth=1.0), ImportanceSampling()]
    ms[0].update(lp[cut[0]])
    ms[1].update(fx[cut[1]], real=True)
    ms[1].update(fy[cut[2]], real=False)
    ms[2].update(fx[cut[1]], fy[cut[2]])
    ms[3].update(lw[cut[3]])
    out = {}
    for m in ms:
        out.update(m.compute())
    out["local_count"] = float(ms[0].count)  # compute() leaves the local states alone
    with open(sys.argv[3], "w") as f:
        json.dump(out, f)
finally:
    dist.destroy_process_group()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_reduce_to_the_single_process_values(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")
    script = tmp_path / "shard.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               GLOO_SOCKET_IFNAME="lo")
    url = f"tcp://127.0.0.1:{_free_port()}"
    outs = [tmp_path / f"r{r}.json" for r in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), str(r), url, str(outs[r])],
                              env=env, stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
    results = [json.loads(o.read_text()) for o in outs]
    g = torch.Generator().manual_seed(0)
    lp, fx, fy, lw = (torch.randn(301, generator=g), torch.randn(200, 3, generator=g),
                      torch.randn(150, 3, generator=g) + 0.3, torch.randn(500, generator=g))
    ms = [MeanNLL(), FrechetDistance(3), MMD2(3, bandwidth=1.0), ImportanceSampling()]
    ms[0].update(lp)
    ms[1].update(fx, real=True)
    ms[1].update(fy, real=False)
    ms[2].update(fx, fy)
    ms[3].update(lw)
    expected: dict[str, float] = {}
    for m in ms:
        expected.update(m.compute())
    for r, res in enumerate(results):
        assert res["local_count"] == (120, 181)[r]
        for k, v in expected.items():
            assert res[k] == pytest.approx(v, rel=1e-9), (r, k)
