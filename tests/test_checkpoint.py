"""Checkpoints and the run store: atomic files, pointers, safe loading, kill -9 resume."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from _models import DiagGaussian
from genmodels import __version__
from genmodels.errors import InputError
from genmodels.train import RunStore
from genmodels.train.checkpoint import atomic_write, load_checkpoint, write_checkpoint

HERE = Path(__file__).resolve().parent


def _save(store: RunStore, step: int, which: tuple[str, ...] = ("last",), ema: bool = True):
    torch.manual_seed(step)
    m = DiagGaussian()
    state = {"step": step, "rng": torch.get_rng_state(), "best_val": None, "name": "x",
             "nested": {"a": [1, 2.5, (3, 4)]}}
    return store.save_checkpoint(step, m.state_dict(), state, {"family": "toy", "config": "{}"},
                                 ema_state=m.state_dict() if ema else None, which=which), m


def test_round_trip_metadata_and_layout(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    assert not store.has_checkpoint("last") and store.checkpoint_dir("best") is None
    d, m = _save(store, 500)
    assert d == tmp_path / "checkpoints" / "step-00000500"
    assert sorted(p.name for p in d.iterdir()) == ["ema.safetensors", "model.safetensors",
                                                   "state.pt"]
    assert json.loads((tmp_path / "checkpoints" / "last.json").read_text()) == {
        "dir": "step-00000500", "step": 500}
    c = store.load_checkpoint("last")
    assert c.metadata == {"family": "toy", "config": "{}"}  # the store adds nothing itself
    assert all(torch.equal(c.model[k], v) for k, v in m.state_dict().items())
    assert c.state["step"] == 500 and c.state["nested"]["a"][2] == (3, 4)
    w, meta = store.load_model_weights("last")
    assert meta["family"] == "toy"
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary files left


def test_metadata_from_trainer_has_version_and_step(tmp_path: Path) -> None:
    from _models import MLE, data
    from genmodels.config import TrainConfig
    from genmodels.train import Trainer

    store = RunStore(tmp_path)
    Trainer(TrainConfig(steps=3, batch_size=16, device="cpu"), store=store,
            metadata={"family": "toy", "config": json.dumps({"a": 1})}).fit(
        DiagGaussian(), MLE(), data(64))
    _, meta = store.load_model_weights("last")
    assert meta == {"family": "toy", "config": '{"a": 1}', "library_version": __version__,
                    "step": "3"}


def test_tied_tensors_are_saved(tmp_path: Path) -> None:
    lin = torch.nn.Linear(3, 3)
    tied = {"a.weight": lin.weight, "b.weight": lin.weight, "view": lin.weight[0]}
    write_checkpoint(tmp_path / "step-00000001", tied, {"step": 1}, {"k": "v"})
    c = load_checkpoint(tmp_path / "step-00000001")
    assert torch.equal(c.model["a.weight"], c.model["b.weight"])
    assert torch.equal(c.model["view"], lin.weight[0].detach())


def test_pointers_and_pruning(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    _save(store, 1)
    _save(store, 2, ("best", "last"))
    _save(store, 3)
    _save(store, 4)
    ck = tmp_path / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["best.json", "last.json", "step-00000002",
                                                    "step-00000004"]
    assert store.checkpoint_step("best") == 2 and store.checkpoint_step("last") == 4
    _save(store, 5, ("best",))
    assert store.checkpoint_step("best") == 5 and store.checkpoint_step("last") == 4
    assert sorted(p.name for p in ck.glob("step-*")) == ["step-00000004", "step-00000005"]


def test_load_model_weights_prefers_ema(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    m = DiagGaussian()
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in m.state_dict().items()}
    store.save_checkpoint(1, m.state_dict(), {"step": 1}, {}, ema_state=ema)
    w, _ = store.load_model_weights(ema=True)
    raw, _ = store.load_model_weights(ema=False)
    assert torch.equal(w["mu"], m.mu.detach() + 1) and torch.equal(raw["mu"], m.mu.detach())
    _save(RunStore(tmp_path / "b"), 1, ema=False)
    w2, _ = RunStore(tmp_path / "b").load_model_weights(ema=True)  # falls back to training
    assert "mu" in w2


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_hostile_pickle_never_runs(tmp_path: Path) -> None:
    armed = tmp_path / "armed"  # the payload is real: plain pickle would run it
    pickle.loads(pickle.dumps(_Evil(armed)))
    assert armed.exists()
    store = RunStore(tmp_path)
    d, _ = _save(store, 1)
    marker = tmp_path / "pwned"
    with open(d / "state.pt", "wb") as f:
        pickle.dump({"step": _Evil(marker)}, f)
    with pytest.raises(InputError, match=r"state\.pt"):
        store.load_checkpoint("last")
    assert not marker.exists()
    torch.save({"step": _Evil(marker)}, d / "state.pt")  # a torch zip archive, same payload
    with pytest.raises(InputError, match=r"state\.pt: corrupt or unsafe"):
        store.load_checkpoint("last")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate-state", "bad-header", "missing-model",
                                    "truncate-weights", "bad-pointer", "pointer-escape"])
def test_corrupt_checkpoints_are_input_errors(tmp_path: Path, damage: str) -> None:
    store = RunStore(tmp_path)
    d, _ = _save(store, 1)
    target = {"truncate-state": "state.pt", "bad-header": "model.safetensors",
              "missing-model": "model.safetensors", "truncate-weights": "ema.safetensors",
              "bad-pointer": "last.json", "pointer-escape": "last.json"}[damage]
    if damage == "truncate-state" or damage == "truncate-weights":
        p = d / target
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif damage == "bad-header":
        (d / target).write_bytes(b"\xff" * 8 + b"{not json")
    elif damage == "missing-model":
        (d / target).unlink()
    elif damage == "bad-pointer":
        (tmp_path / "checkpoints" / target).write_text("{oops")
    else:
        (tmp_path / "checkpoints" / target).write_text('{"dir": "../../etc", "step": 1}')
    with pytest.raises(InputError) as e:
        store.load_checkpoint("last")
    msg = str(e.value)
    assert target in msg and "\n" not in msg


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    p = tmp_path / "f.txt"
    atomic_write(p, lambda t: Path(t).write_text("one"))
    atomic_write(p, lambda t: Path(t).write_text("two"))
    assert p.read_text() == "two"

    def boom(t: str) -> None:
        Path(t).write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert p.read_text() == "two" and sorted(x.name for x in tmp_path.iterdir()) == ["f.txt"]


def test_store_config_and_metrics(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.write_config({"train": {"steps": 3}})
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"train": {"steps": 3}}
    for s in (1, 2, 3):
        store.append_metrics({"step": s, "loss": float(s), "val_loss": float("nan")})
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "lo')  # a torn line from a killed process
    recs = store.read_metrics()
    assert [r["step"] for r in recs] == [1, 2, 3] and recs[0]["val_loss"] is None
    store.truncate_metrics(2)
    assert [r["step"] for r in store.read_metrics()] == [1, 2]


def test_kill_9_then_resume_in_a_new_process_is_bit_identical(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE))
    from _train_script import train

    threads = torch.get_num_threads()
    try:
        reference = train(tmp_path / "full", 0.0, False)
    finally:
        torch.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cut = tmp_path / "cut"
    script = [sys.executable, str(HERE / "_train_script.py"), str(cut)]
    proc = subprocess.Popen([*script, "0.004"], env=env, stderr=subprocess.PIPE)
    pointer = cut / "checkpoints" / "last.json"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                if json.loads(pointer.read_text())["step"] >= 100:
                    break
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed_at = json.loads(pointer.read_text())["step"]
    assert 100 <= killed_at < 400
    subprocess.run([*script, "0", "--resume"], env=env, check=True, timeout=120,
                   capture_output=True)
    last = json.loads(pointer.read_text())
    assert last["step"] == 400
    got = load_file(str(cut / "checkpoints" / last["dir"] / "model.safetensors"))
    ema = load_file(str(cut / "checkpoints" / last["dir"] / "ema.safetensors"))
    full = RunStore(tmp_path / "full")
    ref_ema, _ = full.load_model_weights("last", ema=True)
    for k, v in reference.state_dict().items():
        assert torch.equal(got[k], v), k
        assert torch.equal(ema[k], ref_ema[k]), k
    steps = [r["step"] for r in RunStore(cut).read_metrics() if "loss" in r]
    assert steps == list(range(10, 401, 10))
