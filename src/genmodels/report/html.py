"""A self-contained HTML report: figures embedded as data URIs, nothing from the network."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import torch

from ..core import DensityModel

NO_FIGURES = "<p>No figures (matplotlib is not installed, or the data is not 2-D).</p>"


def _figure_png(run: Any, n: int = 2000) -> str | None:
    """Samples beside data for 2-D models, with the model's density as a heat-map."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if tuple(run.model.event_shape) != (2,):
        return None
    data = run.dataset().test[:n]
    x = run.sample(n, seed=0).cpu()
    lo = torch.quantile(data, 0.005, dim=0) - 0.5
    hi = torch.quantile(data, 0.995, dim=0) + 0.5
    ncols = 3 if isinstance(run.model, DensityModel) else 2
    fig, axes = plt.subplots(1, ncols, figsize=(3.2 * ncols, 3.2), dpi=90)
    axes[0].scatter(data[:, 0], data[:, 1], s=1, c="k", alpha=0.5)
    axes[0].set_title("data")
    axes[1].scatter(x[:, 0], x[:, 1], s=1, c="C0", alpha=0.5)
    axes[1].set_title(f"{run.config.model} samples")
    if ncols == 3:
        g = 150
        xs = torch.linspace(float(lo[0]), float(hi[0]), g)
        ys = torch.linspace(float(lo[1]), float(hi[1]), g)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
        lp = run.log_prob(grid).reshape(g, g)
        axes[2].imshow(lp.exp(), origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]),
                       cmap="viridis", aspect="auto")
        axes[2].set_title("model density")
    for ax in axes:
        ax.set_xlim(float(lo[0]), float(hi[0]))
        ax.set_ylim(float(lo[1]), float(hi[1]))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(path: Path, rows: list[dict[str, Any]], runs: list[Any], *, title: str) -> None:
    """Writes ``report.html``: the metric table (best per column marked) and the figures."""
    from .compare import best_values, table_columns

    cols = table_columns(rows)
    best = best_values(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", "seed", *cols])
    body = []
    for r in rows:
        cells = [f"<td>{html.escape(str(r['model']))}</td>", f"<td>{r['seed']}</td>"]
        for c in cols:
            v = r.get(c)
            text = f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
            target = abs(v) if (c == "mmd2" and isinstance(v, float)) else v
            mark = ' class="best"' if c in best and target == best[c] and len(rows) > 1 else ""
            cells.append(f"<td{mark}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    figures = []
    for run in runs:
        png = _figure_png(run)
        if png:
            figures.append(
                f'<figure><img alt="{html.escape(run.config.model)} samples" '
                f'src="data:image/png;base64,{png}"><figcaption>'
                f"{html.escape(run.config.model)}</figcaption></figure>"
            )
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd;
text-align: right; }} th {{ background: #f3f3f3; }} td.best {{ font-weight: bold; color: #0a6; }}
figure {{ display: inline-block; margin: 1em; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Lower is better for nll, kl_to_data, bpd, w2, mmd2 and energy; the best value of each column
is in bold. <code>&lt;metric&gt;_floor</code> is the same metric between two independent real
samples of the same size: a model cannot be told apart from the data below it.</p>
<table id="results"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<h2>Samples</h2>
{chr(10).join(figures) or NO_FIGURES}
</body></html>
"""
    path.write_text(doc)
