"""Parquet, the MAF benchmarks on a synthetic archive, safe downloads, the CLI on bad data,
and training from a memory-mapped file larger than a (simulated) RAM budget."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import genmodels as gm
from genmodels.cli import main
from genmodels.config import DataConfig
from genmodels.data import Standardize, files, load_dataset, tabular
from genmodels.data.download import extract, fetch
from genmodels.data.loader import Rows
from genmodels.errors import InputError

RNG = np.random.default_rng(0)


def _parquet(path: Path, **cols: object) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(cols), path)
    return path


def test_parquet_round_trip_and_column_selection(tmp_path: Path) -> None:
    x = RNG.normal(size=(40, 3)) * [1.0, 50.0, 0.1]
    p = _parquet(tmp_path / "a.parquet", a=x[:, 0], b=x[:, 1], c=x[:, 2], name=["s"] * 40)
    d = load_dataset(DataConfig(name=str(p), columns="a,b,c", val_fraction=0,
                                test_fraction=0.25))
    rows = torch.cat([d.train, d.test]).numpy()
    ref = x.astype(np.float32)
    assert np.array_equal(rows[np.lexsort(rows.T)], ref[np.lexsort(ref.T)])
    std = Standardize.fit(d.train)
    assert torch.allclose(std.inverse(std.forward(d.train)), d.train, rtol=1e-5, atol=1e-5)
    assert files.load_array(p, columns="2,0").shape == (40, 2)


@pytest.mark.parametrize(("make", "expected"), [
    (lambda t: _parquet(t / "a.parquet", a=[1.0, None, 2.0]), "row 1, column 'a': null value"),
    (lambda t: _parquet(t / "a.parquet", a=[1.0, 2.0, np.inf]), "row 2, column 'a': non-finite"),
    (lambda t: _parquet(t / "a.parquet", a=[1.0], s=["x"]), "column 's': type string is not"),
    (lambda t: _parquet(t / "a.parquet", a=np.zeros(0)), "empty file (0 rows)"),
])
def test_bad_parquet(tmp_path: Path, make, expected: str) -> None:  # noqa: ANN001
    p = make(tmp_path)
    with pytest.raises(InputError, match="^" + re.escape(f"{p}: {expected}")):
        files.read_splits(p)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    p = _parquet(tmp_path / "a.parquet", a=[1.0, 2.0])
    monkeypatch.setitem(__import__("sys").modules, "pyarrow.parquet", None)
    with pytest.raises(InputError, match=re.escape("pip install 'genmodels[data]'")):
        files.read_splits(p)


# --- MAF benchmarks on a synthetic archive of the same layout --------------------------------


def _tar(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.fixture
def maf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    power = RNG.normal(size=(300, 8))
    mini = RNG.normal(size=(200, 43))
    hep_tr = np.column_stack([RNG.integers(0, 2, 120), RNG.normal(size=(120, 4))])
    hep_tr[:, 2] = np.where(np.arange(120) < 30, -5.0, hep_tr[:, 2])  # repeated smallest value
    hep_te = np.column_stack([RNG.integers(0, 2, 50), RNG.normal(size=(50, 5))])
    head = "# label,f0,f1,f2,mass\n"

    def csv(a: np.ndarray, h: str) -> bytes:
        return (h + "\n".join(",".join(repr(float(v)) for v in r) for r in a) + "\n").encode()

    members = {"data/power/data.npy": _npy_bytes(power),
               "data/miniboone/data.npy": _npy_bytes(mini),
               "data/hepmass/1000_train.csv": csv(hep_tr, head),
               "data/hepmass/1000_test.csv": csv(hep_te, "# label,f0,f1,f2,mass,junk\n"),
               "data/gas/ethylene_CO.pickle": b"stand-in", "data/BSDS300/BSDS300.hdf5": b"x"}
    checksum = _tar(tmp_path / "data.tar.gz", members)
    monkeypatch.setitem(tabular.MAF_ARCHIVE, "url", (tmp_path / "data.tar.gz").as_uri())
    monkeypatch.setitem(tabular.MAF_ARCHIVE, "checksum", checksum)
    monkeypatch.setenv("GENMODELS_DATA", str(tmp_path / "cache"))
    return {"power": power, "miniboone": mini, "hep_tr": hep_tr, "hep_te": hep_te}


def test_maf_power_miniboone_hepmass_preprocessing(maf: dict, tmp_path: Path) -> None:
    d = load_dataset(DataConfig(name="power"))
    # 300 rows: test = 30, val = int(0.1 * 270) = 27; columns 1 and 3 dropped
    assert (len(d.train), len(d.val), len(d.test)) == (243, 27, 30) and d.event_shape == (6,)
    both = torch.cat([d.train, d.val]).double()
    assert torch.allclose(both.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(both.std(0, unbiased=False), torch.ones(6, dtype=torch.float64),
                          atol=1e-5)
    rows = maf["power"].copy()
    np.random.RandomState(42).shuffle(rows)
    # the time column (last kept) gets no noise: it is the standardised shuffled column 7
    t = rows[:, 7]
    expect = (t[-30:] - t[:270].mean()) / t[:270].std()
    assert np.allclose(d.test[:, 5].numpy(), expect, atol=1e-5)
    m = load_dataset(DataConfig(name="miniboone"))
    assert (len(m.train), len(m.val), len(m.test)) == (162, 18, 20) and m.event_shape == (43,)
    h = load_dataset(DataConfig(name="hepmass"))
    n_sig = int((maf["hep_tr"][:, 0] == 1).sum())
    assert len(h.train) + len(h.val) == n_sig and len(h.val) == int(0.1 * n_sig)
    assert len(h.test) == int((maf["hep_te"][:, 0] == 1).sum())
    assert h.event_shape == (3,)  # 4 features, the one with 30 repeats of its minimum dropped
    assert (tmp_path / "cache" / "maf" / "power.npz").is_file()


def test_gas_and_bsds300_read_through_pandas_and_h5py(
        maf: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive paths and conversions of the two benchmarks stored as a pandas pickle and
    HDF5, with stand-ins for pandas and h5py (neither is a dependency); and the message when
    the library is missing."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(InputError, match="^gas: .*pip install pandas"):
        load_dataset(DataConfig(name="gas"))
    values = np.column_stack([RNG.normal(size=(50, 9)), np.arange(50)])
    cols = [f"c{i}" for i in range(9)] + ["Time"]
    seen: list[Path] = []

    class Frame:
        columns = cols

        def to_numpy(self) -> np.ndarray:
            return values

    def read_pickle(path: Path) -> Frame:
        seen.append(Path(path))
        return Frame()

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(read_pickle=read_pickle))
    g = load_dataset(DataConfig(name="gas"))
    assert seen[0].parts[-2:] == ("gas", "ethylene_CO.pickle")
    assert g.event_shape == (9,) and (len(g.train), len(g.val), len(g.test)) == (41, 4, 5)
    splits = {k: RNG.normal(size=(n, 63)) for k, n in
              (("train", 20), ("validation", 5), ("test", 7))}

    class File(dict):
        def __init__(self, path: Path, mode: str) -> None:
            super().__init__(splits)
            assert Path(path).parts[-2:] == ("BSDS300", "BSDS300.hdf5") and mode == "r"

        def __enter__(self) -> File:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setitem(sys.modules, "h5py", types.SimpleNamespace(File=File))
    b = load_dataset(DataConfig(name="bsds300"))
    assert torch.equal(b.test, torch.from_numpy(splits["test"].astype(np.float32)))
    assert b.event_shape == (63,) and len(b.val) == 5


def test_gas_correlated_columns_are_dropped() -> None:
    base = RNG.normal(size=(100, 3))
    values = np.column_stack([base, base[:, 0] * 2 + 1e-6 * RNG.normal(size=100),
                              np.arange(100), RNG.normal(size=100)])
    tr, va, te = tabular.prep_gas(values, ["a", "b", "c", "a2", "Time", "Meth"])
    assert tr.shape[1] == 3 and (len(tr), len(va), len(te)) == (81, 9, 10)
    whole = np.vstack([tr, va, te])
    assert np.allclose(whole.std(0, ddof=1), 1.0)


# --- downloads and archives ------------------------------------------------------------------


def test_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"hello")
    dest = tmp_path / "cache" / "f.bin"
    with pytest.raises(InputError, match=r"f\.bin: checksum mismatch \(sha256 2cf24d"):
        fetch(src.as_uri(), dest, "sha256:" + "0" * 64)
    assert list((tmp_path / "cache").iterdir()) == []
    good = hashlib.sha256(b"hello").hexdigest()
    assert fetch(src.as_uri(), dest, good).read_bytes() == b"hello"
    with pytest.raises(InputError, match="download failed"):
        fetch((tmp_path / "absent").as_uri(), tmp_path / "cache" / "g", None)


@pytest.mark.parametrize("kind", ["tar-dotdot", "tar-absolute", "tar-symlink", "zip-dotdot"])
def test_archive_entry_escaping_the_cache_is_refused(tmp_path: Path, kind: str) -> None:
    arc = tmp_path / ("a.zip" if kind.startswith("zip") else "a.tar.gz")
    evil = {"tar-dotdot": "data/../../evil.txt", "tar-absolute": "/tmp/evil.txt",
            "tar-symlink": "data/link", "zip-dotdot": "../evil.txt"}[kind]
    if kind.startswith("zip"):
        with zipfile.ZipFile(arc, "w") as z:
            z.writestr("data/ok.txt", "ok")
            z.writestr(evil, "x")
    else:
        with tarfile.open(arc, "w:gz") as tf:
            ok = tarfile.TarInfo("data/ok.txt")
            ok.size = 2
            tf.addfile(ok, io.BytesIO(b"ok"))
            info = tarfile.TarInfo(evil)
            if kind == "tar-symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            else:
                info.size = 1
            tf.addfile(info, io.BytesIO(b"x"))
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=re.escape(f"{arc}: entry {evil!r}")):
        extract(arc, cache / "raw")
    assert not cache.exists() or list(cache.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


# --- the CLI on bad data: exit code 2, one line, no run directory ---------------------------


@pytest.mark.parametrize(("content", "data", "expected"), [
    ("a,b\n1,2\n3,oops\n", "bad.csv", "bad.csv:3: column 2 'b': 'oops' is not a number"),
    ("a,b\n1,2\n3\n", "bad.csv", "bad.csv:3: 1 fields, expected 2"),
    (None, "no_such_set", "unknown data set 'no_such_set'"),
])
def test_cli_bad_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture, content: str | None,
                              data: str, expected: str) -> None:
    if content is not None:
        (tmp_path / data).write_text(content)
        data = str(tmp_path / data)
    out = tmp_path / "run"
    code = main(["train", "--model", "realnvp", "--data", data, "--steps", "2", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expected in err and len(err.splitlines()) == 1
    assert not out.exists()


# --- a memory-mapped file larger than the RAM budget ----------------------------------------


def test_training_from_a_memory_map_larger_than_the_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 1 << 20  # 1 MiB of (simulated) RAM; the file is 4 MiB
    p = tmp_path / "big.npy"
    np.save(p, RNG.normal(size=(32768, 16)).astype(np.float64) * 3 + 1)
    assert p.stat().st_size > 4 * budget
    monkeypatch.setattr(files, "MMAP_BYTES", budget)
    monkeypatch.setattr(files, "_ROWS_PER_CHUNK", 1024)
    gm.registry.load_all()  # imports happen before the measurement, not inside it
    tracemalloc.start()
    data = load_dataset(DataConfig(name=str(p), val_fraction=0.002, test_fraction=0.002))
    std = Standardize.fit(data.train, chunk=1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(data.train, Rows) and isinstance(data.train.data, np.memmap)
    assert peak < budget, f"peak {peak} bytes of NumPy/Python memory over the {budget} budget"
    assert torch.allclose(std.mean, torch.ones(16), atol=0.05)
    run = gm.fit(model={"name": "realnvp"}, data={"name": str(p), "val_fraction": 0.002,
                                                  "test_fraction": 0.002},
                 train={"steps": 3, "batch_size": 64, "val_every": 0})
    assert run.sample(4, seed=0).shape == (4, 16)
