"""``genmodels compare``: several models, one budget, the same metrics, one report.

Every model trains on the same data with the same budget: a number of steps, or a wall-clock
budget ``B`` seconds. For a wall-clock budget the runner first times two short calibration fits
(:func:`calibrate`) to estimate the model's speed ``r`` (steps/s), trains for
``⌊r·B⌋`` steps (so the learning-rate schedule completes) and passes ``B`` to the Trainer's
own ``train.budget`` as the hard stop. Each run is evaluated by
:meth:`genmodels.run.Run.evaluate` (every default metric that applies, with noise floors).

Outputs in ``out``: ``runs/<model>-seed<k>/`` (ordinary run directories), ``results.json``,
``results.csv``, ``figures/*.png|svg`` and ``report.html``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import get_family
from .columns import aggregate, best_values, direction, fmt, is_best, metric_columns

#: Steps of the calibration fit that measures a model's speed for a wall-clock budget.
CALIBRATION_STEPS = 15


def split_overrides(models: list[str], overrides: list[str] | tuple[str, ...]
                    ) -> dict[str, list[str]]:
    """The ``--set`` overrides of each model: ``key=value`` for all, ``MODEL:key=value`` for one.

    Raises:
        InputError: for a ``MODEL:`` prefix that names no compared model.
    """
    per = {m: [] for m in models}
    for item in overrides:
        key = item.partition("=")[0]
        if ":" in key:
            model, _, rest = item.partition(":")
            if model not in per:
                raise InputError(f"--set {item}: {model!r} is not one of the compared models "
                                 f"({', '.join(models)})")
            per[model].append(rest)
        else:
            for m in models:
                per[m].append(item)
    return per


def small_overrides(model: str, width: int = 32, layers: int = 4) -> list[str]:
    """Overrides that shrink a family's networks, for quick comparisons (tests, demo).

    Fields named ``hidden``/``hidden_dims``/``widths`` (tuples of ints) are capped at
    ``width`` per entry; int fields ``hidden``/``width``/``hidden_dim``/``channels``/
    ``base_channels`` at ``width``; ``layers``/``blocks`` at ``layers``.
    """
    out = []
    for f in dataclasses.fields(get_family(model).config):
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name in ("hidden", "hidden_dims", "widths") and isinstance(default, tuple) \
                and all(isinstance(v, int) for v in default):
            out.append(f"{f.name}={json.dumps([min(v, width) for v in default])}")
        elif f.name in ("hidden", "width", "hidden_dim", "channels", "base_channels") \
                and isinstance(default, int) and not isinstance(default, bool):
            out.append(f"{f.name}={min(default, width)}")
        elif f.name in ("layers", "blocks") and isinstance(default, int) \
                and not isinstance(default, bool):
            out.append(f"{f.name}={min(default, layers)}")
    return out


def calibrate(model: str, data: dict[str, Any], train: dict[str, Any], overrides: list[str],
              seconds: float, max_steps: int | None = None) -> int:
    """The steps that fit in ``seconds`` for ``model``, from two short timed fits.

    Fits of ``k`` and ``3k`` steps (``k`` = :data:`CALIBRATION_STEPS` / 3) give the time per
    step as the difference of their loop times over ``2k``, without the start-up cost (data
    moved to the device, first-batch initialisations) that both share.
    """
    from ..fitting import fit

    k = max(1, CALIBRATION_STEPS // 3)
    times = []
    for n in (k, 3 * k):
        t = {**train, "steps": n, "log_every": n, "val_every": 0}
        t.pop("budget", None)
        r = fit(model={"name": model}, data=data, train=t, overrides=overrides, out=None,
                progress=False)
        times.append(r.fit_result.wall_time)
    per_step = max((times[1] - times[0]) / (2 * k), times[1] / (3 * k) / 4, 1e-6)
    steps = max(CALIBRATION_STEPS, int(seconds / per_step))
    return min(steps, max_steps) if max_steps else steps


def _train_one(model: str, seed: int, data: dict[str, Any], steps: int | None,
               budget: float | None, overrides: list[str], out: Path,
               progress: bool | None, train_extra: dict[str, Any],
               max_steps: int | None = None) -> tuple[Any, dict]:
    from ..fitting import fit

    train: dict[str, Any] = {"seed": seed, **train_extra}
    if budget is not None:
        train["steps"] = steps or calibrate(model, data, train, overrides, budget, max_steps)
        train["budget"] = budget
    elif steps is not None:
        train["steps"] = steps
    if "steps" in train and "log_every" not in train:
        train["log_every"] = max(1, int(train["steps"]) // 100)
    if "steps" in train and "val_every" not in train:
        train["val_every"] = max(1, int(train["steps"]) // 10)
    run_dir = out / "runs" / f"{model}-seed{seed}"
    if (run_dir / "config.json").exists():
        shutil.rmtree(run_dir)
    run = fit(model={"name": model}, data=data, train=train, overrides=overrides, out=run_dir,
              progress=progress)
    t0 = time.perf_counter()
    metrics = run.evaluate(seed=seed)
    r = run.fit_result
    row = {"model": model, "kind": get_family(model).kind, "seed": seed, "data": data["name"],
           "steps": r.steps, "stopped": r.stopped, "train_s": round(r.wall_time, 2),
           "eval_s": round(time.perf_counter() - t0, 2), **metrics}
    return run, row


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
    data_options: dict[str, Any] | None = None,
    train_options: dict[str, Any] | None = None,
    write: bool = True,
    max_steps: int | None = None,
) -> Any:
    """Trains every model on ``data`` with the same budget and evaluates all the same way.

    Args:
        data: a registered data set or a file.
        models: family names (each once).
        out: the output directory.
        steps: training steps per model (default: the config's ``train.steps``); with
            ``budget`` too, the steps are taken as given and ``budget`` is the hard stop.
        budget: wall-clock seconds per model (see the module docstring).
        seeds: seeds per model (0, 1, …); the table shows the mean and spread.
        overrides: ``--set`` overrides: ``key=value`` for every model, ``MODEL:key=value``
            for one.
        progress: progress bars (``None``: when stderr is a terminal).
        title: the report's title.
        data_options: extra ``[data]`` fields (``n_test``, …).
        train_options: extra ``[train]`` fields (``batch_size``, …) for every model.
        write: write results and the report (``False``: only return the section).
        max_steps: with ``budget`` and no ``steps``, the cap on the calibrated steps.

    Returns:
        The report :class:`~genmodels.report.html.Section` (its ``rows``: one per run).
    """
    from .html import write_report
    from .section import build_section

    models = [m.strip() for m in models if m.strip()]
    if not models:
        raise InputError("--models: give at least one model")
    if len(set(models)) != len(models):
        raise InputError(f"--models {','.join(models)}: a model is named twice")
    for m in models:
        get_family(m)
    if seeds < 1:
        raise InputError(f"--seeds {seeds}: must be at least 1")
    if steps is not None and steps < 1:
        raise InputError(f"--steps {steps}: must be at least 1")
    per_model = split_overrides(models, overrides)
    out.mkdir(parents=True, exist_ok=True)
    spec = {"name": data, **(data_options or {})}
    rows, first_runs = [], {}
    total = len(models) * seeds
    for i, model in enumerate(models):
        for seed in range(seeds):
            k = i * seeds + seed + 1
            print(f"[{k}/{total}] {model} ({get_family(model).kind}) seed {seed} on {data}",
                  file=sys.stderr, flush=True)
            run, row = _train_one(model, seed, spec, steps, budget, per_model[model], out,
                                  progress, dict(train_options or {}), max_steps)
            print(f"        {row['steps']} steps in {row['train_s']:.1f}s ({row['stopped']}), "
                  f"evaluated in {row['eval_s']:.1f}s", file=sys.stderr, flush=True)
            rows.append(row)
            first_runs.setdefault(model, run)
    budget_note = (f"Budget per model: {fmt(budget)} s wall clock" if budget is not None
                   else f"Budget per model: {rows[0]['steps']} steps" if steps is not None
                   else "Budget per model: each config's train.steps")
    notes = [f"{budget_note}; {seeds} seed(s); the same metrics for every model "
             f"(genmodels.metrics.evaluate on the test split)."]
    section = build_section(data, rows, first_runs, out, notes=notes)
    from ..train.distributed import launched_rank

    if write and launched_rank() == 0:  # under torchrun every rank trains; rank 0 writes
        write_results(out, rows, title=title or f"genmodels compare on {data}")
        path = write_report(out / "report.html", [section],
                            title=title or f"genmodels compare on {data}",
                            subtitle=f"{len(models)} models · {data}")
        print(format_table(rows))
        print(f"report: {path.resolve()}")
    return section


def write_results(out: Path, rows: list[dict[str, Any]], *, title: str) -> None:
    """``results.json`` (rows and the per-model summary) and ``results.csv`` (the rows)."""
    doc = {"title": title, "rows": rows, "summary": aggregate(rows)}
    (out / "results.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    (out / "results.csv").write_text(buf.getvalue())


def format_table(rows: list[dict[str, Any]], max_columns: int = 7) -> str:
    """A plain-text table, one line per model, floors in brackets, the best starred (the
    first ``max_columns`` metrics; results.csv and the report have them all)."""
    agg = aggregate(rows)
    cols = metric_columns(agg)
    best = best_values(agg, cols)
    cols = [c for c in cols if direction(c) is not None][:max_columns]
    head = ["model", "kind", *cols, "steps", "train_s"]
    lines = [head]
    for r in agg:
        cells = [str(r["model"]), str(r.get("kind", ""))]
        for c in cols:
            s = fmt(r.get(c))
            if isinstance(r.get(f"{c}_floor"), float):
                s += f" [{fmt(r[f'{c}_floor'])}]"
            if is_best(c, r.get(c), best):
                s += " *"
            cells.append(s)
        cells += [fmt(int(r["steps"])) if "steps" in r else "", fmt(r.get("train_s"))]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines)
    return text + "\n[floor] = the metric between two real samples; * = best of the column"
