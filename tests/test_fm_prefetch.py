"""The coupling pipeline of flow matching (``model.coupling_workers``): each step trains on the
pair of ``w`` steps earlier with that pair's own plan, deterministically, the labels travelling
with their points; worker errors surface, and no thread outlives training."""

from __future__ import annotations

import gc
import threading

import pytest
import torch
from torch import Tensor

from genmodels.core import Batch
from genmodels.errors import InputError
from genmodels.families.fm.build import build_cfm
from genmodels.families.fm.config import CFMConfig
from genmodels.families.fm.objective import ConditionalFlowMatching
from genmodels.paths import make_coupling
from genmodels.paths.couplings import Coupling
from genmodels.paths.pipeline import THREAD_PREFIX, CouplingPipeline
from genmodels.registry import DataInfo


def _workers_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def _joined() -> bool:
    for t in _workers_alive():
        t.join(timeout=5)
    return not _workers_alive()


def _batches(n: int = 6, b: int = 32, labels: bool = False) -> list[Batch]:
    g = torch.Generator().manual_seed(7)
    out = []
    for _ in range(n):
        y = torch.randint(0, 3, (b,), generator=g)
        x = torch.randn(b, 2, generator=g) + 3 * y[:, None].float()
        out.append(Batch(x, y=y if labels else None))
    return out


def _trained_pairs(config: CFMConfig, batches: list[Batch], n_classes: int = 0,
                   seed: int = 0) -> list[tuple[Tensor, Tensor, Tensor | None]]:
    """The (x_data, x_src, labels) each training call regressed on, spied on the path and
    the network; the source draws and label dropout come from the global seed."""
    torch.manual_seed(0)
    model, objective = build_cfm(config, DataInfo((2,), n_classes=n_classes))
    seen: list = []
    path_sample, predict = model.path.sample, model.predict

    def spy_path(x_data, x_src, t, z):
        seen.append([x_data.clone(), x_src.clone(), None])
        return path_sample(x_data, x_src, t, z)

    def spy_predict(xt, t, cond=None):
        seen[-1][2] = None if cond is None else cond.clone()
        return predict(xt, t, cond=cond)

    model.path.sample, model.predict = spy_path, spy_predict
    torch.manual_seed(seed)
    for batch in batches:
        objective(model, batch).loss.backward()
    objective.close()
    return [tuple(s) for s in seen]


def _equal(a: tuple, b: tuple) -> bool:
    return all((u is None and v is None) or torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("conditional", [False, True])
def test_each_call_trains_on_the_pair_of_w_calls_earlier_with_its_own_plan(
        workers: int, conditional: bool) -> None:
    """The exact coupling draws nothing, so the pipelined run draws the same source points
    and dropped labels as the in-step run: call k must regress on the in-step run's pair
    (and labels) of call k - w, and calls k < w on their own."""
    batches = _batches(labels=conditional)
    kw = dict(coupling="exact", width=8, blocks=1, conditional=conditional, p_uncond=0.3)
    k = 3 if conditional else 0
    inline = _trained_pairs(CFMConfig(**kw), batches, k)
    piped = _trained_pairs(CFMConfig(coupling_workers=workers, **kw), batches, k)
    assert len(piped) == len(inline) == len(batches)
    for i, pair in enumerate(piped):
        assert _equal(pair, inline[i - workers if i >= workers else i]), i
    if conditional:  # the dropped labels travelled with their batch (and dropout happened)
        assert any((c == -1).any() for _, _, c in piped)


def test_the_pair_is_the_exact_plan_of_its_own_draws() -> None:
    """Against the coupling called directly on the recorded draws of the previous call."""
    torch.manual_seed(0)
    model, _ = build_cfm(CFMConfig(coupling="exact", width=8, blocks=1), DataInfo((2,)))
    draws: list[Tensor] = []
    sample = model.source.sample
    model.source.sample = lambda n: draws.append(sample(n)) or draws[-1]
    pipe = CouplingPipeline(make_coupling("exact"), workers=1)
    batches = _batches(4)
    for k, b in enumerate(batches):
        x_data, x_src, _ = pipe(b.x, model.source.sample(len(b.x)))
        prev = max(k - 1, 0)
        want = make_coupling("exact")(batches[prev].x, draws[prev])
        assert torch.equal(x_data, want[0]) and torch.equal(x_src, want[1]), k
        assert sorted(x_src[:, 0].tolist()) == sorted(draws[prev][:, 0].tolist())
    pipe.close()


@pytest.mark.parametrize("coupling", ["exact", "sinkhorn"])
def test_a_fixed_seed_gives_the_same_training_twice(coupling: str) -> None:
    batches = _batches(5)
    cfg = CFMConfig(coupling=coupling, coupling_workers=2, width=8, blocks=1)
    a, b = _trained_pairs(cfg, batches), _trained_pairs(cfg, batches)
    assert all(_equal(p, q) for p, q in zip(a, b))
    c = _trained_pairs(cfg, batches, seed=1)
    assert not _equal(a[-1], c[-1])  # the seed matters
    for k, (x_data, _, _) in enumerate(a):  # the data of two calls earlier
        assert torch.equal(x_data, batches[k - 2 if k >= 2 else k].x)


def test_partners_give_the_coupled_batch() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g)
    for name in ("independent", "exact", "sinkhorn"):
        c = make_coupling(name)
        j = c.partners(x, y, generator=torch.Generator().manual_seed(3))
        assert torch.equal(c(x, y, generator=torch.Generator().manual_seed(3))[1], y[j])
    assert sorted(make_coupling("exact").partners(x, y).tolist()) == list(range(20))


def test_validation_calls_couple_in_place_and_leave_the_pipeline_alone() -> None:
    torch.manual_seed(0)
    model, objective = build_cfm(CFMConfig(coupling="exact", coupling_workers=1, width=8,
                                           blocks=1), DataInfo((2,)))
    b1, b2 = _batches(2)
    objective(model, b1)
    with torch.no_grad():
        objective.validation_loss(model, b2)
    assert len(objective.pipeline._queue) == 1
    assert torch.equal(objective.pipeline._queue[0].x_data, b1.x)
    objective.close()
    assert _joined()


class _Failing(Coupling):
    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def partners(self, x_data, x_src, *, generator=None):
        raise self.error


def test_worker_errors_surface_clearly_and_stop_the_threads() -> None:
    torch.manual_seed(0)
    model, _ = build_cfm(CFMConfig(width=8, blocks=1), DataInfo((2,)))
    (b,) = _batches(1)
    obj = ConditionalFlowMatching(_Failing(ValueError("boom")), workers=1)
    with pytest.raises(RuntimeError, match="'failing' coupling failed in its worker thread: "
                                           "ValueError: boom"):
        obj(model, b)
    assert _joined()
    obj = ConditionalFlowMatching(_Failing(InputError("needs POT")), workers=1)
    with pytest.raises(InputError, match="worker thread.*needs POT"):
        obj(model, b)
    assert _joined()


def test_threads_stop_at_close_on_garbage_collection_and_after_fit(tmp_path) -> None:
    import genmodels as gm

    torch.manual_seed(0)
    model, obj = build_cfm(CFMConfig(coupling="exact", coupling_workers=2, width=8, blocks=1),
                           DataInfo((2,)))
    for b in _batches(3):
        obj(model, b)
    assert len(_workers_alive()) >= 1
    del obj
    gc.collect()
    assert _joined()
    run = gm.fit({"model": {"name": "ot-cfm", "width": 8, "blocks": 1, "coupling_workers": 1},
                  "data": {"name": "moons", "n_train": 512, "n_val": 64, "n_test": 64},
                  "train": {"steps": 6, "batch_size": 64, "threads": 1, "val_every": 3}},
                 out=tmp_path / "run", progress=False)
    assert run.fit_result.steps == 6
    assert not _workers_alive()


def test_config_values_and_cli(tmp_path) -> None:
    from genmodels.cli import main

    _, obj = build_cfm(CFMConfig(coupling="sinkhorn", coupling_workers=2), DataInfo((2,)))
    assert obj.pipeline.workers == 2 and obj.pipeline.coupling.name == "sinkhorn"
    _, obj = build_cfm(CFMConfig(coupling="independent", coupling_workers=2), DataInfo((2,)))
    assert obj.pipeline is None  # nothing to compute off the step
    _, obj = build_cfm(CFMConfig(coupling="exact"), DataInfo((2,)))
    assert obj.pipeline is None  # off by default
    with pytest.raises(InputError, match="coupling_workers"):
        build_cfm(CFMConfig(coupling_workers=-1), DataInfo((2,)))
    assert main(["train", "--model", "ot-cfm", "--data", "moons", "--steps", "4", "--set",
                 "width=8", "blocks=1", "coupling_workers=1", "--out", str(tmp_path / "ok"),
                 "--no-progress"]) == 0
    assert main(["train", "--model", "ot-cfm", "--data", "moons", "--steps", "2", "--set",
                 "coupling_workers=-1", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    assert not _workers_alive()
