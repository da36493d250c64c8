"""Classifier-free guidance on the digits: accuracy of labelled samples against diversity.

Trains one class-conditional model (``vp-sde`` with the default U-Net, or a flow-matching
``cfm`` / ``ot-cfm`` with its default MLP; label dropout ``p_uncond = 0.1``) for a fixed number
of steps, then for each guidance weight ``w`` (``w = -1``: unconditional) draws class-balanced
samples (the same count of every digit) and reports

* ``acc``: the fraction the library's digits classifier (metrics/features.py) assigns to the
  requested label (chance 0.1);
* ``fd_digits`` / ``fd_digits_floor`` and ``label_entropy_digits``: the ``fd`` metric of
  ``genmodels evaluate`` on those samples (Fréchet distance of classifier features, samples
  vs test half A; floor: half B vs A).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_guidance.py [steps] [run_dir] [model]

An existing ``run_dir`` is reused (no training). ``vp-sde`` samples with dpm-solver++ at 20
NFE; a flow-matching model with its configured sampler (rk4, 40 NFE).
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

WEIGHTS = (-1.0, 0.0, 1.0, 2.0, 4.0)
N_ACC = 1000
#: (sampler, NFE) per model; others sample with their configured defaults
SAMPLING = {"vp-sde": ("dpm-solver++", 20)}


class Balanced(GenerativeModel):
    """A run's samples with labels ``0, 1, …, K-1`` repeated, at guidance ``w``."""

    def __init__(self, run: gm.Run, w: float) -> None:
        super().__init__()
        self.run, self.w = run, w
        self.event_shape = run.model.event_shape
        self.sampler, self.nfe = SAMPLING.get(run.config.model, (None, None))

    def labels(self, n: int) -> torch.Tensor:
        return torch.arange(n) % self.run.family_model.n_classes

    def sample(self, n: int, *, cond: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        return self.run.sample(n, generator=generator, label=self.labels(n), guidance=self.w,
                               sampler=self.sampler, nfe=self.nfe)


def main(steps: int = 2000, out: str = "runs/bench-guidance", name: str = "vp-sde") -> None:
    path = Path(out)
    if (path / "config.json").exists():
        run = gm.load(path)
    else:
        t0 = time.perf_counter()
        run = gm.fit(model={"name": name, "conditional": True, "p_uncond": 0.1},
                     data={"name": "digits"},
                     train={"steps": steps, "batch_size": 128, "lr": 2e-3, "seed": 0},
                     out=path, progress=False)
        print(f"trained {name} {steps} steps in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
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
