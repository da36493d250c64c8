"""Flow matching against torchcfm, same network, same data, same budget, one process.

For each data set (N(0, I) -> 8gaussians, N(0, I) -> moons, the library's definitions) and each
method (I-CFM, OT-CFM), the same MLP v(x, t) (input [x, t], 3 × 64 SiLU) is trained by a bare
Adam loop through genmodels' objective and through torchcfm's flow matcher: per-step time
(median over the run) and W2 (exact, genmodels.divergences.wasserstein2) between test points
and samples by 100 Euler steps, the torchcfm evaluation protocol.

Run: python benchmarks/bench_fm.py [--steps N] [--n-test N] [--repeats R] [--workers W ...]

With ``--repeats R`` each pair of runs is repeated R times, ours and torchcfm's alternating
in order; the times are the medians of the per-run medians. ``--workers W ...`` adds, for
OT-CFM, a row of ours with the coupling pipeline of W worker threads
(``ConditionalFlowMatching(workers=W)``, ``model.coupling_workers``), its runs interleaved
with the same torchcfm runs (``--workers`` alone: none). Each run also prints its mean step
time (the throughput a median could hide) and, for ours, the cores the process used (its CPU
time over the loop's wall time: the pipeline can only help where it gets a second core).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import write_table
from torch import Tensor, nn

from genmodels.core import Batch
from genmodels.data.toy import sample as toy_sample
from genmodels.distributions import StandardNormal
from genmodels.divergences import wasserstein2
from genmodels.families.fm.model import FlowMatching
from genmodels.families.fm.objective import ConditionalFlowMatching
from genmodels.paths import make_coupling, make_interpolant


class Net(nn.Module):
    """``v(x, t)`` from ``[x, t]``: 3 hidden SiLU layers of 64 (both libraries use it)."""

    def __init__(self, d: int = 2, h: int = 64) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(d + 1, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                               nn.Linear(h, h), nn.SiLU(), nn.Linear(h, d))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.f(torch.cat([x, t.reshape(-1, 1).to(x.dtype)], 1))


def _euler(v, x: Tensor, t0: float, t1: float, steps: int = 100) -> Tensor:
    ts = torch.linspace(t0, t1, steps + 1)
    with torch.no_grad():
        for a, b in zip(ts[:-1], ts[1:]):
            x = x + (b - a) * v(x, a.expand(len(x)))
    return x


def ours(data: Tensor, coupling: str, steps: int, batch: int, seed: int, workers: int = 0):
    torch.manual_seed(seed)
    net = Net()
    model = FlowMatching(net, make_interpolant("linear"), StandardNormal((2,)), (2,))
    obj = ConditionalFlowMatching(make_coupling(coupling), workers=workers)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(seed)
    times = []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        xb = data[torch.randint(len(data), (batch,), generator=g)]
        t = time.perf_counter()
        opt.zero_grad()
        obj(model, Batch(xb)).loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    obj.close()
    # cores used: the process's CPU time (all its threads) over the wall time of the loop
    cores = (time.process_time() - cpu) / (time.perf_counter() - wall)
    print(f"  ours workers={workers}: median {statistics.median(times) * 1e3:.2f} ms, "
          f"mean {statistics.fmean(times) * 1e3:.2f} ms, {cores:.2f} cores used", flush=True)
    # genmodels: data at t = 0, source at t = 1
    sample = lambda n: _euler(net, torch.randn(n, 2), 1.0, 0.0)  # noqa: E731
    sample.model = model
    return statistics.median(times), sample


def sampling_times(model: FlowMatching, n: int, repeats: int = 5) -> tuple[float, float]:
    """Seconds for ``n`` samples by 100 Euler steps: ``model.sample`` against the bare loop
    on the same network (the torchcfm evaluation protocol), interleaved, medians."""
    ts_ours, ts_bare = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        model.sample(n, sampler="euler", nfe=100)
        ts_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        _euler(model.net, torch.randn(n, 2), 1.0, 0.0)
        ts_bare.append(time.perf_counter() - t)
    return statistics.median(ts_ours), statistics.median(ts_bare)


def peer(data: Tensor, coupling: str, steps: int, batch: int, seed: int):
    from torchcfm.conditional_flow_matching import (
        ConditionalFlowMatcher,
        ExactOptimalTransportConditionalFlowMatcher,
    )

    torch.manual_seed(seed)
    net = Net()
    fm = (ExactOptimalTransportConditionalFlowMatcher(sigma=0.0) if coupling == "exact"
          else ConditionalFlowMatcher(sigma=0.0))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(steps):
        xb = data[torch.randint(len(data), (batch,), generator=g)]
        t = time.perf_counter()
        opt.zero_grad()
        x0 = torch.randn_like(xb)
        tt, xt, ut = fm.sample_location_and_conditional_flow(x0, xb)
        (net(xt, tt) - ut).square().mean().backward()
        opt.step()
        times.append(time.perf_counter() - t)
    print(f"  torchcfm: median {statistics.median(times) * 1e3:.2f} ms, "
          f"mean {statistics.fmean(times) * 1e3:.2f} ms", flush=True)
    # torchcfm: source at t = 0, data at t = 1
    sample = lambda n: _euler(net, torch.randn(n, 2), 0.0, 1.0)  # noqa: E731
    return statistics.median(times), sample


def main(steps: int, n_test: int, batch: int, repeats: int = 1,
         workers: tuple[int, ...] = ()) -> None:
    torch.set_num_threads(1)
    rows, samp = [], []
    for name in ("8gaussians", "moons"):
        g = torch.Generator().manual_seed(0)
        train = toy_sample(name, 20_000, generator=g)
        test = toy_sample(name, n_test, generator=g)
        floor = wasserstein2(toy_sample(name, n_test, generator=g), test)
        for label, coupling in (("I-CFM", "independent"), ("OT-CFM", "exact")):
            # ours with 0 workers (in the step) and, for OT, with each pipeline of `workers`
            ws = (0, *workers) if coupling == "exact" else (0,)
            # interleaved repeats (the order alternates), the median of the per-run medians
            t_o: dict[int, list[float]] = {w: [] for w in ws}
            tps: list[float] = []
            res: dict = {}
            for r in range(repeats):
                runs = ["peer", *ws]
                for key in (runs if r % 2 == 0 else runs[::-1]):
                    if key == "peer":
                        res[key] = peer(train, coupling, steps, batch, 0)
                        tps.append(res[key][0])
                    else:
                        res[key] = ours(train, coupling, steps, batch, 0, workers=key)
                        t_o[key].append(res[key][0])
            t_peer, s_peer = statistics.median(tps), res["peer"][1]
            torch.manual_seed(1)
            w_peer = wasserstein2(s_peer(n_test), test)
            for w in ws:
                t_ours, s_ours = statistics.median(t_o[w]), res[w][1]
                torch.manual_seed(1)
                w_ours = wasserstein2(s_ours(n_test), test)
                method = label if w == 0 else f"{label}, coupling_workers={w}"
                rows.append([name, method, f"{t_ours * 1e3:.2f}", f"{t_peer * 1e3:.2f}",
                             f"{t_peer / t_ours:.2f}", f"{w_ours:.3f}", f"{w_peer:.3f}",
                             f"{floor:.3f}"])
                print(rows[-1], flush=True)
            if coupling == "independent":
                so, sb = sampling_times(res[0][1].model, n_test)
                samp.append([name, f"{so * 1e3:.1f}", f"{sb * 1e3:.1f}", f"{sb / so:.2f}"])
                print(samp[-1], flush=True)
    write_table("fm", f"Flow matching vs torchcfm ({steps} steps × {repeats} interleaved "
                f"repeats, batch {batch}, W2 on "
                f"{n_test} points, 100 Euler steps)",
                ["data", "method", "ours ms/step", "torchcfm ms/step", "speed ratio peer/ours",
                 "W2 ours", "W2 torchcfm", "W2 floor"], rows)
    write_table("fm_sampling", f"Sampling {n_test} points by 100 Euler steps (I-CFM net)",
                ["data", "model.sample ms", "bare loop ms", "ratio bare/ours"], samp)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--n-test", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers", type=int, nargs="*", default=[1],
                    help="OT-CFM rows of ours with the coupling pipeline of W threads")
    a = ap.parse_args()
    if any(w < 1 for w in a.workers):
        ap.error("--workers: each W must be >= 1")
    main(a.steps, a.n_test, a.batch, a.repeats, tuple(a.workers))
