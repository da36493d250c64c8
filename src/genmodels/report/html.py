"""A self-contained HTML report: figures embedded as base64 data URIs, nothing from the network.

One page, one section per data set: the metric table (one row per model, the mean over seeds
when there are several, ``±`` its standard error or spread; the noise floor of every two-sample
metric beside it; the best value of each column marked), then the figures.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .columns import aggregate, arrow, best_values, fmt, is_best, metric_columns
from .figures import Figure

_CSS = """
:root { --ink:#1d2430; --muted:#5b6577; --line:#e3e7ee; --best:#0b7a4b; --bg:#f7f8fb; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: var(--bg); margin: 0; }
header { background: #17202e; color: #fff; padding: 22px 36px 18px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #b8c2d3; font-size: 13px; }
main { padding: 8px 36px 40px; max-width: 1500px; }
section.data { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 24px 12px; margin: 22px 0; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
h2 { font-size: 18px; margin: 0 0 10px; } h3 { font-size: 15px; margin: 22px 0 8px; }
p.note { color: var(--muted); font-size: 12.5px; margin: 6px 0 14px; max-width: 980px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12.5px; }
th, td { padding: 5px 10px; vertical-align: top; border-bottom: 1px solid var(--line);
  text-align: right; white-space: nowrap; }
th { background: #f0f2f6; font-weight: 600; white-space: normal; vertical-align: bottom; }
td.name, th.name { text-align: left; font-weight: 600; }
td.kind { text-align: left; color: var(--muted); }
td div.fl { color: var(--muted); font-size: 11px; font-weight: 400; }
td.na { color: #b7bfcc; }
td.best { color: var(--best); font-weight: 700; }
td.best::before { content: "\\2605 "; font-size: 11px; }
span.se { color: var(--muted); font-size: 11px; font-weight: 400; }
tbody tr:hover { background: #f7faff; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 6px; max-width: 760px; }
footer { color: var(--muted); font-size: 12px; padding: 0 36px 30px; }
"""


@dataclass
class Section:
    """One data set's part of a report.

    Attributes:
        data: the data set's name (or file).
        rows: one result row per run (model, seed, metrics, steps, times).
        figures: the figures, in order.
        notes: extra lines shown under the heading.
    """

    data: str
    rows: list[dict[str, Any]]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _cell(key: str, row: dict[str, Any], best: dict[str, float]) -> str:
    v = row.get(key)
    text = html.escape(fmt(v))
    spread = row.get(f"{key}_se", row.get(f"{key}_sd"))
    if isinstance(spread, float) and text:
        text += f' <span class="se">± {html.escape(fmt(spread))}</span>'
    if not text:
        return '<td class="na">—</td>'
    floor = row.get(f"{key}_floor")
    if isinstance(floor, float):
        text += f'<div class="fl">floor {html.escape(fmt(floor))}</div>'
    cls = ' class="best"' if is_best(key, v, best) else ""
    return f"<td{cls}>{text}</td>"


def metric_table(rows: list[dict[str, Any]], *, table_id: str) -> str:
    """The HTML table of one section: a row per model, floors beside their metric."""
    agg = aggregate(rows)
    cols = metric_columns(agg)
    best = best_values(agg, cols)
    head = ['<th class="name">model</th>', "<th>kind</th>"]
    for c in cols:
        head.append(f"<th>{html.escape(c)} {arrow(c)}</th>")
    many = any(r.get("seeds", 1) > 1 for r in agg)
    head += (["<th>seeds</th>"] if many else []) + ["<th>steps</th>", "<th>train s</th>"]
    body = []
    for r in agg:
        cells = [f'<td class="name">{html.escape(str(r["model"]))}</td>',
                 f'<td class="kind">{html.escape(str(r.get("kind", "")))}</td>']
        for c in cols:
            cells.append(_cell(c, r, best))
        steps = r.get("steps")
        cells += ([f"<td>{r.get('seeds', 1)}</td>"] if many else []) + [
                  f"<td>{fmt(int(steps)) if isinstance(steps, (int, float)) else ''}</td>",
                  f"<td>{fmt(r.get('train_s'))}</td>"]
        body.append(f'<tr data-model="{html.escape(str(r["model"]))}">{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table class="results" id="{table_id}"><thead><tr>'
            f'{"".join(head)}</tr></thead><tbody>\n{chr(10).join(body)}\n</tbody></table></div>')


def _figure(f: Figure) -> str:
    return (f'<figure id="fig-{html.escape(f.name)}"><img alt="{html.escape(f.name)}" '
            f'src="data:image/png;base64,{f.png}"><figcaption>{html.escape(f.caption)}'
            "</figcaption></figure>")


LEGEND = (
    "↓ lower is better, ↑ higher is better, →½ closest to 0.5 is better; ★ marks the best model "
    "of each column. <em>floor</em> is the same two-sample metric between two independent "
    "samples of real test data of the same size: a model at its floor cannot be told apart "
    "from the data at this sample size. ± is the standard error (one seed) or the spread over "
    "seeds. nll is in nats per example; kl_to_data = nll − entropy of the data."
)


def render(sections: list[Section], *, title: str, subtitle: str = "") -> str:
    """The whole HTML document."""
    parts = []
    for i, s in enumerate(sections):
        entropy = next((r["entropy"] for r in s.rows if isinstance(r.get("entropy"), float)),
                       None)
        extra = ([f"Entropy of the data distribution: {fmt(entropy)} nats (the floor of nll)."]
                 if entropy is not None else [])
        notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in s.notes + extra)
        figs = "\n".join(_figure(f) for f in s.figures) or (
            '<p class="note">No figures (matplotlib is not installed).</p>')
        parts.append(
            f'<section class="data" id="data-{i}"><h2>{html.escape(s.data)}</h2>{notes}'
            f"{metric_table(s.rows, table_id='results' if i == 0 else f'results-{i}')}"
            f'<p class="note">{LEGEND}</p><h3>Figures</h3><div class="figs">{figs}</div>'
            "</section>"
        )
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>
<main>
{chr(10).join(parts)}
</main>
<footer>Written by genmodels on {stamp}. Self-contained: every figure is embedded; PNG and SVG
copies are in figures/ next to this file.</footer>
</body></html>
"""


def write_report(path: Path, sections: list[Section], *, title: str, subtitle: str = "") -> Path:
    """Writes the report to ``path`` and returns it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(sections, title=title, subtitle=subtitle), encoding="utf-8")
    return path
