"""A full disk or an unwritable directory: one line naming the path (StorageError, CLI exit 2)
and the last good checkpoint kept, loadable."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
import torch

from _models import MLE, DiagGaussian, data
from genmodels.cli import main
from genmodels.config import TrainConfig
from genmodels.errors import StorageError
from genmodels.train import RunStore, Trainer

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FailLater(MLE):
    """MLE that installs a failure (``arm()``) at training call ``at``."""

    def __init__(self, at: int, arm) -> None:  # noqa: ANN001
        super().__init__()
        self.at, self.arm = at, arm

    def __call__(self, model, batch, phase="main"):  # noqa: ANN001, ANN204
        if self.calls == self.at:
            self.arm()
        return super().__call__(model, batch, phase)


def _fit(store: RunStore, objective: MLE) -> None:
    Trainer(TrainConfig(steps=30, batch_size=32, checkpoint_every=10, ema_decay=0.9,
                        log_every=5, device="cpu"), store=store).fit(
        DiagGaussian(2), objective, data(200))


def _assert_kept(store: RunStore, step: int) -> None:
    assert store.checkpoint_step("last") == step
    ck = store.load_checkpoint("last")
    assert int(ck.state["step"]) == step
    assert all(torch.isfinite(t).all() for t in [*ck.model.values(), *(ck.ema or {}).values()])
    leftovers = [p.name for p in store.checkpoints.iterdir() if p.name.startswith(".step-")]
    assert not leftovers, leftovers


def _one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text, text
    return text


def test_full_disk_inside_a_checkpoint_write(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd: int) -> None:
        raise ENOSPC

    store = RunStore(tmp_path)
    with pytest.raises(StorageError) as e:
        _fit(store, _FailLater(15, lambda: monkeypatch.setattr(os, "fsync", fsync)))
    msg = _one_line(e.value)
    assert str(store.checkpoints / "step-00000020") in msg, msg
    assert "No space left on device" in msg and "step-00000010, is kept" in msg, msg
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    _assert_kept(store, 10)


def test_full_disk_at_the_pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace(src, dst) -> None:  # noqa: ANN001
        if str(dst).endswith("last.json"):
            raise ENOSPC
        real(src, dst)

    store = RunStore(tmp_path)
    with pytest.raises(StorageError, match=r"last\.json: cannot write \(No space left"):
        _fit(store, _FailLater(15, lambda: monkeypatch.setattr(os, "replace", replace)))
    monkeypatch.undo()
    _assert_kept(store, 10)
    assert not list(store.checkpoints.glob(".last.json.*")), "a temporary pointer was left"


def test_full_disk_in_the_metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def write(fd: int, data: bytes) -> int:
        raise ENOSPC

    store = RunStore(tmp_path)
    with pytest.raises(StorageError, match=r"metrics\.jsonl: cannot write \(No space left"):
        _fit(store, _FailLater(12, lambda: monkeypatch.setattr(os, "write", write)))
    monkeypatch.undo()
    _assert_kept(store, 10)


def test_unwritable_checkpoint_directory(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path)
    if os.geteuid() != 0:  # a real read-only directory
        def arm() -> None:
            store.checkpoints.chmod(0o555)
    else:  # root ignores the mode bits: the kernel's answer, simulated
        def mkdtemp(*args, **kwargs) -> str:  # noqa: ANN002, ANN003
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        def arm() -> None:
            monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    try:
        with pytest.raises(StorageError) as e:
            _fit(store, _FailLater(15, arm))
    finally:
        store.checkpoints.chmod(0o755)
        monkeypatch.undo()
    msg = _one_line(e.value)
    assert "step-00000020: cannot write (Permission denied)" in msg, msg
    _assert_kept(store, 10)


def test_cli_full_disk_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    real = os.replace

    def replace(src, dst) -> None:  # noqa: ANN001
        if "step-00000020" in str(dst):
            raise ENOSPC
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "run"
    rc = main(["train", "--model", "realnvp", "--data", "moons", "--steps", "30",
               "--batch-size", "32", "--set", "layers=2", "hidden=[8, 8]",
               "train.checkpoint_every=10", "data.n_train=500", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("genmodels: error: ") and "step-00000020" in err[0], err
    assert "No space left on device" in err[0] and "step-00000010, is kept" in err[0], err
    monkeypatch.undo()
    _assert_kept(RunStore(out), 10)  # the run directory stays, with its good checkpoint
    import genmodels as gm

    assert torch.isfinite(gm.load(out, which="last").sample(4, seed=0)).all()
