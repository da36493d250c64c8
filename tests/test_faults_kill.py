"""SIGKILL at random points of training, inside checkpoint writes too, then resume.

Each trial trains one of four families (a flow, diffusion, a GAN, a VAE) through the CLI,
kills it with SIGKILL once or twice (at a random instant, or paused by the fault-injection
hook inside a checkpoint write), checks after every kill that the run directory holds a
complete, loadable checkpoint that never goes back, resumes to the end and compares the
final checkpoint bit for bit with an uninterrupted run. `make test` runs 3 seeded trials;
`make reliability` (the ``reliability`` marker) runs 24.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from _faults import (
    FAMILIES,
    assert_identical,
    env,
    final_state,
    kill_once,
    resume_args,
    train_args,
)

NAMES = list(FAMILIES)
DEFAULT_TRIALS = 3
ALL_TRIALS = 24

_REFERENCE: dict[str, dict[str, Any]] = {}


def _reference(family: str, tmp: Path) -> dict[str, Any]:
    """The uninterrupted run of ``family`` (trained once per session)."""
    if family not in _REFERENCE:
        out = tmp / f"reference-{family}"
        subprocess.run(train_args(family, out), env=env(), check=True, capture_output=True,
                       timeout=300)
        _REFERENCE[family] = final_state(out)
    return _REFERENCE[family]


def _trial(i: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    rng = random.Random(1000 + i)
    family = NAMES[i % len(NAMES)]
    ref = _reference(family, tmp_path_factory.getbasetemp())
    tmp = tmp_path_factory.mktemp(f"trial{i}")
    run = tmp / "run"
    kills = []
    for k in range(rng.choice([1, 2, 2])):
        kills.append(kill_once(rng, run, first=k == 0, family=family, tmp=tmp, tag=f"k{k}"))
        if not kills[-1]["killed"]:
            break
    p = subprocess.run(resume_args(run), env=env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, (kills, p.stderr)
    assert_identical(ref, final_state(run))
    assert any(k["killed"] for k in kills), f"no kill landed: {kills}"
    print(f"trial {i} ({family}): {kills}")


@pytest.mark.parametrize("i", range(DEFAULT_TRIALS))
def test_sigkill_then_resume_is_bit_identical(
        i: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    _trial(i, tmp_path_factory)


@pytest.mark.reliability
@pytest.mark.parametrize("i", range(DEFAULT_TRIALS, ALL_TRIALS))
def test_sigkill_then_resume_is_bit_identical_full(
        i: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    _trial(i, tmp_path_factory)
