"""Training a run: :func:`fit` resolves the config, loads the data, writes the run directory
(:mod:`genmodels.run`'s layout), trains with the :class:`~genmodels.train.Trainer` and returns
the :class:`~genmodels.run.Run`; a fresh run that fails leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .config import RunConfig
from .data.base import Standardize
from .data.preprocess import training_data
from .errors import InputError
from .registry import get_family
from .run import Run, resolve_config
from .rundir import (
    check_no_links,
    check_same_data,
    data_record,
    load_weights,
    read_data_info,
    read_run_config,
)
from .train.checkpoint import write_json
from .units import in_data_units, load_standardize, save_standardize

__all__ = ["fit"]


def choose_device(name: str) -> torch.device:
    """``train.device`` as a device (``"auto"``: CUDA when available); refuses a missing CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device = 'cuda' but no CUDA device is available")
    return torch.device(name)


def fresh_run_dir(out: Path) -> bool:
    """Creates ``out``; returns whether it was created here. Refuses an existing run."""
    if (out / "config.json").exists():
        raise InputError(f"{out}: a run exists here already (use --resume {out} or another --out)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def fit(
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    *,
    out: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool | None = None,
    resume: bool = False,
    **sections: dict[str, Any],
) -> Run:
    """Trains a model and returns the :class:`Run` (in data units).

    Args:
        config: a :class:`RunConfig`, a nested dict, or a TOML path; ignored when resuming.
        out: the run directory; ``None`` trains in memory without writing anything.
        overrides: ``--set``-style ``key=value`` strings.
        progress: show a progress bar (``None``: when stderr is a terminal).
        resume: continue the run in ``out`` from its last checkpoint, exactly.
        **sections: section updates, e.g. ``train={"steps": 100}``.

    Example:
        >>> import genmodels as gm
        >>> run = gm.fit(model={"name": "realnvp"}, data={"name": "moons"},
        ...              train={"steps": 20, "batch_size": 64})
        >>> run.sample(5, seed=0).shape
        torch.Size([5, 2])
    """
    from .data import load_dataset
    from .train import RunStore, Trainer

    if resume:
        if out is None:
            raise InputError("resume needs the run directory")
        out = Path(out)
        if not (out / "config.json").is_file():
            raise InputError(f"{out}: not a run directory (no config.json)")
        check_no_links(out)
        cfg = read_run_config(out)
    else:
        cfg = resolve_config(config, overrides=overrides, **sections)

    data = load_dataset(cfg.data)
    family = get_family(cfg.model)
    if family.kind == "flow" and data.levels is None:
        refuse_constant_columns(data.train, cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = choose_device(cfg.train.device)
    mode = cfg.data.standardize
    want_std = mode == "yes" or (mode == "auto" and data.standardize and (
        data.levels is None or family.standardize_discrete))
    created = False
    store = None
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if resume:
        assert out is not None
        std = load_standardize(out, read_data_info(out).event_shape)
        check_same_data(out, cfg, data)
        store = RunStore(out)
    else:
        std = Standardize.fit(data.train, levels=data.levels, logit_alpha=cfg.data.logit or None,
                              standardize=want_std, seed=cfg.data.seed)
        if out is not None:
            out = Path(out)
            created = fresh_run_dir(out) if main_rank else False
    try:
        if out is not None and not resume:
            store = RunStore(out)
            if main_rank:
                store.write_config(cfg.to_dict())
                write_json(out / "data.json", data_record(cfg, data))
                save_standardize(out, std)
        torch.manual_seed(cfg.train.seed)
        model, objective = family.build(cfg.model_config, data.info)
        model = model.to(device)
        metadata = {
            "family": cfg.model,
            "config": json.dumps(cfg.to_dict(), sort_keys=True),
            "event_shape": json.dumps(list(data.event_shape)),
        }
        trainer = Trainer(cfg.train, store=store, progress=progress, metadata=metadata)
        train, val = training_data(data, std)
        result = trainer.fit(model, objective, train, val=val, resume=resume)
    except BaseException:
        # a fresh run that fails leaves nothing behind, unless it wrote a checkpoint (a stopped
        # or interrupted run is kept, to be inspected or resumed)
        if created and out is not None and not resume and not has_checkpoint(store):
            shutil.rmtree(out, ignore_errors=True)
        raise
    if store is not None:
        model = load_weights(store, model)
    elif trainer.ema is not None:  # no checkpoint holds the average: take it from memory
        model.load_state_dict(trainer.ema.state_dict())
    model.eval()
    return Run(cfg, in_data_units(model, std), std, Path(out) if out else None, result)


def refuse_constant_columns(x: Any, cfg: RunConfig, chunk: int = 1 << 16) -> None:
    """Refuses continuous training data with a coordinate of zero spread for a flow.

    A flow fits a density by maximum likelihood; on a constant coordinate the density is a
    point mass and the likelihood is unbounded (the flow's scale there shrinks without end:
    RealNVP on moons plus a constant column reached a loss of 3e16 in 200 steps). GANs,
    diffusion and VAEs (bounded objectives) train on such data as it is.
    """
    n = len(x)
    if n < 2:
        return
    lo = hi = None
    for start in range(0, n, chunk):
        part = x[start:start + chunk]
        t = (part if isinstance(part, Tensor) else torch.as_tensor(part)).reshape(len(part), -1)
        pmin, pmax = t.min(0).values, t.max(0).values
        lo = pmin if lo is None else torch.minimum(lo, pmin)
        hi = pmax if hi is None else torch.maximum(hi, pmax)
    assert lo is not None and hi is not None
    flat = torch.nonzero(hi == lo).flatten()
    if len(flat):
        j = int(flat[0])
        more = f" (and {len(flat) - 1} more)" if len(flat) > 1 else ""
        raise InputError(
            f"data {cfg.data.name}: column {j}{more} is constant ({float(lo[j]):g}) in the "
            f"training split; the likelihood of flow {cfg.model!r} is unbounded there: drop "
            f"the column, or train a GAN, diffusion or VAE model"
        )


def has_checkpoint(store: Any) -> bool:
    """Whether ``store`` holds a last checkpoint (an unreadable store counts as none)."""
    try:
        return store is not None and store.has_checkpoint("last")
    except Exception:  # an unreadable store counts as none
        return False
