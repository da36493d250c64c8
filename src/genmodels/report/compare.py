"""``genmodels compare`` and ``genmodels demo``: several models, one budget, one report."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import FAMILIES, get_family, load_all

#: Columns where lower is better (the report marks the best value of each).
LOWER_IS_BETTER = ("nll", "bpd", "kl_to_data", "w2", "mmd2", "energy")


def compare(
    data: str,
    models: list[str],
    *,
    out: Path,
    steps: int | None = None,
    budget: float | None = None,
    seeds: int = 1,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool | None = None,
    title: str | None = None,
) -> list[dict[str, Any]]:
    """Trains every model on ``data`` with the same budget, evaluates all the same way.

    Writes ``results.json``, ``results.csv`` and a self-contained ``report.html`` into
    ``out`` (runs under ``out/runs/``) and prints the final table.

    Args:
        data: a registered data set or a file.
        models: family names.
        steps: training steps per model (default: the config's).
        budget: wall-clock seconds per model; with no ``steps`` training runs until it.
        seeds: seeds per model (0, 1, …).
        overrides: ``--set`` overrides applied to every model.
        progress: progress bars (``None``: when stderr is a terminal).
        title: the report's title.
    """
    from ..run import fit

    if not models:
        raise InputError("--models: give at least one model")
    for m in models:
        get_family(m)
    if seeds < 1:
        raise InputError(f"--seeds {seeds}: must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    runs = []
    for model in models:
        for seed in range(seeds):
            train: dict[str, Any] = {"seed": seed}
            if steps is not None:
                train["steps"] = steps
            if budget is not None:
                train["budget"] = budget
                if steps is None:
                    train["steps"] = 1_000_000
            run_dir = out / "runs" / f"{model}-seed{seed}"
            if (run_dir / "config.json").exists():
                import shutil

                shutil.rmtree(run_dir)
            print(f"[{model} seed {seed}] training on {data}", file=sys.stderr)
            run = fit(model={"name": model}, data={"name": data}, train=train,
                      overrides=overrides, out=run_dir, progress=progress)
            t0 = time.perf_counter()
            metrics = run.evaluate(seed=seed)
            row = {"model": model, "kind": FAMILIES[model].kind, "seed": seed,
                   "steps": run.fit_result.steps, "train_s": round(run.fit_result.wall_time, 2),
                   "eval_s": round(time.perf_counter() - t0, 2), **metrics}
            rows.append(row)
            runs.append(run)
    _write_results(out, rows)
    from .html import write_report

    write_report(out / "report.html", rows, runs, title=title or f"genmodels compare on {data}")
    print(format_table(rows))
    print(f"report: {out / 'report.html'}")
    return rows


def _write_results(out: Path, rows: list[dict[str, Any]]) -> None:
    (out / "results.json").write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    (out / "results.csv").write_text(buf.getvalue())


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The metric columns worth showing, in a fixed order, with floors beside their metric."""
    order = ["nll", "entropy", "kl_to_data", "bpd", "w2", "w2_floor", "mmd2", "mmd2_floor",
             "energy", "energy_floor"]
    present = {k for r in rows for k in r}
    return [c for c in order if c in present] + ["steps", "train_s"]


def best_values(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The best (lowest) value of each lower-is-better column."""
    best = {}
    for c in LOWER_IS_BETTER:
        vals = [r[c] for r in rows if isinstance(r.get(c), (int, float)) and math.isfinite(r[c])]
        if vals:
            best[c] = min(abs(v) for v in vals) if c == "mmd2" else min(vals)
    return best


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the results, the best value per column starred."""
    cols = table_columns(rows)
    best = best_values(rows)
    head = ["model", "seed", *cols]
    lines = [head]
    for r in rows:
        cells = [r["model"], str(r["seed"])]
        for c in cols:
            v = r.get(c)
            if isinstance(v, float):
                s = f"{v:.4g}"
                target = abs(v) if c == "mmd2" else v
                if c in best and target == best[c] and len(rows) > 1:
                    s += "*"
            else:
                s = "" if v is None else str(v)
            cells.append(s)
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines)


def demo(*, out: Path, steps: int = 1500, progress: bool | None = None) -> list[dict[str, Any]]:
    """The main job: one model of every family kind that exists, on ``checkerboard``."""
    load_all()
    chosen: dict[str, str] = {}
    preferred = {"flow": "realnvp"}
    for name, fam in FAMILIES.items():
        if fam.kind not in chosen or preferred.get(fam.kind) == name:
            chosen[fam.kind] = name
    models = list(chosen.values())
    return compare("checkerboard", models, out=out, steps=steps, progress=progress,
                   title="genmodels demo: every family on checkerboard")
