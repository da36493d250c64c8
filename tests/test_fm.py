"""Flow matching (cfm, ot-cfm): interpolants, couplings, the exact Gaussian velocity field as
an oracle (sampling and likelihood by the shared integrals), learning, and the CLI."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from torch import Tensor, nn

from genmodels.distributions import StandardNormal
from genmodels.errors import InputError
from genmodels.families.fm.model import DensityFlowMatching, FlowMatching
from genmodels.families.fm.objective import ConditionalFlowMatching
from genmodels.paths import make_coupling, make_interpolant
from genmodels.paths.couplings import exact_assignment

MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
S = torch.tensor([0.4, 1.3], dtype=torch.float64)


class GaussianField(nn.Module):
    r"""The exact marginal velocity of the linear path between data :math:`N(\mu, s^2)` (t = 0)
    and a standard-normal source (t = 1): with :math:`x_t = (1-t)x_0 + t\varepsilon`,
    :math:`E[u|x_t] = -\mu + \frac{t - (1-t)s^2}{(1-t)^2 s^2 + t^2}(x - (1-t)\mu)`."""

    def __init__(self, shift: float = 0.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.shift = shift

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        t = t.to(x.dtype).reshape(-1, 1)
        v = (1 - t) ** 2 * S**2 + t**2
        return -MU + (t - (1 - t) * S**2) / v * (x - (1 - t) * MU) + self.shift + 0 * self.w


def _oracle(**kw) -> DensityFlowMatching:
    return DensityFlowMatching(GaussianField(**kw), make_interpolant("linear"),
                               StandardNormal((2,)), (2,), sampler="rk4", nfe=200,
                               likelihood_solver="rk4", likelihood_steps=100).double()


@pytest.mark.parametrize("name", ["linear", "cosine", "vp", "bridge", "tube"])
def test_interpolants_end_at_data_and_source_and_derivatives_match_autograd(name: str) -> None:
    path = make_interpolant(name)
    t = torch.linspace(max(path.t_min, 0.05), min(path.t_max, 0.95), 7, dtype=torch.float64)
    t.requires_grad_(True)
    for f, df in ((path.alpha, path.d_alpha), (path.sigma, path.d_sigma)):
        (g,) = torch.autograd.grad(f(t).sum(), t)
        torch.testing.assert_close(df(t.detach()), g, atol=1e-6, rtol=1e-6)
    if name in ("linear", "cosine"):
        ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
        torch.testing.assert_close(path.alpha(ends), torch.tensor([1.0, 0.0], dtype=torch.float64))
        torch.testing.assert_close(path.sigma(ends), torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_tube_is_a_constant_width_gaussian_around_the_line() -> None:
    """``tube``: x_t − ((1 − t) x_data + t x_src) = s·z exactly, u_t = x_src − x_data for
    every t (the constant width adds nothing to the velocity), refused without z and for a
    non-positive width; a non-velocity target is refused for it as for every stochastic path."""
    path = make_interpolant("tube", bridge_scale=0.3)
    g = torch.Generator().manual_seed(0)
    xd, xs, z = (torch.randn(5, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t = torch.rand(5, generator=g, dtype=torch.float64)
    xt, ut = path.sample(xd, xs, t, z)
    torch.testing.assert_close(xt - ((1 - t[:, None]) * xd + t[:, None] * xs), 0.3 * z)
    torch.testing.assert_close(ut, xs - xd)
    assert path.stochastic and (path.t_min, path.t_max) == (0.0, 1.0)
    with pytest.raises(InputError, match="bridge noise"):
        path.sample(xd, xs, t)
    with pytest.raises(InputError, match="scale"):
        make_interpolant("tube", bridge_scale=0.0)
    with pytest.raises(InputError, match="only the velocity target"):
        FlowMatching(nn.Linear(3, 2), path, StandardNormal((2,)), (2,), prediction="noise")


def test_exact_coupling_is_the_optimal_permutation() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    cost = torch.cdist(x.double(), y.double()).square()
    best = min(itertools.permutations(range(6)),
               key=lambda p: float(cost[torch.arange(6), torch.tensor(p)].sum()))
    assert exact_assignment(cost).tolist() == list(best)
    xd, ys = make_coupling("exact")(x, y)
    indep = (x - y).square().sum(1).mean()
    assert (xd - ys).square().sum(1).mean() <= indep + 1e-6


def test_exact_coupling_reaches_the_optimal_transport_cost_of_scipy() -> None:
    """On random batches (2-D and 5-D, n = 64) the coupled pairs' total cost equals the
    assignment optimum of scipy's Hungarian solver, an independent exact solver."""
    from scipy.optimize import linear_sum_assignment

    g = torch.Generator().manual_seed(1)
    for d in (2, 5, 2):
        x, y = torch.randn(64, d, generator=g), 2 * torch.randn(64, d, generator=g) + 1
        xd, ys = make_coupling("exact")(x, y)
        c = torch.cdist(x.double(), y.double()).square().numpy()
        r, j = linear_sum_assignment(c)
        assert sorted(ys.tolist()) == sorted(y.tolist())  # a permutation of the source
        ours = (xd.double() - ys.double()).square().sum().item()
        assert abs(ours - c[r, j].sum()) < 1e-6 * c[r, j].sum(), d


def test_the_exact_gaussian_field_samples_the_data_and_scores_its_density() -> None:
    """Oracle: the closed-form marginal velocity, integrated by the shared solvers (rk4),
    carries N(0, I) to N(mu, s^2); its log-likelihood by the shared divergence integral is
    log N(x; mu, s^2)."""
    model = _oracle()
    x = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.mean(0), MU, atol=0.03, rtol=0)
    torch.testing.assert_close(x.std(0), S, atol=0.03, rtol=0)
    pts = MU + S * torch.randn(64, 2, generator=torch.Generator().manual_seed(1),
                               dtype=torch.float64)
    with torch.no_grad():
        lp = model.log_prob(pts)
    exact = (-0.5 * ((pts - MU) / S).square() - S.log() - 0.5 * math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(lp, exact, atol=2e-4, rtol=0)


def test_the_cfm_loss_is_smallest_at_the_exact_field() -> None:
    """The CFM regression target's conditional mean is the marginal field: the loss at the
    exact field is below the loss at shifted fields (same seeded batches)."""
    from genmodels.core import Batch

    data = MU + S * torch.randn(40_000, 2, generator=torch.Generator().manual_seed(2),
                                dtype=torch.float64)
    losses = []
    for shift in (0.0, 0.1, -0.1):
        torch.manual_seed(3)
        out = ConditionalFlowMatching()(_oracle(shift=shift), Batch(data))
        losses.append(float(out.loss.detach()))
    assert losses[0] < losses[1] and losses[0] < losses[2]
    # the loss is a mean over coordinates: a shift c adds exactly c^2 in expectation
    assert abs((losses[1] - losses[0]) - 0.01) < 0.001


@pytest.mark.parametrize("k", [1.0, 3.0])
def test_time_power_draws_t_as_u_to_the_k_and_keeps_the_exact_field_the_minimiser(
        k: float) -> None:
    """``time_power`` k: the training times are u^k (mean 1/(k + 1), median 2^(-k)); the
    loss at the exact field is still below the loss at shifted fields."""
    from genmodels.core import Batch

    data = MU + S * torch.randn(40_000, 2, generator=torch.Generator().manual_seed(2),
                                dtype=torch.float64)
    model, seen = _oracle(), []
    predict = model.predict
    model.predict = lambda x, t, *a, **kw: seen.append(t) or predict(x, t, *a, **kw)
    losses = []
    for shift in (0.0, 0.1):
        model.net.shift = shift
        torch.manual_seed(3)
        losses.append(float(ConditionalFlowMatching(time_power=k)(model, Batch(data)).loss))
    t = seen[0]
    assert abs(float(t.mean()) - 1 / (k + 1)) < 0.01
    assert abs(float(t.median()) - 0.5**k) < 0.01
    assert losses[0] < losses[1]
    with pytest.raises(ValueError, match="time_power"):
        ConditionalFlowMatching(time_power=0.0)


def _fit(tmp_path, model: str, steps: int = 300) -> dict:
    import genmodels as gm

    run = gm.fit({"model": {"name": model, "width": 64, "blocks": 2},
                  "data": {"name": "moons", "n_train": 4000, "n_val": 500, "n_test": 2000},
                  "train": {"steps": steps, "batch_size": 256, "lr": 3e-3, "threads": 1,
                            "log_every": 50}},
                 out=tmp_path / model, progress=False)
    return run


def test_cfm_and_ot_cfm_learn_moons_and_ot_paths_are_straighter(tmp_path) -> None:
    """Seeded 300-step runs on moons: NLL (dopri5, exact trace) below 3.0 nats and W2 to the
    test data below 0.4 (measured: cfm 2.64 / 0.22); OT-CFM couples pairs of lower transport
    cost and its sampling paths are straighter (normalised path energy)."""
    from genmodels.report.diagnostics import path_straightness

    energy, cost = {}, {}
    for name in ("cfm", "ot-cfm"):
        run = _fit(tmp_path, name)
        test = run.dataset().test.float()
        with torch.no_grad():
            nll = -run.log_prob(test[:500]).mean().item()
        assert nll < 3.0, (name, nll)
        from genmodels.divergences import wasserstein2

        x = run.sample(1000, seed=0)
        assert float(wasserstein2(x.float(), test[:1000])) < 0.4, name
        states = run.family_model.trajectory(500, generator=torch.Generator().manual_seed(0),
                                             nfe=40)
        energy[name] = path_straightness(states)
        recs = [json.loads(line) for line in
                (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        cost[name] = [r["transport_cost"] for r in recs if "transport_cost" in r][-1]
    assert cost["ot-cfm"] < 0.6 * cost["cfm"], cost
    assert energy["ot-cfm"] < energy["cfm"], energy


def test_cli_train_sample_score_and_bad_input(tmp_path) -> None:
    from genmodels.cli import main

    out = tmp_path / "run"
    assert main(["train", "--model", "cfm", "--data", "8gaussians", "--steps", "20",
                 "--set", "width=16", "blocks=1", "--out", str(out), "--no-progress"]) == 0
    pts = tmp_path / "x.npy"
    assert main(["sample", str(out), "--n", "50", "--sampler", "euler", "--nfe", "10",
                 "--out", str(pts)]) == 0
    import numpy as np

    assert np.load(pts).shape == (50, 2)
    assert main(["score", str(out), "--in", str(pts), "--out", str(tmp_path / "s.npy")]) == 0
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()
    assert main(["sample", str(out), "--n", "5", "--nfe", "0", "--out",
                 str(tmp_path / "bad.npy")]) == 2
    assert not (tmp_path / "bad.npy").exists()
    for bad in ("path=nope", "coupling=nope", "source=nope", "prediction=nope",
                "time_power=0"):
        d = tmp_path / f"bad-{bad.split('=')[0]}"
        assert main(["train", "--model", "cfm", "--data", "moons", "--steps", "2",
                     "--set", bad, "--out", str(d), "--no-progress"]) == 2, bad
        assert not d.exists()
