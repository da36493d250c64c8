"""Classifier-free guidance for flow matching (cfm, ot-cfm): the guided velocity, label
dropout, per-label couplings, the conditional likelihood, learning on a labelled 2-D toy, the
CLI, and the data-to-data flow's refusal of a density."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from genmodels.cli import main
from genmodels.core import Batch, LabelConditional
from genmodels.errors import InputError
from genmodels.families.fm import CFMConfig, build_cfm
from genmodels.paths import GaussianMixture, make_coupling
from genmodels.paths.couplings import couple_within
from genmodels.paths.guidance import NULL_LABEL
from genmodels.registry import DataInfo

MEANS = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
COV = torch.eye(2) * 0.5


def _model(**kw):
    cfg = CFMConfig(**{"conditional": True, "width": 32, "blocks": 1, "nfe": 8, **kw})
    return build_cfm(cfg, DataInfo((2,), n_classes=3))


def test_guided_velocity_is_the_combination_exactly() -> None:
    """w = 0 is the conditional velocity (bit for bit), w = -1 the null label's, and any w
    gives (1 + w) v(x, t, c) - w v(x, t, null) from one doubled-batch evaluation."""
    torch.manual_seed(0)
    model, _ = _model()
    x = torch.randn(12, 2)
    labels = torch.arange(12) % 3
    t = torch.tensor(0.4, dtype=torch.float64)
    cond = model.velocity(t, x, labels)
    uncond = model.velocity(t, x, None)
    assert not torch.allclose(cond, uncond)
    assert torch.equal(model.sampling_velocity(12, labels, 0.0)(t, x), cond)
    torch.testing.assert_close(model.sampling_velocity(12, labels, -1.0)(t, x), uncond,
                               atol=1e-6, rtol=0)
    for w in (0.5, 2.0):
        torch.testing.assert_close(model.sampling_velocity(12, labels, w)(t, x),
                                   (1 + w) * cond - w * uncond, atol=1e-5, rtol=1e-5)
    # sampling at w = 0 integrates the conditional velocity: the same draws, the same points
    g = torch.Generator().manual_seed(3)
    got = model.sample(12, cond=labels, guidance=0.0, generator=g, sampler="euler", nfe=4)
    x1 = model.source.sample(12, generator=torch.Generator().manual_seed(3))
    ts = torch.linspace(model.t_hi, model.t_lo, 5, dtype=torch.float64)
    from genmodels.solvers import integrate

    want = integrate(lambda s, y: model.velocity(s, y, labels), x1, ts, "euler").x
    assert torch.equal(got, want)


def test_guidance_refusals_and_the_configured_default() -> None:
    with pytest.raises(InputError, match="unconditional"):
        build_cfm(CFMConfig(guidance=1.0), DataInfo((2,), n_classes=3))
    with pytest.raises(InputError, match="no class labels"):
        build_cfm(CFMConfig(conditional=True), DataInfo((2,)))
    with pytest.raises(InputError, match="p_uncond=0"):
        _model(p_uncond=0.0, guidance=1.0)
    with pytest.raises(InputError, match="model.guidance"):
        _model(guidance=-2.0)
    plain, _ = build_cfm(CFMConfig(width=8, blocks=1), DataInfo((2,)))
    with pytest.raises(InputError, match="without labels"):
        plain.sample(4, guidance=1.0)
    torch.manual_seed(0)
    model, _ = _model(guidance=3.0)
    labels = torch.zeros(5, dtype=torch.long)
    a = model.sample(5, cond=labels, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, cond=labels, guidance=3.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(InputError, match="out of range"):
        model.sample(5, cond=torch.full((5,), 3))


def test_objective_drops_labels_and_refuses_unlabelled_batches() -> None:
    seen: list[Tensor] = []
    torch.manual_seed(0)
    model, objective = _model(p_uncond=0.25)
    net = model.net

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = net

        def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
            seen.append(cond)
            return self.inner(x, t, cond)

    model.net = Spy()
    m = 40_000
    objective(model, Batch(torch.randn(m, 2), y=torch.arange(m) % 3))
    frac = float((seen[0] == NULL_LABEL).double().mean())
    assert abs(frac - 0.25) < 4 * math.sqrt(0.25 * 0.75 / m)
    kept = seen[0] != NULL_LABEL
    assert torch.equal(seen[0][kept], (torch.arange(m) % 3)[kept])
    with pytest.raises(InputError, match="labelled"):
        objective(model, Batch(torch.randn(8, 2)))


@pytest.mark.parametrize("name", ["exact", "sinkhorn"])
def test_couplings_pair_each_label_among_itself(name: str) -> None:
    """Each group's source points are exactly the ones drawn for it (so every label's source
    marginal is the source), coupled by the plan of that group alone."""
    g = torch.Generator().manual_seed(0)
    groups = torch.tensor([0, 1] * 20 + [NULL_LABEL] * 8)
    x = torch.randn(48, 2, generator=g) + 4 * (groups == 0)[:, None].float()
    y = torch.randn(48, 2, generator=g)
    coupling = make_coupling(name)
    xd, ys = couple_within(coupling, x, y, groups, generator=torch.Generator().manual_seed(1))
    assert torch.equal(xd, x)
    for k in (0, 1, NULL_LABEL):
        i = groups == k
        # every source point a group gets is one drawn for that group (exact: all of them)
        assert all((row == y[i]).all(1).any() for row in ys[i])
        if name == "exact":
            assert torch.equal(ys[i].sort(0).values, y[i].sort(0).values)
    if name == "exact":
        i = groups == 0
        assert torch.equal(ys[i], coupling(x[i], y[i])[1])
        # a plan over the whole batch would hand class 0 (at +4) the source points on its side
        whole = coupling(x, y)[1]
        assert float(whole[i, 0].mean()) > float(ys[i, 0].mean()) + 0.3


def test_conditional_log_prob_uses_the_labels() -> None:
    torch.manual_seed(0)
    model, _ = _model(trace="exact", likelihood_solver="rk4", likelihood_steps=4)
    x = torch.randn(6, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    cond = model.log_prob(x, cond=labels)
    assert cond.shape == (6,) and torch.isfinite(cond).all()
    assert not torch.allclose(cond, model.log_prob(x))
    torch.testing.assert_close(model.log_prob(x, cond=torch.full((6,), -1)), model.log_prob(x))
    with pytest.raises(InputError, match="out of range"):
        model.log_prob(x, cond=torch.full((6,), 5))


def _mixture_posterior(x: Tensor, k: int) -> Tensor:
    per = [GaussianMixture(MEANS[j:j + 1].double(), COV[None].double()) for j in range(3)]
    lp = torch.stack([p.log_prob(x.double()) for p in per], 1)
    return torch.softmax(lp, 1)[:, k]


@pytest.mark.parametrize("family", ["cfm", "ot-cfm"])
def test_a_conditional_fit_samples_the_requested_class(family: str) -> None:
    """A 3-class Gaussian mixture in 2-D, 300 Adam steps (seed 0): the true posterior of
    the requested class, averaged over conditional samples, is > 0.85 (unconditional
    samples: about 1/3) and guidance w = 2 raises it (measured, cfm / ot-cfm: 0.384 / 0.377
    unconditional, 0.944 / 0.944 at w = 0, 1.000 / 1.000 at w = 2)."""
    torch.manual_seed(0)
    coupling = "exact" if family == "ot-cfm" else "independent"
    model, objective = _model(coupling=coupling, sampler="heun", nfe=20)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        y = torch.randint(0, 3, (256,), generator=g)
        x = MEANS[y] + torch.randn(256, 2, generator=g) @ COV.sqrt()
        loss = objective(model, Batch(x, y=y)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    n = 600
    labels = torch.arange(n) % 3

    def hit(w: float | None, cond: Tensor | None) -> float:
        s = model.sample(n, cond=cond, guidance=w, generator=torch.Generator().manual_seed(1))
        return float(torch.stack([_mixture_posterior(s[labels == k], k).mean()
                                  for k in range(3)]).mean())

    uncond, cond, guided = hit(None, None), hit(0.0, labels), hit(2.0, labels)
    assert abs(uncond - 1 / 3) < 0.1, uncond
    assert cond > 0.85 and cond > uncond + 0.4, (uncond, cond)
    assert guided > cond, (cond, guided)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("fmcfg") / "run"
    assert main(["train", "--model", "ot-cfm", "--data", "digits", "--steps", "3",
                 "--batch-size", "32", "--set", "conditional=true", "width=16", "blocks=1",
                 "--out", str(out)]) == 0
    return str(out)


def test_cli_train_and_sample_with_label_and_guidance(digits_run: str, tmp_path) -> None:
    out = tmp_path / "s.npy"
    assert main(["sample", digits_run, "--label", "3", "--n", "6", "--nfe", "4",
                 "--set", "model.guidance=2", "--out", str(out)]) == 0
    assert np.load(out).shape == (6, 1, 8, 8)


def _one_line_error(capsys, message: str) -> None:
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("args, message", [
    (["--label", "10"], "out of range"),
    (["--label", "1", "--set", "model.guidance=-3"], "model.guidance"),
    (["--label", "1", "--set", "model.conditional=false"], "checkpoint does not fit"),
])
def test_cli_sample_bad_input(digits_run: str, tmp_path, capsys, args, message) -> None:
    out = tmp_path / "s.npy"
    assert main(["sample", digits_run, "--n", "4", *args, "--out", str(out)]) == 2
    _one_line_error(capsys, message)
    assert not out.exists()


def test_cli_unconditional_runs_refuse_labels_and_guidance(tmp_path, capsys) -> None:
    assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2",
                 "--set", "conditional=true", "--out", str(tmp_path / "m")]) == 2
    _one_line_error(capsys, "no class labels")
    assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2",
                 "--set", "guidance=1", "--out", str(tmp_path / "g")]) == 2
    _one_line_error(capsys, "unconditional")
    plain = tmp_path / "plain"
    assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2",
                 "--set", "width=16", "blocks=1", "--out", str(plain)]) == 0
    capsys.readouterr()
    for args, message in ((["--label", "1"], "without labels"),
                          (["--set", "model.guidance=1"], "unconditional")):
        assert main(["sample", str(plain), "--n", "4", *args,
                     "--out", str(tmp_path / "s.npy")]) == 2
        _one_line_error(capsys, message)


def test_data_to_data_flow_refuses_a_density(tmp_path, capsys) -> None:
    """score and an explicitly named nll metric refuse with the reason (exit 2, one line);
    the default metrics still run (without nll)."""
    import genmodels as gm

    run = tmp_path / "d2d"
    assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2", "--set",
                 "source=8gaussians", "source_points=200", "width=16", "blocks=1",
                 "--out", str(run)]) == 0
    pts = tmp_path / "p.npy"
    np.save(pts, np.zeros((5, 2), np.float32))
    capsys.readouterr()
    reason = "its source is an empirical data set"
    assert main(["score", str(run), "--in", str(pts), "--out", str(tmp_path / "s.npy")]) == 2
    _one_line_error(capsys, reason)
    for metrics in ("nll", "w2,nll", "elbo"):
        assert main(["evaluate", str(run), "--metrics", metrics]) == 2
        _one_line_error(capsys, reason)
    loaded = gm.load(run)
    with pytest.raises(InputError, match=reason):
        loaded.evaluate(metrics=["nll"], save=False)
    assert "nll" not in loaded.evaluate(metrics=["w2"], save=False)


def test_label_dropout_is_sharded_so_two_ranks_equal_one_process() -> None:
    """Inside the Trainer's sharded noise, two ranks holding rows 0::2 and 1::2 draw the
    labels, times and source points one process draws for the joined batch: the mean of
    their losses is the one-process loss."""
    from genmodels.core.noise import sharded_noise

    torch.manual_seed(0)
    model, objective = _model(p_uncond=0.5)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 2, generator=g), torch.arange(16) % 3
    with sharded_noise(1234):
        whole = objective(model, Batch(x, y=y)).loss
    parts = []
    for rank in (0, 1):
        with sharded_noise(1234, rank, 2):
            parts.append(objective(model, Batch(x[rank::2], y=y[rank::2])).loss)
    torch.testing.assert_close((parts[0] + parts[1]) / 2, whole, atol=1e-6, rtol=1e-6)


class _AtTheMeans(LabelConditional):
    """Samples exactly the mean of the requested class (the null label: class 0's)."""

    n_classes = 3
    event_shape = (2,)

    def sample(self, n, *, cond=None, generator=None, **options):
        k = torch.zeros(n, dtype=torch.long) if cond is None else cond.clamp(min=0)
        return MEANS[k]


def test_evaluate_draws_a_conditional_model_per_test_label() -> None:
    """A class-conditional model is evaluated against the test marginal: one sample per label
    of half A. A model that puts each class exactly at its mean then has W2 = 0 against test
    points at the means; without labels (the null label) it does not."""
    from genmodels.metrics import evaluate

    labels = torch.arange(300) % 3
    test = MEANS[labels]
    g = torch.Generator().manual_seed(0)
    with_labels = evaluate(_AtTheMeans(), test, metrics=["w2"], generator=g, labels=labels)
    g = torch.Generator().manual_seed(0)
    without = evaluate(_AtTheMeans(), test, metrics=["w2"], generator=g)
    assert with_labels["w2"] < 1e-6 and without["w2"] > 1.0, (with_labels, without)
    with pytest.raises(InputError, match="test labels"):
        evaluate(_AtTheMeans(), test, metrics=["w2"], labels=labels[:10])


def test_cli_evaluate_of_a_conditional_run(digits_run: str, capsys) -> None:
    """``genmodels evaluate`` of a conditional run samples per test label and reports."""
    import json

    assert main(["evaluate", digits_run, "--json", "--metrics", "w2"]) == 0
    assert json.loads(capsys.readouterr().out)["w2"] > 0


def test_cli_score_with_labels_gives_the_conditional_density(digits_run: str, tmp_path,
                                                             capsys) -> None:
    """``score --label`` / ``--labels`` equal ``model.log_prob(x, cond=…)`` in data units;
    without labels the null label's density; bad labels exit 2 in one line, no file."""
    import genmodels as gm

    run = gm.load(digits_run)
    x = run.dataset().test[:4]
    pts, lab = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(pts, x.numpy())
    np.save(lab, np.array([0, 3, 3, 9]))
    out = tmp_path / "lp.npy"
    assert main(["score", digits_run, "--in", str(pts), "--labels", str(lab),
                 "--out", str(out)]) == 0
    per_point = torch.from_numpy(np.load(out))
    torch.testing.assert_close(per_point, run.log_prob(x, label=torch.tensor([0, 3, 3, 9])))
    assert main(["score", digits_run, "--in", str(pts), "--label", "3", "--out", str(out)]) == 0
    one = torch.from_numpy(np.load(out))
    # the adaptive solver's steps are shared by the batch: other rows' labels move them a bit
    torch.testing.assert_close(one[1:3], per_point[1:3], rtol=1e-3, atol=1e-3)
    assert not torch.allclose(one[[0, 3]], per_point[[0, 3]], rtol=1e-3, atol=1e-3)
    assert main(["score", digits_run, "--in", str(pts), "--out", str(out)]) == 0
    torch.testing.assert_close(torch.from_numpy(np.load(out)),
                               run.log_prob(x, label=NULL_LABEL))
    capsys.readouterr()
    np.save(lab, np.array([0, 3, 3]))
    np.save(tmp_path / "frac.npy", np.array([0, 3.5, 3, 1]))
    for args, message in ((["--labels", str(lab)], "expected (4,)"),
                          (["--labels", str(tmp_path / "frac.npy")], "whole numbers"),
                          (["--label", "10"], "out of range")):
        bad = tmp_path / "bad.npy"
        assert main(["score", digits_run, "--in", str(pts), *args, "--out", str(bad)]) == 2
        _one_line_error(capsys, message)
        assert not bad.exists()


def test_score_label_on_an_unconditional_run_is_refused(tmp_path, capsys) -> None:
    plain = tmp_path / "plain"
    assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2",
                 "--set", "width=16", "blocks=1", "--out", str(plain)]) == 0
    pts = tmp_path / "p.npy"
    np.save(pts, np.zeros((3, 2), np.float32))
    capsys.readouterr()
    assert main(["score", str(plain), "--in", str(pts), "--label", "0",
                 "--out", str(tmp_path / "s.npy")]) == 2
    _one_line_error(capsys, "without labels")
