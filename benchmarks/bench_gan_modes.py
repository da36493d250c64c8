"""Mode coverage of GANs on grid25/ring8 (VEEGAN/PacGAN): modes, high-quality %, reverse KL.

Each model is trained with ``genmodels.fit`` for a fixed number of generator steps with
several training seeds (the data are the same for every seed), then 2500 samples are scored
with the ``mode-coverage`` definitions. Mean ± standard error over seeds. The defaults are
the settings measured in docs/families/gan.md: on ``grid25`` wgan-gp and mmd-gan at lr 1e-2
(cosine decay to 0), on ``ring8`` every loss but tv at lr 1e-3, with the per-loss settings
of ``PRESETS``.

    OMP_NUM_THREADS=1 python benchmarks/bench_gan_modes.py                  # grid25, 5 seeds
    OMP_NUM_THREADS=1 python benchmarks/bench_gan_modes.py --data ring8 --seeds 2
    python benchmarks/bench_gan_modes.py --models wgan-gp --set wgan-gp:gp_weight=1

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

#: Per-data runs: label -> (family, model settings; ``train.KEY`` for that label's own
#: training settings); shared training settings are in ``train()``, the learning rate and
#: steps in ``LR`` and ``STEPS``.
SCHEDULE = "cosine"

PRESETS: dict[str, dict[str, tuple[str, dict]]] = {
    "grid25": {
        "wgan-gp": ("wgan-gp", {"gp_weight": 0.1}),
        "mmd-gan": ("mmd-gan", {"train.batch_size": 512}),
    },
    "ring8": {
        "gan": ("gan", {}),
        "ns-gan": ("ns-gan", {"pack": 2}),
        "lsgan": ("lsgan", {"pack": 2}),
        "hinge-gan": ("hinge-gan", {}),
        "wgan": ("wgan", {"clip": 0.1}),
        "wgan-gp": ("wgan-gp", {"gp_weight": 0.1}),
        "mmd-gan": ("mmd-gan", {}),
        **{f"fgan-{d}": ("fgan", {"divergence": d}) for d in ("hellinger", "js", "gan")},
        "fgan-kl": ("fgan", {"divergence": "kl", "bound": 5.0}),
        "fgan-reverse-kl": ("fgan", {"divergence": "reverse-kl", "pack": 2}),
        "fgan-pearson": ("fgan", {"divergence": "pearson", "bound": 5.0}),
        "fgan-neyman": ("fgan", {"divergence": "neyman", "bound": 5.0,
                                 "spectral_norm": True, "pack": 2}),
    },
}
LR = {"grid25": 1e-2, "ring8": 1e-3}
STEPS = {"grid25": 6000, "ring8": 2000}


def train(name: str, model: dict, seed: int, steps: int, batch: int, lr: float,
          extra: dict | None = None, data: str = "grid25") -> dict:
    t = time.perf_counter()
    # "train.KEY" settings of one model (train.batch_size=512) override the shared ones
    own = {k[len("train."):]: v for k, v in model.items() if k.startswith("train.")}
    model = {k: v for k, v in model.items() if not k.startswith("train.")}
    run = gm.fit(model={"name": name, **model},
                 data={"name": data, "n_train": 50_000, "n_val": 0, "n_test": 2500},
                 train={"steps": steps, "batch_size": batch, "lr": lr, "betas": [0.5, 0.9],
                        "schedule": SCHEDULE, "seed": seed, "checkpoint_every": 0,
                        "threads": 1, **(extra or {}), **own},
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
    p.add_argument("--models", nargs="+", default=None,
                   help="labels of PRESETS[data], or LABEL=FAMILY (default: every preset)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="default: STEPS[data]")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=None, help="default: LR[data]")
    p.add_argument("--set", action="append", default=[], metavar="MODEL:KEY=VALUE",
                   help="a model setting of one label, or train.KEY for that label's runs")
    p.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                   help="a train.* override for every run (ema_decay=0.999, betas=0.5,0.9)")
    p.add_argument("--data", default="grid25", choices=("grid25", "ring8"))
    p.add_argument("--name", default="gan_modes")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--log", default=None, help="append one JSON line per run to this file")
    p.add_argument("--merge", nargs="+", default=None, metavar="LOG",
                   help="only write the table from these --log files (parallel shards)")
    a = p.parse_args()
    preset = PRESETS[a.data]
    a.steps = STEPS[a.data] if a.steps is None else a.steps
    a.lr = LR[a.data] if a.lr is None else a.lr
    # a preset label, or "LABEL=FAMILY": FAMILY under its own label, from its defaults
    family, cfgs = {}, {}
    for m in a.models or list(preset):
        label, fam = (m.split("=", 1) if "=" in m else
                      (m, preset[m][0] if m in preset else m))
        family[label] = fam
        cfgs[label] = dict(preset[label][1]) if "=" not in m and label in preset else {}
    for s in a.set:
        m, kv = s.split(":", 1)
        k, v = kv.split("=", 1)
        old = cfgs[m].get(k)
        cfgs[m][k] = type(old)(v) if isinstance(old, (int, float)) and not isinstance(
            old, bool) else parse_value(v)
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
