"""Mode coverage of GANs on grid25 (VEEGAN/PacGAN): modes of 25, high-quality %, reverse KL.

Each model is trained with ``genmodels.fit`` on ``grid25`` for a fixed number of generator
steps with several training seeds (the data are the same for every seed), then 2500 samples
are scored with the ``mode-coverage`` definitions. Mean ± standard error over seeds.

    OMP_NUM_THREADS=1 python benchmarks/bench_gan_modes.py --seeds 5 --steps 3000
    python benchmarks/bench_gan_modes.py --models wgan-gp --set wgan-gp:gp_weight=0.1

Published references (other networks and budgets, see docs/families/gan.md): VEEGAN Table 1
(GAN 3.3 modes / 0.5 % HQ, VEEGAN 24.6 / 40 %), PacGAN Table 1 (GAN 17.3 ± 0.8 / 94.8 %).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import parse_value, write_table  # noqa: E402

import genmodels as gm  # noqa: E402
from genmodels.data.toy import mixture_centres  # noqa: E402
from genmodels.metrics.modes import mode_coverage  # noqa: E402

#: Per-model settings (model config fields); shared training settings are in ``train()``.
SCHEDULE = "cosine"

MODELS: dict[str, dict] = {
    "wgan-gp": {"gp_weight": 0.1},
    "mmd-gan": {},
    "gan": {},
    "ns-gan": {},
}


def train(name: str, model: dict, seed: int, steps: int, batch: int, lr: float,
          extra: dict | None = None, data: str = "grid25") -> dict:
    t = time.perf_counter()
    run = gm.fit(model={"name": name, **model},
                 data={"name": data, "n_train": 50_000, "n_val": 0, "n_test": 2500},
                 train={"steps": steps, "batch_size": batch, "lr": lr, "betas": [0.5, 0.9],
                        "schedule": SCHEDULE, "seed": seed, "checkpoint_every": 0,
                        "threads": 1, **(extra or {})},
                 progress=False)
    x = run.sample(2500, seed=1000 + seed)
    centres, std = mixture_centres(data)
    out = mode_coverage(x, centres, std)
    # distance to the nearest centre in std: wide modes (all quantiles > 3) or mass between
    # modes (a long upper tail) are the two ways of losing high-quality samples
    d = torch.cdist(x.double(), centres).min(dim=1).values / std
    for q in (0.25, 0.5, 0.75, 0.9):
        out[f"d{int(q * 100)}"] = float(d.quantile(q))
    out["seconds"] = time.perf_counter() - t
    return out


def _ms(v: list[float], scale: float = 1.0, digits: int = 1) -> str:
    m = statistics.fmean(v) * scale
    se = (statistics.stdev(v) / math.sqrt(len(v)) * scale) if len(v) > 1 else 0.0
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE")
    p.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                   help="a train.* override for every run (ema_decay=0.999, betas=0.5,0.9)")
    p.add_argument("--data", default="grid25", choices=("grid25", "ring8"))
    p.add_argument("--name", default="gan_modes")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--log", default=None, help="append one JSON line per run to this file")
    p.add_argument("--merge", nargs="+", default=None, metavar="LOG",
                   help="only write the table from these --log files (parallel shards)")
    a = p.parse_args()
    # "LABEL=FAMILY" runs FAMILY under its own label (several settings of one family)
    family = {m.split("=")[0]: m.split("=")[-1] for m in a.models}
    cfgs = {m: dict(MODELS.get(f, {})) for m, f in family.items()}
    for s in a.set:
        m, kv = s.split(":", 1)
        k, v = kv.split("=", 1)
        cfgs[m][k] = type(cfgs[m].get(k, 0.0))(v) if k in cfgs[m] else parse_value(v)
    extra = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in a.train)}
    results: dict[str, list[dict]] = {}
    if a.merge:
        seen = set()
        for path in a.merge:
            for line in Path(path).read_text().splitlines():
                rec = json.loads(line)
                if (rec["label"], rec["seed"]) in seen:  # a shard run twice: keep the first
                    continue
                seen.add((rec["label"], rec["seed"]))
                results.setdefault(rec["label"], []).append(rec)
                family[rec["label"]], cfgs[rec["label"]] = rec["family"], rec["settings"]
    else:
        for m in family:
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                r = train(family[m], cfgs[m], seed, a.steps, a.batch_size, a.lr, extra, a.data)
                r.update(label=m, family=family[m], settings=cfgs[m], seed=seed, train=extra,
                         lr=a.lr, batch=a.batch_size,
                         steps=a.steps)
                print(json.dumps(r), flush=True)
                if a.log:
                    with open(a.log, "a") as fh:
                        fh.write(json.dumps(r) + "\n")
                results.setdefault(m, []).append(r)
    rows = []
    n_seeds = 0
    for m, res in results.items():
        n_seeds = max(n_seeds, len(res))
        rows.append([family[m], ", ".join(f"{k}={v}" for k, v in cfgs[m].items()) or "defaults",
                     _ms([r["modes"] for r in res]),
                     _ms([r["hq_fraction"] for r in res], 100.0),
                     _ms([r.get("mode_rkl", math.log(r["modes_total"])) for r in res],
                         digits=2),
                     _ms([r["d50"] for r in res]), _ms([r["d90"] for r in res]),
                     f"{statistics.fmean(r['seconds'] for r in res):.0f}"])
    centres, std = mixture_centres(a.data)
    first = next(iter(results.values()), [{}])[0]
    steps, lr = first.get("steps", a.steps), first.get("lr", a.lr)
    shared = {"betas": "(0.5, 0.9)", "schedule": SCHEDULE, **first.get("train", extra)}
    write_table(a.name, f"GAN mode coverage on {a.data} (2500 samples, mean ± s.e. over seeds)",
                ["model", "settings", f"modes (of {len(centres)})", "HQ %", "reverse KL",
                 "d50/σ", "d90/σ", "s/run"], rows,
                notes=f"{n_seeds} seeds, {steps} steps (each = n_critic critic steps + 1 "
                      f"generator step), batch {a.batch_size}, Adam lr {lr}, train "
                      + ", ".join(f"{k}={v}" for k, v in shared.items())
                      + f"; HQ: within 3 std ({3 * std:g}) of the nearest centre; d50/d90: "
                      "median and 90 % quantile of the distance to the nearest centre in std.")



if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
