"""The sample figures of a report: samples beside data, in the form the data calls for.

- 2-D points: a scatter of the data and of each model's samples, and under each density model
  its density :math:`p_\\theta(x)` on a grid as a heat-map;
- images ``(C, H, W)``: a grid of data images beside a grid of each model's samples;
- tables (any other shape): a pair plot of the first four coordinates, data in grey, samples
  in colour.

Every figure is a matplotlib figure (Agg backend, imported lazily) saved as PNG and SVG by
:func:`save`; the PNG is what the HTML embeds.
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..core import DensityModel

#: Points drawn per model for scatter plots.
N_SCATTER = 2000


@dataclass
class Figure:
    """A figure written to disk and ready to embed.

    Attributes:
        name: the file stem (``figures/<name>.png`` and ``.svg``).
        caption: one line under the figure in the report.
        png: the PNG bytes, base64-encoded.
    """

    name: str
    caption: str
    png: str


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.fonttype": "none"})
    return plt


def save(fig: Any, out: Path, name: str, caption: str) -> Figure:
    """Writes ``fig`` to ``out/<name>.png`` and ``.svg``; closes it; returns the record."""
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    (out / f"{name}.png").write_bytes(buf.getvalue())
    fig.savefig(out / f"{name}.svg", format="svg", bbox_inches="tight")
    plt.close(fig)
    return Figure(name, caption, base64.b64encode(buf.getvalue()).decode())


def draw_samples(run: Any, n: int, seed: int = 0) -> Tensor:
    """``n`` samples of a run in data units, on the CPU, as float32."""
    return run.sample(n, seed=seed).detach().float().cpu()


def _limits(data: Tensor) -> tuple[Tensor, Tensor]:
    lo = torch.quantile(data, 0.002, dim=0)
    hi = torch.quantile(data, 0.998, dim=0)
    pad = 0.08 * (hi - lo) + 1e-3
    return lo - pad, hi + pad


def _density_grid(run: Any, lo: Tensor, hi: Tensor, seconds: float = 3.0
                  ) -> tuple[Tensor, tuple[float, ...]]:
    """The model density on a grid, as fine as ``seconds`` allow (a probe of 64 points is
    timed first: an exact flow density gets 120², an ODE likelihood estimate far fewer)."""
    probe = torch.stack([torch.linspace(float(lo[0]), float(hi[0]), 64),
                         torch.linspace(float(lo[1]), float(hi[1]), 64)], 1)
    t0 = time.perf_counter()
    run.log_prob(probe)
    per_point = (time.perf_counter() - t0) / 64
    g = int(max(12, min(120, math.sqrt(seconds / max(per_point, 1e-9)))))
    xs = torch.linspace(float(lo[0]), float(hi[0]), g)
    ys = torch.linspace(float(lo[1]), float(hi[1]), g)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    lp = run.log_prob(grid).reshape(g, g).double()
    dens = torch.where(lp.isfinite(), lp.exp(), torch.zeros_like(lp))
    return dens, (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))


def scatter_2d(runs: dict[str, Any], data: Tensor, samples: dict[str, Tensor],
               log_prob: Any = None) -> Any:
    """Data and each model's samples side by side; density heat-maps underneath."""
    plt = pyplot()
    names = list(runs)
    dens_row = any(isinstance(runs[m].model, DensityModel) for m in names)
    ncols, nrows = len(names) + 1, 2 if dens_row else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.4 * nrows), squeeze=False)
    lo, hi = _limits(data)
    d = data[:N_SCATTER]
    axes[0, 0].scatter(d[:, 0], d[:, 1], s=0.6, c="0.15", alpha=0.5, linewidths=0, rasterized=True)
    axes[0, 0].set_title("data")
    for j, m in enumerate(names, start=1):
        x = samples[m]
        axes[0, j].scatter(x[:, 0], x[:, 1], s=0.6, c=f"C{(j - 1) % 10}", alpha=0.5,
                           linewidths=0, rasterized=True)
        axes[0, j].set_title(f"{m} samples")
        if dens_row:
            ax = axes[1, j]
            if isinstance(runs[m].model, DensityModel):
                dens, extent = _density_grid(runs[m], lo, hi)
                ax.imshow(dens.numpy(), origin="lower", extent=extent, cmap="magma",
                          aspect="auto", interpolation="bilinear")
                kind = runs[m].model.log_prob_kind
                ax.set_title(f"{m} density" + ("" if kind == "exact" else f" ({kind})"))
            else:
                ax.text(0.5, 0.5, "no density\n(sampler only)", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
    if dens_row:
        truth = _true_density(log_prob, lo, hi) if log_prob is not None else None
        if truth is not None:
            axes[1, 0].imshow(truth[0].numpy(), origin="lower", extent=truth[1], cmap="magma",
                              aspect="auto", interpolation="bilinear")
            axes[1, 0].set_title("data density")
        else:
            axes[1, 0].axis("off")
    for ax in axes.flat:
        ax.set_xlim(float(lo[0]), float(hi[0]))
        ax.set_ylim(float(lo[1]), float(hi[1]))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _true_density(log_prob: Any, lo: Tensor, hi: Tensor) -> Any:
    """The generating density of a built-in 2-D set on the grid."""
    g = 120
    xs = torch.linspace(float(lo[0]), float(hi[0]), g)
    ys = torch.linspace(float(lo[1]), float(hi[1]), g)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        lp = log_prob(grid).reshape(g, g).double()
    dens = torch.where(lp.isfinite(), lp.exp(), torch.zeros_like(lp))
    return dens, (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))


def _tile(x: Tensor, rows: int, cols: int, lo: float, hi: float) -> Tensor:
    """``(rows·cols, C, H, W)`` images as one ``(rows·H, cols·W[, C])`` array in [0, 1]."""
    x = x[: rows * cols].clamp(lo, hi)
    x = (x - lo) / max(hi - lo, 1e-8)
    n, c, h, w = x.shape
    if n < rows * cols:
        x = torch.cat([x, torch.ones(rows * cols - n, c, h, w)])
    pad = torch.ones(rows * cols, c, h + 1, w + 1)
    pad[:, :, :h, :w] = x
    grid = pad.reshape(rows, cols, c, h + 1, w + 1).permute(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * (h + 1), cols * (w + 1), c)
    return grid[..., 0] if c == 1 else grid[..., :3]


def image_grids(data: Tensor, samples: dict[str, Tensor], rows: int = 8, cols: int = 8) -> Any:
    """A grid of data images beside a grid of each model's samples."""
    plt = pyplot()
    lo, hi = float(data.min()), float(data.max())
    names = list(samples)
    ncols = len(names) + 1
    fig, axes = plt.subplots(1, ncols, figsize=(2.6 * ncols, 2.8), squeeze=False)
    panels = [("data", data), *((f"{m} samples", samples[m]) for m in names)]
    for ax, (title, x) in zip(axes[0], panels):
        ax.imshow(_tile(x.float(), rows, cols, lo, hi).numpy(), cmap="gray_r",
                  interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return fig


def pair_plot(name: str, data: Tensor, x: Tensor, color: str, dims: int = 4) -> Any:
    """The first ``dims`` coordinates of data (grey, on top) and as many samples (colour),
    pair by pair; histograms of each coordinate on the diagonal."""
    plt = pyplot()
    d = data.reshape(len(data), -1)[:N_SCATTER]
    s = x.reshape(len(x), -1)[:N_SCATTER]
    k = min(dims, d.shape[1])
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 0.4, 1.9 * k), squeeze=False)
    lo, hi = _limits(d[:, :k])
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                bins = torch.linspace(float(lo[i]), float(hi[i]), 40).numpy()
                ax.hist(d[:, i].numpy(), bins=bins, color="0.6", density=True)
                ax.hist(s[:, i].clamp(lo[i], hi[i]).numpy(), bins=bins, color=color,
                        density=True, histtype="step", linewidth=1.2)
            else:
                for pts, col, size in ((s[: len(d)], color, 1.5), (d, "0.25", 1.5)):
                    ax.scatter(pts[:, j], pts[:, i], s=size, c=col, alpha=0.45, linewidths=0,
                               rasterized=True)
                ax.set_xlim(float(lo[j]), float(hi[j]))
                ax.set_ylim(float(lo[i]), float(hi[i]))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == k - 1:
                ax.set_xlabel(f"x{j}")
            if j == 0:
                ax.set_ylabel(f"x{i}")
    fig.suptitle(f"{name}: samples (colour) over data (grey), first {k} coordinates")
    fig.tight_layout()
    return fig


def sample_figures(runs: dict[str, Any], dataset: Any, out: Path, prefix: str) -> list[Figure]:
    """The samples-beside-data figures for the shape of the data set's points."""
    data = dataset.test.float()
    shape = tuple(data.shape[1:])
    n = N_SCATTER if shape == (2,) else (64 if len(shape) == 3 else N_SCATTER)
    samples = {m: draw_samples(r, n) for m, r in runs.items()}
    if shape == (2,):
        fig = scatter_2d(runs, data, samples, dataset.log_prob)
        return [save(fig, out, f"{prefix}samples", "Samples beside the data; below, each "
                     "density model's density as a heat-map (bright = likely).")]
    if len(shape) == 3:
        fig = image_grids(data, samples)
        return [save(fig, out, f"{prefix}samples", "Data images beside each model's samples.")]
    figs = []
    for j, (m, x) in enumerate(samples.items()):
        fig = pair_plot(m, data, x, f"C{j % 10}")
        figs.append(save(fig, out, f"{prefix}pairs-{m}", f"{m}: pair plot of the first "
                         "coordinates, samples over data."))
    return figs
