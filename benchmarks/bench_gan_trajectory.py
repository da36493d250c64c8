"""HQ % and modes of one GAN on grid25/ring8 every K generator steps, in one run.

A plain loop over the family's builders and objective (one Adam per phase, cosine or
constant lr, a fresh batch for every phase step, as ``genmodels.fit`` does), so that the
high-quality share can be followed along one run; ``bench_gan_modes.py`` (``genmodels.fit``)
gives the end-of-run figures.

    OMP_NUM_THREADS=1 python benchmarks/bench_gan_trajectory.py --model wgan-gp \\
        --set gp_weight=0.1 --steps 6000 --every 1000 --lr 1e-2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from common import parse_value

from genmodels.core import Batch
from genmodels.data.toy import mixture_centres
from genmodels.data.toy import sample as toy_sample
from genmodels.metrics.modes import mode_coverage
from genmodels.registry import DataInfo, get_family


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="wgan-gp")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--betas", default="0.5,0.9")
    p.add_argument("--schedule", default="cosine", choices=("cosine", "constant"))
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="grid25", choices=("grid25", "ring8"))
    a = p.parse_args()
    fam = get_family(a.model)
    cfg = fam.config()
    for s in a.set:
        k, v = s.split("=", 1)
        val = parse_value(v)
        setattr(cfg, k, (val,) if isinstance(getattr(cfg, k), tuple) and
                not isinstance(val, tuple) else val)
    data = toy_sample(a.data, 50_000, generator=torch.Generator().manual_seed(12345))
    torch.manual_seed(a.seed)
    model, obj = fam.build(cfg, DataInfo(event_shape=(2,)))
    betas = tuple(float(b) for b in a.betas.split(","))
    opts = {ph.name: torch.optim.Adam(obj.parameters(model, ph.name), lr=a.lr * ph.lr_scale,
                                      betas=betas) for ph in obj.phases}

    def factor(s: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(s, a.steps) / a.steps)) \
            if a.schedule == "cosine" else 1.0

    scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, factor) for k, o in opts.items()}
    centres, std = mixture_centres(a.data)
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        for ph in obj.phases:
            for _ in range(ph.steps):
                idx = torch.randint(data.shape[0], (a.batch_size,))
                loss = obj(model, Batch(x=data[idx]), ph.name).loss
                opts[ph.name].zero_grad(set_to_none=True)
                loss.backward()
                opts[ph.name].step()
            scheds[ph.name].step()
        if step % a.every == 0 or step == a.steps:
            with torch.no_grad():
                x = model.generate(torch.randn(2500, model.latent,
                                               generator=torch.Generator().manual_seed(999)))
            out = mode_coverage(x, centres, std)
            d = torch.cdist(x.double(), centres).min(1).values / std
            print(json.dumps({"step": step, "modes": out["modes"],
                              "hq": round(100 * out["hq_fraction"], 1),
                              "d50": round(float(d.quantile(0.5)), 2),
                              "d90": round(float(d.quantile(0.9)), 2),
                              "s": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
