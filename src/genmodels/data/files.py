"""User data files (``.npy``, ``.npz``, ``.csv``, ``.tsv``, ``.parquet``) as float32 tensors.

Every problem with a file is an :class:`~genmodels.errors.InputError` whose one-line message
names the file and the place: ``path:line: ...`` for text files (lines and columns counted
from 1), ``path: ... at index [row, column]`` for arrays (0-based, as NumPy indexes), ``path:
array 'key' ...`` for ``.npz`` members. Pickled objects are never loaded
(``allow_pickle=False``), so reading a file cannot execute code.

Rules:
    * ``.npy``: one numeric array ``(N, *D)``; a 1-D array is ``N`` points of one coordinate.
      Files over :data:`MMAP_BYTES` are memory-mapped (``mmap_mode="r"``) and checked in
      chunks; a data set keeps its training split mapped (a lazy
      :class:`~genmodels.data.loader.Rows` view, read batch by batch), so a file larger than
      memory trains; ``load_array`` converts to one float32 tensor.
    * ``.npz``: the arrays ``train`` (and ``val``, ``test`` when present) are the splits as given;
      otherwise the array ``x``, else ``data``, else the only array is the data.
    * ``.csv`` / ``.tsv``: a first row that is not all numeric is a header. Every column must be
      numeric unless ``columns`` selects some (names need a header; 0-based indices always work).
      Blank lines are skipped; quoting follows the :mod:`csv` module.
    * Values must be finite after conversion to float32; booleans and integers are converted.
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError

__all__ = [
    "MMAP_BYTES", "SUFFIXES", "check_file", "file_dataset", "load_array", "parse_columns",
    "read_splits", "split_rows",
]

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")
"""The file extensions genmodels reads."""

MMAP_BYTES = 64 * 2**20
"""``.npy`` files larger than this are memory-mapped while they are checked and converted."""

_ROWS_PER_CHUNK = 1 << 16
_SPLIT_KEYS = ("train", "val", "test")


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def check_file(path: str | Path) -> Path:
    """The path, after checking it exists, is a file, has a known extension and is not empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a data file")
    if p.suffix.lower() not in SUFFIXES:
        raise InputError(
            f"{p}: unknown file extension {p.suffix or '(none)'!r} "
            f"(supported: {', '.join(SUFFIXES)})"
        )
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    return p


def parse_columns(columns: str) -> list[str | int]:
    """``"a, b, 3"`` → ``["a", "b", 3]``: names, or 0-based indices for all-digit tokens."""
    out: list[str | int] = []
    for token in (t.strip() for t in columns.split(",")):
        if token:
            out.append(int(token) if token.isascii() and token.isdigit() else token)
    return out


# --- arrays ------------------------------------------------------------------------------------


def _array_to_tensor(arr: Any, where: str, columns: list[str | int],
                     keep_mapped: bool = False) -> Any:
    """Checks a NumPy array (possibly memory-mapped) and converts it to float32 in chunks.

    With ``keep_mapped`` (and no column selection) the checked array itself is returned, so
    a memory map is never copied into memory.
    """
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"{where}: dtype {arr.dtype} is not numeric (need bool, integer or float values)"
        )
    if arr.ndim == 0:
        raise InputError(f"{where}: a scalar, not an array of points")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape[0] == 0:
        raise InputError(f"{where}: empty array (0 rows)")
    if columns:
        if arr.ndim != 2:
            raise InputError(f"{where}: data.columns needs a 2-D array, got shape {arr.shape}")
        names = [c for c in columns if isinstance(c, str)]
        if names:
            raise InputError(f"{where}: column {names[0]!r}: arrays have no column names; "
                             "use 0-based indices")
        bad = [c for c in columns if int(c) >= arr.shape[1]]
        if bad:
            raise InputError(f"{where}: column {bad[0]} out of range ({arr.shape[1]} columns)")
    keep = keep_mapped and not columns
    out = None if keep else torch.empty((arr.shape[0], *arr.shape[1:]) if not columns
                                        else (arr.shape[0], len(columns)), dtype=torch.float32)
    for start in range(0, arr.shape[0], _ROWS_PER_CHUNK):
        chunk = np.asarray(arr[start:start + _ROWS_PER_CHUNK])
        if columns:
            chunk = chunk[:, [int(c) for c in columns]]
        with np.errstate(over="ignore", invalid="ignore"):
            chunk32 = chunk.astype(np.float32)
        bad = ~np.isfinite(chunk32)
        if bad.any():
            idx = np.unravel_index(int(np.flatnonzero(bad)[0]), chunk.shape)
            value = chunk[idx].item()
            index = [start + int(idx[0]), *(int(i) for i in idx[1:])]
            if columns:
                index[1] = int(columns[index[1]])
            what = "non-finite value" if not np.isfinite(value) else "value overflows float32:"
            place = (f"row {index[0]}, column {index[1]}" if len(index) == 2
                     else f"index {index}")
            raise InputError(f"{where}: {what} {value!r} at {place}")
        if out is not None:
            out[start:start + chunk.shape[0]] = torch.from_numpy(chunk32)
    return arr if out is None else out


def _check_npy_header(f: Any, size: int, where: str) -> None:
    """Reads the ``.npy`` header at the start of the stream ``f`` (``size`` bytes long) and
    refuses, before anything is allocated or unpickled, an object dtype or a shape whose data
    the stream does not hold (a forged ``shape = (10**12,)`` would else be allocated)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            shape, _, dtype = fmt._read_array_header(f, version)  # (3, 0): a UTF-8 header
    except Exception as e:  # noqa: BLE001 - ValueError, SyntaxError, tokenize.TokenError, ...
        raise InputError(f"{where}: not a valid .npy file ({_one_line(e)})") from None
    if dtype.hasobject:
        raise InputError(f"{where}: array of Python objects (dtype object); refusing to "
                         "unpickle (save a numeric array)")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = size - f.tell()
    if need > have:
        raise InputError(f"{where}: truncated .npy data: the header announces shape "
                         f"{tuple(shape)} of {dtype} ({need} bytes), the file holds {have}")


def _read_npy(p: Path, columns: list[str | int]) -> dict[str, Tensor]:
    with p.open("rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise InputError(f"{p}: not a valid .npy file (no NumPy header)")
        f.seek(0)
        _check_npy_header(f, p.stat().st_size, str(p))
    mmap = "r" if p.stat().st_size > MMAP_BYTES else None
    try:
        arr = np.load(p, mmap_mode=mmap, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e) or "Python objects" in str(e):
            raise InputError(f"{p}: array of Python objects (dtype object); refusing to unpickle "
                             "(save a numeric array)") from None
        raise InputError(f"{p}: not a valid .npy file ({_one_line(e)})") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{p}: not a valid .npy file ({_one_line(e)})") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{p}: not a valid .npy file")
    return {"data": _array_to_tensor(arr, str(p), columns, keep_mapped=mmap is not None)}


def _read_npz(p: Path, columns: list[str | int]) -> dict[str, Tensor]:
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{p}: not a valid .npz file ({_one_line(e)})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise InputError(f"{p}: not an .npz archive (it holds a single array; rename it .npy)")
    with z:
        keys = list(z.files)
        if not keys:
            raise InputError(f"{p}: empty .npz (no arrays)")
        if "train" in keys:
            chosen = [k for k in _SPLIT_KEYS if k in keys]
        elif "x" in keys or "data" in keys or len(keys) == 1:
            chosen = ["x" if "x" in keys else "data" if "data" in keys else keys[0]]
        else:
            raise InputError(f"{p}: {len(keys)} arrays ({', '.join(keys)}) and none named "
                             "x, data or train; say which holds the data")
        out = {}
        for key in chosen:
            where = f"{p}: array {key!r}"
            try:
                info = z.zip.getinfo(key if key in z.zip.namelist() else f"{key}.npy")
                with z.zip.open(info) as member:
                    _check_npy_header(member, info.file_size, where)
                arr = z[key]
            except InputError:
                raise
            except ValueError as e:
                if "pickle" in str(e) or "Python objects" in str(e):
                    raise InputError(f"{where}: array of Python objects (dtype object); refusing "
                                     "to unpickle (save a numeric array)") from None
                raise InputError(f"{where}: unreadable ({_one_line(e)})") from None
            except (OSError, EOFError, KeyError, RuntimeError, NotImplementedError,
                    zipfile.BadZipFile, zlib.error) as e:  # a corrupt, encrypted or odd member
                raise InputError(f"{where}: unreadable ({_one_line(e)})") from None
            out[key if key in _SPLIT_KEYS else "data"] = _array_to_tensor(arr, where, columns)
    shapes = {k: tuple(v.shape[1:]) for k, v in out.items()}
    if len(set(shapes.values())) > 1:
        first = next(iter(shapes))
        odd = next(k for k in shapes if shapes[k] != shapes[first])
        raise InputError(f"{p}: array {odd!r} has points of shape {shapes[odd]}, "
                         f"array {first!r} {shapes[first]}")
    return out


# --- text --------------------------------------------------------------------------------------


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _read_text(p: Path, columns: list[str | int]) -> dict[str, Tensor]:
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text (byte {e.start})") from None
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                rows.append((reader.line_num, [f.strip() for f in fields]))
    except csv.Error as e:
        raise InputError(f"{p}:{reader.line_num}: {_one_line(e)}") from None
    if not rows:
        raise InputError(f"{p}: empty file (no rows)")
    header: list[str] | None = None
    if not all(_is_number(f) for f in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
        if not rows:
            raise InputError(f"{p}: empty file (a header and no data rows)")
    width = len(header) if header is not None else len(rows[0][1])

    def label(i: int) -> str:
        return f"column {i + 1} {header[i]!r}" if header is not None else f"column {i + 1}"

    if columns:
        select = []
        for c in columns:
            if isinstance(c, int):
                if c >= width:
                    raise InputError(f"{p}: column index {c} out of range ({width} columns)")
                select.append(c)
            elif header is None:
                raise InputError(f"{p}: column {c!r}: the file has no header row; "
                                 "use 0-based indices")
            elif c not in header:
                raise InputError(f"{p}: column {c!r} not found (columns: {', '.join(header)})")
            else:
                select.append(header.index(c))
    else:
        select = list(range(width))
        line, first = rows[0]
        if len(first) == width:
            text_cols = [i for i in select if not _is_number(first[i])]
            if text_cols:
                names = ", ".join(label(i) for i in text_cols)
                raise InputError(f"{p}:{line}: non-numeric {names}; select the numeric columns "
                                 "with data.columns (names or 0-based indices, comma-separated)")
    values = np.empty((len(rows), len(select)), dtype=np.float64)
    for r, (line, fields) in enumerate(rows):
        if len(fields) != width:
            raise InputError(f"{p}:{line}: {len(fields)} fields, expected {width}")
        for j, i in enumerate(select):
            try:
                values[r, j] = float(fields[i])
            except ValueError:
                msg = f"{p}:{line}: {label(i)}: {fields[i]!r} is not a number"
                raise InputError(msg) from None
    with np.errstate(over="ignore"):
        values32 = values.astype(np.float32)
    bad = ~np.isfinite(values32)
    if bad.any():
        r, j = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
        line, fields = rows[int(r)]
        i = select[int(j)]
        what = "non-finite value" if not np.isfinite(values[r, j]) else "value overflows float32:"
        raise InputError(f"{p}:{line}: {label(i)}: {what} {fields[i]!r}")
    return {"data": torch.from_numpy(values32)}


# --- entry points ------------------------------------------------------------------------------


def read_splits(path: str | Path, *, columns: str = "") -> dict[str, Tensor]:
    """Reads a data file into float32 tensors ``(N, *D)``.

    Args:
        path: a ``.npy``, ``.npz``, ``.csv`` or ``.tsv`` file.
        columns: comma-separated column names or 0-based indices to keep (``""``: all).

    Returns:
        ``{"data": x}``, or for an ``.npz`` with a ``train`` array the splits it holds
        (``"train"`` and any of ``"val"``, ``"test"``).

    Raises:
        InputError: naming the file and the place of the first problem.
    """
    p = check_file(path)
    cols = parse_columns(columns)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _read_npy(p, cols)
    if suffix == ".npz":
        return _read_npz(p, cols)
    if suffix == ".parquet":
        from .tabular import read_parquet

        return read_parquet(p, cols)
    return _read_text(p, cols)


def load_array(path: str | Path, *, columns: str = "") -> Tensor:
    """All the points of a data file as one float32 tensor ``(N, *D)``.

    For an ``.npz`` this is ``x``, else ``data``, else ``train``, else its only array.
    """
    splits = read_splits(path, columns=columns)
    x = splits.get("data", splits.get("train"))
    return torch.from_numpy(np.asarray(x, dtype=np.float32)) if isinstance(x, np.ndarray) else x


def split_rows(
    x: Any, val_fraction: float, test_fraction: float, seed: int, where: str
) -> tuple[Tensor, Tensor | None, Tensor]:
    """Splits rows into ``(train, val, test)`` with a permutation seeded by ``seed``.

    ``round(N · test_fraction)`` rows (at least one when the fraction is positive) go to test,
    ``round(N · val_fraction)`` to validation (``None`` when that is 0), the rest to training,
    each in permuted order.
    """
    for key, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise InputError(f"data.{key}: {f} must be in [0, 1)")
    if val_fraction + test_fraction >= 1.0:
        raise InputError(f"data.val_fraction + data.test_fraction = "
                         f"{val_fraction + test_fraction:g} leaves no training rows")
    n = x.shape[0]
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    if test_fraction > 0:
        n_test = max(n_test, 1)
    if n - n_test - n_val < 1:
        raise InputError(f"{where}: {n} rows are too few to split off "
                         f"{n_val} validation and {n_test} test rows")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if isinstance(x, np.ndarray):  # a memory map: train stays a lazy view, val/test in memory
        from .loader import Rows

        def rows(i: Tensor) -> Tensor:
            return torch.from_numpy(Rows(x, i.numpy())[:].astype(np.float32))

        val = rows(perm[n_test:n_test + n_val]) if n_val else None
        return Rows(x, perm[n_test + n_val:].numpy()), val, rows(perm[:n_test])
    test = x[perm[:n_test]]
    val = x[perm[n_test:n_test + n_val]] if n_val else None
    return x[perm[n_test + n_val:]], val, test


def file_dataset(config: Any) -> Any:
    """The :class:`~genmodels.data.base.Dataset` of the file ``config.name``.

    A single array is split by ``config.val_fraction`` / ``config.test_fraction`` with a
    permutation seeded by ``config.seed``; an ``.npz`` with ``train`` uses its ``train`` /
    ``val`` / ``test`` arrays as given, and a missing ``test`` (or ``val``) is carved out of
    ``train`` the same way. ``standardize`` is ``True``.
    """
    from .base import Dataset

    splits = read_splits(config.name, columns=getattr(config, "columns", ""))
    where = str(config.name)
    if "data" in splits:
        train, val, test = split_rows(splits["data"], config.val_fraction,
                                      config.test_fraction, config.seed, where)
    else:
        train, val, test = splits["train"], splits.get("val"), splits.get("test")
        if test is None or ("val" not in splits and config.val_fraction > 0):
            carve_test = config.test_fraction if test is None else 0.0
            carve_val = config.val_fraction if val is None else 0.0
            train, v, t = split_rows(train, carve_val, carve_test, config.seed, where)
            val = val if val is not None else v
            test = test if test is not None else t
    return Dataset(name=where, train=train, val=val, test=test, standardize=True)
