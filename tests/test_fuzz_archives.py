"""Hostile archives unpacked by :func:`genmodels.data.download.extract` (hypothesis).

Tar and zip archives with ``..`` and absolute names, symbolic and hard links pointing
outside, devices and FIFOs, members announcing huge sizes, and bit flips or truncation of
the whole file. Every property: the archive unpacks (only regular files and directories,
all inside the destination) or a one-line :class:`InputError` names the archive, and then
nothing is left behind: no destination, no temporary directory, nothing written outside.
"""

from __future__ import annotations

import io
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _fuzz import FUZZ, files_under, outcome
from genmodels.data.download import extract
from genmodels.errors import InputError

names = st.sampled_from([
    "a", "a/b", "b.txt", "dir/", "../x", "../../x", "/abs/x", "/", "a/../../x", "a/../b", "./a",
    "a/./b", ".", "..", "", "a\\..\\..\\x", "C:/x", "a//b", "dup", "dup", "dup/c", "outside/keep",
]) | st.text(max_size=8)
link_targets = st.sampled_from(["../outside/keep", "/etc/passwd", "a", "../../..", "x/../..",
                                "/", "", "dup"])
KINDS = ("file", "file", "dir", "symlink", "hardlink", "fifo", "chardev", "huge")


@st.composite
def entries(draw: Any) -> list[tuple[str, str, str, bytes]]:
    return draw(st.lists(st.tuples(st.sampled_from(KINDS), names, link_targets,
                                   st.binary(max_size=16)), max_size=5))


def tar_bytes(items: list[tuple[str, str, str, bytes]], compression: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}", format=tarfile.GNU_FORMAT) as tf:
        for kind, name, target, data in items:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                continue
            if kind == "huge":  # a header announcing 8 TiB, with no data behind it
                info.size = 2**43
                tf.fileobj.write(info.tobuf(tf.format, tf.encoding, tf.errors))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE,
                         "chardev": tarfile.CHRTYPE}[kind]
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def zip_bytes(items: list[tuple[str, str, str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for kind, name, target, data in items:
            info = zipfile.ZipInfo(name or "_")
            if kind == "dir":
                info = zipfile.ZipInfo((name or "_").rstrip("/") + "/")
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                z.writestr(info, b"")
            elif kind in ("symlink", "hardlink"):  # a unix symlink entry: the data is the target
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(info, target.encode())
            elif kind in ("fifo", "chardev"):
                info.external_attr = ((stat.S_IFIFO if kind == "fifo" else stat.S_IFCHR)
                                      | 0o644) << 16
                z.writestr(info, data)
            else:
                z.writestr(info, data)
    return buf.getvalue()


def mutate(raw: bytes, data: st.DataObject) -> bytes:
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        if b:
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    if data.draw(st.booleans(), label="truncate"):
        b = b[:data.draw(st.integers(0, len(b)), label="length")]
    return bytes(b)


def check_extract(raw: bytes, suffix: str) -> Any:
    """Unpacks ``raw`` beside an ``outside/keep`` file and checks what is left."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside").mkdir()
        (base / "outside" / "keep").write_bytes(b"keep")
        archive = base / f"archive{suffix}"
        archive.write_bytes(raw)
        dest = base / "cache" / "raw"
        before = files_under(base)
        r = outcome(extract, archive, dest, places=(str(archive),))
        after = files_under(base)
        assert (base / "outside" / "keep").read_bytes() == b"keep"
        if isinstance(r, InputError):
            assert not dest.exists(), "a failed extraction left its destination"
            assert after - before <= {"cache"}, f"left behind: {sorted(after - before)}"
            return r
        assert r == dest
        new = {p for p in after - before if not p.startswith("cache")}
        assert not new, f"written outside the destination: {sorted(new)}"
        stray = {p for p in files_under(base / "cache") if p != "raw" and not p.startswith("raw/")}
        assert not stray, f"left beside the destination: {sorted(stray)}"
        for p in dest.rglob("*"):
            assert not p.is_symlink(), f"{p} is a link"
            assert p.is_file() or p.is_dir(), f"{p} is special"
            assert p.resolve().is_relative_to(dest.resolve())
        return r


@FUZZ
@given(items=entries(), compression=st.sampled_from(["", "gz", "bz2", "xz"]), data=st.data())
def test_tar(items: list[tuple[str, str, str, bytes]], compression: str,
             data: st.DataObject) -> None:
    try:
        raw = tar_bytes(items, compression)
    except (ValueError, OSError, UnicodeError):  # a name tarfile itself cannot write
        return
    if data.draw(st.booleans(), label="mutate"):
        raw = mutate(raw, data)
    r = check_extract(raw, data.draw(st.sampled_from([".tar", ".tar.gz", ".tgz", ""]),
                                     label="suffix"))
    kinds = {k for k, *_ in items}
    if kinds & {"symlink", "hardlink", "fifo", "chardev", "huge"}:
        assert isinstance(r, InputError), f"{sorted(kinds)} unpacked"


@pytest.mark.filterwarnings("ignore:Duplicate name")
@FUZZ
@given(items=entries(), data=st.data())
def test_zip(items: list[tuple[str, str, str, bytes]], data: st.DataObject) -> None:
    try:
        raw = zip_bytes(items)
    except (ValueError, OSError):
        return
    if data.draw(st.booleans(), label="mutate"):
        raw = mutate(raw, data)
    check_extract(raw, ".zip")


@FUZZ
@given(raw=st.binary(max_size=64), suffix=st.sampled_from([".tar", ".zip", ".tgz"]))
def test_not_an_archive(raw: bytes, suffix: str) -> None:
    check_extract(raw, suffix)


def test_traversal_and_links_are_refused(tmp_path: Path) -> None:
    """The named cases, each alone: refused with the entry's name, nothing written."""
    cases = [("file", "../x"), ("file", "/abs/x"), ("file", "a/../../x"),
             ("symlink", "a"), ("hardlink", "a"), ("huge", "big")]
    for kind, name in cases:
        raw = tar_bytes([(kind, name, "../outside/keep", b"x")], "")
        r = check_extract(raw, ".tar")
        assert isinstance(r, InputError), (kind, name, r)
        assert repr(name) in str(r) or kind == "huge", (kind, name, r)
    for name in ("../x", "/abs/x", "a/../../x"):
        r = check_extract(zip_bytes([("file", name, "", b"x")]), ".zip")
        assert isinstance(r, InputError) and repr(name) in str(r), (name, r)


def test_members_larger_than_the_free_disk_are_refused(tmp_path: Path, monkeypatch: Any) -> None:
    """Announced sizes are summed and checked against the free space before writing."""
    import types

    import genmodels.data.download as download

    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: types.SimpleNamespace(free=20))
    items = [("file", "a", "", b"x" * 15), ("file", "b", "", b"y" * 15)]
    for raw, suffix in ((tar_bytes(items, "gz"), ".tgz"), (zip_bytes(items), ".zip")):
        r = check_extract(raw, suffix)
        assert isinstance(r, InputError) and "'b'" in str(r) and "20 bytes free" in str(r)
