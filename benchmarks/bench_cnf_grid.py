"""A CNF trained on a coarse fixed grid, scored on that grid and by accurate solves.

Moons, width 32, 1 residual block, Heun × 4 in training, 400 steps, batch 128, lr 5e-3,
seed 0; the same weights scored on 1 000 test points by Heun × 4, RK4 × 8, RK4 × 32 and
adaptive dopri5 (rtol 1e-5). A gap between the first row and the others is the grid's error
that maximum likelihood has learnt to exploit (docs/families/cnf.md).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cnf_grid.py [steps]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

import genmodels as gm  # noqa: E402


def main(steps: int = 400) -> None:
    run = gm.fit(model={"name": "cnf", "width": 32, "blocks": 1, "solver": "heun", "steps": 4},
                 data={"name": "moons", "n_train": 4096, "n_test": 1000},
                 train={"steps": steps, "batch_size": 128, "lr": 5e-3, "seed": 0})
    test = run.dataset().test
    cnf = run.family_model
    rows = []
    for solver, n in (("heun", 4), ("rk4", 8), ("rk4", 32), ("dopri5", 0)):
        cnf.likelihood = (solver, max(n, 1), 1e-5)
        with torch.no_grad():
            nll = -run.log_prob(test).mean().item()
        rows.append([f"{solver} × {n}" if n else "dopri5 (rtol 1e-5)", f"{nll:.2f}",
                     cnf.last_nfe])
    write_table("cnf_grid", f"CNF trained on Heun × 4 ({steps} steps), scored by solvers",
                ["scored by", "test NLL (nats)", "NFE"], rows)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
