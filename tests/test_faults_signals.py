"""Ctrl-C (SIGINT) and SIGTERM during `genmodels train`: a checkpoint, a clean exit (130, 143),
and a resume that equals an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from _faults import env, final_state
from conftest import genmodels_cmd

STEPS = 1500
ARGS = ["--model", "realnvp", "--data", "moons", "--steps", str(STEPS), "--batch-size", "64",
        "--seed", "0", "--set", "layers=2", "hidden=[16, 16]", "train.checkpoint_every=400",
        "train.val_every=250", "train.ema_decay=0.99", "train.log_every=10",
        "data.n_train=2000", "train.threads=1"]


def _logged_step(run: Path) -> int:
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return 10 * sum(1 for line in lines if '"loss"' in line)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("signals") / "reference"
    subprocess.run([*genmodels_cmd(), "train", *ARGS, "--out", str(out)], env=env(),
                   check=True, capture_output=True, timeout=300)
    return final_state(out)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_a_checkpoint_exits_cleanly_and_resumes_exactly(
        sig: signal.Signals, code: int, reference: dict, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen([*genmodels_cmd(), "train", *ARGS, "--out", str(run)], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _logged_step(run) < 450 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "training ended before the signal"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    name = sig.name
    assert f"interrupted by {name} at step" in lines[0] and "--resume" in lines[0], lines[0]
    step = int(lines[0].split(" at step ")[1].split(";")[0])
    assert 450 <= step < STEPS
    saved = final_state(run)
    assert saved["step"] == step, "the checkpoint is not the step reached"

    p = subprocess.run([*genmodels_cmd(), "train", "--resume", str(run)], env=env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    b = final_state(run)
    assert b["step"] == reference["step"] == STEPS
    for part in ("weights", "ema", "opt"):
        for k in reference[part]:
            assert (reference[part][k] == b[part][k]).all(), f"{part} {k} differs"
