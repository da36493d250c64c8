"""Mode coverage: exact samples capture every mode; a collapsed sample captures one."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.core import GenerativeModel
from genmodels.data.toy import mixture_centres, sample
from genmodels.metrics import evaluate
from genmodels.metrics.modes import mode_coverage


@pytest.mark.parametrize("name,k", [("grid25", 25), ("ring8", 8)])
def test_exact_samples_cover_every_mode(name: str, k: int) -> None:
    centres, std = mixture_centres(name)
    x = sample(name, 2500, generator=torch.Generator().manual_seed(0))
    out = mode_coverage(x, centres, std)
    assert out["modes"] == k and out["modes_total"] == k
    # P(|N(0, I_2)| < 3) = 1 - exp(-9/2) = 0.9889
    assert out["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert 0 <= out["mode_rkl"] < 0.03


def test_one_mode_sample_captures_one_and_far_points_are_low_quality() -> None:
    centres, std = mixture_centres("grid25")
    g = torch.Generator().manual_seed(1)
    one = centres[7] + std * torch.randn(400, 2, generator=g, dtype=torch.float64)
    far = centres[7] + torch.tensor([1.0, 1.0], dtype=torch.float64)  # between 4 centres
    out = mode_coverage(torch.cat([one, far.expand(100, 2)]), centres, std)
    assert out["modes"] == 1
    assert out["hq_fraction"] == pytest.approx(0.8 * (1 - math.exp(-4.5)), abs=0.02)
    assert out["mode_rkl"] == pytest.approx(math.log(25))
    assert "mode_rkl" not in mode_coverage(far.expand(10, 2), centres, std)


class _Exact(GenerativeModel):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.event_shape = name, (2,)

    def sample(self, n, *, cond=None, generator=None):
        return sample(self.name, n, generator=generator)


def test_registered_metric_applies_to_its_data_sets_only() -> None:
    test = sample("ring8", 2000, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(0)
    out = evaluate(_Exact("ring8"), test, metrics=["mode-coverage"], generator=g,
                   dataset="ring8")
    assert out["modes"] == 8 and out["n_eval"] == 1000
    with pytest.raises(Exception, match="none of the metrics"):
        evaluate(_Exact("ring8"), test, metrics=["mode-coverage"], generator=g, dataset="moons")
