"""Reading run directories back: ``genmodels runs``."""

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

    A run's metrics are its last training record merged with its ``evaluation.json``.
    """
    candidates = [root] if (root / "config.json").is_file() else sorted(
        p.parent for p in root.glob("**/config.json")
    )
    rows = []
    for run in candidates:
        try:
            cfg = json.loads((run / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
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
