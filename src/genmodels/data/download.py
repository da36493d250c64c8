"""Downloads into a cache directory: checksum-verified, atomic, and safe to unpack.

The cache is ``$GENMODELS_DATA`` (default ``~/.cache/genmodels``). :func:`fetch` downloads a
URL with :mod:`urllib` into a temporary file in the destination directory, checks its SHA-256
against the expected value, and only then renames it into place (:func:`os.replace`), so a
failed or corrupted download never leaves a partial file under the real name. A file already
in the cache is re-verified before use. :func:`extract` unpacks a tar or zip archive entry by
entry, refusing any entry whose resolved path would leave the target directory (absolute
paths, ``..``, links), into a temporary directory renamed into place at the end.

Nothing here runs at import time or in the tests' default path: downloads happen only when a
data set that needs them is loaded.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

from ..errors import InputError

__all__ = ["cache_dir", "extract", "fetch", "sha256"]

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$GENMODELS_DATA`` or ``~/.cache/genmodels``."""
    root = os.environ.get("GENMODELS_DATA")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "genmodels"


def sha256(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest (SHA-256 by default) of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _split(checksum: str | None) -> tuple[str, str | None]:
    if checksum is None:
        return "sha256", None
    algorithm, _, digest = checksum.partition(":")
    return (algorithm, digest) if digest else ("sha256", algorithm)


def fetch(url: str, dest: str | Path, checksum: str | None, *,
          timeout: float = 60.0) -> Path:
    """The verified file ``dest``, downloaded from ``url`` unless already there.

    Args:
        url: ``https://``, ``http://`` or ``file://``.
        dest: the cache path.
        checksum: ``"sha256:<hex>"`` (or a bare SHA-256 hex; ``"md5:<hex>"`` where only the
            publisher's MD5 is known) the file must have; ``None``: not checked.
        timeout: seconds for the connection.

    Raises:
        InputError: the download failed, or the file's SHA-256 differs (naming both digests);
            nothing is left under ``dest`` then.
    """
    dest = Path(dest)
    algorithm, expected = _split(checksum)
    if dest.is_file():
        got = sha256(dest, algorithm)
        if expected is None or got == expected:
            return dest
        raise InputError(f"{dest}: checksum mismatch ({algorithm} {got}, expected "
                         f"{expected}); delete it to download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        h = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
                    for block in iter(lambda: resp.read(_CHUNK), b""):
                        h.update(block)
                        out.write(block)
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                raise InputError(f"{url}: download failed ({reason})") from None
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if expected is not None and got != expected:
            raise InputError(f"{url}: checksum mismatch ({algorithm} {got}, expected "
                             f"{expected}); nothing was kept in {dest.parent}")
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _safe_target(root: Path, name: str, archive: Path) -> Path:
    if not name:
        raise InputError(f"{archive}: an entry with an empty name; refusing to unpack")
    target = (root / name).resolve()
    if os.path.isabs(name) or not target.is_relative_to(root.resolve()):
        raise InputError(f"{archive}: entry {name!r} would escape the cache directory; "
                         "refusing to unpack")
    return target


def _check_sizes(entries: list[tuple[str, int]], archive: Path, dest: Path) -> None:
    """Refuses an archive whose members announce more bytes than the disk has free."""
    free = shutil.disk_usage(dest).free
    total = 0
    for name, size in entries:
        total += max(int(size), 0)
        if total > free:
            raise InputError(f"{archive}: entry {name!r} takes the archive to {total} bytes, "
                             f"more than the {free} bytes free in {dest}; refusing to unpack")


def extract(archive: str | Path, dest: str | Path) -> Path:
    """Unpacks a ``.tar``/``.tar.gz``/``.tgz``/``.zip`` archive into ``dest`` (atomically).

    Only regular files and directories are written; an entry with an absolute path, a ``..``
    that leaves ``dest``, or a symbolic/hard link or device is refused before anything is
    kept, and so is an archive whose members announce more bytes than the disk has free.

    Raises:
        InputError: naming the archive and the offending entry, or a corrupt archive.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                infos = z.infolist()
                for info in infos:
                    _safe_target(tmp, info.filename, archive)
                _check_sizes([(i.filename, i.file_size) for i in infos], archive, tmp)
                for info in infos:
                    target = _safe_target(tmp, info.filename, archive)
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
        else:
            try:
                tf = tarfile.open(archive)
            except tarfile.TarError as e:
                raise InputError(f"{archive}: not a tar or zip archive ({_one_line(e)})") \
                    from None
            with tf:
                members = tf.getmembers()
                for m in members:
                    _safe_target(tmp, m.name, archive)
                    if not (m.isfile() or m.isdir()):
                        raise InputError(f"{archive}: entry {m.name!r} is a link or special "
                                         "file; refusing to unpack")
                _check_sizes([(m.name, m.size) for m in members if m.isfile()], archive, tmp)
                for m in members:
                    target = _safe_target(tmp, m.name, archive)
                    if m.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(m)
                    assert src is not None
                    with src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
        os.replace(tmp, dest)
    except InputError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError, zlib.error, lzma.LZMAError) as e:
        # corrupt data, an encrypted or unknown-method zip member, a NUL byte in a name
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{archive}: corrupt archive ({_one_line(e)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
