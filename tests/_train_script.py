"""Trains a tiny model with checkpoints (for the kill -9 resume test).

Usage: python _train_script.py OUT SLEEP_SECONDS [--resume]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import MLE, DiagGaussian, data  # noqa: E402
from genmodels.config import TrainConfig  # noqa: E402
from genmodels.train import RunStore, Trainer  # noqa: E402

CONFIG = dict(steps=400, batch_size=32, lr=1e-2, checkpoint_every=10, ema_decay=0.95,
              val_every=50, warmup_steps=20, log_every=10, seed=7, device="cpu", threads=1)


def train(out: Path, sleep: float, resume: bool) -> torch.nn.Module:
    """Trains (or resumes) the run in ``out``; returns the model."""
    torch.manual_seed(0)
    model = DiagGaussian(2)
    Trainer(TrainConfig(**CONFIG), store=RunStore(out)).fit(
        model, MLE(noise=0.2, sleep=sleep), data(300), val=data(40, seed=5), resume=resume)
    return model


if __name__ == "__main__":
    train(Path(sys.argv[1]), float(sys.argv[2]), "--resume" in sys.argv)
