"""Run under torchrun by test_ddp_families.py: every (family, config) of ``CASES`` in turn.

Usage: python -m torch.distributed.run --standalone --nproc-per-node=2 _ddp_families.py OUT
Each ``genmodels.fit`` joins and leaves its own process group (as ``genmodels compare``
does); every rank saves its weights.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import genmodels as gm  # noqa: E402
from _ddp_cases import CASES, config  # noqa: E402


def main(out: Path) -> None:
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    for name, family, overrides, _ in CASES:
        run = gm.fit(config(family, batch=16 // world), overrides=overrides, out=out / name,
                     progress=False)
        torch.save(run.family_model.state_dict(), out / name / f"rank{rank}.pt")
        assert not torch.distributed.is_initialized()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
