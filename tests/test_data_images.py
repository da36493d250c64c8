"""Images: digits, IDX (MNIST format) from a local mirror, image folders, dequantisation, logit."""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import genmodels as gm
from genmodels.config import DataConfig
from genmodels.data import Standardize, images, load_dataset
from genmodels.data.loader import BatchLoader
from genmodels.data.preprocess import Prepared, logit_log_det
from genmodels.errors import InputError


def test_digits_contract_labels_and_dequantised_eval_splits() -> None:
    from sklearn.datasets import load_digits

    d = load_dataset(DataConfig(name="digits"))
    assert d.event_shape == (1, 8, 8) and d.levels == 17 and d.n_classes == 10
    assert len(d.train) + len(d.val) + len(d.test) == 1797
    ref = load_digits()
    # train keeps the integer values and its labels: each image matches an sklearn image
    # with the same label
    flat = torch.as_tensor(ref.images.reshape(1797, -1), dtype=torch.float32)
    for i in (0, 7, 500):
        j = int(torch.nonzero((flat == d.train[i].reshape(-1)).all(1))[0])
        assert int(ref.target[j]) == int(d.train_labels[i])
    assert torch.equal(d.train, d.train.round()) and d.train.max() == 16
    # val/test: one fixed dequantisation x + u, u in [0, 1): floor gives back the levels
    for split in (d.val, d.test):
        assert ((split - split.floor()) > 0).float().mean() > 0.99
        assert split.min() >= 0 and split.max() < 17
    again = load_dataset(DataConfig(name="digits"))
    assert torch.equal(again.test, d.test) and torch.equal(again.train, d.train)


def test_logit_log_det_is_the_autograd_jacobian_and_inverts() -> None:
    g = torch.Generator().manual_seed(0)
    z = 17 * torch.rand(5, 1, 2, 2, generator=g, dtype=torch.float64)
    std = Standardize(torch.full((1, 2, 2), 0.3, dtype=torch.float64),
                      torch.full((1, 2, 2), 2.0, dtype=torch.float64), 17.0, 0.05)
    for i in range(5):
        jac = torch.autograd.functional.jacobian(lambda v: std.forward(v[None])[0], z[i])
        ref = torch.logdet(jac.reshape(4, 4))
        assert torch.allclose(std.log_det(z[i:i + 1])[0], ref, atol=1e-10)
    assert torch.allclose(std.inverse(std.forward(z)), z, atol=1e-10)
    assert logit_log_det(z, 17.0, 0.05).shape == (5,)


def test_data_unit_density_is_normalised_on_the_level_scale() -> None:
    """A standard normal in model units, seen through logit + affine, integrates over the
    data cube [0, K) to Φ(T(K)) - Φ(T(0)) (closed form): the Jacobian is exact."""
    std = Standardize(torch.tensor([0.2], dtype=torch.float64),
                      torch.tensor([1.5], dtype=torch.float64), 17.0, 0.05)
    z = torch.linspace(0, 17, 400_001, dtype=torch.float64)[:, None]
    m = std.forward(z)[:, 0]
    dens = torch.exp(-0.5 * m.square() - 0.5 * math.log(2 * math.pi) + std.log_det(z))
    integral = float(torch.trapezoid(dens, z[:, 0]))
    normal = torch.distributions.Normal(0.0, 1.0)
    exact = float(normal.cdf(m[-1]) - normal.cdf(m[0]))
    assert abs(integral - exact) < 1e-6
    # uniform model on the cube: nll = D log K exactly, so bits/dim = log2(K) (never 256)
    assert math.isclose(64 * math.log(17) / (64 * math.log(2)), math.log2(17))


def test_per_batch_dequantisation_is_fresh_seeded_and_resumable() -> None:
    x = torch.randint(0, 17, (40, 1, 2, 2)).float()
    view = Prepared(x, Standardize.identity((1, 2, 2)), levels=17)
    a = BatchLoader(view, 8, seed=3)
    batches = [next(a).x for _ in range(7)]
    for bt in batches:
        assert ((bt - bt.floor()) > 0).all() and (bt.floor() <= 16).all()
    b = BatchLoader(view, 8, seed=3)
    assert all(torch.equal(next(b).x, bt) for bt in batches)  # seeded, no global RNG
    c = BatchLoader(view, 8, seed=3)
    for _ in range(4):
        next(c)
    state = c.state_dict()
    d = BatchLoader(view, 8, seed=3)
    d.load_state_dict(state)
    assert torch.equal(next(d).x, batches[4])  # resume draws the same noise
    # the same row, batch after batch, gets fresh noise over the same cell
    one = BatchLoader(Prepared(x[:1], Standardize.identity((1, 2, 2)), levels=17), 1, seed=0)
    draws = torch.cat([next(one).x for _ in range(5)])
    assert len({tuple(v.reshape(-1).tolist()) for v in draws}) == 5
    assert (draws.floor() == x[:1]).all()


def test_fit_on_digits_reports_bpd_with_the_logit_jacobian() -> None:
    run = gm.fit(model={"name": "realnvp"}, data={"name": "digits", "logit": 0.05},
                 train={"steps": 5, "batch_size": 32, "val_every": 0})
    data = run.dataset()
    x = data.test[:16]
    inner = run.family_model
    with torch.no_grad():
        expect = inner.log_prob(run.standardize.forward(x)) + run.standardize.log_det(x)
    assert torch.allclose(run.log_prob(x), expect, atol=1e-4)
    res = run.evaluate(metrics=["nll"], save=False)
    assert math.isclose(res["bpd"], res["nll"] / (64 * math.log(2)), rel_tol=1e-9)


# --- IDX ------------------------------------------------------------------------------------


def _idx(path: Path, arr: np.ndarray) -> str:
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 30),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 10)}
    (tmp_path / "mirror").mkdir()
    sums = {f: _idx(tmp_path / "mirror" / f, a) for f, a in arrays.items()}
    src = images.IdxSource((tmp_path / "mirror").as_uri() + "/", sums)
    monkeypatch.setitem(images.IDX_SOURCES, "mnist", src)
    monkeypatch.setenv("GENMODELS_DATA", str(tmp_path / "cache"))
    return arrays


def test_idx_download_parse_and_round_trip(mirror: dict, tmp_path: Path) -> None:
    d = load_dataset(DataConfig(name="mnist", val_fraction=0.2))
    assert d.event_shape == (1, 28, 28) and d.levels == 256 and d.n_classes == 10
    assert (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert torch.equal(d.test.floor()[:, 0], torch.from_numpy(
        mirror["t10k-images-idx3-ubyte.gz"].astype(np.float32)))
    assert torch.equal(d.test_labels, torch.from_numpy(mirror["t10k-labels-idx1-ubyte.gz"]))
    xs = torch.cat([d.train, d.val.floor()])[:, 0].reshape(30, -1)
    ref = torch.from_numpy(mirror["train-images-idx3-ubyte.gz"].reshape(30, -1).astype(np.float32))
    assert sorted(map(tuple, xs.tolist())) == sorted(map(tuple, ref.tolist()))
    std = Standardize.fit(d.train)
    assert torch.allclose(std.inverse(std.forward(d.train)), d.train, atol=1e-3)
    again = load_dataset(DataConfig(name="mnist", val_fraction=0.2))  # from the cache now
    assert torch.equal(again.train, d.train)


def test_idx_checksum_mismatch_leaves_nothing(mirror: dict, tmp_path: Path) -> None:
    src = images.IDX_SOURCES["mnist"]
    src.checksums["t10k-images-idx3-ubyte.gz"] = "sha256:" + "0" * 64
    with pytest.raises(InputError, match=r"t10k-images-idx3-ubyte\.gz: checksum mismatch"):
        load_dataset(DataConfig(name="mnist"))
    left = {p.name for p in (tmp_path / "cache" / "mnist").iterdir()}
    assert "t10k-images-idx3-ubyte.gz" not in left and not any(".part" in n for n in left)


def test_bad_idx_names_file_and_byte(tmp_path: Path) -> None:
    p = tmp_path / "x.idx"
    p.write_bytes(struct.pack(">HBB", 0, 8, 2) + struct.pack(">2I", 3, 3) + bytes(5))
    with pytest.raises(InputError, match=re.escape(f"{p}: byte 12: 5 data bytes, the header "
                                                   "[3, 3] needs 9")):
        images.read_idx(p)
    p.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(InputError, match=re.escape(f"{p}: byte 0: bad IDX magic")):
        images.read_idx(p)


# --- image folders --------------------------------------------------------------------------


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def test_image_folder_labels_round_trip_and_resize(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    arrs = {f"{c}/{i}.png": rng.integers(0, 256, (6, 6)) for c in ("cat", "dog") for i in range(5)}
    for name, a in arrs.items():
        _png(tmp_path / "imgs" / name, a)
    d = load_dataset(DataConfig(name=str(tmp_path / "imgs"), val_fraction=0, test_fraction=0.2))
    assert d.event_shape == (1, 6, 6) and d.levels == 256 and d.n_classes == 2
    got = {tuple(x.reshape(-1).tolist()): int(y) for x, y in zip(d.train, d.train_labels,
                                                                  strict=True)}
    for name, a in arrs.items():
        key = tuple(a.reshape(-1).astype(float).tolist())
        if key in got:
            assert got[key] == ("cat", "dog").index(name.split("/")[0])
    assert len(got) == 8
    std = Standardize.fit(d.train)
    assert torch.allclose(std.inverse(std.forward(d.train)), d.train, atol=1e-3)
    r = load_dataset(DataConfig(name=str(tmp_path / "imgs"), image_size=4, image_mode="RGB"))
    assert r.event_shape == (3, 4, 4)


@pytest.mark.parametrize("bad", ["size", "channels", "corrupt"])
def test_image_folder_bad_image_names_the_file(tmp_path: Path, bad: str) -> None:
    _png(tmp_path / "a.png", np.zeros((5, 5)))
    p = tmp_path / "b.png"
    if bad == "size":
        _png(p, np.zeros((4, 5)))
        expected = f"{p}: size 5x4, expected 5x5 like a.png (set data.image_size to resize)"
    elif bad == "channels":
        _png(p, np.zeros((5, 5, 3)))
        expected = f"{p}: 3 channels, expected 1 like a.png (set data.image_mode)"
    else:
        p.write_bytes(b"not a png")
        expected = f"{p}: unreadable image"
    with pytest.raises(InputError, match="^" + re.escape(expected)):
        load_dataset(DataConfig(name=str(tmp_path)))


def test_logit_needs_a_valid_alpha_and_unit_range_data() -> None:
    with pytest.raises(InputError, match=r"^data\.logit: 0\.7 must be in \(0, 0\.5\)"):
        Standardize.fit(torch.rand(10, 2), logit_alpha=0.7)
    with pytest.raises(InputError, match=r"^data\.logit: continuous data must lie in \[0, 1\]"):
        Standardize.fit(torch.randn(10, 2) + 5, logit_alpha=0.05)
    s = Standardize.fit(torch.rand(10, 2), logit_alpha=0.05)  # unit data: K = 1
    assert s.levels == 1.0 and s.log_det(torch.rand(3, 2)).shape == (3,)
