"""GAN diagnostics: loss-curve warnings, critic accuracy, the run-level check."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genmodels.families.gan.diagnostics import (
    GANTrainingWarning,
    check_run,
    critic_accuracy,
    loss_warnings,
)
from genmodels.registry import DataInfo, get_family


def _noisy(n: int, seed: int = 0) -> torch.Tensor:
    return 0.05 * torch.randn(n, generator=torch.Generator().manual_seed(seed))


def test_healthy_curves_give_no_warning() -> None:
    t = torch.arange(400.0)
    assert loss_warnings((1.4 - 0.3 * (1 - torch.exp(-t / 50)) + _noisy(400)).tolist()) == []
    assert loss_warnings((-0.2 + _noisy(400, 1)).tolist()) == []  # noise around a level


def test_oscillation_and_divergence_are_flagged() -> None:
    t = torch.arange(400.0)
    osc = loss_warnings((1.0 + 0.8 * torch.sin(2 * math.pi * t / 60) + _noisy(400)).tolist(),
                        "critic_loss")
    assert len(osc) == 1 and "oscillates" in osc[0]
    div = loss_warnings((torch.exp(t / 60) + _noisy(400)).tolist(), "generator_loss")
    assert any("diverges" in m for m in div)
    assert "non-finite" in loss_warnings([1.0, 2.0, float("nan")])[0]


def test_check_run_reads_metrics_and_warns(tmp_path) -> None:
    with open(tmp_path / "metrics.jsonl", "w") as fh:
        for i in range(300):
            fh.write(json.dumps({"step": i, "critic_loss": math.sin(i / 8.0) * 2 + 0.1,
                                 "generator_loss": 0.7}) + "\n")
    with pytest.warns(GANTrainingWarning, match="critic_loss oscillates"):
        msgs = check_run(tmp_path)
    assert len(msgs) == 1


def test_critic_accuracy_of_a_critic_that_knows_the_data() -> None:
    fam = get_family("ns-gan")
    model, obj = fam.build(fam.config(), DataInfo((2,)))
    real = torch.randn(500, 2) * 0.1 + 5.0  # far from the untrained generator's samples
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.critic.parameters(), lr=1e-2)
    for _ in range(100):
        from genmodels.core import Batch

        out = obj(model, Batch(real[torch.randint(500, (64,))]), "critic")
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    acc = critic_accuracy(model, obj, real, train=real[:100],
                          generator=torch.Generator().manual_seed(0))
    assert acc["accuracy"] > 0.95 and acc["threshold"] == 0.0
    assert abs(acc["overfit_gap"]) < 1.0  # same distribution: no train/held-out gap
    w, wobj = get_family("wgan-gp").build(get_family("wgan-gp").config(), DataInfo((2,)))
    out = critic_accuracy(w, wobj, real)
    assert out["threshold"] == pytest.approx(0.5 * (out["v_real"] + out["v_fake"]))
