"""Speed: log_prob, sampling and one training step of genmodels' flows against zuko and
normflows on equal architectures (MAF, IAF, NSF, RealNVP), in 2 and 64 dimensions, at batch
512 and 10 000. Ratio = the faster peer's time / ours (> 1: we are faster).

Architectures (all: 3 transforms, 2 hidden layers of 128 ReLU units, standard normal base):
MAF = affine autoregressive with MADE; IAF = its inverse (one-pass sampling, d-pass density);
NSF = autoregressive rational-quadratic spline, 8 bins, linear tails (normflows' spline MADE
always has a residual block: 3 hidden layers); RealNVP = affine couplings on halves.

normflows' ``MaskedAffineAutoregressive`` is defined in the sampling direction: as a density
it is an IAF (one-pass sampling, d-pass density). Its MAF rows therefore compare a different
algorithm; the IAF rows are the like-for-like comparison with it, and the column "same
algorithm" leaves it out of the MAF rows (and zuko, which has no IAF class, out of the IAF
rows).

Timing: CPU time of the process (``time.process_time``; one thread, so on an idle machine it is
the wall time, and on a shared machine it leaves out the time other jobs hold the core), the
median of interleaved repeats after a warm-up; calls over a second are timed once (their
first call is the sample).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_flows_speed.py [repeats] [ARCH ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

from genmodels.families.flows import (  # noqa: E402
    MAFConfig,
    NSFConfig,
    RealNVPConfig,
    build_iaf,
    build_maf,
    build_nsf,
    build_realnvp,
)
from genmodels.registry import DataInfo  # noqa: E402

T, H = 3, 128


def ours(arch: str, d: int):
    info = DataInfo((d,))
    if arch in ("MAF", "IAF"):
        build = build_maf if arch == "MAF" else build_iaf
        m, _ = build(MAFConfig(layers=T, hidden=(H, H), actnorm=False), info)
    elif arch == "NSF":
        m, _ = build_nsf(NSFConfig(layers=T, hidden=(H, H), bins=8, bound=5.0), info)
    else:
        m, _ = build_realnvp(RealNVPConfig(layers=T, hidden=(H, H), actnorm=False), info)
    return m, m.log_prob, lambda n: m.sample(n)


def zuko_flow(arch: str, d: int):
    import zuko

    cls = {"MAF": zuko.flows.MAF, "NSF": zuko.flows.NSF, "RealNVP": zuko.flows.RealNVP}[arch]
    f = cls(d, transforms=T, hidden_features=[H, H])

    def sample(n: int) -> torch.Tensor:
        with torch.no_grad():
            return f().sample((n,))

    return f, lambda x: f().log_prob(x), sample


def normflows_flow(arch: str, d: int):
    import normflows as nf

    flows = []
    for k in range(T):
        if arch in ("MAF", "IAF"):  # one model: sampling direction = IAF (see the notes)
            flows.append(nf.flows.MaskedAffineAutoregressive(d, H, num_blocks=1,
                                                             use_residual_blocks=False))
        elif arch == "NSF":
            flows.append(nf.flows.AutoregressiveRationalQuadraticSpline(d, 1, H, num_bins=8,
                                                                        tail_bound=5.0))
        else:
            net = nf.nets.MLP([d // 2, H, H, 2 * (d - d // 2)], init_zeros=True)
            flows.append(nf.flows.AffineCouplingBlock(net, split_mode="channel"))
        if k < T - 1:
            flows.append(nf.flows.Permute(d, mode="swap"))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(d, trainable=False), flows)

    def sample(n: int) -> torch.Tensor:
        with torch.no_grad():
            return model.sample(n)[0]

    return model, model.log_prob, sample


def median_times(fns: dict[str, callable], repeats: int) -> dict[str, float]:
    """Median CPU time of each function over ``repeats`` interleaved runs after a warm-up.

    A function whose warm-up takes over a second is not run again: that first call is its
    time (first-call costs are negligible at that scale).
    """
    times: dict[str, list[float]] = {}
    for k, fn in fns.items():
        t = time.process_time()
        fn()
        first = time.process_time() - t
        times[k] = [first] if first > 1.0 else []
    for _ in range(repeats):
        for k, fn in fns.items():
            if len(times[k]) == 1 and times[k][0] > 1.0:
                continue
            t = time.process_time()
            fn()
            times[k].append(time.process_time() - t)
    return {k: statistics.median(v) for k, v in times.items()}


LIBS = {"genmodels": ours, "zuko": zuko_flow, "normflows": normflows_flow}
# libraries whose model is the same algorithm as ours (see the module docstring)
SAME = {"MAF": ("zuko",), "IAF": ("normflows",), "NSF": ("zuko", "normflows"),
        "RealNVP": ("zuko", "normflows")}
# (arch, d, batch, op) -> libraries not timed: one call takes minutes (see the notes)
SKIP = {("NSF", 64, 10_000, "sample"): ("zuko", "normflows"),
        ("IAF", 64, 10_000, "train step"): ("normflows",)}


def tasks(lib: str, arch: str, d: int, batch: int) -> dict[str, callable]:
    torch.manual_seed(0)
    if lib == "zuko" and arch == "IAF":
        return {}
    model, log_prob, sample = LIBS[lib](arch, d)
    x = torch.randn(batch, d, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    loss = -log_prob(x).mean()  # ActNorm-style initialisations, lazy set-up
    loss.backward()
    model.eval()

    def lp() -> None:
        with torch.no_grad():
            log_prob(x)

    def step() -> None:
        loss = -log_prob(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"log_prob": lp, "sample": lambda: sample(batch), "train step": step}


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    archs = sys.argv[2:] or ["MAF", "IAF", "NSF", "RealNVP"]
    torch.set_num_threads(1)
    rows = []
    for arch in archs:
        for d in (2, 64):
            for batch in (512, 10_000):
                per_lib = {lib: tasks(lib, arch, d, batch) for lib in LIBS}
                for op in ("log_prob", "sample", "train step"):
                    skip = SKIP.get((arch, d, batch, op), ())
                    libs = [k for k in LIBS if op in per_lib[k] and k not in skip]
                    t = median_times({k: per_lib[k][op] for k in libs}, repeats)
                    ms = [f"{1e3 * t[k]:.2f}" if k in t else "not run" for k in LIBS]
                    peers = [t[k] for k in t if k != "genmodels"]
                    same = [t[k] for k in SAME[arch] if k in t]
                    rows.append([arch, d, batch, op, *ms,
                                 f"{min(peers) / t['genmodels']:.2f}" if peers else "–",
                                 f"{min(same) / t['genmodels']:.2f}" if same else "–"])
                    print(rows[-1], flush=True)
    write_table(
        "flows_speed", "Flow speed: genmodels vs zuko and normflows (ms of CPU per call)",
        ["arch", "d", "batch", "op", "genmodels ms", "zuko ms", "normflows ms",
         "ratio: faster peer / ours (goal ≥ 1)", "ratio: same algorithm / ours"], rows,
        notes=f"{T} transforms, hidden [{H}, {H}], 1 thread, median CPU time of {repeats} "
        "interleaved repeats after a warm-up (calls over 1 s: one call). normflows' "
        "MaskedAffineAutoregressive is defined in the sampling direction (an IAF as a "
        "density): in the MAF rows it samples in one pass and scores in d passes, so the "
        "like-for-like rows for it are the IAF rows (zuko has no IAF class: not run). "
        "Not run: NSF 64-D sampling at batch 10 000 for the peers (at batch 512 one call "
        "takes seconds for each, d full passes), normflows' IAF training step at 64-D, batch "
        "10 000 (d passes with autograd).",
    )


if __name__ == "__main__":
    main()
