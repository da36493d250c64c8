"""The digits-classifier image metrics (fd, kid, classifier score): not Inception, but sane."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from torch import Tensor

from genmodels.core import GenerativeModel
from genmodels.errors import InputError
from genmodels.metrics import evaluate

pytest.importorskip("sklearn")


class Resampler(GenerativeModel):
    """Draws images from a fixed pool (a "perfect" model when the pool is real data)."""

    def __init__(self, pool: Tensor) -> None:
        super().__init__()
        self.pool = pool
        self.event_shape = tuple(pool.shape[1:])

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        return self.pool[torch.randint(len(self.pool), (n,), generator=generator)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Dequantised digits (k + U in [0, 17), data units of the ``digits`` data set) and a
    classifier cached in a fresh GENMODELS_DATA."""
    from genmodels.metrics import features

    root = tmp_path_factory.mktemp("gm_data")
    old = os.environ.get("GENMODELS_DATA")
    os.environ["GENMODELS_DATA"] = str(root)
    try:
        net, acc = features.digits_classifier()
        x, y = features.digits_arrays()
        g = torch.Generator().manual_seed(0)
        x = x * 16 + torch.rand(x.shape, generator=g)
        perm = torch.randperm(len(x), generator=g)
        yield {"root": Path(root), "acc": acc, "test": x[perm[:900]],
               "pool": x[perm[900:]], "labels": y[perm[900:]]}
    finally:
        if old is None:
            os.environ.pop("GENMODELS_DATA", None)
        else:
            os.environ["GENMODELS_DATA"] = old


def test_classifier_is_accurate_cached_and_reloaded(digits: dict) -> None:
    from genmodels.metrics import features

    assert digits["acc"] > 0.95
    path = digits["root"] / "digits_classifier_v1.pt"
    assert path.is_file()
    net, _ = features.digits_classifier()
    probe = digits["pool"][:16]
    before = features.features_and_probs(probe, 0.0, 17.0)
    features._MEMO.clear()  # the next call loads the file instead of training
    again, acc = features.digits_classifier()
    assert again is not net and acc == pytest.approx(digits["acc"])
    after = features.features_and_probs(probe, 0.0, 17.0)
    assert torch.equal(before[0], after[0])
    labels = before[1].argmax(1)
    assert float((labels == digits["labels"][:16]).float().mean()) > 0.8


def test_image_metrics_tell_real_digits_from_noise(digits: dict) -> None:
    test, pool = digits["test"], digits["pool"]
    names = ["fd", "kid", "w2"]
    real = evaluate(Resampler(pool), test, metrics=names, generator=torch.Generator()
                    .manual_seed(1))
    noise = evaluate(Resampler(torch.rand(500, 1, 8, 8) * 17), test, metrics=names,
                     generator=torch.Generator().manual_seed(1))
    assert real["n_eval"] == 450
    assert real["fd_digits"] < 3 * real["fd_digits_floor"] < noise["fd_digits"] / 5
    assert noise["kid_digits"] > 10 * max(abs(real["kid_digits"]), real["kid_digits_floor"])
    assert real["kid_digits_std"] >= 0
    # the classifier score of real digits is high (confident, all ten classes), as for half A
    assert real["cs_digits"] > 5 and real["cs_digits_real"] > 5
    assert real["cs_digits"] > 2 * noise["cs_digits"]
    assert real["label_entropy_digits"] == pytest.approx(math.log(10), abs=0.05)
    assert real["fd_digits_floor"] == noise["fd_digits_floor"]
    # the same metrics do not apply to other image shapes: named, they are refused
    other = torch.rand(100, 1, 4, 4)
    with pytest.raises(InputError, match="metric 'fd' does not apply"):
        evaluate(Resampler(other), other, metrics=["fd", "kid", "w2"])
    assert evaluate(Resampler(other), other).keys() >= {"w2", "w2_floor", "n_eval"}
