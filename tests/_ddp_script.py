"""Run under torchrun by test_ddp.py: a two-phase objective that calls ``log_prob``.

Usage: python -m torch.distributed.run --standalone --nproc-per-node=2 _ddp_script.py OUT
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import DiagGaussian, TwoPhase, indexed_data  # noqa: E402
from genmodels.config import TrainConfig  # noqa: E402
from genmodels.train import RunStore, Trainer  # noqa: E402

CONFIG = dict(steps=6, batch_size=8, lr=1e-2, schedule="constant", checkpoint_every=3,
              log_every=1, ema_decay=0.9, accumulate=2, seed=0, device="cpu", threads=1)


def main(out: Path) -> None:
    rank = int(os.environ["RANK"])
    torch.manual_seed(100 + rank)  # different inits: DDP must broadcast rank 0's weights
    model = DiagGaussian(2)
    obj = TwoPhase()
    x = indexed_data(64)[:, :2]
    res = Trainer(TrainConfig(**CONFIG), store=RunStore(out)).fit(model, obj, x,
                                                                  val=x[:16])
    assert not torch.distributed.is_initialized()  # destroyed at the end of fit
    torch.save({"state": model.state_dict(), "steps": res.steps}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
