"""Classifier-free guidance on the digits: accuracy of labelled samples against diversity.

Trains one class-conditional ``vp-sde`` (the default U-Net, label dropout
``p_uncond = 0.1``) for a fixed number of steps, then for each guidance weight ``w`` draws
class-balanced samples (the same count of every digit) and reports

* ``acc``: the fraction the library's digits classifier (metrics/features.py) assigns to the
  requested label (chance 0.1);
* ``fd_digits`` / ``fd_digits_floor`` and ``label_entropy_digits``: the ``fd`` metric of
  ``genmodels evaluate`` on those samples (Fréchet distance of classifier features, samples
  vs test half A; floor: half B vs A).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_guidance.py [steps] [run_dir]

An existing ``run_dir`` is reused (no training).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

import genmodels as gm
from genmodels.core import GenerativeModel
from genmodels.metrics import evaluate
from genmodels.metrics.features import label_accuracy

WEIGHTS = (0.0, 1.0, 2.0, 4.0)
SAMPLER, NFE, N_ACC = "dpm-solver++", 20, 1000


class Balanced(GenerativeModel):
    """A run's samples with labels ``0, 1, …, K-1`` repeated, at guidance ``w``."""

    def __init__(self, run: gm.Run, w: float) -> None:
        super().__init__()
        self.run, self.w = run, w
        self.event_shape = run.model.event_shape

    def labels(self, n: int) -> torch.Tensor:
        return torch.arange(n) % self.run.family_model.n_classes

    def sample(self, n: int, *, cond: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        return self.run.sample(n, generator=generator, label=self.labels(n), guidance=self.w,
                               sampler=SAMPLER, nfe=NFE)


def main(steps: int = 2000, out: str = "runs/bench-guidance") -> None:
    path = Path(out)
    if (path / "config.json").exists():
        run = gm.load(path)
    else:
        t0 = time.perf_counter()
        run = gm.fit(model={"name": "vp-sde", "conditional": True, "p_uncond": 0.1},
                     data={"name": "digits"},
                     train={"steps": steps, "batch_size": 128, "lr": 2e-3, "seed": 0},
                     out=path, progress=False)
        print(f"trained {steps} steps in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    data = run.dataset()
    lo, hi = float(data.test.min()), float(data.test.max())
    rows = []
    for w in WEIGHTS:
        model = Balanced(run, w)
        x = model.sample(N_ACC, generator=torch.Generator().manual_seed(1))
        acc = label_accuracy(x, model.labels(N_ACC), lo, hi)
        ev = evaluate(model, data.test, metrics=["fd"], generator=torch.Generator().manual_seed(0),
                      levels=data.levels, dataset=data.name)
        rows.append({"w": w, "acc": acc, **{k: ev[k] for k in (
            "fd_digits", "fd_digits_floor", "label_entropy_digits", "n_eval")}})
        print(json.dumps(rows[-1]), flush=True)
    print("| w | s = 1 + w | accuracy | fd_digits (floor) | label entropy |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['w']:g} | {1 + r['w']:g} | {r['acc']:.3f} | {r['fd_digits']:.3f} "
              f"({r['fd_digits_floor']:.3f}) | {r['label_entropy_digits']:.3f} |")


if __name__ == "__main__":
    main(*(int(a) if i == 0 else a for i, a in enumerate(sys.argv[1:])))
