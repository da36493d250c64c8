"""The handlers of the ``genmodels`` commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import InputError


def _flat(sets: list[list[str]]) -> list[str]:
    return [item for group in sets for item in group]


def parse_budget(text: str) -> float:
    """Parses a wall-clock budget: ``90``, ``90s``, ``5m``, ``1.5h`` → seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"--budget {text!r}: expected a positive duration such as 90s, 5m, 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def save_npy_atomic(path: str | Path, array: Any) -> None:
    """Saves a NumPy array to ``path`` atomically (nothing half-written on failure)."""
    import numpy as np

    path = Path(path)
    if path.suffix != ".npy":
        raise InputError(f"--out {path}: the output must be a .npy file")
    if not path.parent.exists():
        raise InputError(f"--out {path}: directory {path.parent} does not exist")
    from ..train.checkpoint import atomic_write

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write)


def cmd_list(args: argparse.Namespace) -> int:
    """``genmodels list``: the registered families, data sets and metrics.

    Answers from :mod:`genmodels.catalogue` (no ``import torch``).
    """
    from ..catalogue import read

    tables = read()
    if args.json:
        print(json.dumps(tables, indent=2))
        return 0
    for title, rows in tables.items():
        print(f"{title}:")
        width = max((len(r["name"]) for r in rows), default=0)
        for r in rows:
            kind = f"[{r['kind']}] " if "kind" in r else ""
            print(f"  {r['name']:<{width}}  {kind}{r['description']}")
    return 0


def _train_sections(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {"model": {}, "data": {}, "train": {}}
    if args.model is not None:
        sections["model"]["name"] = args.model
    if args.data is not None:
        sections["data"]["name"] = args.data
    for flag, key in (("steps", "steps"), ("batch_size", "batch_size"), ("lr", "lr"),
                      ("seed", "seed")):
        if getattr(args, flag) is not None:
            sections["train"][key] = getattr(args, flag)
    if args.budget is not None:
        sections["train"]["budget"] = parse_budget(args.budget)
    return sections


def cmd_train(args: argparse.Namespace) -> int:
    """``genmodels train``: train a model, or resume a run."""
    from ..config import load_toml
    from ..fitting import fit
    from ..run import resolve_config

    if args.resume:
        given = [f for f in ("model", "data", "steps", "batch_size", "lr", "seed", "config",
                             "budget", "out") if getattr(args, f) is not None]
        if given or args.set:
            flag = given[0].replace("_", "-") if given else "set"
            raise InputError(f"--resume continues a run as configured; drop --{flag}")
        run = fit(out=args.resume, resume=True, progress=args.progress)
    else:
        base = load_toml(args.config) if args.config else {}
        cfg = resolve_config(base, overrides=_flat(args.set), **_train_sections(args))
        out = args.out or os.path.join(
            "runs", f"{cfg.model}-{Path(cfg.data.name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        run = fit(cfg, out=out, progress=args.progress)
    r = run.fit_result
    summary = f"trained {run.config.model} for {r.steps} steps ({r.stopped}) in {r.wall_time:.1f}s"
    if r.best_val is not None:
        summary += f"; best validation loss {r.best_val:.4f}"
    print(summary, file=sys.stderr)
    print(run.path)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``genmodels sample``: samples in data units to a .npy file."""
    from ..rundir import load

    if args.n <= 0:
        raise InputError(f"--n {args.n}: must be positive")
    run = load(args.run, which=args.which, overrides=_flat(args.set))
    x = run.sample(args.n, seed=args.seed, sampler=args.sampler, nfe=args.nfe,
                   label=args.label)
    save_npy_atomic(args.out, x.cpu().numpy())
    print(args.out)
    return 0


def load_points(path: str) -> Any:
    """Reads points from a user file (as the data loader does) into a float32 tensor."""
    from ..data.files import load_array

    return load_array(path)


def load_labels(path: str, n: int) -> Any:
    """One integer class per point from a user file, ``(n,)`` long; refuses a count that
    differs from the points' or values that are not whole numbers, in one line."""
    import torch

    y = load_points(path)
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise InputError(f"--labels {path}: shape {tuple(y.shape)}, expected ({n},): one "
                         "class per point of --in")
    if not torch.isfinite(y).all() or (y != y.round()).any():
        raise InputError(f"--labels {path}: classes must be whole numbers")
    return y.long()


def cmd_score(args: argparse.Namespace) -> int:
    """``genmodels score``: log-density in nats of each given point."""
    from ..rundir import load

    run = load(args.run, which=args.which)
    x = load_points(args.inp)
    label = args.label if args.labels is None else load_labels(args.labels, x.shape[0])
    lp = run.log_prob(x, bound=args.bound, label=label)
    save_npy_atomic(args.out, lp.numpy())
    print(args.out)
    return 0


def _test_data(run: Any, spec: str | None) -> dict[str, Any]:
    """The test data for ``evaluate``: the run's split, a registered set's, or a file."""
    if spec is None:
        data = run.dataset()
    elif Path(spec).suffix and not _is_registered(spec):
        return {"test": load_points(spec)}
    else:
        from ..data import load_dataset

        cfg = run.config.data
        data = load_dataset(type(cfg)(**{**cfg.__dict__, "name": spec}))
    return {"test": data.test, "levels": data.levels, "entropy": data.entropy,
            "entropy_se": data.entropy_se, "dataset": data.name, "labels": data.test_labels}


def _is_registered(name: str) -> bool:
    from ..registry import DATASETS, load_all

    load_all()
    return name in DATASETS


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``genmodels evaluate``: metrics with noise floors, stored in the run."""
    from ..rundir import load
    from ..sampling import is_target_run

    if is_target_run(args.run):
        return _evaluate_target(args)
    run = load(args.run, which=args.which)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if metrics:
        from ..registry import get_metric

        for name in metrics:
            get_metric(name)
    result = run.evaluate(**_test_data(run, args.data), metrics=metrics, seed=args.seed)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        width = max(len(k) for k in result)
        for k, v in sorted(result.items()):
            print(f"{k:<{width}}  {v:.6g}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``genmodels runs``: the runs under a directory with their final metrics."""
    from ..report.runs import collect_runs, format_runs

    if not Path(args.root).is_dir():
        raise InputError(f"{args.root}: no such directory of runs")
    rows = collect_runs(Path(args.root))
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    if not rows:
        print(f"no runs under {args.root}", file=sys.stderr)
        return 0
    print(format_runs(rows))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``genmodels compare``: several models, one budget, one report."""
    from ..report.compare import compare

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    budget = parse_budget(args.budget) if args.budget else None
    compare(args.data, models, out=Path(args.out), steps=args.steps, budget=budget,
            seeds=args.seeds, overrides=_flat(args.set), progress=args.progress,
            title=args.title)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``genmodels demo``: one model of every family on built-in data, one report."""
    from ..report.demo import demo

    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps {args.steps}: must be at least 1")
    demo(out=Path(args.out), total=parse_budget(args.total), steps=args.steps,
         max_steps=args.max_steps, progress=args.progress)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``genmodels report``: a report rebuilt from existing run directories."""
    from ..report.rebuild import rebuild

    rebuild(args.runs, Path(args.out), evaluate=args.evaluate, title=args.title)
    return 0


def cmd_fit_target(args: argparse.Namespace) -> int:
    """``genmodels fit-target``: a flow fitted to an unnormalised target density."""
    from ..sampling import fit_target

    train = {k: getattr(args, f) for f, k in (("steps", "steps"), ("batch_size", "batch_size"),
                                              ("lr", "lr"), ("seed", "seed"))
             if getattr(args, f) is not None}
    run = fit_target(args.target, args.model, objective=args.objective,
                     overrides=_flat(args.set), out=args.out, train=train,
                     progress=args.progress)
    print(run.path)
    return 0


def _evaluate_target(args: argparse.Namespace) -> int:
    from ..sampling import evaluate_target, load_target_run
    from ..train.checkpoint import write_json

    if args.n < 2 or args.mcmc_steps < 0:
        raise InputError(f"--n {args.n} must be >= 2 and --mcmc-steps {args.mcmc_steps} >= 0")
    run = load_target_run(args.run)
    result = evaluate_target(run, n=args.n, seed=args.seed, mcmc_steps=args.mcmc_steps)
    write_json(Path(args.run) / "evaluation.json", result)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in sorted(result.items()):
            print(f"{k:<16}  {v:.6g}")
    return 0
