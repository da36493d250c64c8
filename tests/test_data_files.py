"""User data files: round trips through Standardize, splits, and one test per bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels.config import DataConfig
from genmodels.data import Standardize, files, load_dataset
from genmodels.data.files import load_array, read_splits
from genmodels.errors import InputError

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(50, 3)) * np.array([1.0, 100.0, 0.01]) + np.array([5.0, -3.0, 0.5]))
X = X.astype(np.float32)


def _all_rows(d) -> torch.Tensor:  # noqa: ANN001
    parts = [d.train, d.test] + ([d.val] if d.val is not None else [])
    return torch.cat(parts)


def _same_rows(a: torch.Tensor, b: np.ndarray) -> bool:
    """Equal as multisets of rows (splits permute)."""
    sa = a.numpy()[np.lexsort(a.numpy().T[::-1])]
    sb = b[np.lexsort(b.T[::-1])]
    return sa.shape == sb.shape and np.allclose(sa, sb, rtol=1e-6, atol=0)


def _write_csv(path: Path, x: np.ndarray, sep: str = ",", header: str | None = "a,b,c") -> None:
    lines = [] if header is None else [header.replace(",", sep)]
    lines += [sep.join(repr(float(v)) for v in row) for row in x]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "tsv-noheader", "npy", "npz-x", "npz-splits"])
def test_round_trip_through_standardize(tmp_path: Path, fmt: str) -> None:
    """File → tensors → Standardize.fit → forward → inverse gives the file's values back."""
    if fmt == "csv":
        p = tmp_path / "d.csv"
        _write_csv(p, X)
    elif fmt == "tsv-noheader":
        p = tmp_path / "d.tsv"
        _write_csv(p, X, sep="\t", header=None)
    elif fmt == "npy":
        p = tmp_path / "d.npy"
        np.save(p, X)
    elif fmt == "npz-x":
        p = tmp_path / "d.npz"
        np.savez(p, x=X, labels=np.arange(50))
    else:
        p = tmp_path / "d.npz"
        np.savez(p, train=X[:30], val=X[30:40], test=X[40:])
    d = load_dataset(DataConfig(name=str(p), seed=1))
    assert d.standardize is True and d.name == str(p) and d.event_shape == (3,)
    assert d.train.dtype == torch.float32
    assert _same_rows(_all_rows(d), X)
    if fmt == "npz-splits":  # the given splits, untouched and in order
        assert np.array_equal(d.train.numpy(), X[:30]) and np.array_equal(d.test.numpy(), X[40:])
    else:  # 10 % / 10 % of 50 rows
        assert (len(d.train), len(d.val), len(d.test)) == (40, 5, 5)
    std = Standardize.fit(d.train)
    u = std.forward(d.train)
    assert torch.allclose(u.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(u.std(0), torch.ones(3), atol=1e-5)
    for split in (d.train, d.val, d.test):
        torch.testing.assert_close(std.inverse(std.forward(split)), split, rtol=1e-5, atol=1e-6)


def test_split_is_seeded_and_one_d_becomes_a_column(tmp_path: Path) -> None:
    p = tmp_path / "v.npy"
    np.save(p, np.arange(100, dtype=np.int64))
    a = load_dataset(DataConfig(name=str(p), seed=0, val_fraction=0.2, test_fraction=0.3))
    b = load_dataset(DataConfig(name=str(p), seed=0, val_fraction=0.2, test_fraction=0.3))
    c = load_dataset(DataConfig(name=str(p), seed=1, val_fraction=0.2, test_fraction=0.3))
    assert a.train.shape == (50, 1) and a.val.shape == (20, 1) and a.test.shape == (30, 1)
    assert torch.equal(a.test, b.test) and not torch.equal(a.test, c.test)
    assert sorted(_all_rows(a).flatten().tolist()) == list(range(100))
    assert load_dataset(DataConfig(name=str(p), val_fraction=0.0)).val is None


def test_npz_missing_test_is_carved_from_train(tmp_path: Path) -> None:
    p = tmp_path / "s.npz"
    np.savez(p, train=X, val=X[:4])
    d = load_dataset(DataConfig(name=str(p), test_fraction=0.2))
    assert len(d.test) == 10 and len(d.train) == 40 and torch.equal(d.val, torch.from_numpy(X[:4]))


def test_csv_column_selection(tmp_path: Path) -> None:
    p = tmp_path / "iris.csv"
    p.write_text("x,species,y\n1.5,setosa,2\n3,virginica,-4e-1\n\n5,setosa,6\n")
    with pytest.raises(InputError, match=re.escape(f"{p}:2: non-numeric column 2 'species'")):
        load_array(p)
    by_name = load_array(p, columns="y, x")
    assert torch.equal(by_name, torch.tensor([[2.0, 1.5], [-0.4, 3.0], [6.0, 5.0]]))
    assert torch.equal(load_array(p, columns="2,0"), by_name)
    d = load_dataset(DataConfig(name=str(p), columns="x,y", val_fraction=0, test_fraction=1 / 3))
    assert d.event_shape == (2,) and len(d.test) == 1
    q = tmp_path / "a.npy"
    np.save(q, X)
    assert torch.equal(load_array(q, columns="2"), torch.from_numpy(X[:, [2]]))


def test_large_npy_is_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "big.npy"
    big = RNG.normal(size=(1000, 2, 2))
    np.save(p, big)
    modes = []
    real_load = np.load

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        modes.append(kwargs.get("mmap_mode"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(files, "MMAP_BYTES", 1024)
    monkeypatch.setattr(files, "_ROWS_PER_CHUNK", 64)
    monkeypatch.setattr(files.np, "load", spy)
    x = load_array(p)
    assert modes == ["r"] and x.shape == (1000, 2, 2) and x.dtype == torch.float32
    assert torch.equal(x, torch.from_numpy(big.astype(np.float32)))
    big[700, 1, 0] = np.inf  # found in a later chunk, at its global index
    np.save(p, big)
    expected = f"{p}: non-finite value inf at index [700, 1, 0]"
    with pytest.raises(InputError, match=re.escape(expected)):
        load_array(p)


# --- one test per bad input: the message is one line naming the file and the place ------------


def _pickle_bomb(tmp_path: Path) -> Path:
    """An object array whose unpickling would create a file."""
    marker = tmp_path / "PWNED"
    obj = np.empty(1, dtype=object)
    obj[0] = _Bomb(str(marker))
    p = tmp_path / "obj.npy"
    np.save(p, obj, allow_pickle=True)
    return p


class _Bomb:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    p = tmp_path / "a.npz"
    np.savez(p, **arrays)
    return p


def _text(tmp_path: Path, name: str, content: str) -> Path:
    p = tmp_path / name
    p.write_text(content)
    return p


def _npy(tmp_path: Path, arr: np.ndarray) -> Path:
    p = tmp_path / "a.npy"
    np.save(p, arr)
    return p


def _nan_npy(tmp_path: Path) -> Path:
    a = np.ones((6, 3))
    a[4, 2] = np.nan
    return _npy(tmp_path, a)


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", lambda t: t / "nope.csv", "{p}: file not found"),
    ("extension", lambda t: _text(t, "a.json", "[1]"), "{p}: unknown file extension '.json'"),
    ("empty", lambda t: _text(t, "a.csv", ""), "{p}: empty file"),
    ("header-only", lambda t: _text(t, "a.csv", "a,b\n\n"), "{p}: empty file (a header and no"),
    ("empty-array", lambda t: _npy(t, np.zeros((0, 2))), "{p}: empty array (0 rows)"),
    ("nan-npy", _nan_npy, "{p}: non-finite value nan at row 4, column 2"),
    ("inf-csv", lambda t: _text(t, "a.csv", "a,b\n1,2\n3,-inf\n"),
     "{p}:3: column 2 'b': non-finite value '-inf'"),
    ("overflow-csv", lambda t: _text(t, "a.tsv", "1\t2\n3\t1e300\n"),
     "{p}:2: column 2: value overflows float32: '1e300'"),
    ("ragged", lambda t: _text(t, "a.csv", "a,b\n1,2\n3,4\n5\n"), "{p}:4: 1 fields, expected 2"),
    ("text-in-column", lambda t: _text(t, "a.csv", "a,b\n1,2\n3,oops\n"),
     "{p}:3: column 2 'b': 'oops' is not a number"),
    ("object-npy", _pickle_bomb, "{p}: array of Python objects (dtype object); refusing"),
    ("complex-npy", lambda t: _npy(t, np.ones(3, dtype=complex)),
     "{p}: dtype complex128 is not numeric"),
    ("string-npz", lambda t: _npz(t, x=np.array(["a", "b"])),
     "{p}: array 'x': dtype <U1 is not numeric"),
    ("ambiguous-npz", lambda t: _npz(t, a=np.ones(3), b=np.ones(3)),
     "{p}: 2 arrays (a, b) and none named x, data or train"),
    ("corrupt-npy", lambda t: _text(t, "a.npy", "not numpy"), "{p}: not a valid .npy file"),
    ("missing-column", lambda t: _text(t, "a.csv", "a,b\n1,2\n"), "{p}: column 'z' not found"),
    ("shape-mismatch", lambda t: _npz(t, train=np.ones((4, 2)), test=np.ones((4, 3))),
     "{p}: array 'test' has points of shape (3,)"),
    ("too-few-rows", lambda t: _npy(t, np.ones((1, 2))), "{p}: 1 rows are too few to split"),
]


@pytest.mark.parametrize(("case", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_file_and_place(tmp_path: Path, case: str, make, expected: str) -> None:  # noqa: ANN001
    p = make(tmp_path)
    cfg = DataConfig(name=str(p), columns="a,z" if case == "missing-column" else "")
    with pytest.raises(InputError) as info:
        load_dataset(cfg)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(expected.format(p=p)), msg
    if case == "object-npy":
        assert not (tmp_path / "PWNED").exists(), "loading executed pickled code"


def test_bad_names_and_fractions(tmp_path: Path) -> None:
    known = r"^unknown data set 'no_such_set' \(known: .*checkerboard"
    with pytest.raises(InputError, match=known):
        load_dataset(DataConfig(name="no_such_set"))
    with pytest.raises(InputError, match=r"^runs/missing/data: file not found$"):
        load_dataset(DataConfig(name="runs/missing/data"))
    with pytest.raises(InputError, match=r"no \.png/\.jpg/\.jpeg images in this directory"):
        load_dataset(DataConfig(name=str(tmp_path)))
    p = _npy(tmp_path, X)
    with pytest.raises(InputError, match=r"^data\.val_fraction \+ data\.test_fraction = 1"):
        load_dataset(DataConfig(name=str(p), val_fraction=0.5, test_fraction=0.5))
    with pytest.raises(InputError, match=r"^data\.test_fraction: -0\.1 must be in \[0, 1\)"):
        load_dataset(DataConfig(name=str(p), test_fraction=-0.1))
    with pytest.raises(InputError, match=re.escape(f"{p}: column 'b': arrays have no column")):
        read_splits(p, columns="b")
