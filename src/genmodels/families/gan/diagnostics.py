r"""Diagnostics of adversarial training: unhealthy loss curves, critic accuracy, JSD.

* :func:`loss_warnings` / :func:`check_run`: a warning when a loss curve diverges (grows
  without bound or turns non-finite) or keeps oscillating (a smoothed curve that swings
  widely around its own mean in the second half of training).
* :func:`critic_accuracy`: how often the critic calls held-out **real** points real and
  generated points fake, and (given training points) the train/held-out gap of its mean
  output, the overfitting signal of Gulrajani et al. (2017, §5.6).
* :func:`jsd_lower_bound` / :func:`estimate_jsd`: when samples of p_data can be drawn
  (a known toy), a freshly trained discriminator gives
  :math:`\mathrm{JSD}(p_\mathrm{data}\,\|\,p_g) \ge \tfrac12 V(G, D) + \log 2`, with equality
  at :math:`D^* = p_\mathrm{data}/(p_\mathrm{data} + p_g)` (Goodfellow et al. 2014, Thm. 1).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...nn import MLP
from .losses import AdversarialLoss
from .model import GAN
from .objective import Adversarial

__all__ = [
    "GANTrainingWarning",
    "check_run",
    "critic_accuracy",
    "estimate_jsd",
    "jsd_lower_bound",
    "loss_warnings",
]

Draw = Callable[[int, torch.Generator], Tensor]


class GANTrainingWarning(UserWarning):
    """A loss curve that diverges or oscillates."""


def _smooth(x: Tensor, w: int) -> Tensor:
    if w <= 1 or x.numel() < w:
        return x
    return F.avg_pool1d(x[None, None], w, stride=1).reshape(-1)


def loss_warnings(values: Sequence[float], name: str = "loss", *, window: int = 20,
                  grow: float = 10.0, ratio: float = 4.0, crossings: int = 4) -> list[str]:
    """Messages about one loss curve (empty when it looks healthy).

    * **diverges**: a non-finite value, or the mean ``|loss|`` of the last ``window``
      values exceeds ``grow`` × (that of the first ``window`` + 1).
    * **oscillates**: over the second half, with its linear trend removed, the curve
      smoothed by a moving average of ``window`` crosses zero at least ``crossings`` times
      and its standard deviation is over ``ratio`` times what averaging the residual noise
      alone leaves (σ_noise/√window) and over 5 % of the curve's level: slow cycles, not
      step-to-step noise and not a trend.
    """
    x = torch.as_tensor(list(values), dtype=torch.float64)
    out: list[str] = []
    if x.numel() == 0:
        return out
    if not torch.isfinite(x).all():
        i = int((~torch.isfinite(x)).nonzero()[0])
        return [f"{name} diverges: non-finite value at record {i}"]
    if x.numel() >= 2 * window:
        early, late = x[:window].abs().mean(), x[-window:].abs().mean()
        if late > grow * (early + 1.0):
            out.append(f"{name} diverges: |{name}| grew from {float(early):.3g} to "
                       f"{float(late):.3g}")
    half = x[x.numel() // 2:]
    if half.numel() >= 3 * window:
        t = torch.arange(half.numel(), dtype=torch.float64)
        a = torch.stack([torch.ones_like(t), t], 1)
        coef = torch.linalg.lstsq(a, half[:, None]).solution
        r = half - (a @ coef).squeeze(1)
        s = _smooth(r, window)
        lo = window // 2
        noise = (r[lo: lo + s.numel()] - s).std()
        n_cross = int(((s[1:] * s[:-1]) < 0).sum())
        amp = float(s.std())
        if (n_cross >= crossings and amp > ratio * float(noise) / math.sqrt(window)
                and amp > 0.05 * float(half.abs().mean())):
            out.append(f"{name} oscillates: the smoothed, detrended curve swings by "
                       f"±{amp:.3g} around {float(half.mean()):.3g} ({n_cross} crossings)")
    return out


def check_run(run: str | Path, keys: Sequence[str] = ("critic_loss", "generator_loss"),
              **options: float) -> list[str]:
    """Reads a run's ``metrics.jsonl``, checks each curve with :func:`loss_warnings`, and
    emits each message as a :class:`GANTrainingWarning`; returns the messages."""
    curves: dict[str, list[float]] = {k: [] for k in keys}
    with open(Path(run) / "metrics.jsonl") as fh:
        for line in fh:
            rec = json.loads(line)
            for k in keys:
                if k in rec and rec[k] is not None:
                    curves[k].append(float(rec[k]))
    msgs = [m for k, v in curves.items() for m in loss_warnings(v, k, **options)]
    for m in msgs:
        warnings.warn(m, GANTrainingWarning, stacklevel=2)
    return msgs


@torch.no_grad()
def critic_accuracy(model: GAN, game: Adversarial | AdversarialLoss | float | None,
                    real: Tensor, *, train: Tensor | None = None,
                    generator: torch.Generator | None = None) -> dict[str, float]:
    """The critic as a classifier of held-out real points against fresh generated ones.

    The decision threshold is the game's (``loss.threshold``: 0 for logits, ``(a+b)/2``
    for LSGAN, the critic value at which :math:`g_f(v) = f'(1)` for f-GANs), or a number;
    for Wasserstein potentials (``None``) it is the midpoint of the two mean outputs.
    ``real`` (and ``train``) are in the model's units (standardised when the run was).

    Returns:
        ``acc_real`` (held-out real called real), ``acc_fake``, ``accuracy`` (their mean),
        ``v_real``, ``v_fake`` (mean outputs) and, with ``train``, ``v_train`` and
        ``overfit_gap = v_train - v_real`` (grows when the critic memorises its data).
    """
    was = model.training
    model.eval()
    try:
        vr = model.critic_out(real.to(model.device))
        vf = model.critic_out(model.sample(real.shape[0], generator=generator))
        if isinstance(game, Adversarial):
            game = game.loss
        thr = game.threshold if isinstance(game, AdversarialLoss) else game
        if thr is None:
            thr = 0.5 * float(vr.mean() + vf.mean())
        acc_r, acc_f = float((vr > thr).double().mean()), float((vf <= thr).double().mean())
        out = {"acc_real": acc_r, "acc_fake": acc_f, "accuracy": 0.5 * (acc_r + acc_f),
               "v_real": float(vr.mean()), "v_fake": float(vf.mean()), "threshold": thr}
        if train is not None:
            vt = float(model.critic_out(train.to(model.device)).mean())
            out["v_train"] = vt
            out["overfit_gap"] = vt - out["v_real"]
        return out
    finally:
        model.train(was)


def jsd_lower_bound(logit_p: Tensor, logit_q: Tensor) -> Tensor:
    r""":math:`\tfrac12(\mathbb E_p[\log D] + \mathbb E_q[\log(1 - D)]) + \log 2` with
    :math:`D = \sigma(\ell)`: a lower bound of JSD(p‖q) in nats, tight at :math:`D^*`."""
    v = -F.softplus(-logit_p).mean() - F.softplus(logit_q).mean()
    return 0.5 * v + math.log(2.0)


def estimate_jsd(draw_p: Draw, draw_q: Draw, *, steps: int = 1500, batch: int = 512,
                 hidden: Sequence[int] = (64, 64), lr: float = 3e-3, n_eval: int = 20_000,
                 seed: int = 0) -> tuple[float, nn.Module]:
    """Trains a fresh discriminator on fresh draws of p and q and returns the held-out JSD
    lower bound (nats) and the discriminator (its logit; σ(logit) ≈ p/(p+q)).

    Args:
        draw_p: ``draw_p(n, generator) -> (n, *D)``, e.g. the known data distribution.
        draw_q: the same for q, e.g. ``lambda n, g: model.sample(n, generator=g)``.
        steps: Adam steps of the logistic loss ``softplus(-ℓ(x_p)) + softplus(ℓ(x_q))``.
        batch: points of each distribution per step.
        hidden: the discriminator MLP's widths.
        lr: Adam's learning rate (decayed by a cosine to 0).
        n_eval: fresh points of each distribution for the estimate.
        seed: seeds the draws and the discriminator.
    """
    g = torch.Generator().manual_seed(seed)
    probe = draw_p(2, g)
    d = probe[0].numel()
    torch.manual_seed(seed)
    disc = MLP(d, 1, hidden, "relu").to(probe.device, probe.dtype)
    opt = torch.optim.Adam(disc.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

    def logit(x: Tensor) -> Tensor:
        return disc(x.reshape(x.shape[0], -1)).squeeze(-1)

    for _ in range(steps):
        xp, xq = draw_p(batch, g), draw_q(batch, g)
        loss = F.softplus(-logit(xp)).mean() + F.softplus(logit(xq)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        est = jsd_lower_bound(logit(draw_p(n_eval, g)), logit(draw_q(n_eval, g)))
    return float(est), disc
