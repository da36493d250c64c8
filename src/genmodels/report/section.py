"""One data set's section of a report: its figures, built from trained runs and result rows."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .columns import aggregate
from .figures import Figure
from .html import Section


def build_section(data: str, rows: list[dict[str, Any]], runs: dict[str, Any], out: Path,
                  *, prefix: str = "", notes: list[str] | None = None) -> Section:
    """Draws every figure that applies to ``runs`` (one run per model) into ``out/figures``.

    A figure that fails (a family that lands with a sampler that breaks on some input, say)
    is left out with a note naming it and the error, so one family cannot sink the report.
    """
    notes = list(notes or [])
    section = Section(data, rows, [], notes)
    if not runs:
        return section
    try:
        from .figures import pyplot

        pyplot()
    except ImportError:
        notes.append("matplotlib is not installed: no figures (pip install matplotlib).")
        return section
    from . import diagnostics, figures

    figdir = out / "figures"
    dataset = next(iter(runs.values())).dataset()
    test = dataset.test.float()
    steps: list[tuple[str, Callable[[], Figure | list[Figure] | None]]] = [
        ("samples", lambda: figures.sample_figures(runs, dataset, figdir, prefix)),
        ("curves", lambda: diagnostics.curves_figure(runs, figdir, prefix)),
        ("metrics", lambda: diagnostics.metrics_figure(aggregate(rows), figdir, prefix)),
        ("nfe", lambda: diagnostics.nfe_figure(runs, test, figdir, prefix)),
        ("trajectories", lambda: diagnostics.trajectory_figure(runs, figdir, prefix)),
        ("modes", lambda: diagnostics.modes_figure(runs, dataset.name, 2000, figdir, prefix)),
        ("latent", lambda: diagnostics.latent_figure(runs, test, dataset.test_labels, figdir,
                                                     prefix)),
        ("vae", lambda: _vae_figures(runs, test, figdir, prefix)),
    ]
    for name, make in steps:
        t0 = time.perf_counter()
        try:
            got = make()
        except Exception as e:  # one broken figure must not sink the report
            notes.append(f"figure {name!r} left out: {type(e).__name__}: {e}")
            continue
        finally:
            _close_all()
        if got is None:
            continue
        section.figures.extend(got if isinstance(got, list) else [got])
        if time.perf_counter() - t0 > 20:
            print(f"  figure {name} took {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return section


def _vae_figures(runs: dict[str, Any], test: Any, figdir: Path, prefix: str) -> list[Figure]:
    from ..families.vae.figures import latent_figures

    return latent_figures(runs, test, figdir, prefix)


def _close_all() -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
