"""Data sets: the registered 2-D toys (with exact densities where they exist) and user files.

``load_dataset(config)`` is the one entry point::

    from genmodels.config import DataConfig
    from genmodels.data import load_dataset

    data = load_dataset(DataConfig(name="8gaussians", n_train=10_000))
    data.log_prob(data.test).mean()        # ≈ -data.entropy
    data = load_dataset(DataConfig(name="points.csv", columns="x,y"))
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..registry import DATASETS, DatasetEntry, get_dataset, register_dataset
from . import toy
from .base import Dataset, Standardize
from .toy import TOYS, sample

__all__ = ["Dataset", "Standardize", "load_dataset", "sample", "split_generator", "toy"]

# images, tabular and targets are imported lazily (they pull in sklearn, PIL, pyarrow).

_SPLITS = ("train", "val", "test")
_MASK64 = (1 << 64) - 1


def split_generator(seed: int, name: str, split: str) -> torch.Generator:
    """An independent :class:`torch.Generator` for one split of one generated data set.

    The seed is a SplitMix64 hash of ``(seed, crc32(name), split index)``, so the train, val and
    test streams of a data set never overlap and neither depends on the global RNG.
    """
    z = (seed * 0x9E3779B97F4A7C15 + zlib.crc32(name.encode()) * 0xBF58476D1CE4E5B9
         + (_SPLITS.index(split) + 1) * 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return torch.Generator().manual_seed(z ^ (z >> 31))


def _toy_dataset(name: str, config: Any) -> Dataset:
    from . import toy_density

    for key in ("n_train", "n_val", "n_test"):
        value = getattr(config, key)
        least = 1 if key == "n_train" else 0
        if value < least:
            raise InputError(f"data.{key}: {value} must be >= {least}")
    draw = {
        s: sample(name, getattr(config, f"n_{s}"), generator=split_generator(config.seed, name, s))
        for s in _SPLITS
    }
    kwargs: dict[str, Any] = {}
    if toy_density.has_density(name):
        h, se = toy_density.entropy(name)
        kwargs = {"log_prob": toy_density.log_prob_fn(name), "entropy": h, "entropy_se": se}
    return Dataset(name=name, train=draw["train"], val=draw["val"] if config.n_val else None,
                   test=draw["test"], standardize=False, **kwargs)


def _register_toys() -> None:
    for t in TOYS.values():
        register_dataset(DatasetEntry(
            t.name, f"2-D toy ({t.paper}): {t.description}",
            lambda config, _name=t.name: _toy_dataset(_name, config),
        ))


_register_toys()


def _digits(config: Any) -> Dataset:
    from .images import digits

    return digits(config)


def _mnist(name: str, config: Any) -> Dataset:
    from .images import mnist

    return mnist(name, config)


def _register_images() -> None:
    register_dataset(DatasetEntry(
        "digits", "scikit-learn 8x8 digits (1,797 images, 17 levels, 10 classes; offline)",
        _digits))
    for name, what in (("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")):
        register_dataset(DatasetEntry(
            name, f"{what} 28x28 (256 levels, 10 classes; downloaded into $GENMODELS_DATA)",
            lambda config, _n=name: _mnist(_n, config)))


_register_images()


def _maf(name: str, config: Any) -> Dataset:
    from .tabular import maf_dataset

    return maf_dataset(name, config)


def _register_maf() -> None:
    dims = {"power": 6, "gas": 8, "hepmass": 21, "miniboone": 43, "bsds300": 63}
    for name, d in dims.items():
        register_dataset(DatasetEntry(
            name, f"MAF tabular benchmark {name.upper()} ({d}-D; downloaded into "
            "$GENMODELS_DATA, MAF preprocessing and splits)",
            lambda config, _n=name: _maf(_n, config)))


_register_maf()


def _looks_like_path(name: str) -> bool:
    return ("/" in name or os.sep in name or bool(Path(name).suffix)
            or Path(name).exists())


def load_dataset(config: Any) -> Dataset:
    """Loads the data set a :class:`~genmodels.config.DataConfig` names.

    ``config.name`` is a registered data set (drawn with ``config.n_train`` / ``n_val`` /
    ``n_test`` points from generators seeded by ``config.seed``, one independent stream per
    split) or a path to a ``.npy`` / ``.npz`` / ``.csv`` / ``.tsv`` file (split by
    ``config.val_fraction`` / ``config.test_fraction`` with a permutation seeded by
    ``config.seed``; see :mod:`genmodels.data.files`), or a directory of images
    (:func:`genmodels.data.images.image_folder`). A registered name wins over a file of the
    same name.

    Raises:
        InputError: an unknown name (listing the known ones), a missing file, or a bad file,
            with the file and the place.
    """
    from ..registry import load_all

    name = config.name
    if not isinstance(name, str) or not name.strip():
        raise InputError("data.name: empty (a registered data set or a file path)")
    load_all()
    if name in DATASETS:
        return DATASETS[name].load(config)
    if Path(name).is_dir():
        from .images import image_folder

        return image_folder(config)
    if _looks_like_path(name):
        from .files import file_dataset

        return file_dataset(config)
    return get_dataset(name).load(config)
