"""Quality: test NLL of genmodels' ``nsf`` against the exact entropy, and zuko's NSF with the
same budget in the same run, on ``checkerboard`` and ``8gaussians``.

Both flows: 5 autoregressive rational-quadratic layers, 8 bins on [-5, 5], MADE [128, 128];
Adam 1e-3 with cosine decay to 0, batch 512, the same fresh batches from the generator,
``STEPS`` steps (argv[1] or $BENCH_STEPS, default 2000), one thread each, run in turns.
Test NLL on the data set's test split (20 000 points); goal: within 0.05 nats of the entropy
and no worse than zuko. An optional second argument picks the data sets.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_flows_quality.py 2000
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_flows_quality.py 4000 checkerboard
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

from genmodels.config import DataConfig  # noqa: E402
from genmodels.data import load_dataset  # noqa: E402
from genmodels.data.toy import sample as toy_sample  # noqa: E402
from genmodels.registry import DataInfo, get_family, load_all  # noqa: E402

BATCH = 512


def ours() -> tuple[torch.nn.Module, callable]:
    family = get_family("nsf")
    model, _ = family.build(family.config(), DataInfo((2,)))
    return model, lambda x: model.log_prob(x)


def zuko_nsf() -> tuple[torch.nn.Module, callable]:
    import zuko

    flow = zuko.flows.NSF(2, transforms=5, hidden_features=[128, 128])
    return flow, lambda x: flow().log_prob(x)


def train(build, name: str, steps: int) -> tuple[float, float, torch.nn.Module, callable]:
    torch.manual_seed(0)
    model, log_prob = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(1)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        x = toy_sample(name, BATCH, generator=g)
        loss = -log_prob(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return time.perf_counter() - start, float(loss.detach()), model, log_prob


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_STEPS", 2000))
    torch.set_num_threads(1)
    load_all()
    rows = []
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else ["checkerboard", "8gaussians"]
    for name in names:
        data = load_dataset(DataConfig(name=name, n_test=20_000))
        h = float(data.entropy)
        for label, build in (("genmodels nsf", ours), ("zuko NSF", zuko_nsf)):
            wall, _, model, log_prob = train(build, name, steps)
            model.eval()
            with torch.no_grad():
                lp = torch.cat([log_prob(x) for x in data.test.split(5000)])
            nll, se = float(-lp.mean()), float(lp.std() / len(lp) ** 0.5)
            rows.append([name, label, steps, f"{wall:.1f}", f"{nll:.4f} ± {se:.4f}",
                         f"{h:.4f}", f"{nll - h:+.4f}"])
            print(rows[-1], flush=True)
    tag = "" if len(sys.argv) <= 2 else f"_{'_'.join(names)}_{steps}"
    write_table(
        "flows_quality" + tag, "Flow quality: NSF test NLL vs the exact entropy (nats)",
        ["data", "model", "steps", "train wall s", "test NLL ± se", "entropy", "gap"], rows,
        notes=f"Adam 1e-3, cosine decay, batch {BATCH}, fresh batches (same for both), "
        "1 thread, 20 000 test points. The machine is shared: wall times are noisy.",
    )


if __name__ == "__main__":
    main()
