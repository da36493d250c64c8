"""Reading run directories back: ``genmodels runs`` lists them with their final metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _last_metrics(path: Path) -> dict[str, Any]:
    """The last training record of a run's ``metrics.jsonl`` (a torn last line is skipped)."""
    last: dict[str, Any] = {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    last.update({k: v for k, v in rec.items() if isinstance(v, (int, float))})
    except FileNotFoundError:
        pass
    return last


def collect_runs(root: Path) -> list[dict[str, Any]]:
    """Every run directory under ``root`` (a run itself, or its children), with its metrics.

    A run's metrics are its last training record merged with its ``evaluation.json``. Runs
    of ``genmodels fit-target`` (a ``target.json`` in place of ``config.json``) are listed
    with the data column ``target:NAME`` (their ``evaluate`` gives ``log_z``, ``ess``…).
    """
    marks = ("config.json", "target.json")
    if any((root / m).is_file() for m in marks):
        candidates = [root]
    else:
        candidates = sorted({p.parent for m in marks for p in root.glob(f"**/{m}")})
    rows = []
    for run in candidates:
        try:
            if (run / "config.json").is_file():
                cfg = json.loads((run / "config.json").read_text())
            else:
                cfg = json.loads((run / "target.json").read_text())["config"]
            if not isinstance(cfg, dict):
                continue
        except (OSError, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            continue
        metrics = _last_metrics(run / "metrics.jsonl")
        step = int(metrics.pop("step", 0))
        try:
            metrics.update(json.loads((run / "evaluation.json").read_text()))
        except (OSError, json.JSONDecodeError):
            pass
        rows.append({
            "path": str(run),
            "model": cfg.get("model", {}).get("name", "?"),
            "data": cfg.get("data", {}).get("name", "?"),
            "step": step,
            "metrics": metrics,
        })
    return rows


def format_runs(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of runs: path, model, data, step, final loss and evaluation metrics.

    The metric columns are those of :func:`genmodels.report.columns.metric_columns` over the
    runs' evaluations (two-sample metrics with their floor in brackets).
    """
    from .columns import direction, fmt, metric_columns

    flat = [r["metrics"] for r in rows]
    cols = [c for c in metric_columns(flat)
            if direction(c) is not None and not c.endswith("loss")][:6]
    if any("log_z" in m for m in flat):  # target runs: the IS estimate of log Z first
        cols = ["log_z", "log_z_se", *cols[:4]]
    head = ["run", "model", "data", "step", "loss", *cols]
    lines = [head]
    for r in rows:
        m = r["metrics"]
        loss = m.get("loss", m.get("generator_loss"))
        cells = [r["path"], r["model"], str(r["data"]), str(r["step"]), fmt(loss)]
        for c in cols:
            s = fmt(m.get(c))
            if isinstance(m.get(f"{c}_floor"), float):
                s += f" [{fmt(m[f'{c}_floor'])}]"
            cells.append(s)
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)
