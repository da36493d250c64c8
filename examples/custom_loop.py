"""The parts without the high-level API: a flow, its objective and the Trainer.

Model, objective and optimisation are three separate objects; swapping the first two is
the only change needed to train another family. Run: ``python examples/custom_loop.py``.
"""

from __future__ import annotations

import argparse

import torch

from genmodels.config import TrainConfig
from genmodels.data.toy import sample
from genmodels.registry import DataInfo, get_family
from genmodels.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=1500)
    args = p.parse_args()

    g = torch.Generator().manual_seed(0)
    train = sample("moons", 20_000, generator=g)
    test = sample("moons", 5_000, generator=g)

    family = get_family("realnvp")
    model, objective = family.build(family.config(layers=6, hidden=(64, 64)), DataInfo((2,)))
    config = TrainConfig(steps=args.steps, batch_size=256, lr=2e-3, ema_decay=0.999)
    result = Trainer(config, progress=True).fit(model, objective, train)

    model.eval()
    with torch.no_grad():
        nll = -model.log_prob(test).mean()
    print(f"{result.steps} steps in {result.wall_time:.1f}s: test NLL {nll:.3f} nats")


if __name__ == "__main__":
    main()
