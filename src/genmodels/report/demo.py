"""``genmodels demo``: one model of every family kind that exists, on built-in data, one report.

The families are read from the registry when the demo runs, so each kind appears as soon as
it registers: for each ``Family.kind`` the preferred member (:data:`PREFERRED`) or else the
first registered one. The data: ``checkerboard`` (2-D) and ``digits`` (8×8 images) when that
set is registered.

The time budget: ``total`` seconds of training are shared equally by every (model, data)
pair; each pair's steps come from a short timed calibration fit, capped at ``max_steps``,
with the share as the Trainer's hard wall-clock stop. Evaluation and figures come on top.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..registry import DATASETS, FAMILIES, load_all

#: The member of each kind shown by the demo when it is registered (in order of preference).
PREFERRED: dict[str, tuple[str, ...]] = {
    "flow": ("realnvp", "nsf"),
    "diffusion": ("vp-sde",),
    "gan": ("wgan-gp",),
    "vae": ("vae",),
    "flow-matching": ("cfm", "ot-cfm"),
}

#: The data sets of the demo: (name, whether it must be registered to be used).
DEMO_DATA = ("checkerboard", "digits")


def demo_models() -> list[str]:
    """One family per registered kind: the preferred one, else the first registered."""
    load_all()
    chosen: dict[str, str] = {}
    for name, fam in FAMILIES.items():
        chosen.setdefault(fam.kind, name)
    for kind, names in PREFERRED.items():
        for name in names:
            if name in FAMILIES and FAMILIES[name].kind == kind:
                chosen[kind] = name
                break
    return list(chosen.values())


def _fits(model: str, data: str) -> str | None:
    """``None`` when ``model`` builds for ``data``'s shape; else why not."""
    from ..data import load_dataset
    from ..run import resolve_config

    try:
        cfg = resolve_config(model={"name": model}, data={"name": data})
        info = load_dataset(cfg.data).info
        FAMILIES[model].build(cfg.model_config, info)
    except Exception as e:  # a family that does not take this shape is left out, with why
        return f"{type(e).__name__}: {e}"
    return None


def _threads() -> dict[str, int]:
    """One intra-op thread unless ``OMP_NUM_THREADS`` says otherwise: the demo's networks are
    small, and on a busy 2-core machine two spinning threads per op cost far more than they
    save (measured: 362 s of CPU against 68 s for the same demo)."""
    return {} if os.environ.get("OMP_NUM_THREADS") else {"threads": 1}


def demo(*, out: Path, total: float = 120.0, steps: int | None = None, max_steps: int = 3000,
         progress: bool | None = None, data: tuple[str, ...] | None = None,
         models: list[str] | None = None) -> Path:
    """Runs the demo into ``out``; returns the path of ``report.html``.

    Args:
        out: the output directory (one sub-directory per data set, ``report.html`` on top).
        total: seconds of training shared by every (model, data) pair.
        steps: fixed steps per model instead of the time budget.
        max_steps: the cap on each model's calibrated steps.
        progress: progress bars (``None``: when stderr is a terminal).
        data: the data sets (default: checkerboard, and digits when registered).
        models: the families (default: :func:`demo_models`).
    """
    from .compare import compare, write_results
    from .html import write_report

    t0 = time.perf_counter()
    load_all()
    models = list(models or demo_models())
    sets = [d for d in (data or DEMO_DATA) if d in DATASETS]
    plan: list[tuple[str, list[str], list[str]]] = []
    for d in sets:
        ok, notes = [], []
        for m in models:
            why = _fits(m, d)
            if why is None:
                ok.append(m)
            else:
                notes.append(f"{m} left out on {d}: {why}")
        if ok:
            plan.append((d, ok, notes))
    pairs = sum(len(ok) for _, ok, _ in plan)
    share = total / max(pairs, 1)
    print(f"demo: {', '.join(models)} on {', '.join(d for d, _, _ in plan)}; "
          + (f"{steps} steps per model" if steps else f"about {share:.0f}s of training each"),
          file=sys.stderr)
    sections, rows = [], []
    for d, ok, notes in plan:
        options = {"n_test": 1000} if d != "digits" else {}
        section = compare(
            d, ok, out=out / d, steps=steps, budget=None if steps else share,
            progress=progress, data_options=options, max_steps=max_steps,
            title=f"genmodels demo on {d}", train_options=_threads(),
        )
        section.notes.extend(notes)
        sections.append(section)
        rows.extend(section.rows)
    out.mkdir(parents=True, exist_ok=True)
    title = "genmodels demo: every family, side by side"
    write_results(out, rows, title=title)
    kinds = sorted({FAMILIES[m].kind for m in models})
    path = write_report(out / "report.html", sections, title=title,
                        subtitle=f"{len(models)} families ({', '.join(kinds)}) on "
                        f"{len(sections)} data sets · {time.perf_counter() - t0:.0f}s")
    print(f"demo finished in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    print(f"report: {path.resolve()}")
    return path

