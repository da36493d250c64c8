"""Classifier-free guidance on the 8×8 digits: a class-conditional vp-sde, sampled per label
at guidance weights w = 0 (conditional) and w = 2 (diffusers' scale s = 1 + w = 3); prints the
digits classifier's accuracy on the labelled samples.

    python examples/guidance_digits.py --steps 300
"""

from __future__ import annotations

import argparse

import torch

import genmodels as gm
from genmodels.metrics.features import label_accuracy


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    run = gm.fit(model={"name": "vp-sde", "conditional": True, "p_uncond": 0.1,
                        "network": "mlp"},
                 data={"name": "digits"},
                 train={"steps": args.steps, "batch_size": 128, "lr": 2e-3, "seed": 0},
                 progress=False)
    test = run.dataset().test
    lo, hi = float(test.min()), float(test.max())
    labels = torch.arange(100) % 10
    for w in (0.0, 2.0):
        x = run.sample(100, seed=1, label=labels, guidance=w, nfe=20)
        print(f"w = {w:g}: classifier accuracy {label_accuracy(x, labels, lo, hi):.2f}")


if __name__ == "__main__":
    main()
