"""Fit an autoregressive neural spline flow (``nsf``) to the checkerboard and report its test
NLL against the exact entropy; then sample.

    python examples/flows_spline.py --steps 2000
"""

from __future__ import annotations

import argparse
import os

import torch

from genmodels.config import DataConfig
from genmodels.core import Batch
from genmodels.data import load_dataset
from genmodels.registry import DataInfo, get_family, load_all


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=int(os.environ.get("STEPS", 500)))
    args = parser.parse_args()
    torch.manual_seed(0)
    load_all()
    data = load_dataset(DataConfig(name="checkerboard", n_train=20_000, n_test=5_000))
    family = get_family("nsf")
    model, objective = family.build(family.config(), DataInfo(data.event_shape))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    g = torch.Generator().manual_seed(1)
    model.train()
    for step in range(args.steps):
        idx = torch.randint(len(data.train), (512,), generator=g)
        loss = objective(model, Batch(data.train[idx])).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, args.steps // 5) == 0:
            print(f"step {step:5d}  nll {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        nll = -model.log_prob(data.test).mean().item()
    print(f"test NLL {nll:.4f} nats, entropy {data.entropy:.4f}, gap {nll - data.entropy:+.4f}")
    x, log_p = model.sample_and_log_prob(1000, generator=torch.Generator().manual_seed(2))
    print("samples", tuple(x.shape), "mean log p", log_p.mean().item())


if __name__ == "__main__":
    main()
