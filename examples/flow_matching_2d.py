"""Flow matching on a 2-D toy: I-CFM against OT-CFM, sampling with few Euler steps.

Run: python examples/flow_matching_2d.py [--steps N]
"""

from __future__ import annotations

import argparse

import torch

import genmodels as gm
from genmodels.divergences import wasserstein2
from genmodels.report.diagnostics import path_straightness


def main(steps: int) -> None:
    for name in ("cfm", "ot-cfm"):
        run = gm.fit({"model": {"name": name, "width": 64, "blocks": 2},
                      "data": {"name": "8gaussians", "n_train": 4000, "n_test": 1000},
                      "train": {"steps": steps, "batch_size": 256, "lr": 3e-3}},
                     progress=False)
        test = run.dataset().test.float()
        for nfe in (2, 10):
            x = run.sample(1000, seed=0, sampler="euler", nfe=nfe)
            print(f"{name}: W2 with {nfe} Euler steps = {float(wasserstein2(x, test)):.3f}")
        states = run.family_model.trajectory(300, generator=torch.Generator().manual_seed(0))
        print(f"{name}: normalised path energy {path_straightness(states):.3f} (1 = straight)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    main(ap.parse_args().steps)
