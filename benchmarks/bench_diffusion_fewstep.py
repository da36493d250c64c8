"""Few-step diffusion sampling: W2 / floor for every sampler x time grid at NFE 5, 10, 20.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_fewstep.py [--runs DIR] [--steps 20000]

1. Trains ``vp-sde`` (default config, batch 512, lr 2e-3, EMA 0.999, 20 000 steps, seed 0;
   the setting of ``bench_diffusion.py``) once per toy (8gaussians, moons, checkerboard) and
   keeps the run under ``--runs`` (default ``/work/wt/fewstep-runs``); a later call reuses it.
2. For each toy: the W2 floor (5 000 training points against 5 000 test points, the first
   chunk, as ``bench_diffusion.py``) and the reference, ``em`` at 1 000 steps and ``dopri5``
   at tolerance 1e-5 (the model's own error floor: what no sampler of this network can beat
   by more than noise).
3. The goal table: ``unipc-3`` at 10 NFE under the default grid against the reference, over
   5 seeds; then the table: W2 / floor for each few-step sampler x grid at NFE 5 / 10 / 20,
   mean over ``--seeds`` sampling seeds (5 000 samples each against the same test points),
   and the same at the reference (``dpm-solver++3``, 100 NFE, log-SNR grid): the model's own
   error, which no sampler of this network beats by more than noise.
4. ``--peers``: our DPM-Solver++ (orders 2 and 3) and UniPC against diffusers'
   ``DPMSolverMultistepScheduler`` and ``UniPCMultistepScheduler`` on the same network at
   10 and 20 NFE (``bench_diffusion_peers.py``'s SNR-matched timesteps; diffusers on the path,
   e.g. ``pip install --no-deps --target DIR`` from ``peers.txt``).

Each toy writes ``results/bench_diffusion_fewstep_<toy>.{md,json}``; ``--merge`` joins them
into ``results/bench_diffusion_fewstep.md``. Run the toys as separate processes to use
several cores: ``--toys moons``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_table  # noqa: E402

import genmodels as gm  # noqa: E402
from genmodels.divergences import wasserstein2  # noqa: E402

TOYS = ("8gaussians", "moons", "checkerboard")
RUNS = Path("/work/wt/fewstep-runs")
NFES = (5, 10, 20)
SAMPLERS = ("ddim", "dpm-solver++2", "dpm-solver++3", "unipc-3")
#: (label, grid, rho); power-t ρ=2.5 is unipc's grid under "auto" on VP
GRIDS = (("uniform-t", "uniform", None), ("log-SNR", "logsnr", None),
         ("power-t ρ=2", "quadratic", 2.0), ("power-t ρ=2.5", "quadratic", 2.5),
         ("EDM ρ=7", "edm", 7.0), ("auto (the default)", "auto", None))
GOAL_SEEDS = 5
REFERENCE = ("dpm-solver++3", 100, "logsnr", None)
N = 5000


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


class Cache:
    """W2 of each (sampler, NFE, grid, ρ, seed), kept in a JSON file beside the run so a
    rerun (or a longer one) skips what is measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {}

    def get(self, key: str, fn) -> float:  # noqa: ANN001
        if key not in self.data:
            self.data[key] = fn()
            self.path.write_text(json.dumps(self.data, indent=0))
        return self.data[key]


CACHE: Cache | None = None


def w2(run: gm.Run, test: torch.Tensor, sampler: str, nfe: int, grid: str,
       rho: float | None, seeds: int) -> tuple[float, float]:
    """Mean and sd of W2 over sampling seeds ``1..seeds``."""
    opts = run.family_model.options

    def one(k: int) -> float:
        old = opts.grid, opts.grid_rho
        opts.grid, opts.grid_rho = grid, rho
        try:
            return wasserstein2(run.sample(N, seed=k, sampler=sampler, nfe=nfe), test)
        finally:
            opts.grid, opts.grid_rho = old

    assert CACHE is not None
    ws = [CACHE.get(f"{sampler}|{nfe}|{grid}|{rho}|{k}", lambda k=k: one(k))
          for k in range(1, seeds + 1)]
    return statistics.mean(ws), statistics.stdev(ws) if len(ws) > 1 else 0.0


def peers(run: gm.Run, test: torch.Tensor, floor: float, seeds: int) -> list[list]:
    """Ours against diffusers' multistep schedulers, same network, same seeds, 10 NFE."""
    from bench_diffusion_peers import diffusers_sampler

    rows = []
    nfe = 10
    cells = {
        "ours dpm-solver++2 (log-SNR)": lambda k: w2(run, test, "dpm-solver++2", nfe,
                                                     "logsnr", None, k),
        "ours dpm-solver++3 (log-SNR)": lambda k: w2(run, test, "dpm-solver++3", nfe,
                                                     "logsnr", None, k),
        "ours dpm-solver++2 (auto: power-t ρ=2)": lambda k: w2(
            run, test, "dpm-solver++2", nfe, "auto", None, k),
        "ours dpm-solver++3 (auto: power-t ρ=2)": lambda k: w2(
            run, test, "dpm-solver++3", nfe, "auto", None, k),
        "ours unipc-3 (auto)": lambda k: w2(run, test, "unipc-3", nfe,
                                                           "auto", None, k),
    }
    for label, kind in (("diffusers DPM-Solver++ order 2", "dpm2"),
                        ("diffusers DPM-Solver++ order 3", "dpm3"),
                        ("diffusers UniPC order 3", "unipc3")):
        cells[label] = lambda k, kind=kind: theirs(run, test, kind, nfe, k, diffusers_sampler)
    for label, fn in cells.items():
        mean, sd = fn(seeds)
        rows.append([nfe, label, f"{mean:.4f} ± {sd:.4f}", round(mean / floor, 2)])
        print(rows[-1], flush=True)
    return rows


def theirs(run: gm.Run, test: torch.Tensor, kind: str, nfe: int, seeds: int,
           diffusers_sampler) -> tuple[float, float]:  # noqa: ANN001
    draw = diffusers_sampler(run, kind, nfe, N)
    assert CACHE is not None
    ws = [CACHE.get(f"diffusers {kind}|{nfe}|{k}", lambda k=k: wasserstein2(draw(k), test))
          for k in range(1, seeds + 1)]
    return statistics.mean(ws), statistics.stdev(ws) if len(ws) > 1 else 0.0


def toy(name: str, a: argparse.Namespace) -> None:
    global CACHE
    run = trained(name, a.runs, a.steps)
    CACHE = Cache(a.runs / name / "w2_cache.json")
    data = run.dataset()
    test = data.test[:N]
    floor = wasserstein2(data.train[:N], test)
    wall = json.loads((a.runs / name / "train_wall.json").read_text())["seconds"]
    s, k, g, r = REFERENCE
    ref, ref_sd = w2(run, test, s, k, g, r, a.seeds)
    print(f"{name}: floor {floor:.4f}, reference {ref:.4f}", flush=True)
    goal, goal_sd = w2(run, test, "unipc-3", 10, "auto", None, GOAL_SEEDS)
    goal_ref, goal_ref_sd = w2(run, test, s, k, g, r, GOAL_SEEDS)
    write_table(f"bench_diffusion_fewstep_goal_{name}",
                f"vp-sde on {name}: unipc-3 at 10 NFE (auto grid) against the floor",
                ["sampler", "W2 (mean ± sd)", "W2/floor", "<= 1.5x floor"],
                [["unipc-3 @ 10, auto (power-t ρ=2.5 to t = 0.01, denoised)",
                  f"{goal:.4f} ± {goal_sd:.4f}",
                  round(goal / floor, 2), "yes" if goal <= 1.5 * floor else "no"],
                 [f"{s} @ {k}, log-SNR (reference)", f"{goal_ref:.4f} ± {goal_ref_sd:.4f}",
                  round(goal_ref / floor, 2), "yes" if goal_ref <= 1.5 * floor else "no"]],
                notes=f"floor {floor:.4f}; {GOAL_SEEDS} sampling seeds.")
    if a.peers:
        write_table(f"bench_diffusion_fewstep_peers_{name}",
                    f"vp-sde on {name}: ours vs diffusers, same network (W2 of {N} vs {N})",
                    ["NFE", "sampler", "W2 (mean ± sd)", "W2/floor"],
                    peers(run, test, floor, a.seeds),
                    notes=f"floor {floor:.4f}; mean ± sd over {a.seeds} sampling seeds.")
    rows = []
    for sampler in SAMPLERS:
        for label, grid, rho in GRIDS:
            cells = [w2(run, test, sampler, nfe, grid, rho, a.seeds) for nfe in NFES]
            rows.append([sampler, label, *(f"{m / floor:.2f}" for m, _ in cells),
                         *(f"{m:.4f}" for m, _ in cells)])
            print(rows[-1], flush=True)
    notes = (f"floor (5 000 train vs 5 000 test points): {floor:.4f}; reference "
             f"{s} @ {k} NFE, log-SNR: W2 {ref:.4f} ± {ref_sd:.4f} = {ref / floor:.2f}x "
             f"the floor. Mean of {a.seeds} sampling seeds. Trained {a.steps} steps "
             f"({wall:.0f} s).")
    header = ["sampler", "grid", *(f"W2/floor @ {n}" for n in NFES),
              *(f"W2 @ {n}" for n in NFES)]
    write_table(f"bench_diffusion_fewstep_{name}", f"vp-sde on {name}: few-step W2 / floor",
                header, rows, notes=notes)


def merge() -> None:
    parts = []
    for name in TOYS:
        for kind in ("goal_", "peers_", ""):
            path = RESULTS / f"bench_diffusion_fewstep_{kind}{name}.md"
            if path.is_file():
                parts.append(path.read_text())
    (RESULTS / "bench_diffusion_fewstep.md").write_text("\n".join(parts))
    print("\n".join(parts))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--toys", nargs="*", default=list(TOYS))
    p.add_argument("--train-only", action="store_true")
    p.add_argument("--peers", action="store_true", help="also against diffusers")
    p.add_argument("--merge", action="store_true", help="join the per-toy tables")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.merge:
        merge()
        return
    for name in a.toys:
        if a.train_only:
            trained(name, a.runs, a.steps)
        else:
            toy(name, a)


if __name__ == "__main__":
    main()
