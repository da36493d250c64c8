"""Shared test set-up: deterministic, single-threaded-enough, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment for CLI subprocesses: the package importable, quiet, small thread use."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def genmodels_cmd() -> list[str]:
    """The CLI as a subprocess command (the same interpreter as the tests)."""
    return [sys.executable, "-m", "genmodels"]
