"""Few-step diffusion sampling: W2 / floor for every sampler x time grid at NFE 5, 10, 20.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_fewstep.py [--runs DIR] [--steps 20000]

1. Trains ``vp-sde`` (default config, batch 512, lr 2e-3, EMA 0.999, 20 000 steps, seed 0;
   the setting of ``bench_diffusion.py``) once per toy (8gaussians, moons, checkerboard) and
   keeps the run under ``--runs`` (default ``/work/wt/fewstep-runs``); a later call reuses it.
2. For each toy: the W2 floor (5 000 training points against 5 000 test points, the first
   chunk, as ``bench_diffusion.py``) and the reference, ``em`` at 1 000 steps and ``dopri5``
   at tolerance 1e-5 (the model's own error floor: what no sampler of this network can beat
   by more than noise).
3. The table: W2 / floor for every deterministic few-step sampler x grid at NFE 5 / 10 / 20,
   mean over ``--seeds`` sampling seeds (5 000 samples each against the same test points).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genmodels as gm

TOYS = ("8gaussians", "moons", "checkerboard")
RUNS = Path("/work/wt/fewstep-runs")


def trained(name: str, runs: Path, steps: int) -> gm.Run:
    """The run of ``name`` under ``runs``, trained first if it is not there."""
    out = runs / name
    if (out / "config.json").is_file():
        return gm.load(out, which="last")
    t = time.perf_counter()
    gm.fit(model={"name": "vp-sde"}, data={"name": name},
           train={"steps": steps, "batch_size": 512, "lr": 2e-3, "ema_decay": 0.999, "seed": 0},
           out=out, progress=False)
    (out / "train_wall.json").write_text(json.dumps({"seconds": time.perf_counter() - t}))
    return gm.load(out, which="last")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--train-only", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    for name in TOYS:
        trained(name, a.runs, a.steps)
    if a.train_only:
        return


if __name__ == "__main__":
    main()
