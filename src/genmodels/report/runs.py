"""Reading run directories back: ``genmodels runs`` lists them with their final metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _last_metrics(path: Path) -> dict[str, Any]:
    """The last training record of a run's ``metrics.jsonl`` (a torn last line is skipped)."""
    last: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    last.update({k: v for k, v in rec.items() if isinstance(v, (int, float))})
    except OSError:  # missing, a directory, a link loop: no training record
        pass
    return last


def _name(section: Any) -> str:
    name = section.get("name", "?") if isinstance(section, dict) else "?"
    return name if isinstance(name, str) else "?"


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
                cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
            else:
                cfg = json.loads((run / "target.json").read_text(encoding="utf-8"))
                cfg = cfg.get("config") if isinstance(cfg, dict) else None
        except (OSError, ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
            continue
        if not isinstance(cfg, dict):
            continue
        metrics = _last_metrics(run / "metrics.jsonl")
        step = metrics.pop("step", 0)
        step = int(step) if isinstance(step, (int, float)) and math.isfinite(step) else 0
        try:
            evaluation = json.loads((run / "evaluation.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            evaluation = {}
        if isinstance(evaluation, dict):
            metrics.update(evaluation)
        rows.append({
            "path": str(run),
            "model": _name(cfg.get("model")),
            "data": _name(cfg.get("data")),
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
