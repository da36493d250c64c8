"""Helpers shared by the benchmarks: interleaved timing and result tables."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(fns: dict[str, Callable[[], None]], repeats: int = 7,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median time of each function by ``clock`` (wall time by default; ``time.process_time``
    for the CPU time of a one-thread process), run in turns so drift hits all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t = clock()
            fn()
            times[name].append(clock() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def write_table(name: str, title: str, header: list[str], rows: list[list[object]],
                notes: str = "") -> None:
    """Prints a Markdown table and writes it (and a JSON copy) under ``results/``."""
    RESULTS.mkdir(exist_ok=True)
    env = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
           f"{platform.processor() or platform.machine()}")
    lines = [f"# {title}", "", f"Environment: {env}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"header": header, "rows": rows, "env": env}, indent=2, default=str) + "\n"
    )


def parse_value(v: str) -> object:
    """A ``KEY=VALUE`` command-line value: int, float, a comma tuple, a boolean or the string."""
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    if "," in v:
        return tuple(parse_value(x) for x in v.split(","))
    return {"true": True, "false": False}.get(v.lower(), v)
