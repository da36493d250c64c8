"""A run directory read back: its config, data record and checkpoints checked (every problem
an :class:`~genmodels.errors.InputError` naming the file), and :func:`load`, which rebuilds the
model and returns the :class:`~genmodels.run.Run`."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig
from .core import GenerativeModel
from .core.model import with_label_counts
from .data.base import Dataset
from .errors import InputError
from .registry import get_family
from .run import Run, resolve_config
from .units import in_data_units, load_standardize

__all__ = ["load"]


def data_record(config: RunConfig, data: Dataset) -> dict[str, Any]:
    """The ``data.json`` record of a run: the data's name, shape, levels, classes, split
    sizes and, for a file, its SHA-256."""
    record: dict[str, Any] = {
        "name": config.data.name,
        "event_shape": list(data.event_shape),
        "levels": data.levels,
        "n_classes": data.n_classes,
        "n_train": int(len(data.train)),
        "n_test": int(len(data.test)),
    }
    path = Path(config.data.name)
    if path.is_file():
        record["sha256"] = file_sha256(path)
    return record


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


MAX_POINT_SIZE = 2**26
"""The most coordinates per point a run may record (a 4096 x 4096 RGB image is ~2**25.6)."""

MAX_LEVELS = 2**16
"""The most discrete levels per coordinate a run may record (16-bit data)."""


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a run; anything unreadable is an :class:`InputError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing (not a complete run directory: no {what})") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); not a {what}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON at line {e.lineno}, col {e.colno}") from None
    except (OSError, RecursionError, ValueError) as e:
        raise InputError(f"{path}: unreadable {what} ({type(e).__name__})") from None


def check_no_links(out: Path) -> None:
    """Refuses a run directory that holds a symbolic link (anything read or written through
    it would leave the run)."""
    try:
        for p in sorted(out.rglob("*")):
            if p.is_symlink():
                raise InputError(f"{p}: a symbolic link inside the run directory; refusing "
                                 "it (a run holds only its own files)")
    except OSError as e:
        raise InputError(f"{out}: unreadable run directory ({e.strerror or e})") from None


def read_run_config(out: Path) -> RunConfig:
    """The validated config of a run; a problem is an :class:`InputError` naming config.json."""
    path = out / "config.json"
    try:
        return resolve_config(read_json(path, "run config"))
    except InputError as e:
        msg = str(e)
        raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def read_data_info(out: Path) -> Any:
    """The :class:`~genmodels.registry.DataInfo` of a run's ``data.json``, checked: the event
    shape is 1 to 4 positive integers of at most :data:`MAX_POINT_SIZE` coordinates in all
    (a forged ``[1e12]`` never builds a model), levels and classes positive integers."""
    from .registry import DataInfo

    path = out / "data.json"
    record = read_json(path, "data record")
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(record).__name__}")
    shape = record.get("event_shape")
    ok = (isinstance(shape, list) and 1 <= len(shape) <= 4
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape))
    if not ok:
        raise InputError(f"{path}: event_shape {short(shape)} is not a list of 1 to 4 "
                         "positive integers")
    if math.prod(shape) > MAX_POINT_SIZE:
        raise InputError(f"{path}: event_shape {shape} has {math.prod(shape)} coordinates "
                         f"per point, more than {MAX_POINT_SIZE}")
    for key, least, most in (("levels", 2, MAX_LEVELS), ("n_classes", 1, MAX_LEVELS)):
        v = record.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                              or not least <= v <= most):
            raise InputError(f"{path}: {key} {short(v)} is not null or an integer in "
                             f"[{least}, {most}]")
    return DataInfo(tuple(shape), record.get("levels"), record.get("n_classes"))


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (for error messages)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_metadata(store: Any, which: str, cfg: RunConfig, info: Any) -> None:
    """Refuses a checkpoint whose metadata names another family or event shape."""
    d = store.checkpoint_dir(which)
    path = d / "model.safetensors"
    _, meta = store.load_model_weights(which=which, ema=False)
    family = meta.get("family")
    if family is not None and family != cfg.model:
        raise InputError(f"{path}: a {family!r} checkpoint, but config.json says model "
                         f"{cfg.model!r}")
    shape = meta.get("event_shape")
    if shape is not None:
        try:
            recorded = json.loads(shape)
        except (json.JSONDecodeError, RecursionError):
            recorded = shape
        if recorded != list(info.event_shape):
            raise InputError(f"{path}: a checkpoint for points of shape {short(recorded)}, "
                             f"but data.json says {list(info.event_shape)}")


def check_same_data(out: Path, cfg: RunConfig, data: Dataset) -> None:
    """Refuses resuming on a changed data file (SHA-256) or a changed point shape."""
    record = read_json(out / "data.json", "data record")
    if not isinstance(record, dict):
        raise InputError(f"{out / 'data.json'}: expected a JSON object")
    path = Path(cfg.data.name)
    if "sha256" in record and path.is_file() and file_sha256(path) != record["sha256"]:
        raise InputError(f"{path}: the data file changed since the run started (SHA-256)")
    if list(data.event_shape) != record["event_shape"]:
        raise InputError(f"{out}: the data's shape changed since the run started")


def model_overrides(overrides: list[str] | tuple[str, ...]) -> list[str]:
    """``model.``-prefixed overrides (a bare key means the model's); refuses others."""
    out = []
    for item in overrides:
        key = item.partition("=")[0].strip()
        if "." in key and not key.startswith("model."):
            raise InputError(f"--set {key}: only model.* settings change at sampling time")
        out.append(item if "." in key else f"model.{item.strip()}")
    return out


def load_weights(store: Any, model: GenerativeModel, which: str = "best") -> GenerativeModel:
    """Puts the ``which`` checkpoint's weights (EMA when saved; ``"best"`` falls back to
    ``"last"``) into ``model``."""
    if which == "best" and not store.has_checkpoint("best"):
        which = "last"
    state, _ = store.load_model_weights(which=which, ema=True)
    model.load_state_dict(with_label_counts(model, state))
    return model


def load(path: str | Path, *, which: str = "best", device: str = "cpu",
         overrides: list[str] | tuple[str, ...] = ()) -> Run:
    """Loads a trained run from its directory, ready to sample, score and evaluate.

    Args:
        path: the run directory.
        which: ``"best"`` (falls back to ``"last"`` when there is no best) or ``"last"``.
        device: where to put the model.
        overrides: ``model.*`` ``--set`` overrides applied before the model is rebuilt
            (sampling knobs such as ``model.guidance=2`` or ``model.nfe=50``; a change of
            architecture no longer fits the checkpoint and is refused).
    """
    from .train import RunStore

    out = Path(path)
    if not out.is_dir():
        raise InputError(f"{out}: no such run directory")
    check_no_links(out)
    cfg = read_run_config(out)
    info = read_data_info(out)
    std = load_standardize(out, info.event_shape)
    if overrides:
        cfg = resolve_config(cfg, overrides=model_overrides(overrides))
    store = RunStore(out)
    if not store.has_checkpoint("last"):
        raise InputError(f"{out}: the run has no checkpoint yet")
    if which == "best" and not store.has_checkpoint("best"):
        which = "last"
    check_metadata(store, which, cfg, info)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model, _ = get_family(cfg.model).build(cfg.model_config, info)
    try:
        model = load_weights(store, model, which)
    except (RuntimeError, KeyError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{out}: checkpoint does not fit the model ({first})") from None
    model.to(device).eval()
    return Run(cfg, in_data_units(model, std), std, out)
