"""Checkpoint files: safetensors weights, a plain-tensor training state, atomic writes.

A checkpoint is a directory ``checkpoints/step-00000500/`` holding

- ``model.safetensors``: the training weights; metadata = the caller's metadata,
  ``library_version`` and ``step``;
- ``ema.safetensors``: the averaged weights, when EMA is on;
- ``state.pt``: a plain dict of tensors, numbers and strings (optimisers, schedules, RNG,
  loader position, counters), written with :func:`torch.save` and read only with
  ``torch.load(..., weights_only=True)``.

``checkpoints/last.json`` and ``checkpoints/best.json`` point at complete directories. Every
file is written to a temporary name in its own directory, flushed, fsynced and renamed; the
directory is then fsynced. A new checkpoint is complete on disk before its pointer moves,
and the previous one is deleted only after that, so a crash at any instant (``kill -9`` inside
a write included) leaves ``last`` pointing at a complete, loadable checkpoint. Anything
unreadable raises :class:`~genmodels.errors.InputError` naming the file, and no checkpoint
ever runs code; a write that fails (disk full, read-only directory) raises
:class:`~genmodels.errors.StorageError` naming the path and leaves the files as they were.

Fault injection (tests only): with ``GENMODELS_FAULT_PAUSE="<stage>:<n>:<marker>"`` in the
environment, the ``n``-th time this process reaches ``stage`` it writes the file ``marker``
and sleeps, so that a test can ``kill -9`` it exactly there. The stages, in write order:
``file`` (a temporary file is written, before its fsync and rename), ``dir`` (the temporary
checkpoint directory is complete, before its rename), ``pointer`` (the new directory is in
place, before ``last.json``/``best.json`` move), ``prune`` (the pointer moved, before the old
checkpoints are deleted).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import InputError, StorageError

__all__ = [
    "FAULT_STAGES", "Checkpoint", "atomic_write", "fault_point", "fsync_dir", "load_checkpoint",
    "read_pointer", "step_dir_name", "storage_error", "write_checkpoint", "write_pointer",
]

#: The places in a checkpoint write where :func:`fault_point` can pause (see the module doc).
FAULT_STAGES = ("file", "dir", "pointer", "prune")
_FAULT_ENV = "GENMODELS_FAULT_PAUSE"
_fault_hits: dict[str, int] = {}


def fault_point(stage: str) -> None:
    """The fault-injection hook of the write path: a no-op unless ``GENMODELS_FAULT_PAUSE``
    names ``stage``; then, on its ``n``-th hit, writes the marker file and sleeps (tests kill
    the process there)."""
    spec = os.environ.get(_FAULT_ENV)
    if not spec:
        return
    want, n, marker = spec.split(":", 2)
    if want != stage:
        return
    _fault_hits[stage] = _fault_hits.get(stage, 0) + 1
    if _fault_hits[stage] == int(n):
        Path(marker).write_text(stage)
        time.sleep(3600)


def storage_error(path: Path | str, e: OSError) -> StorageError:
    """The one-line :class:`StorageError` for a failed write of ``path``."""
    reason = e.strerror or str(e) or type(e).__name__
    err = _storage(path, reason)
    err.errno = e.errno
    return err


def _storage(path: Path | str, reason: str) -> StorageError:
    err = StorageError(f"{path}: cannot write ({reason})")
    err.reason = reason  # type: ignore[attr-defined]
    return err


def fsync_dir(path: Path) -> None:
    """Flushes a directory entry to disk (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Writes ``path`` atomically: ``write(tmp)`` fills a temporary file in the same
    directory, which is fsynced and renamed over ``path``; then the directory is fsynced."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise storage_error(path, e) from None
    os.close(fd)
    try:
        write(tmp)
        fault_point("file")
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and not isinstance(e, StorageError):
            raise storage_error(path, e) from None
        if isinstance(e, RuntimeError) and _is_storage_failure(e):  # torch.save / safetensors
            raise _storage(path, _first_line(e)) from None
        raise
    fsync_dir(path.parent)


def _is_storage_failure(e: BaseException) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("no space", "file write failed", "permission denied",
                                   "read-only", "quota", "os error"))


def write_json(path: Path, obj: Any) -> None:
    """Writes ``obj`` as JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def step_dir_name(step: int) -> str:
    """``step-00000500`` for step 500."""
    return f"step-{step:08d}"


def _tensors_for_file(state: dict[str, Tensor]) -> dict[str, Tensor]:
    # Clones break shared storage (tied weights, aliasing buffers), which safetensors refuses.
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


def write_checkpoint(
    directory: Path,
    model_state: dict[str, Tensor],
    train_state: dict[str, Any],
    metadata: dict[str, str],
    ema_state: dict[str, Tensor] | None = None,
) -> None:
    """Writes a complete checkpoint directory atomically (built aside, then renamed).

    Args:
        directory: the final ``step-XXXXXXXX`` directory; an existing one is replaced.
        model_state: the training weights.
        train_state: the plain-dict training state for ``state.pt``.
        metadata: string metadata stored in the safetensors headers.
        ema_state: the averaged weights, or ``None``.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    parent = directory.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(dir=parent, prefix=f".{directory.name}."))
    except OSError as e:
        raise storage_error(directory, e) from None
    try:
        meta = {str(k): str(v) for k, v in metadata.items()}
        weights = _tensors_for_file(model_state)
        atomic_write(tmp_dir / "model.safetensors", lambda t: save_file(weights, t, meta))
        if ema_state is not None:
            ema = _tensors_for_file(ema_state)
            atomic_write(tmp_dir / "ema.safetensors", lambda t: save_file(ema, t, meta))
        atomic_write(tmp_dir / "state.pt", lambda t: torch.save(train_state, t))
        fsync_dir(tmp_dir)
        fault_point("dir")
        old = None
        if directory.exists():  # an unreferenced leftover (the caller never replaces a live one)
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{directory.name}.old."))
            os.replace(directory, old / "d")
        os.replace(tmp_dir, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as e:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if isinstance(e, StorageError):  # name the checkpoint, not its temporary file
            err = _storage(directory, getattr(e, "reason", str(e)))
            err.errno = e.errno
            raise err from None
        if isinstance(e, OSError):
            raise storage_error(directory, e) from None
        raise
    fsync_dir(parent)


def write_pointer(checkpoints: Path, which: str, directory: str, step: int) -> None:
    """Points ``checkpoints/<which>.json`` at a complete checkpoint directory."""
    write_json(Path(checkpoints) / f"{which}.json", {"dir": directory, "step": int(step)})


def read_pointer(checkpoints: Path, which: str) -> dict[str, Any] | None:
    """The ``{"dir", "step"}`` pointer of ``which``, or ``None`` when there is none."""
    path = Path(checkpoints) / f"{which}.json"
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: unreadable checkpoint pointer ({_first_line(e)})") from None
    ok = (isinstance(obj, dict) and isinstance(obj.get("dir"), str)
          and isinstance(obj.get("step"), int) and "/" not in obj["dir"]
          and obj["dir"] not in ("", ".", ".."))
    if not ok:
        raise InputError(f"{path}: invalid checkpoint pointer (expected {{\"dir\", \"step\"}})")
    return obj


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def load_weights(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Reads a safetensors file and its metadata; anything wrong is an :class:`InputError`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file missing")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as e:  # safetensors raises several types for a bad header
        raise InputError(f"{path}: corrupt safetensors file ({_first_line(e)})") from None
    return tensors, metadata


def load_state(path: Path) -> dict[str, Any]:
    """Reads ``state.pt`` with ``weights_only=True``: plain data only, never code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file missing")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, EOFError, ... all mean "bad file"
        reason = _first_line(e).split(". ")[0]
        raise InputError(f"{path}: corrupt or unsafe training state ({reason})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: training state is not a dict")
    return state


@dataclass
class Checkpoint:
    """A loaded checkpoint directory.

    Attributes:
        path: the directory.
        model: the training weights.
        metadata: the safetensors metadata of ``model.safetensors``.
        ema: the averaged weights, or ``None``.
        state: the training state (``None`` when not requested).
    """

    path: Path
    model: dict[str, Tensor]
    metadata: dict[str, str]
    ema: dict[str, Tensor] | None = None
    state: dict[str, Any] | None = None


def load_checkpoint(directory: Path, *, with_state: bool = True) -> Checkpoint:
    """Loads a checkpoint directory written by :func:`write_checkpoint`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: checkpoint directory missing")
    model, metadata = load_weights(directory / "model.safetensors")
    ema_path = directory / "ema.safetensors"
    ema = load_weights(ema_path)[0] if ema_path.exists() else None
    state = load_state(directory / "state.pt") if with_state else None
    return Checkpoint(directory, model, metadata, ema, state)
