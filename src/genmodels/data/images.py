"""Image data: scikit-learn's 8×8 digits, MNIST / Fashion-MNIST from IDX files, image folders.

Every image set is discrete with ``levels`` grey levels per pixel (17 for the digits, 256 for
8-bit images), shape ``(C, H, W)``, labels kept. ``train`` holds the raw integer values
(dequantised batch by batch while training, :mod:`genmodels.data.preprocess`); ``val`` and
``test`` hold one fixed, seeded uniform dequantisation :math:`x + u` so that the test NLL is the
usual dequantised bound and bits/dim is ``nll / (D ln 2)`` with no offset (data units are the
integer lattice scale).

* ``digits``: :func:`sklearn.datasets.load_digits` (1,797 images, values 0..16, bundled with
  scikit-learn, offline), split by ``val_fraction`` / ``test_fraction`` seeded by ``seed``.
* ``mnist``, ``fashion-mnist``: the four gzip IDX files, downloaded into
  :func:`~genmodels.data.download.cache_dir` on first use and checksum-verified (SHA-256 for
  MNIST; Zalando's published MD5 for Fashion-MNIST). Test = the official 10,000; validation is
  carved from the 60,000 training images.
* A directory of PNG/JPEG files (``--data path/to/dir``): every image, or one subfolder per
  class (labels = sorted subfolder names); resized to ``image_size`` when set, converted to
  ``image_mode`` (``L`` grey, ``RGB``) when set, else all must share the first image's size and
  channels.

IDX format (LeCun et al. 1998): big-endian; two zero bytes, a type byte (0x08 = uint8) and the
number of dimensions, then one int32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .base import Dataset

__all__ = ["IDX_SOURCES", "IdxSource", "digits", "dequantized", "image_folder", "mnist",
           "read_idx"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DEQ_SEED = 0x5EED


def dequantized(x: Tensor, seed: int, split: str) -> Tensor:
    """One fixed uniform dequantisation of ``x`` (seeded by ``seed`` and the split name)."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + _DEQ_SEED + hash_split(split)) % 2**63)
    return x.to(torch.float32) + torch.rand(x.shape, generator=g)


def hash_split(split: str) -> int:
    return {"train": 1, "val": 2, "test": 3}.get(split, 4)


def _split(config: Any, n: int) -> tuple[Tensor, Tensor, Tensor]:
    from .files import split_rows

    idx = torch.arange(n, dtype=torch.float32)[:, None]
    tr, va, te = split_rows(idx, config.val_fraction, config.test_fraction, config.seed,
                            config.name)
    empty = torch.zeros(0, dtype=torch.long)
    return tr[:, 0].long(), empty if va is None else va[:, 0].long(), te[:, 0].long()


def discrete_dataset(name: str, x: Tensor, y: Tensor | None, config: Any, levels: int,
                     n_classes: int | None, test: tuple[Tensor, Tensor | None] | None = None
                     ) -> Dataset:
    """Splits discrete data and dequantises ``val``/``test`` once (``train`` stays integer)."""
    if test is None:
        tr, va, te = _split(config, len(x))
        test_x, test_y = x[te], None if y is None else y[te]
    else:
        from .files import split_rows

        idx = torch.arange(len(x), dtype=torch.float32)[:, None]
        t, v, _ = split_rows(idx, config.val_fraction, 0.0, config.seed, name)
        tr = t[:, 0].long()
        va = torch.zeros(0, dtype=torch.long) if v is None else v[:, 0].long()
        test_x, test_y = test
    pick = (lambda i: None) if y is None else (lambda i: y[i])  # noqa: E731
    return Dataset(
        name=name, train=x[tr], val=dequantized(x[va], config.seed, "val") if len(va) else None,
        test=dequantized(test_x, config.seed, "test"), train_labels=pick(tr),
        val_labels=pick(va) if len(va) else None, test_labels=test_y, levels=levels,
        n_classes=n_classes, standardize=True,
    )


def digits(config: Any) -> Dataset:
    """scikit-learn's 8×8 digits: shape ``(1, 8, 8)``, 17 levels, 10 classes."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32)[:, None]
    y = torch.as_tensor(d.target, dtype=torch.long)
    return discrete_dataset("digits", x, y, config, levels=17, n_classes=10)


# --- IDX -----------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Parses an IDX file (gzip-compressed when it ends in ``.gz``) into a uint8 array.

    Raises:
        InputError: a bad magic number, a type other than uint8, or a size that does not
            match the header, naming the file and the byte offset.
    """
    p = Path(path)
    try:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise InputError(f"{p}: unreadable IDX file ({_first_line(e)})") from None
    if len(raw) < 4:
        raise InputError(f"{p}: byte 0: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or ndim == 0:
        raise InputError(f"{p}: byte 0: bad IDX magic {raw[:4].hex()}")
    if ndim > 32:
        raise InputError(f"{p}: byte 3: {ndim} dimensions announced (at most 32 are read)")
    if dtype != 0x08:
        raise InputError(f"{p}: byte 2: IDX data type 0x{dtype:02x}, only uint8 (0x08) is read")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{p}: byte 4: header truncated ({ndim} dimensions announced)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(dims)  # exact (NumPy's int64 product wraps around)
    if len(raw) - header != expected:
        raise InputError(f"{p}: byte {header}: {len(raw) - header} data bytes, the header "
                         f"{list(dims)} needs {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@dataclass
class IdxSource:
    """Where an IDX image set lives: a base URL and ``{file: checksum}``."""

    base_url: str
    checksums: dict[str, str]


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource("https://ossci-datasets.s3.amazonaws.com/mnist/", dict(zip(IDX_FILES, (
        "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        strict=True))),
    "fashion-mnist": IdxSource(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        dict(zip(IDX_FILES, ("md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                             "md5:25c81989df183df01b3e8a0aad5dffbe",
                             "md5:bef4ecab320f06d8554ea6380940ec79",
                             "md5:bb300cfdad3c16e7a12a480ee83cd310"), strict=True))),
}
"""The download sources (tests point ``base_url`` at ``file://`` copies)."""


def mnist(name: str, config: Any) -> Dataset:
    """MNIST or Fashion-MNIST: ``(1, 28, 28)``, 256 levels, 10 classes."""
    from .download import cache_dir, fetch

    src = IDX_SOURCES[name]
    root = cache_dir() / name
    arrays = []
    for f in IDX_FILES:
        path = fetch(src.base_url + f, root / f, src.checksums.get(f))
        arrays.append(read_idx(path))
    xtr, ytr, xte, yte = arrays
    for imgs, labels, f in ((xtr, ytr, IDX_FILES[1]), (xte, yte, IDX_FILES[3])):
        if imgs.ndim != 3 or labels.ndim != 1 or len(imgs) != len(labels):
            raise InputError(f"{root / f}: {len(labels)} labels for images of shape "
                             f"{imgs.shape}")
    x = torch.from_numpy(xtr.astype(np.float32))[:, None]
    y = torch.from_numpy(ytr.astype(np.int64))
    test = (torch.from_numpy(xte.astype(np.float32))[:, None],
            torch.from_numpy(yte.astype(np.int64)))
    return discrete_dataset(name, x, y, config, levels=256, n_classes=10, test=test)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# --- image folders ---------------------------------------------------------------------------


def image_folder(config: Any) -> Dataset:
    """A directory of PNG/JPEG images (one subfolder per class, or flat), 256 levels."""
    from PIL import Image, UnidentifiedImageError

    root = Path(config.name)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{root}: no .png/.jpg/.jpeg images in this directory")
    classes = sorted({p.parent.relative_to(root).parts[0] for p in files
                      if p.parent != root})
    if classes and any(p.parent == root for p in files):
        raise InputError(f"{root}: images both at the top and in subfolders; use one layout")
    size = int(getattr(config, "image_size", 0))
    if size < 0:
        raise InputError(f"data.image_size: {size} is negative (0 keeps the stored size)")
    mode = getattr(config, "image_mode", "auto")
    out, first = [], None
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                img = im if mode == "auto" else im.convert(mode)
                if mode == "auto" and img.mode not in ("L", "RGB"):
                    img = img.convert("RGB" if len(img.getbands()) >= 3 else "L")
                if size:
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except Image.DecompressionBombError:
            raise InputError(f"{p}: image too large to decode safely (over "
                             f"{Image.MAX_IMAGE_PIXELS} pixels)") from None
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"{p}: unreadable image ({_first_line(e)})") from None
        except Exception as e:  # noqa: BLE001 - PIL's decoders raise many types for a bad file
            raise InputError(f"{p}: unreadable image ({type(e).__name__}: "
                             f"{_first_line(e)})") from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if first is None:
            first = (p, arr.shape)
        elif arr.shape != first[1]:
            c, h, w = arr.shape
            c0, h0, w0 = first[1]
            what = (f"{c} channels, expected {c0} like {first[0].name} (set data.image_mode)"
                    if c != c0 else f"size {w}x{h}, expected {w0}x{h0} like "
                    f"{first[0].name} (set data.image_size to resize)")
            raise InputError(f"{p}: {what}")
        out.append(arr)
    x = torch.from_numpy(np.stack(out).astype(np.float32))
    y = None
    if classes:
        index = {c: i for i, c in enumerate(classes)}
        y = torch.tensor([index[p.relative_to(root).parts[0]] for p in files])
    return discrete_dataset(str(root), x, y, config, levels=256,
                            n_classes=len(classes) or None)
