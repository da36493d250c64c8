"""The classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017) with a small torch MLP."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..errors import InputError


class C2STResult(NamedTuple):
    """Held-out accuracy, its one-sided p-value under H0 (P = Q) and the test-split size."""

    accuracy: float
    p_value: float
    n_test: int


def c2st(
    x: Tensor,
    y: Tensor,
    *,
    test_fraction: float = 0.5,
    hidden: int = 64,
    steps: int = 300,
    lr: float = 1e-2,
    generator: torch.Generator | None = None,
) -> C2STResult:
    """Classifier two-sample test: the held-out accuracy of a classifier telling x from y.

    Both samples are cut to the same size ``n = min(len(x), len(y))`` (chance level exactly
    ½), labelled 0 (x) and 1 (y), shuffled and split once into a training part and a
    held-out part of ``⌊test_fraction · 2n⌋`` points. The inputs are standardised with the
    training part's pooled mean and sd; an MLP ``d → hidden → hidden → 1`` (SiLU) is trained
    full-batch with Adam on the logistic loss for ``steps`` steps, from a seeded
    initialisation. The statistic is the held-out accuracy ``t̂``; under H0,
    ``n_te·t̂ ~ Binomial(n_te, ½)``, so the p-value is the normal tail
    ``1 − Φ((t̂ − ½)·2√n_te)``. ≈ 0.5: indistinguishable; ≈ 1: fully separable.
    All randomness (subsampling, split, initialisation) comes from ``generator``.

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``.
        test_fraction: the held-out share of the pooled sample.
        hidden: MLP width.
        steps: Adam steps (full batch).
        lr: Adam learning rate.
        generator: the source of randomness.
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    a = torch.as_tensor(x).detach().reshape(len(x), -1).to("cpu", torch.float32)
    b = torch.as_tensor(y).detach().reshape(len(y), -1).to("cpu", torch.float32)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"x and y differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if gen.device.type != "cpu":
        gen = torch.Generator().manual_seed(int(torch.randint(2**31, (1,), generator=gen)))
    n = min(a.shape[0], b.shape[0])
    a = a[torch.randperm(a.shape[0], generator=gen)[:n]]
    b = b[torch.randperm(b.shape[0], generator=gen)[:n]]
    z = torch.cat([a, b])
    lab = torch.cat([torch.zeros(n), torch.ones(n)])
    perm = torch.randperm(2 * n, generator=gen)
    z, lab = z[perm], lab[perm]
    n_te = int(test_fraction * 2 * n)
    if n_te < 1 or 2 * n - n_te < 2:
        raise InputError(f"c2st: {n} points per sample are too few to split")
    z_tr, y_tr, z_te, y_te = z[n_te:], lab[n_te:], z[:n_te], lab[:n_te]
    mu, sd = z_tr.mean(0), z_tr.std(0).clamp_min(1e-8)
    z_tr, z_te = (z_tr - mu) / sd, (z_te - mu) / sd
    d = z.shape[1]
    net = nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                        nn.Linear(hidden, 1))
    with torch.no_grad():
        for p in net.parameters():
            bound = 1.0 / math.sqrt(p.shape[-1]) if p.ndim > 1 else 0.0
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(net(z_tr).squeeze(1), y_tr).backward()
            opt.step()
    with torch.no_grad():
        acc = float(((net(z_te).squeeze(1) > 0).float() == y_te).float().mean())
    zstat = (acc - 0.5) * 2.0 * math.sqrt(n_te)
    p_value = 0.5 * math.erfc(zstat / math.sqrt(2.0))
    return C2STResult(acc, p_value, n_te)
