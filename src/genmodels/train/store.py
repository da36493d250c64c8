"""The run store: one directory per run with its config, metrics and checkpoints.

Layout::

    <run>/config.json        the resolved config (atomic)
    <run>/metrics.jsonl      one JSON record per log step (flushed)
    <run>/checkpoints/       step-XXXXXXXX/ directories, last.json and best.json pointers
    <run>/samples/           samples written by the CLI

Only rank 0 of a distributed job writes; on other ranks every write is a no-op. A write that
fails (disk full, read-only directory) raises :class:`~genmodels.errors.StorageError`, one line
naming the path; the checkpoints already on disk are left as they were.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import InputError, StorageError
from . import checkpoint as ckpt
from .distributed import is_main_process

__all__ = ["RunStore"]

_WHICH = ("last", "best")


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


def _step_of(record: dict[str, Any]) -> float:
    """The step of a metrics record; a record with a damaged step sorts after every step."""
    step = record.get("step", 0)
    ok = isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step)
    return step if ok else math.inf


class RunStore:
    """A run directory.

    Args:
        path: the directory (created on the first write).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def checkpoints(self) -> Path:
        """The ``checkpoints/`` directory."""
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        """The ``samples/`` directory."""
        return self.path / "samples"

    @property
    def writes(self) -> bool:
        """Whether this process writes (rank 0, or no distributed job)."""
        return is_main_process()

    def _mkdir(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ckpt.storage_error(self.path, e) from None

    # -- config and metrics -------------------------------------------------------------------

    def write_config(self, config: dict[str, Any]) -> None:
        """Writes ``config.json`` atomically."""
        if not self.writes:
            return
        self._mkdir()
        ckpt.write_json(self.path / "config.json", config)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Appends one record as a JSON line to ``metrics.jsonl`` and flushes it."""
        if not self.writes:
            return
        self._mkdir()
        line = json.dumps({k: _jsonable(v) for k, v in record.items()}, sort_keys=True)
        data = (line + "\n").encode()
        path = self.path / "metrics.jsonl"
        try:  # one unbuffered append: a crash leaves at most a torn last line (skipped on read)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)
        except OSError as e:
            raise ckpt.storage_error(path, e) from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of ``metrics.jsonl`` (a torn last line is skipped)."""
        out = []
        try:
            with open(self.path / "metrics.jsonl", encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(rec, dict):
                        out.append(rec)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise InputError(f"{self.path / 'metrics.jsonl'}: unreadable ({e.strerror or e})") \
                from None
        return out

    def truncate_metrics(self, step: int) -> None:
        """Drops records after ``step`` (written by a run that died before its checkpoint)."""
        if not self.writes or not (self.path / "metrics.jsonl").exists():
            return
        keep = [r for r in self.read_metrics() if _step_of(r) <= step]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep)
        ckpt.atomic_write(self.path / "metrics.jsonl", lambda t: Path(t).write_text(text))

    # -- checkpoints ----------------------------------------------------------------------------

    def checkpoint_dir(self, which: str = "last") -> Path | None:
        """The directory that ``which`` (``"last"`` or ``"best"``) points at, or ``None``."""
        if which not in _WHICH:
            raise InputError(f"checkpoint {which!r}: expected 'last' or 'best'")
        pointer = ckpt.read_pointer(self.checkpoints, which)
        return None if pointer is None else self.checkpoints / pointer["dir"]

    def checkpoint_step(self, which: str = "last") -> int | None:
        """The step of ``which``'s checkpoint, or ``None``."""
        pointer = ckpt.read_pointer(self.checkpoints, which)
        return None if pointer is None else int(pointer["step"])

    def has_checkpoint(self, which: str = "last") -> bool:
        """Whether a ``which`` checkpoint exists."""
        try:
            d = self.checkpoint_dir(which)
        except InputError:
            return False
        return d is not None and d.is_dir()

    def save_checkpoint(
        self,
        step: int,
        model_state: dict[str, Tensor],
        train_state: dict[str, Any],
        metadata: dict[str, str],
        *,
        ema_state: dict[str, Tensor] | None = None,
        which: tuple[str, ...] = ("last",),
    ) -> Path | None:
        """Writes ``step-XXXXXXXX/`` and points ``which`` at it; prunes unreferenced steps.

        Returns:
            The checkpoint directory (``None`` on ranks that do not write).
        """
        if not self.writes:
            return None
        pointed = {w: ckpt.read_pointer(self.checkpoints, w) for w in _WHICH}
        try:
            try:
                self.checkpoints.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ckpt.storage_error(self.checkpoints, e) from None
            name = ckpt.step_dir_name(step)
            directory = self.checkpoints / name
            referenced = any(p is not None and p["dir"] == name for p in pointed.values())
            if not (referenced and directory.is_dir()):  # a step's checkpoint is written once
                ckpt.write_checkpoint(directory, model_state, train_state, metadata, ema_state)
            ckpt.fault_point("pointer")
            for w in which:
                ckpt.write_pointer(self.checkpoints, w, name, step)
                pointed[w] = {"dir": name, "step": step}
        except StorageError as e:
            last = pointed["last"]
            kept = (f"the last good checkpoint, {last['dir']}, is kept" if last is not None
                    else "no checkpoint was written yet")
            err = StorageError(f"{e}; {kept}")
            err.errno = e.errno
            raise err from None
        ckpt.fault_point("prune")
        self._prune({p["dir"] for p in pointed.values() if p is not None})
        return directory

    def _prune(self, keep: set[str]) -> None:
        """Deletes unreferenced step directories and what an earlier crash left half-done
        (temporary directories and files); never a failure: the new checkpoint is in place."""
        try:
            children = list(self.checkpoints.iterdir())
        except OSError:
            return
        for child in children:
            if child.name in keep:
                continue
            if child.is_dir() and (child.name.startswith("step-")
                                   or child.name.startswith(".step-")):
                shutil.rmtree(child, ignore_errors=True)
            elif child.is_file() and child.name.startswith(".") and child.name.endswith(".tmp"):
                child.unlink(missing_ok=True)

    def load_checkpoint(self, which: str = "last", *, with_state: bool = True) -> ckpt.Checkpoint:
        """Loads the ``which`` checkpoint (weights, EMA, training state)."""
        d = self.checkpoint_dir(which)
        if d is None:
            raise InputError(f"{self.checkpoints}: no {which!r} checkpoint")
        return ckpt.load_checkpoint(d, with_state=with_state)

    def load_model_weights(
        self, which: str = "last", ema: bool = True
    ) -> tuple[dict[str, Tensor], dict[str, str]]:
        """The weights for inference: the EMA weights when present (and ``ema``), else the
        training weights; with the safetensors metadata."""
        c = self.load_checkpoint(which, with_state=False)
        if ema and c.ema is not None:
            return c.ema, c.metadata
        return c.model, c.metadata

    def __repr__(self) -> str:
        return f"RunStore({os.fspath(self.path)!r})"
