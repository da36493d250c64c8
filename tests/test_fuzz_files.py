"""Hostile data files: CSV/TSV, NPY, NPZ, Parquet, IDX and image folders (hypothesis).

Every property: the loader returns finite float32 points, or raises a one-line
:class:`InputError` naming the file; a pickled object is never unpickled (the marker file
never appears).
"""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from _fuzz import FUZZ, Marker, few, outcome
from genmodels.config import DataConfig
from genmodels.data import load_dataset
from genmodels.data.files import read_splits
from genmodels.data.images import read_idx
from genmodels.errors import InputError


def check_points(r: Any) -> None:
    """A successful read: a dict of finite float32 ``(N, *D)`` tensors, N >= 1."""
    if isinstance(r, InputError):
        return
    assert isinstance(r, dict) and r
    for x in r.values():
        t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
        assert t.dtype == torch.float32 and t.ndim >= 2 and len(t) >= 1
        assert torch.isfinite(t).all()


def mutate(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` with a few bit flips, or truncated, or both."""
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        if b:
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    if data.draw(st.booleans(), label="truncate"):
        b = b[:data.draw(st.integers(0, len(b)), label="length")]
    return bytes(b)


def read_bytes(raw: bytes, suffix: str, columns: str = "") -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"data{suffix}"
        p.write_bytes(raw)
        r = outcome(read_splits, p, columns=columns, places=(str(p),))
        check_points(r)
        return r


# --- CSV / TSV ---------------------------------------------------------------------------------

cells = (st.integers(-10**40, 10**40).map(str) | st.floats().map(repr)
         | st.sampled_from(["nan", "inf", "-inf", "1e39", "0x10", "", " ", "\"1\"", "'2'",
                            "1_000", "true", "x", "y", "\"a,b\"", "\"", "1e-50", "١"])
         | st.text(max_size=5))


@st.composite
def table_text(draw: Any) -> str:
    width = draw(st.integers(1, 4))
    delim = draw(st.sampled_from([",", "\t", ";", " "]))
    rows = draw(st.lists(st.lists(cells, min_size=width - 1, max_size=width + 1),
                         min_size=0, max_size=6))
    if draw(st.booleans()):
        rows.insert(0, draw(st.lists(st.text(max_size=4), min_size=width, max_size=width)))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return end.join(delim.join(r) for r in rows)


columns = st.sampled_from(["", "0", "1", "0,1", "x", "x,y", "3", "99", " , ", "-1", "a,0"]) \
    | st.text(max_size=5)


@FUZZ
@given(text=table_text() | st.text(max_size=80), suffix=st.sampled_from([".csv", ".tsv"]),
       cols=columns)
def test_text_tables(text: str, suffix: str, cols: str) -> None:
    read_bytes(text.encode("utf-8", "surrogatepass"), suffix, cols)


@FUZZ
@given(raw=st.binary(max_size=120), suffix=st.sampled_from([".csv", ".tsv", ".CSV"]))
def test_text_tables_binary(raw: bytes, suffix: str) -> None:
    read_bytes(raw, suffix)


# --- NPY / NPZ ---------------------------------------------------------------------------------

dtypes = st.sampled_from(["<f4", ">f8", "<f2", "<i8", ">i2", "u1", "?", "<c8", "<U3", "S2",
                          "<M8[D]", "<m8[s]", "V4", "<f4,<i4", "O"])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


def some_array(dtype: str, shape: tuple[int, ...], fill: float) -> np.ndarray:
    if dtype == "O":
        a = np.empty(shape, dtype=object)
        a[...] = fill
        return a
    try:
        return np.full(shape, fill).astype(dtype)
    except (TypeError, ValueError):
        return np.zeros(shape, dtype=dtype)


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


fills = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 1e39, -1e300])


@FUZZ
@given(dtype=dtypes, shape=shapes, fill=fills, data=st.data())
def test_npy_any_dtype_and_shape(dtype: str, shape: tuple[int, ...], fill: float,
                                 data: st.DataObject) -> None:
    raw = npy_bytes(some_array(dtype, shape, fill))
    if data.draw(st.booleans(), label="mutate"):
        raw = mutate(raw, data)
    read_bytes(raw, ".npy", data.draw(columns, label="columns"))


def npy_header(header: str, version: int = 1) -> bytes:
    body = header.encode("latin1")
    pad = (-(10 + len(body) + 1)) % 64
    body += b" " * pad + b"\n"
    size = struct.pack("<H", len(body)) if version == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


@FUZZ
@given(shape=st.lists(st.integers(-5, 10**15), min_size=1, max_size=3).map(tuple),
       descr=st.sampled_from(["'<f4'", "'<f8'", "'|u1'", "'|O'", "'<f4x'", "[('a','<f4')]",
                              "42", "None"]),
       order=st.sampled_from(["False", "True", "0", "'x'"]),
       tail=st.binary(max_size=64), version=st.sampled_from([1, 2]))
def test_npy_forged_headers(shape: tuple[int, ...], descr: str, order: str, tail: bytes,
                            version: int) -> None:
    """A header announcing a huge (1e15 items) or negative shape never allocates it."""
    header = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape!r}, }}"
    raw = npy_header(header, version) + tail
    read_bytes(raw, ".npy")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.npy", raw)
    read_bytes(buf.getvalue(), ".npz")


def test_npy_object_array_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    a = np.empty(2, dtype=object)
    a[0], a[1] = Marker(marker), 1.0
    p = tmp_path / "x.npy"
    p.write_bytes(npy_bytes(a))
    r = outcome(read_splits, p, places=(str(p),))
    assert isinstance(r, InputError) and "unpickle" in str(r)
    assert not marker.exists()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, a in arrays.items():
            z.writestr(f"{k}.npy", npy_bytes(a))
    return buf.getvalue()


@FUZZ
@given(arrays=st.dictionaries(
    st.sampled_from(["train", "val", "test", "x", "data", "y", "../up", "a/b", ""]),
    st.tuples(dtypes, shapes, fills), max_size=4), pickled=st.booleans(), data=st.data())
def test_npz(arrays: dict[str, tuple[str, tuple[int, ...], float]], pickled: bool,
             data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "pwned"
        members = {k: some_array(*v) for k, v in arrays.items()}
        if pickled and members:
            key = next(iter(members))
            a = np.empty(1, dtype=object)
            a[0] = Marker(marker)
            members[key] = a
        raw = npz_bytes(members)
        if data.draw(st.booleans(), label="mutate"):
            raw = mutate(raw, data)
        read_bytes(raw, ".npz", data.draw(columns, label="columns"))
        assert not marker.exists()


# --- Parquet -----------------------------------------------------------------------------------

@st.composite
def parquet_bytes(draw: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = draw(st.integers(0, 4))
    kinds = draw(st.lists(st.sampled_from(["f64", "i64", "bool", "str", "null", "list", "date",
                                           "dict", "nanf"]), min_size=0, max_size=3))
    cols = {}
    for j, kind in enumerate(kinds):
        name = draw(st.sampled_from(["x", "y", "", "x"])) + str(j)
        if kind == "f64":
            cols[name] = pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)))
        elif kind == "nanf":
            cols[name] = pa.array(draw(st.lists(st.floats() | st.none(), min_size=n,
                                                max_size=n)), type=pa.float32())
        elif kind == "i64":
            cols[name] = pa.array(draw(st.lists(st.integers(-2**63, 2**63 - 1) | st.none(),
                                                min_size=n, max_size=n)), type=pa.int64())
        elif kind == "bool":
            cols[name] = pa.array([True] * n)
        elif kind == "str":
            cols[name] = pa.array(["a"] * n)
        elif kind == "null":
            cols[name] = pa.nulls(n)
        elif kind == "list":
            cols[name] = pa.array([[1.0]] * n)
        elif kind == "date":
            cols[name] = pa.array([0] * n, type=pa.date32())
        else:
            cols[name] = pa.array(["a"] * n).dictionary_encode()
    table = pa.table(cols) if cols else pa.table({"x": pa.array([], type=pa.float64())})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@FUZZ
@given(raw=parquet_bytes(), data=st.data())
def test_parquet(raw: bytes, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="mutate"):
        raw = mutate(raw, data)
    read_bytes(raw, ".parquet", data.draw(columns, label="columns"))


# --- IDX ---------------------------------------------------------------------------------------

@st.composite
def idx_bytes(draw: Any) -> bytes:
    zero = draw(st.sampled_from([0, 0, 0, 1, 0xFFFF]))
    dtype = draw(st.sampled_from([0x08, 0x08, 0x09, 0x0B, 0x0D, 0x0E, 0xFF]))
    ndim = draw(st.integers(0, 5) | st.just(255))
    dims = draw(st.lists(st.integers(0, 6) | st.integers(0, 2**32 - 1)
                         | st.sampled_from([2**16, 2**32 - 1]), min_size=ndim, max_size=ndim)
                if ndim <= 5 else st.just([1] * ndim))
    header = struct.pack(">HBB", zero, dtype, ndim) + b"".join(struct.pack(">I", d) for d in dims)
    n = int(np.prod(dims, dtype=object)) if dims else 0
    body = bytes(draw(st.integers(0, 255)) for _ in range(min(n, 64)))
    body += draw(st.binary(max_size=8))
    return header + body


def test_idx_product_overflow(tmp_path: Path) -> None:
    """Four dimensions of 2**16 multiply to 2**64, which wraps to 0 in int64."""
    p = tmp_path / "x-idx"
    p.write_bytes(struct.pack(">HBB", 0, 8, 4) + struct.pack(">4I", *[2**16] * 4))
    r = outcome(read_idx, p, places=(str(p),))
    assert isinstance(r, InputError)


def read_idx_bytes(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"images-idx{suffix}"
        p.write_bytes(raw)
        r = outcome(read_idx, p, places=(str(p),))
        if not isinstance(r, InputError):
            assert isinstance(r, np.ndarray) and r.dtype == np.uint8


@FUZZ
@given(raw=idx_bytes() | st.binary(max_size=40), gz=st.booleans(), data=st.data())
def test_idx(raw: bytes, gz: bool, data: st.DataObject) -> None:
    if gz:
        raw = gzip.compress(raw, mtime=0)
    if data.draw(st.booleans(), label="mutate"):
        raw = mutate(raw, data)
    read_idx_bytes(raw, ".gz" if gz else "")


# --- image folders -------------------------------------------------------------------------------

@st.composite
def image_bytes(draw: Any) -> tuple[str, bytes]:
    from PIL import Image

    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "1", "P", "I;16", "LA", "CMYK"]))
    fmt = draw(st.sampled_from(["PNG", "JPEG"]))
    if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        fmt = "PNG"
    if fmt == "PNG" and mode == "CMYK":
        mode = "RGB"
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    buf = io.BytesIO()
    Image.new(mode, size, color=draw(st.integers(0, 255))).save(buf, format=fmt)
    return (".png" if fmt == "PNG" else draw(st.sampled_from([".jpg", ".jpeg", ".JPG"])),
            buf.getvalue())


def png_bomb(w: int, h: int) -> bytes:
    """A PNG whose header announces ``w × h`` pixels (no pixel data follows)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@few(40)
@given(images=st.lists(st.tuples(st.sampled_from(["", "a/", "b/", "a/deep/"]), image_bytes()),
                       min_size=0, max_size=4),
       junk=st.lists(st.sampled_from(["bytes", "bomb", "dir.png", "empty"]), max_size=1),
       size=st.sampled_from([0, 0, 3, -1]), mode=st.sampled_from(["auto", "L", "RGB"]),
       data=st.data())
def test_image_folder(images: list[tuple[str, tuple[str, bytes]]], junk: list[str], size: int,
                      mode: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imgs"
        root.mkdir()
        for i, (sub, (suffix, raw)) in enumerate(images):
            p = root / f"{sub}{i}{suffix}"
            p.parent.mkdir(parents=True, exist_ok=True)
            if data.draw(st.booleans(), label="mutate"):
                raw = mutate(raw, data)
            p.write_bytes(raw)
        for j in junk:
            p = root / f"junk-{j}.png"
            if j == "bytes":
                p.write_bytes(data.draw(st.binary(max_size=30), label="junk bytes"))
            elif j == "bomb":
                p.write_bytes(png_bomb(2**16, 2**15))
            elif j == "dir.png":
                p.mkdir()
            else:
                p.write_bytes(b"")
        cfg = DataConfig(name=str(root), image_size=size, image_mode=mode, val_fraction=0.0,
                         test_fraction=0.3)
        r = outcome(load_dataset, cfg, places=(str(root), "data.image_size"))
        if not isinstance(r, InputError):
            assert r.train.ndim == 4 and r.levels == 256


def test_full_run_regressions(tmp_path: Path) -> None:
    """Found by the full run: a superscript digit as a column index (``'²'.isdigit()``) and an
    IDX header of 255 dimensions (NumPy's limit is 64)."""
    p = tmp_path / "x.npy"
    p.write_bytes(npy_bytes(np.zeros((3, 2), np.float32)))
    r = outcome(read_splits, p, columns="²", places=(str(p),))
    assert isinstance(r, InputError)
    q = tmp_path / "x-idx"
    q.write_bytes(struct.pack(">HBB", 0, 8, 255) + struct.pack(">I", 1) * 255 + b"\x00")
    assert isinstance(outcome(read_idx, q, places=(str(q),)), InputError)
