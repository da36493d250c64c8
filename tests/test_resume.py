"""Resume after `kill -9` is bit-identical; hostile checkpoints are refused, code never runs."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import ROOT, genmodels_cmd

TRAIN = ["--model", "realnvp", "--data", "checkerboard", "--steps", "1500", "--seed", "0",
         "--batch-size", "64", "--set", "layers=2", "hidden=[32, 32]", "train.ema_decay=0.99",
         "train.checkpoint_every=25", "train.val_every=250", "data.n_train=5000"]


@pytest.fixture
def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")


def _last_weights(run: Path) -> dict:
    ckpts = run / "checkpoints"
    last = json.loads((ckpts / "last.json").read_text())
    weights = load_file(str(ckpts / last["dir"] / "model.safetensors"))
    ema = ckpts / last["dir"] / "ema.safetensors"
    return {"step": last["step"], "weights": weights,
            "ema": load_file(str(ema)) if ema.exists() else None}


def test_kill_9_then_resume_is_bit_identical(tmp_path: Path, env: dict[str, str]) -> None:
    full = tmp_path / "full"
    subprocess.run([*genmodels_cmd(), "train", *TRAIN, "--out", str(full)], env=env, check=True,
                   capture_output=True, timeout=300)

    cut = tmp_path / "cut"
    proc = subprocess.Popen([*genmodels_cmd(), "train", *TRAIN, "--out", str(cut)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = cut / "checkpoints" / "last.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(pointer.read_text())["step"] >= 400:
                break
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the training process ended before the kill"
    killed_at = json.loads(pointer.read_text())["step"]
    assert 400 <= killed_at < 1500, killed_at

    subprocess.run([*genmodels_cmd(), "train", "--resume", str(cut)], env=env, check=True,
                   capture_output=True, timeout=300)
    a, b = _last_weights(full), _last_weights(cut)
    assert a["step"] == b["step"] == 1500
    assert a["weights"].keys() == b["weights"].keys()
    for k in a["weights"]:
        assert (a["weights"][k] == b["weights"][k]).all(), f"{k} differs after resume"
    assert a["ema"] is not None and b["ema"] is not None
    for k in a["ema"]:
        assert (a["ema"][k] == b["ema"][k]).all(), f"EMA {k} differs after resume"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_hostile_checkpoint_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    run = tmp_path / "run"
    args = [a if a != "1500" else "60" for a in TRAIN]
    subprocess.run([*genmodels_cmd(), "train", *args, "--out", str(run)], env=env, check=True,
                   capture_output=True, timeout=300)
    ckpts = run / "checkpoints"
    last = ckpts / json.loads((ckpts / "last.json").read_text())["dir"]
    marker = tmp_path / "pwned"

    (last / "state.pt").write_bytes(pickle.dumps({"step": _Evil(marker)}))
    p = subprocess.run([*genmodels_cmd(), "train", "--resume", str(run)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "state.pt" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not marker.exists(), "unpickling the checkpoint ran code"

    good = (last / "model.safetensors").read_bytes()
    (last / "model.safetensors").write_bytes(pickle.dumps(_Evil(marker)))
    p = subprocess.run([*genmodels_cmd(), "sample", str(run), "--n", "3", "--out",
                        str(tmp_path / "s.npy")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2, p.stderr
    assert "model.safetensors" in p.stderr and not marker.exists()
    assert not (tmp_path / "s.npy").exists()

    (last / "model.safetensors").write_bytes(good[: len(good) // 2])
    p = subprocess.run([*genmodels_cmd(), "sample", str(run), "--n", "3", "--out",
                        str(tmp_path / "s.npy")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "model.safetensors" in p.stderr, p.stderr
