"""Report figures of latent-variable models: reconstructions, latent interpolations, traversals.

* images: test images beside :math:`\\mathbb E[x \\mid z = \\mathbb E_q[z \\mid x]]`; decoded
  points on the straight line between two test points' codes; each of the first latent
  coordinates swept over :math:`[-2.5, 2.5]` around a test point's code;
* 2-D points and tables: the first two coordinates of test points and of their
  reconstructions, and decoded interpolation paths between pairs of test points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...report.figures import Figure, _tile, pyplot, save
from .model import VAE


def _codec(run: Any) -> tuple[VAE, Any] | None:
    model = run.family_model
    return (model, run.standardize) if isinstance(model, VAE) else None


def _decode(model: VAE, std: Any, z: Tensor) -> Tensor:
    with torch.no_grad():
        return std.inverse(model.decode(z.to(model.device))).cpu()


def _encode(model: VAE, std: Any, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model.encode(std.forward(x).to(model.device)).cpu()


def latent_figures(runs: dict[str, Any], test: Tensor, out: Path, prefix: str,
                   n: int = 8) -> list[Figure]:
    """The figures of every VAE-family run in ``runs`` (``[]`` when there is none)."""
    figs = []
    for name, run in runs.items():
        got = _codec(run)
        if got is None:
            continue
        model, std = got
        x = test[: 2 * n].float()
        z = _encode(model, std, x)
        if x.dim() == 4:
            figs.append(_image_figure(name, model, std, x, z, out, prefix, n))
        else:
            figs.append(_points_figure(name, model, std, test.float(), out, prefix))
    return figs


def _image_figure(name: str, model: VAE, std: Any, x: Tensor, z: Tensor, out: Path,
                  prefix: str, n: int) -> Figure:
    plt = pyplot()
    lo, hi = float(x.min()), float(x.max())
    recon = _decode(model, std, z[:n])
    t = torch.linspace(0, 1, n)[:, None]
    pairs = [_decode(model, std, (1 - t) * z[2 * i] + t * z[2 * i + 1]) for i in range(3)]
    dims = min(4, model.latent)
    sweep = torch.linspace(-2.5, 2.5, n)
    trav = []
    for d in range(dims):
        zz = z[0].repeat(n, 1)
        zz[:, d] = zz[:, d] + sweep
        trav.append(_decode(model, std, zz))
    panels = [("test / reconstruction", torch.cat([x[:n], recon]), 2),
              ("interpolations", torch.cat(pairs), 3),
              (f"traversals of z_1..z_{dims}", torch.cat(trav), dims)]
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0), squeeze=False)
    for ax, (title, imgs, rows) in zip(axes[0], panels):
        ax.imshow(_tile(imgs, rows, n, lo, hi).numpy(), cmap="gray_r", interpolation="nearest",
                  vmin=0, vmax=1)
        ax.set_title(f"{name}: {title}")
        ax.axis("off")
    fig.tight_layout()
    return save(fig, out, f"{prefix}{name}-latent-images",
                f"{name}: reconstructions (top: test, bottom: decoded codes), straight-line "
                "interpolations between test codes, and latent traversals (±2.5 around a code).")


def _points_figure(name: str, model: VAE, std: Any, test: Tensor, out: Path,
                   prefix: str, m: int = 500) -> Figure:
    plt = pyplot()
    x = test[:m]
    recon = _decode(model, std, _encode(model, std, x))
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), squeeze=False)
    ax = axes[0][0]
    ax.scatter(x[:, 0], x[:, 1], s=3, c="0.6", label="test", linewidths=0)
    ax.scatter(recon[:, 0], recon[:, 1], s=3, c="C1", label="reconstruction", linewidths=0)
    ax.legend(fontsize=7, markerscale=3)
    ax.set_title(f"{name}: E[x | E_q[z|x]]")
    ax = axes[0][1]
    ax.scatter(x[:, 0], x[:, 1], s=3, c="0.8", linewidths=0)
    z = _encode(model, std, x[:10])
    t = torch.linspace(0, 1, 30)[:, None]
    for i in range(5):
        path = _decode(model, std, (1 - t) * z[2 * i] + t * z[2 * i + 1])
        ax.plot(path[:, 0], path[:, 1], color=f"C{i}", linewidth=1.2)
    ax.set_title(f"{name}: decoded interpolations")
    fig.tight_layout()
    return save(fig, out, f"{prefix}{name}-latent-points",
                f"{name}: test points and their reconstructions (first two coordinates); "
                "decoded straight-line interpolations between pairs of test codes.")
