"""Conformance checks that every registered family passes, so new families get them free.

``tests/test_conformance.py`` parametrizes these over :data:`genmodels.registry.FAMILIES`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import Tensor

from ..config import TrainConfig
from ..core import Batch, DensityModel, GenerativeModel, Objective
from ..registry import DataInfo, Family


def build(family: Family, info: DataInfo, seed: int = 0) -> tuple[GenerativeModel, Objective]:
    """Builds ``family`` from its default config, seeded."""
    torch.manual_seed(seed)
    return family.build(family.config(), info)


def check_sample(model: GenerativeModel, n: int = 7) -> None:
    """Samples have shape ``(n, *event_shape)``, are finite, and are seeded by ``generator``."""
    model.eval()
    with torch.no_grad():
        a = model.sample(n, generator=torch.Generator().manual_seed(3))
        b = model.sample(n, generator=torch.Generator().manual_seed(3))
        c = model.sample(n, generator=torch.Generator().manual_seed(4))
    assert a.shape == (n, *model.event_shape), (a.shape, model.event_shape)
    assert torch.isfinite(a).all(), "non-finite samples"
    assert torch.equal(a, b), "same generator seed gave different samples"
    assert not torch.equal(a, c), "different generator seeds gave the same samples"


def check_log_prob(model: GenerativeModel, x: Tensor) -> None:
    """A density model's ``log_prob`` has shape ``(B,)`` and is finite on data."""
    if not isinstance(model, DensityModel):
        return
    model.eval()
    with torch.no_grad():
        lp = model.log_prob(x)
    assert lp.shape == (x.shape[0],), lp.shape
    assert torch.isfinite(lp).all(), "non-finite log_prob on data"
    assert model.log_prob_kind in ("exact", "bound", "estimate"), model.log_prob_kind


def check_save_load(family: Family, info: DataInfo, model: GenerativeModel, x: Tensor) -> None:
    """Weights saved to safetensors and loaded into a fresh model give identical outputs."""
    from safetensors.torch import load_file, save_file

    fresh, _ = build(family, info, seed=123)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.safetensors"
        save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
                  str(path))
        fresh.load_state_dict(load_file(str(path)))
    model.eval()
    fresh.eval()
    with torch.no_grad():
        a = model.sample(5, generator=torch.Generator().manual_seed(11))
        b = fresh.sample(5, generator=torch.Generator().manual_seed(11))
        assert torch.equal(a, b)
        if isinstance(model, DensityModel):
            torch.manual_seed(0)
            a = model.log_prob(x)
            torch.manual_seed(0)
            b = fresh.log_prob(x)
            assert torch.equal(a, b)


def check_objective(model: GenerativeModel, objective: Objective, x: Tensor) -> None:
    """Every phase gives a finite scalar loss and a finite gradient to every one of its
    parameters; the phases' parameter sets cover the model's parameters."""
    model.train()
    covered: set[int] = set()
    for phase in objective.phases:
        params = list(objective.parameters(model, phase.name))
        assert params, f"phase {phase.name!r} has no parameters"
        model.zero_grad(set_to_none=True)
        out = objective(model, Batch(x), phase.name)
        assert out.loss.dim() == 0, f"phase {phase.name!r}: loss is not a scalar"
        assert torch.isfinite(out.loss), f"phase {phase.name!r}: loss is not finite"
        out.loss.backward()
        names = {id(p): n for n, p in model.named_parameters()}
        for p in params:
            assert p.grad is not None, f"phase {phase.name!r}: {names.get(id(p))} gets no gradient"
            assert torch.isfinite(p.grad).all(), f"phase {phase.name!r}: non-finite gradient"
            covered.add(id(p))
    missing = [n for n, p in model.named_parameters() if id(p) not in covered]
    assert not missing, f"parameters in no phase: {missing[:5]}"
    model.zero_grad(set_to_none=True)


def check_fit(model: GenerativeModel, objective: Objective, x: Tensor, steps: int = 20) -> None:
    """A short fit through the Trainer runs, keeps the weights finite and changes them."""
    from ..train import Trainer

    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(steps=steps, batch_size=min(64, len(x)), lr=1e-3, log_every=10, seed=0)
    result = Trainer(cfg, progress=False).fit(model, objective, x)
    assert result.steps == steps, result.steps
    after = model.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert any(not torch.equal(before[k], after[k]) for k in before), "no weight changed"
