"""Speed: one training step and sampling of genmodels' ``cnf`` against zuko's CNF, the same
network and weights, in the same process. Ratio = zuko's time / ours (> 1: we are faster).

Network (both): zuko's default FFJTransform MLP, 2 hidden layers of 64 ELU units on
``[cos(kπt), sin(kπt)]_{k≤3} ⊕ x``; the weights are copied from zuko's model into ours, so
both integrate the same field. Rows:

* ``adaptive``: our own adaptive Dormand–Prince (rtol = atol = 1e-5, backpropagation
  through the solver) against zuko's adaptive solver (its defaults rtol 1e-5, atol 1e-6,
  adjoint gradients);
* ``rk4 × 8``: our fixed-step default (32 evaluations), same zuko row for reference.

Exact trace, d = 2, standard normal base, moons data, Adam. One thread, medians of
interleaved repeats; the machine is shared, so ratios carry a few tens of percent of noise.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cnf.py [repeats]
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, write_table  # noqa: E402

from genmodels.core import Batch  # noqa: E402
from genmodels.data.toy import sample as sample_toy  # noqa: E402
from genmodels.families.cnf import CNF, CNFLikelihood  # noqa: E402


class ZukoNet(nn.Module):
    """zuko's FFJTransform field: an MLP on ``[cos(kπt), sin(kπt)] ⊕ x``."""

    def __init__(self, mlp: nn.Module, freqs: Tensor) -> None:
        super().__init__()
        self.mlp = mlp
        self.register_buffer("freqs", freqs.clone())

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        a = self.freqs * t[:, None]
        return self.mlp(torch.cat((a.cos(), a.sin(), x), dim=-1))


def main(repeats: int = 5) -> None:
    import zuko

    torch.manual_seed(0)
    x = sample_toy("moons", 256, generator=torch.Generator().manual_seed(0))
    zflow = zuko.flows.CNF(2)
    mlp, freqs = zflow.transform.ode, zflow.transform.freqs
    ours = {
        "adaptive": CNF(ZukoNet(copy.deepcopy(mlp), freqs), (2,), solver="dopri5", rtol=1e-5,
                        sampler="dopri5"),
        "rk4 × 8": CNF(ZukoNet(copy.deepcopy(mlp), freqs), (2,), solver="rk4", steps=8),
    }
    with torch.no_grad():
        ref = zflow().log_prob(x)
        for name, m in ours.items():
            err = float((m.log_prob(x) - ref).abs().max())
            print(f"{name}: max |log p - zuko's log p| at the shared weights = {err:.2e}")
    opt_z = torch.optim.Adam(zflow.parameters(), 1e-3)
    opts = {k: torch.optim.Adam(m.parameters(), 1e-3) for k, m in ours.items()}
    objective = CNFLikelihood()

    def zuko_step() -> None:
        opt_z.zero_grad()
        (-zflow().log_prob(x).mean()).backward()
        opt_z.step()

    def our_step(name: str):  # noqa: ANN202
        def step() -> None:
            opts[name].zero_grad()
            objective(ours[name], Batch(x)).loss.backward()
            opts[name].step()
        return step

    fns = {"zuko": zuko_step, **{k: our_step(k) for k in ours}}
    train = interleaved(fns, repeats)
    n = 10_000

    def zuko_sample() -> None:
        with torch.no_grad():
            zflow().sample((n,))

    def our_sample(name: str):  # noqa: ANN202
        return lambda: ours[name].sample(n, generator=torch.Generator().manual_seed(0))

    samp = interleaved({"zuko": zuko_sample, **{k: our_sample(k) for k in ours}}, repeats)
    rows = []
    for k in ours:
        rows.append([k, f"{1e3 * train[k]:.1f}", f"{1e3 * train['zuko']:.1f}",
                     f"{train['zuko'] / train[k]:.2f}", f"{1e3 * samp[k]:.1f}",
                     f"{1e3 * samp['zuko']:.1f}", f"{samp['zuko'] / samp[k]:.2f}"])
    write_table("cnf", "CNF: genmodels vs zuko (same network and weights, d = 2)",
                ["ours", "train step ms (ours)", "zuko", "ratio", f"sample {n} ms (ours)",
                 "zuko", "ratio"], rows,
                notes=f"Batch 256 exact trace; medians of {repeats} interleaved repeats after "
                "a warm-up; ratio = zuko / ours.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
