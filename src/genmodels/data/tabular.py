"""Parquet files and the five MAF tabular benchmarks (Papamakarios et al. 2017).

**Parquet** (``.parquet``, the ``data`` extra: ``pip install genmodels[data]``): numeric columns
(or those ``columns`` selects), null or non-finite values refused with their row and column.

**MAF benchmarks** ``power``, ``gas``, ``hepmass``, ``miniboone``, ``bsds300``: on first use the
archive of the MAF authors (zenodo record 1161203, ``data.tar.gz``, MD5 as published) is
downloaded into ``$GENMODELS_DATA/maf``, verified, unpacked safely, preprocessed exactly as
the MAF code does (below) and cached as one ``.npz`` per benchmark. Splits are those of the
paper, already standardised, so ``standardize`` is off for them.

* POWER: rows shuffled with ``RandomState(42)``; columns 3 then 1 dropped; uniform noise
  added from the same RNG: U(0, 0.001) to the first column, U(0, 0.01) to the second, U(0, 1)
  to the three sub-metering columns, none to time; test = last 10 %, validation = last 10 %
  of the rest; standardised with the train+validation mean and std.
* GAS: the pandas pickle (needs pandas); ``Meth``, ``Eth``, ``Time`` dropped; repeatedly the
  first column correlated > 0.98 with another is dropped; standardised with the whole data's
  mean and std (ddof 1, before splitting: MAF's quirk); splits as POWER (without shuffling).
* HEPMASS: signal rows (label 1) of the two CSVs, label dropped, the test file's last column
  dropped; standardised with train mean and std (ddof 1); features whose smallest value
  occurs more than 5 times dropped; validation = last 10 % of train.
* MINIBOONE: ``data.npy``; splits as POWER (no shuffle); train+validation statistics.
* BSDS300: the HDF5 ``train``/``validation``/``test`` arrays as they are (needs h5py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .base import Dataset

__all__ = ["MAF_ARCHIVE", "MAF_NAMES", "maf_dataset", "read_parquet"]

MAF_ARCHIVE = {"url": "https://zenodo.org/record/1161203/files/data.tar.gz",
               "checksum": "md5:9b9c9b0375315ad270eba4ce80c093ab"}
"""The MAF data archive (tests point ``url`` at a ``file://`` copy)."""

MAF_NAMES = ("power", "gas", "hepmass", "miniboone", "bsds300")


def read_parquet(p: Path, columns: list[str | int]) -> dict[str, torch.Tensor]:
    """A Parquet file's numeric columns as float32 ``(N, C)``."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{p}: reading Parquet needs pyarrow (pip install "
                         "'genmodels[data]')") from None
    try:
        table = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InputError(f"{p}: not a readable Parquet file ({str(e).splitlines()[0]})") from None
    names = table.column_names
    if table.num_rows == 0:
        raise InputError(f"{p}: empty file (0 rows)")
    select = []
    for c in columns or list(range(len(names))):
        if isinstance(c, int):
            if c >= len(names):
                raise InputError(f"{p}: column index {c} out of range ({len(names)} columns)")
            select.append(c)
        elif c not in names:
            raise InputError(f"{p}: column {c!r} not found (columns: {', '.join(names)})")
        else:
            select.append(names.index(c))
    out = np.empty((table.num_rows, len(select)), dtype=np.float32)
    for j, i in enumerate(select):
        col = table.column(i)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{p}: row {row}, column {names[i]!r}: null value")
        arr = col.to_numpy()
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{p}: column {names[i]!r}: type {col.type} is not numeric; select "
                             "the numeric columns with data.columns")
        v = arr.astype(np.float32)
        bad = ~np.isfinite(v)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{p}: row {row}, column {names[i]!r}: non-finite value {arr[row]!r}")
        out[:, j] = v
    return {"data": torch.from_numpy(out)}


# --- MAF benchmarks ----------------------------------------------------------------------------


def _split_tail(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_test = int(0.1 * x.shape[0])
    test, rest = x[-n_test:], x[:-n_test]
    n_val = int(0.1 * rest.shape[0])
    return rest[:-n_val], rest[-n_val:], test


def _standardise(train: np.ndarray, val: np.ndarray, test: np.ndarray,
                 stats: np.ndarray) -> tuple[np.ndarray, ...]:
    mu, s = stats.mean(0), stats.std(0)
    return tuple((a - mu) / s for a in (train, val, test))


def prep_power(data: np.ndarray) -> tuple[np.ndarray, ...]:
    """MAF's POWER preprocessing of ``power/data.npy``."""
    rng = np.random.RandomState(42)
    data = np.array(data, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 8:
        raise InputError(f"power/data.npy: shape {data.shape}, expected (N, 8)")
    rng.shuffle(data)
    n = data.shape[0]
    data = np.delete(data, 3, axis=1)
    data = np.delete(data, 1, axis=1)
    voltage = 0.01 * rng.rand(n, 1)
    gap = 0.001 * rng.rand(n, 1)
    sm = rng.rand(n, 3)
    data = data + np.hstack((gap, voltage, sm, np.zeros((n, 1))))
    tr, va, te = _split_tail(data)
    return _standardise(tr, va, te, np.vstack((tr, va)))


def prep_gas(values: np.ndarray, columns: list[str]) -> tuple[np.ndarray, ...]:
    """MAF's GAS preprocessing of the ethylene_CO table (values ``(N, C)``, column names)."""
    keep = [i for i, c in enumerate(columns) if c not in ("Meth", "Eth", "Time")]
    x = np.asarray(values, dtype=np.float64)[:, keep]
    while True:
        b = (np.corrcoef(x, rowvar=False) > 0.98).sum(1)
        if not (b > 1).any():
            break
        x = np.delete(x, int(np.flatnonzero(b > 1)[0]), axis=1)
    x = (x - x.mean(0)) / x.std(0, ddof=1)
    return _split_tail(x)


def prep_hepmass(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, ...]:
    """MAF's HEPMASS preprocessing of the 1000_train/1000_test CSV values (label first)."""
    train = train[train[:, 0] == 1][:, 1:]
    test = test[test[:, 0] == 1][:, 1:-1]
    if test.shape[1] != train.shape[1]:
        # MAF aligns the columns by name (pandas); the published test file has one extra
        # trailing column, dropped above, after which the two match position by position.
        raise InputError(f"hepmass: 1000_test.csv has {test.shape[1]} feature columns after "
                         f"dropping its last one, 1000_train.csv {train.shape[1]}")
    mu, s = train.mean(0), train.std(0, ddof=1)
    train, test = (train - mu) / s, (test - mu) / s
    drop = [i for i, f in enumerate(train.T) if sorted(Counter(f).items())[0][1] > 5]
    keep = [i for i in range(train.shape[1]) if i not in drop]
    train, test = train[:, keep], test[:, keep]
    n_val = int(train.shape[0] * 0.1)
    return train[:-n_val], train[-n_val:], test


def prep_miniboone(data: np.ndarray) -> tuple[np.ndarray, ...]:
    """MAF's MINIBOONE preprocessing of ``miniboone/data.npy``."""
    tr, va, te = _split_tail(np.asarray(data, dtype=np.float64))
    return _standardise(tr, va, te, np.vstack((tr, va)))


def _csv(path: Path) -> np.ndarray:
    """A checksum-verified HEPMASS CSV (header line, then numbers), parsed by NumPy's C reader."""
    try:
        with open(path) as f:
            lines = (ln.rstrip().rstrip(",") for ln in f)  # tolerate trailing delimiters
            return np.loadtxt(lines, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: {str(e).splitlines()[0]}") from None


def _prepare(name: str, root: Path) -> tuple[np.ndarray, ...]:
    if name == "power":
        return prep_power(np.load(root / "power" / "data.npy", allow_pickle=False))
    if name == "miniboone":
        return prep_miniboone(np.load(root / "miniboone" / "data.npy", allow_pickle=False))
    if name == "hepmass":
        return prep_hepmass(_csv(root / "hepmass" / "1000_train.csv"),
                            _csv(root / "hepmass" / "1000_test.csv"))
    if name == "gas":
        try:
            import pandas as pd
        except ImportError:
            raise InputError("gas: the MAF archive stores GAS as a pandas pickle; pip install "
                             "pandas to convert it once") from None
        df = pd.read_pickle(root / "gas" / "ethylene_CO.pickle")  # trusted: checksum-verified
        return prep_gas(df.to_numpy(), list(df.columns))
    try:
        import h5py
    except ImportError:
        raise InputError("bsds300: the MAF archive stores BSDS300 as HDF5; pip install h5py "
                         "to convert it once") from None
    with h5py.File(root / "BSDS300" / "BSDS300.hdf5", "r") as f:
        return tuple(np.asarray(f[k]) for k in ("train", "validation", "test"))


def maf_dataset(name: str, config: Any) -> Dataset:
    """A MAF benchmark (downloaded, verified, preprocessed and cached on first use)."""
    import os
    import tempfile

    from .download import cache_dir, extract, fetch

    base = cache_dir() / "maf"
    cached = base / f"{name}.npz"
    if not cached.is_file():
        archive = fetch(MAF_ARCHIVE["url"], base / "data.tar.gz", MAF_ARCHIVE["checksum"])
        root = extract(archive, base / "raw") / "data"
        tr, va, te = _prepare(name, root)
        fd, tmp = tempfile.mkstemp(dir=base, prefix=f".{name}.", suffix=".npz")
        os.close(fd)
        try:
            np.savez(tmp, train=tr.astype(np.float32), val=va.astype(np.float32),
                     test=te.astype(np.float32))
            os.replace(tmp, cached)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    with np.load(cached, allow_pickle=False) as z:
        tr, va, te = (torch.from_numpy(z[k]) for k in ("train", "val", "test"))
    return Dataset(name=name, train=tr, val=va, test=te, standardize=False)
