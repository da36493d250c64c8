"""The diagnostic figures of a report: training curves, quality against NFE, mode coverage,
latent maps and the metrics beside their noise floors.

- **Curves**: every ``*loss`` key of each run's ``metrics.jsonl`` against the step (one panel
  per key, one line per model; GANs log ``critic_loss`` and ``generator_loss`` apart).
- **Quality against NFE** (:class:`~genmodels.core.IterativeModel` only): for each sampler,
  the 2-Wasserstein distance between ``n`` samples drawn with ``nfe`` network evaluations and
  ``n`` test points, :math:`W_2(\\hat p_{\\theta,\\mathrm{nfe}}, \\hat p_{\\mathrm{data}})`, with
  the floor :math:`W_2` between two disjoint test samples of the same size.
- **Trajectories** (2-D data, iterative models offering them: diffusion's PF-ODE, CNF, flow
  matching): the sampling paths and their normalised path energy (1 = straight).
- **Mode coverage** (mixtures with known centres: ``ring8``, ``grid25``): the share of each
  model's samples within 3σ of each centre; a mode is covered when its share is non-zero.
- **Latent map** (:class:`~genmodels.core.LatentVariableModel`): the first two coordinates of
  ``encode(x)`` for test points, coloured by label when the data has labels.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core import IterativeModel, LatentVariableModel
from .columns import arrow, direction, metric_columns
from .figures import Figure, pyplot, save

#: NFE values tried by the quality-against-NFE figure (capped at twice the default NFE).
NFE_GRID = (2, 4, 8, 16, 32, 64, 128)


def read_curves(path: Path | None) -> list[dict[str, Any]]:
    """The records of ``<run>/metrics.jsonl`` (a torn line is skipped)."""
    if path is None or not (path / "metrics.jsonl").is_file():
        return []
    recs = []
    for line in (path / "metrics.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            recs.append(rec)
    return recs


def curves_figure(runs: dict[str, Any], out: Path, prefix: str) -> Figure | None:
    """Loss curves over training, one panel per logged loss, one line per model."""
    curves = {m: read_curves(r.path) for m, r in runs.items()}
    keys = list(dict.fromkeys(k for recs in curves.values() for rec in recs for k in rec
                              if k.endswith("loss") and k != "best_val_loss"))
    if not keys:
        return None
    plt = pyplot()
    keys = keys[:6]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 2.7), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for j, (m, recs) in enumerate(curves.items()):
            pts = [(r["step"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
            if pts:
                steps, vals = zip(*pts)
                ax.plot(steps, vals, color=f"C{j % 10}", label=m, linewidth=1.2,
                        marker="." if len(pts) < 8 else None)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=f"C{j % 10}", label=m) for j, m in enumerate(curves)]
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 6), fontsize=8,
               frameon=False)
    return save(fig, out, f"{prefix}curves", "Training and validation losses against the step "
                "(from each run's metrics.jsonl).")


def pick_samplers(samplers: tuple[str, ...], k: int = 5) -> list[str]:
    """Up to ``k`` samplers to plot: the default, then one of each common family of schemes."""
    wanted = ("em", "pc", "ddim", "euler", "heun", "dpm-solver", "dpm-solver-2", "exp", "rk4")
    picked = [samplers[0]] if samplers else []
    for name in (*wanted, *samplers):
        if name in samplers and name not in picked and name != "dopri5" and len(picked) < k:
            picked.append(name)
    return picked


def nfe_figure(runs: dict[str, Any], test: Tensor, out: Path, prefix: str,
               n: int = 300, seconds: float = 8.0) -> Figure | None:
    """W2 against the number of function evaluations, per sampler of each iterative model.

    NFE values grow along :data:`NFE_GRID` up to ``max(2·default_nfe, 16)``; a model stops
    adding points once it has spent ``seconds`` (the curve then ends early).
    """
    from ..divergences import wasserstein2

    iterative = {m: r for m, r in runs.items() if isinstance(r.family_model, IterativeModel)}
    if not iterative:
        return None
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(test), generator=g)
    m_eff = min(n, len(test) // 2)
    a = test[perm[:m_eff]].reshape(m_eff, -1).float()
    b = test[perm[m_eff:2 * m_eff]].reshape(m_eff, -1).float()
    floor = wasserstein2(b, a)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for j, (m, r) in enumerate(iterative.items()):
        inner = r.family_model
        grid = [k for k in NFE_GRID if k <= max(2 * inner.default_nfe, 16)]
        t0 = time.perf_counter()
        for s_i, sampler in enumerate(pick_samplers(tuple(inner.samplers))):
            pts = []
            for k in grid:
                if time.perf_counter() - t0 > seconds:
                    break
                x = r.sample(m_eff, seed=1, sampler=sampler, nfe=k).reshape(m_eff, -1).float()
                if torch.isfinite(x).all():
                    pts.append((k, wasserstein2(x, a)))
            if pts:
                ks, vals = zip(*pts)
                ax.plot(ks, vals, marker="osD^v"[j % 5], markersize=3, color=f"C{s_i % 10}",
                        linestyle=["-", "--", "-.", ":"][j % 4], label=f"{m} / {sampler}")
    ax.axhline(floor, color="0.3", linestyle=":", linewidth=1, label="floor (data vs data)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("NFE (network evaluations per sample)")
    ax.set_ylabel("W2 to test data")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save(fig, out, f"{prefix}nfe", f"Sample quality against NFE for each ODE/SDE sampler "
                f"(W2 on {m_eff} points; lower is better).")


def path_straightness(states: Tensor) -> float:
    r"""Mean over trajectories of :math:`\sum_k \lVert x_{k+1} - x_k\rVert^2 \cdot K /
    \lVert x_K - x_0\rVert^2`: 1 for straight paths at constant speed, larger when curved
    (the normalised path energy of rectified flow and OT-CFM; ``states`` is ``(K+1, n, D)``)."""
    k = states.shape[0] - 1
    flat = states.flatten(2).double()
    energy = (flat[1:] - flat[:-1]).square().sum(-1).sum(0) * k
    chord = (flat[-1] - flat[0]).square().sum(-1).clamp_min(1e-12)
    return float((energy / chord).mean())


def trajectory_figure(runs: dict[str, Any], out: Path, prefix: str, n: int = 120,
                      nfe: int = 32) -> Figure | None:
    """Sampling paths from the noise end to the data end, one panel per iterative model that
    offers :meth:`~genmodels.core.IterativeModel.trajectory`, for 2-D data (data units), with
    each model's normalised path energy (:func:`path_straightness`) in its title."""
    paths = {}
    for m, r in runs.items():
        inner = r.family_model
        if not isinstance(inner, IterativeModel) or tuple(inner.event_shape) != (2,):
            continue
        states = inner.trajectory(n, generator=torch.Generator().manual_seed(0), nfe=nfe)
        if states is None or not torch.isfinite(states).all():
            continue
        k = states.shape[0]
        data = r.standardize.inverse(states.reshape(k * n, 2).cpu().float()).reshape(k, n, 2)
        paths[m] = (data, path_straightness(states))
    if not paths:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(paths), figsize=(3.2 * len(paths), 3.2), squeeze=False)
    for ax, (m, (xs, energy)) in zip(axes[0], paths.items()):
        xs = xs.numpy()
        ax.plot(xs[:, :, 0], xs[:, :, 1], color="C0", alpha=0.25, linewidth=0.6)
        ax.scatter(xs[0, :, 0], xs[0, :, 1], s=3, color="0.55", label="start (noise)")
        ax.scatter(xs[-1, :, 0], xs[-1, :, 1], s=3, color="C3", label="end (sample)")
        ax.set_title(f"{m}: path energy {energy:.2f}", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, frameon=False, loc="lower left")
    fig.tight_layout()
    return save(fig, out, f"{prefix}trajectories", "Sampling trajectories from the noise end "
                f"to the data end (Heun, {nfe} evaluations, data units); path energy = K·Σ‖Δx‖²"
                " / ‖x_K − x_0‖², 1 for straight constant-speed paths.")


def modes_figure(runs: dict[str, Any], dataset: str, samples: int, out: Path,
                 prefix: str) -> Figure | None:
    """The share of samples near each mixture centre, per model (ring8, grid25)."""
    from ..data.toy import mixture_centres

    try:
        centres, std = mixture_centres(dataset)
    except (KeyError, ValueError):
        return None
    centres = centres.float()
    plt = pyplot()
    k = centres.shape[0]
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.32 * k * max(1, len(runs) / 2) + 1.5), 3.0))
    for j, (m, r) in enumerate(runs.items()):
        x = r.sample(samples, seed=2).reshape(samples, -1).float()
        d = torch.cdist(x, centres)
        near, idx = d.min(1)
        ok = near < 3 * std
        share = torch.bincount(idx[ok], minlength=k).float() / samples
        covered = int((share > 0).sum())
        ax.bar(torch.arange(k) + (j - (len(runs) - 1) / 2) * width, share.numpy(), width,
               color=f"C{j % 10}", label=f"{m}: {covered}/{k} modes, "
               f"{100 * float(ok.float().mean()):.0f}% high quality")
    ax.axhline(1 / k, color="0.3", linestyle=":", linewidth=1, label="ideal share 1/K")
    ax.set_xlabel("mode")
    ax.set_ylabel("share of samples within 3σ")
    ax.set_xticks(range(k))
    ax.tick_params(axis="x", labelsize=6)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save(fig, out, f"{prefix}modes", f"Mode coverage on {dataset}: the share of "
                f"{samples} samples within 3σ of each centre.")


def latent_figure(runs: dict[str, Any], test: Tensor, labels: Tensor | None, out: Path,
                  prefix: str, n: int = 1000) -> Figure | None:
    """The first two latent coordinates of test points for each latent-variable model."""
    latent = {m: r for m, r in runs.items() if isinstance(r.family_model, LatentVariableModel)}
    if not latent:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(latent), figsize=(3.2 * len(latent), 3.0), squeeze=False)
    x = test[:n].float()
    for ax, (m, r) in zip(axes[0], latent.items()):
        with torch.no_grad():
            z = r.family_model.encode(r.standardize.forward(x).to(r.model.device))
        z = z.reshape(len(z), -1).cpu()
        z2 = z[:, :2] if z.shape[1] >= 2 else torch.cat([z, torch.zeros_like(z)], 1)
        c = labels[:n].numpy() if labels is not None else "C0"
        ax.scatter(z2[:, 0], z2[:, 1], s=2, c=c, cmap="tab10", linewidths=0, rasterized=True)
        ax.set_title(f"{m}: encode(x), first 2 dims")
    fig.tight_layout()
    return save(fig, out, f"{prefix}latent", "Latent map: encode(x) of test points "
                "(coloured by label where there are labels).")


def metrics_figure(rows: list[dict[str, Any]], out: Path, prefix: str) -> Figure | None:
    """One bar panel per metric with a known direction; its noise floor as a dashed line."""
    cols = [c for c in metric_columns(rows) if direction(c) is not None][:6]
    if not cols or len(rows) < 1:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cols), figsize=(2.5 * len(cols), 2.6), squeeze=False)
    names = [str(r["model"]) for r in rows]
    for ax, c in zip(axes[0], cols):
        vals = [float(r.get(c, float("nan"))) for r in rows]
        ax.bar(range(len(rows)), vals, color=[f"C{j % 10}" for j in range(len(rows))])
        floors = [r.get(f"{c}_floor") for r in rows if isinstance(r.get(f"{c}_floor"), float)]
        if floors:
            ax.axhline(sum(floors) / len(floors), color="0.2", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=7)
        ax.set_title(f"{c} {arrow(c)}")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save(fig, out, f"{prefix}metrics", "Each metric per model (arrow: better "
                "direction); dashed: the noise floor (data against data).")
