"""``genmodels report RUN [RUN ...]``: a report rebuilt from existing run directories.

Each run is loaded (:func:`genmodels.rundir.load`); its metrics are its ``evaluation.json``, or a
fresh :meth:`~genmodels.run.Run.evaluate` when it has none (``evaluate=True`` re-evaluates
every run). Runs are grouped by data set, one report section each; runs of the same model
with different seeds are that model's seeds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import get_family
from .diagnostics import read_curves


def _row(run: Any, *, evaluate: bool) -> dict[str, Any]:
    path = Path(run.path)
    metrics = None
    if not evaluate:
        try:
            metrics = json.loads((path / "evaluation.json").read_text())
        except (OSError, json.JSONDecodeError):
            metrics = None
    if metrics is None:
        print(f"evaluating {path}", file=sys.stderr)
        metrics = run.evaluate(seed=run.config.train.seed)
    curves = read_curves(path)
    steps = max((int(r["step"]) for r in curves), default=0)
    return {"model": run.config.model, "kind": get_family(run.config.model).kind,
            "seed": run.config.train.seed, "data": run.config.data.name, "steps": steps,
            "path": str(path), **metrics}


def rebuild(paths: list[str | Path], out: Path, *, evaluate: bool = False,
            title: str | None = None) -> Path:
    """Writes ``results.json``, ``results.csv``, figures and ``report.html`` into ``out``."""
    from ..rundir import load
    from .compare import format_table, write_results
    from .html import write_report
    from .section import build_section

    if not paths:
        raise InputError("report: give at least one run directory")
    groups: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {}
    seen: set[tuple[str, str, int]] = set()
    for p in paths:
        run = load(p)
        row = _row(run, evaluate=evaluate)
        key = (row["data"], row["model"], row["seed"])
        if key in seen:  # the same model and seed twice: tell them apart by directory
            row["model"] = f"{row['model']} ({Path(p).name})"
        seen.add((row["data"], row["model"], row["seed"]))
        rows, runs = groups.setdefault(row["data"], ([], {}))
        rows.append(row)
        runs.setdefault(row["model"], run)
    out.mkdir(parents=True, exist_ok=True)
    sections, all_rows = [], []
    for i, (data, (rows, runs)) in enumerate(groups.items()):
        prefix = "" if len(groups) == 1 else f"{i}-"
        note = f"Rebuilt from {len(rows)} existing run(s)."
        sections.append(build_section(data, rows, runs, out, prefix=prefix, notes=[note]))
        all_rows.extend(rows)
    title = title or "genmodels report"
    write_results(out, all_rows, title=title)
    path = write_report(out / "report.html", sections, title=title,
                        subtitle=f"{len(all_rows)} runs on {', '.join(groups)}")
    print(format_table(all_rows))
    print(f"report: {path.resolve()}")
    return path
