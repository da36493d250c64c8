"""Flow-matching sampling against torchdyn (torchcfm's sampler) and a bare loop, one process.

torchcfm samples a trained velocity network with torchdyn's ``NeuralODE`` (its examples:
``NeuralODE(torch_wrapper(net), solver=…).trajectory(x0, t_span)``). This script trains one
I-CFM network briefly (the speed of a solver does not depend on how well the field is
learnt, but an adaptive solver's step count does, so the field should be a real one), then
times drawing ``--n`` points on that same network three ways:

* ``model.sample(n, sampler=S, nfe=N)`` (genmodels, data at t = 0, source at t = 1);
* torchdyn's ``NeuralODE`` with the same solver on the same grid, the network time-reversed
  (torchcfm's convention is source at t = 0), ``t_span`` of 2 points for ``dopri5`` (its
  output points would otherwise force steps) and ``N + 1`` points for fixed steps;
* a bare ``for`` loop (Euler only), the floor of Python overhead.

Rows: Euler × 100, RK4 × 25 (100 evaluations), dopri5 with torchdyn at rtol = atol = 1e-4
and ours at 1e-4 and at 1e-3 (two adaptive controllers need not take the same steps for the
same nominal tolerance: the evaluation counts and the errors are printed, so the row of equal
error is the fair one). Times: median of ``--repeats`` interleaved repeats of
``time.process_time`` (the CPU time of this one-thread process, which leaves out the time
other jobs hold the core).
Accuracy: the mean distance of each library's samples to a reference solution of the same
ODE from the same ``x0`` (our RK4 on 1 000 steps), so the rows compare equal work at equal
error. (torchdyn 1.0.6's ``rk4`` tableau has ``c = (0, 1/2, 1/2, 1)`` read from index 0 for the
second stage, so its stages sit at ``t, t + h/2, t + h/2`` instead of ``t + h/2, t + h/2,
t + h``: a first-order error in the time argument of a time-dependent field, visible here.)

Run: python benchmarks/bench_fm_sampling.py [--n 10000] [--repeats 7] [--steps 300]
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_fm import Net, _euler
from common import interleaved, write_table
from torch import Tensor, nn

from genmodels.core import Batch
from genmodels.data.toy import sample as toy_sample
from genmodels.distributions import StandardNormal
from genmodels.families.fm.model import FlowMatching
from genmodels.families.fm.objective import ConditionalFlowMatching
from genmodels.paths import make_coupling, make_interpolant


class Reversed(nn.Module):
    """torchdyn's ``f(t, x)`` in torchcfm's time (source at 0): ``−v(x, 1 − t)``; counts
    its evaluations."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.nfe = net, 0

    def forward(self, t: Tensor, x: Tensor, *args: object, **kwargs: object) -> Tensor:
        self.nfe += 1
        return -self.net(x, (1 - t).expand(len(x)))


def trained(steps: int, seed: int = 0) -> FlowMatching:
    torch.manual_seed(seed)
    net = Net()
    model = FlowMatching(net, make_interpolant("linear"), StandardNormal((2,)), (2,))
    obj = ConditionalFlowMatching(make_coupling("independent"))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    data = toy_sample("8gaussians", 20_000, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        opt.zero_grad()
        obj(model, Batch(data[torch.randint(len(data), (256,), generator=g)])).loss.backward()
        opt.step()
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    from torchdyn.core import NeuralODE

    torch.set_num_threads(1)
    model = trained(a.steps)
    field = Reversed(model.net)
    rows = []
    x0 = torch.randn(a.n, 2, generator=torch.Generator().manual_seed(1))  # ours draws the same
    with torch.no_grad():
        ref = model.sample(a.n, generator=torch.Generator().manual_seed(1), sampler="rk4",
                           nfe=4000)
    for solver, nfe, grid, rtol in (("euler", 100, 100, 0), ("rk4", 100, 25, 0),
                                    ("dopri5", 0, 1, 1e-4), ("dopri5", 0, 1, 1e-3)):
        model.rtol = rtol or model.rtol
        node = NeuralODE(field, solver=solver, sensitivity="autograd", atol=1e-4, rtol=1e-4,
                         return_t_eval=False)
        span = torch.linspace(0.0, 1.0, grid + 1)

        def ours(solver: str = solver, nfe: int = nfe) -> Tensor:
            g = torch.Generator().manual_seed(1)
            return model.sample(a.n, generator=g, sampler=solver, nfe=nfe or None)

        def theirs(node: NeuralODE = node, span: Tensor = span) -> Tensor:
            with torch.no_grad():
                return node.trajectory(x0, t_span=span)[-1]

        fns = {"ours": ours, "torchdyn": theirs}
        if solver == "euler":
            fns["bare"] = lambda: _euler(model.net, x0.clone(), 1.0, 0.0)
        with torch.no_grad():
            err_ours = float((ours() - ref).norm(dim=1).mean())
            err_theirs = float((theirs() - ref).norm(dim=1).mean())
        field.nfe = 0
        theirs()
        nfe_theirs = field.nfe
        ours()
        nfe_ours = model.last_nfe
        t = interleaved(fns, a.repeats, clock=time.process_time)
        bare = f"{t['bare'] * 1e3:.1f}" if "bare" in t else "–"
        name = f"{solver} (ours at rtol {rtol:g})" if rtol else solver
        rows.append([name, f"{nfe_ours} / {nfe_theirs}", f"{t['ours'] * 1e3:.1f}",
                     f"{t['torchdyn'] * 1e3:.1f}", bare, f"{t['torchdyn'] / t['ours']:.2f}",
                     f"{err_ours:.1e} / {err_theirs:.1e}"])
        print(rows[-1], flush=True)
    write_table("fm_sampling_torchdyn",
                f"Flow-matching sampling, {a.n} points, ours vs torchdyn {NeuralODE.__module__}"
                f" ({a.repeats} interleaved repeats, medians)",
                ["solver", "NFE ours / torchdyn", "ours ms", "torchdyn ms", "bare loop ms",
                 "ratio torchdyn/ours",
                 "error ours / torchdyn"], rows)


if __name__ == "__main__":
    main()
