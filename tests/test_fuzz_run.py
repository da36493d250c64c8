"""Hostile run directories: ``gm.load``, resuming and ``genmodels runs`` (hypothesis).

A real tiny run (RealNVP on a standardised ``.npy`` file, with EMA) is trained once; every
example copies it and damages the copy: bit flips and truncation of every file, a pickle
whose unpickling creates a marker file in place of every file, metadata of the wrong family
or shape, unknown keys, wrong types, NaN and infinities, huge and negative sizes, and
symbolic links. Every property: the run loads (and then samples and scores finite-shaped
output) or a one-line :class:`InputError` names the run's file; the marker never appears;
nothing is written outside the copy.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genmodels as gm
from _fuzz import FUZZ, Marker, few, files_under, marker_pickle, outcome
from genmodels.errors import InputError
from genmodels.report.runs import collect_runs
from genmodels.train import RunStore

_RUN: dict[str, Path] = {}


def base_run() -> Path:
    """The directory of the tiny trained run (trained on first use, once per session)."""
    if "path" not in _RUN:
        root = Path(tempfile.mkdtemp(prefix="genmodels-fuzz-run-"))
        x = np.random.default_rng(0).normal(size=(120, 2)).astype(np.float32) * 3 + 1
        np.save(root / "points.npy", x)
        gm.fit(model={"name": "realnvp", "layers": 2, "hidden": [8]},
               data={"name": str(root / "points.npy")},
               train={"steps": 3, "batch_size": 32, "checkpoint_every": 0, "log_every": 1,
                      "ema_decay": 0.9, "device": "cpu"},
               out=root / "run", progress=False)
        _RUN["path"] = root / "run"
    return _RUN["path"]


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    if "path" in _RUN:
        shutil.rmtree(_RUN.pop("path").parent, ignore_errors=True)


RUN_FILES = sorted([
    "config.json", "data.json", "metrics.jsonl", "standardize.safetensors",
    "checkpoints/last.json", "checkpoints/best.json",
    "checkpoints/step-00000003/model.safetensors", "checkpoints/step-00000003/ema.safetensors",
    "checkpoints/step-00000003/state.pt",
])
"""Every file of the run (``test_the_base_run_loads`` checks the list against the run)."""


@contextmanager
def copy_of_run() -> Iterator[tuple[Path, Path]]:
    """A fresh copy ``run`` of the base run inside a temporary ``base`` (with a marker path)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        run = base / "run"
        shutil.copytree(base_run(), run, symlinks=True)
        shutil.copy(base_run().parent / "points.npy", base / "points.npy")
        cfg = json.loads((run / "config.json").read_text())
        cfg["data"]["name"] = str(base / "points.npy")
        (run / "config.json").write_text(json.dumps(cfg))
        yield base, run


def use_run(run: Path, *, resume: bool = False) -> None:
    """Everything that reads a run directory: load (then sample and score), ``runs``, resume.

    Each either works or raises a checked InputError naming a file of the run.
    """
    r = outcome(gm.load, run, places=(str(run),))
    if not isinstance(r, InputError):
        x = r.sample(4, seed=0)
        assert x.shape == (4, 2)
        lp = outcome(r.log_prob, torch.zeros(3, 2))
        assert isinstance(lp, InputError) or lp.shape == (3,)
    for which in ("last", "best"):
        outcome(RunStore(run).load_checkpoint, which, with_state=True, places=(str(run),))
    rows = collect_runs(run.parent)
    assert isinstance(rows, list)
    if resume:
        # the run's files, or the data file its config names (changed, or a damaged name)
        outcome(gm.fit, out=run, resume=True, progress=False,
                places=(str(run.parent), "points.npy"))


def check_nothing_outside(base: Path, before: set[str]) -> None:
    new = {p for p in files_under(base) - before if not p.startswith("run/")}
    assert not new, f"written outside the run: {sorted(new)}"


def test_the_base_run_loads() -> None:
    with copy_of_run() as (_, run):
        r = gm.load(run)
        assert r.sample(5, seed=0).shape == (5, 2)
        assert torch.isfinite(r.log_prob(torch.zeros(2, 2))).all()
    assert RUN_FILES == sorted(p for p in files_under(base_run()) if (base_run() / p).is_file())


# --- bit flips and truncation ------------------------------------------------------------------

@FUZZ
@given(name=st.sampled_from(RUN_FILES), data=st.data())
def test_bit_flips(name: str, data: st.DataObject) -> None:
    with copy_of_run() as (base, run):
        p = run / name
        b = bytearray(p.read_bytes())
        for _ in range(data.draw(st.integers(1, 4), label="flips")):
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        p.write_bytes(bytes(b))
        before = files_under(base)
        use_run(run)
        check_nothing_outside(base, before)


@FUZZ
@given(name=st.sampled_from(RUN_FILES), data=st.data())
def test_truncation(name: str, data: st.DataObject) -> None:
    with copy_of_run() as (base, run):
        p = run / name
        raw = p.read_bytes()
        p.write_bytes(raw[:data.draw(st.integers(0, len(raw) - 1), label="length")])
        use_run(run)


@few(12)
@given(name=st.sampled_from(RUN_FILES), data=st.data())
def test_resume_from_a_damaged_run(name: str, data: st.DataObject) -> None:
    """Resuming reads state.pt and metrics.jsonl too; a damaged run resumes or is refused."""
    with copy_of_run() as (base, run):
        p = run / name
        b = bytearray(p.read_bytes())
        if data.draw(st.booleans(), label="truncate"):
            b = b[:data.draw(st.integers(0, len(b) - 1), label="length")]
        else:
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        p.write_bytes(bytes(b))
        before = files_under(base)
        use_run(run, resume=True)
        check_nothing_outside(base, before)


# --- pickles -----------------------------------------------------------------------------------

@FUZZ
@given(name=st.sampled_from(RUN_FILES), how=st.sampled_from(["pickle", "torch", "npy"]),
       protocol=st.sampled_from([0, 2, 4, 5]))
def test_pickled_code_never_runs(name: str, how: str, protocol: int) -> None:
    """A pickle that would create a marker file, in place of any file of the run."""
    with copy_of_run() as (base, run):
        marker = base / "pwned"
        p = run / name
        if how == "pickle":
            p.write_bytes(marker_pickle(marker, protocol))
        elif how == "torch":  # torch.save's zip format with the object inside
            torch.save({"optimizers": Marker(marker), "step": 3}, p)
        else:
            a = np.empty(1, dtype=object)
            a[0] = Marker(marker)
            with open(p, "wb") as f:
                np.save(f, a, allow_pickle=True)
        use_run(run, resume=name.endswith("state.pt"))
        assert not marker.exists(), f"unpickling {name} ran code"


# --- metadata ------------------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
           | st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
shapes = st.lists(st.integers(-3, 4) | st.sampled_from([10**12, 2**31, 2**63]) | st.floats()
                  | st.text(max_size=2), min_size=0, max_size=4) | values
JSON_FILES = ["config.json", "data.json", "checkpoints/last.json", "checkpoints/best.json"]


def edit_json(p: Path, edit: Any) -> None:
    obj = json.loads(p.read_text())
    obj = edit(obj)
    p.write_text(json.dumps(obj, allow_nan=True))


@FUZZ
@given(name=st.sampled_from(JSON_FILES), key=st.text(max_size=8) | st.sampled_from(
    ["event_shape", "levels", "n_classes", "dir", "step", "model", "data", "train", "name"]),
    value=values | shapes, drop=st.booleans())
def test_json_metadata(name: str, key: str, value: Any, drop: bool) -> None:
    """A key of a JSON file set to any value (wrong type, NaN, huge, nested), or removed."""
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        if drop:
            obj.pop(key, None)
        else:
            obj[key] = value
        return obj

    with copy_of_run() as (_, run):
        edit_json(run / name, edit)
        use_run(run)


@FUZZ
@given(shape=shapes, levels=values, n_classes=values)
def test_data_record(shape: Any, levels: Any, n_classes: Any) -> None:
    """``data.json`` with any event shape (``[1e12]``, negative, empty, strings) and levels:
    never builds a model of that size, never another exception."""
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        obj.update(event_shape=shape, levels=levels, n_classes=n_classes)
        return obj

    with copy_of_run() as (_, run):
        edit_json(run / "data.json", edit)
        use_run(run)


def test_huge_event_shape_is_refused_before_building() -> None:
    for shape in ([10**12], [2**31, 2**31], [1, 10**9], [-2], [0], [2.0], [True, 2], "2"):
        with copy_of_run() as (_, run):
            edit_json(run / "data.json", lambda o, s=shape: {**o, "event_shape": s})
            r = outcome(gm.load, run, places=("data.json",))
            assert isinstance(r, InputError), shape


families = st.sampled_from(["maf", "nice", "glow", "nsf", "vae", "ns-gan", "vp-sde", "cnf",
                            "realnvp"])


@few(30)
@given(family=families, layers=st.integers(1, 3), hidden=st.lists(st.integers(1, 9), max_size=2),
       shape=st.sampled_from([[2], [3], [1], [2, 1]]))
def test_wrong_family_or_shape(family: str, layers: int, hidden: list[int],
                               shape: list[int]) -> None:
    """config.json of another family or size, data.json of another shape: refused by name."""
    def edit_cfg(obj: dict[str, Any]) -> dict[str, Any]:
        obj["model"] = {"name": family}
        if family in ("realnvp", "maf", "nice", "nsf", "glow"):
            obj["model"].update(layers=layers, hidden=hidden)
        return obj

    with copy_of_run() as (_, run):
        edit_json(run / "config.json", edit_cfg)
        edit_json(run / "data.json", lambda o: {**o, "event_shape": shape})
        use_run(run)


@st.composite
def standardize_tensors(draw: Any) -> dict[str, torch.Tensor]:
    out = {}
    for key in draw(st.sets(st.sampled_from(["mean", "std", "logit", "extra"]))):
        shape = draw(st.sampled_from([(2,), (3,), (), (1,), (2, 2), (0,)]))
        dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool,
                                      torch.float16]))
        fill = draw(st.floats(width=32) | st.sampled_from([0.0, 1.0, -1.0, 0.5]))
        out[key] = torch.full(shape, fill).to(dtype)
    return out


@FUZZ
@given(tensors=standardize_tensors())
def test_standardize_file(tensors: dict[str, torch.Tensor]) -> None:
    """standardize.safetensors with missing, extra, mis-shaped, integer, NaN or zero tensors."""
    from safetensors.torch import save_file

    with copy_of_run() as (_, run):
        save_file(tensors, run / "standardize.safetensors")
        r = outcome(gm.load, run, places=(str(run),))
        if not isinstance(r, InputError):
            assert r.sample(3, seed=0).shape == (3, 2)
            assert r.log_prob(torch.zeros(2, 2)).shape == (2,)


@FUZZ
@given(which=st.sampled_from(["model", "ema"]), meta=st.dictionaries(
    st.sampled_from(["family", "event_shape", "step", "config", "x"]),
    st.text(max_size=8) | st.sampled_from(["[2]", "[3]", "[1e12]", "maf", "realnvp", "null"]),
    max_size=3), drop_tensor=st.booleans())
def test_checkpoint_metadata(which: str, meta: dict[str, str], drop_tensor: bool) -> None:
    """Safetensors metadata of another family or shape, or a missing weight."""
    from safetensors.torch import load_file, save_file

    with copy_of_run() as (_, run):
        p = next((run / "checkpoints").glob(f"step-*/{which}.safetensors"))
        tensors = load_file(p)
        if drop_tensor:
            tensors.pop(sorted(tensors)[0])
        save_file(tensors, p, meta)
        use_run(run)


# --- links -------------------------------------------------------------------------------------

@FUZZ
@given(name=st.sampled_from([*RUN_FILES, "checkpoints", "checkpoints/step-00000003"]),
       target=st.sampled_from(["outside", "missing", "self", "dir", "loop"]))
def test_symlinks_in_the_run(name: str, target: str) -> None:
    """A file or directory of the run replaced by a symbolic link: refused, and nothing is
    written through the link."""
    with copy_of_run() as (base, run):
        p = run / name
        if not p.exists():
            return
        outside = base / "outside"
        if p.is_dir():
            shutil.copytree(p, outside)
            shutil.rmtree(p)
        else:
            outside.write_bytes(p.read_bytes())
            p.unlink()
        dest = {"outside": outside, "missing": base / "missing", "self": p,
                "dir": base, "loop": p.parent / ".loop"}[target]
        if target == "loop":
            dest.symlink_to(p)
        p.symlink_to(dest)
        snapshot = outside.read_bytes() if outside.is_file() else files_under(outside)
        before = files_under(base)
        use_run(run, resume=name == "metrics.jsonl")
        assert (outside.read_bytes() if outside.is_file() else files_under(outside)) == snapshot
        check_nothing_outside(base, before)
        r = outcome(gm.load, run, places=(str(run),))
        assert isinstance(r, InputError), f"a run with {name} -> {target} loaded"


def test_nan_and_inf_in_the_config() -> None:
    for key, value in (("lr", math.nan), ("budget", math.inf), ("steps", math.inf)):
        with copy_of_run() as (_, run):
            edit_json(run / "config.json", lambda o, k=key, v=value: {
                **o, "train": {**o["train"], k: v}})
            outcome(gm.load, run, places=("config.json",))
