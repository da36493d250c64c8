"""Class-conditional models trained with ``p_uncond = 0``: their null label is untrained, so
without labels they sample and score the label mixture sum_c pi_c p(x | c), with pi the label
frequencies counted in training. Oracles in closed form (diffusion's exact per-class score,
flow matching's exact per-class Gaussian velocity), the counting, the refusals, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import genmodels as gm
from genmodels.cli import main
from genmodels.core import Batch
from genmodels.core.model import with_label_counts
from genmodels.distributions import StandardNormal
from genmodels.errors import InputError
from genmodels.families.diffusion import ScoreDiffusion
from genmodels.families.fm import CFMConfig, build_cfm
from genmodels.families.fm.model import DensityFlowMatching
from genmodels.paths import VP, GaussianMixture, make_interpolant
from genmodels.registry import DataInfo

# --- diffusion: the exact per-class score (the null label gets the equal-weight mixture) ---
MEANS = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.5]], dtype=torch.float64)
COVS = torch.stack([torch.eye(2) * 0.3, torch.eye(2) * 0.35, torch.eye(2) * 0.4]).double()
COUNTS = torch.tensor([6, 3, 1])


class ClassScoreNet(nn.Module):
    """Predicts the noise -sigma_t * grad log q_t(x | c) of per-class Gaussians exactly; for the
    null label, that of the equal-weight mixture (what an unweighted null label would learn)."""

    def __init__(self, sde: VP) -> None:
        super().__init__()
        self.sde = sde
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        x64 = x.double()
        labels = torch.full((x.shape[0],), -1) if cond is None else cond.long()
        out = torch.empty_like(x64)
        for tv in t.unique():
            m = t == tv
            a, s = float(self.sde.alpha(tv)), float(self.sde.sigma(tv))
            for k in labels[m].unique().tolist():
                mk = m & (labels == k)
                dist = (GaussianMixture(MEANS, COVS) if k < 0
                        else GaussianMixture(MEANS[k:k + 1], COVS[k:k + 1]))
                out[mk] = -s * dist.score(x64[mk], a, s)
        return out.to(x.dtype) + 0 * self.w


def _diffusion(null_label: bool = False) -> ScoreDiffusion:
    sde = VP()
    model = ScoreDiffusion(ClassScoreNet(sde), sde, (2,), precondition=False, n_classes=3,
                           null_label=null_label).double()
    model.label_counts.copy_(COUNTS)
    return model


def test_diffusion_log_prob_without_labels_is_the_weighted_mixture_density() -> None:
    """PF-ODE log p(x) of the p_uncond = 0 model equals log sum_c pi_c N(x; mu_c, S_c) with
    pi = (0.6, 0.3, 0.1) from the counts, within the solver's error; the null label's density
    (the equal-weight mixture) is further away than that tolerance (the test has power)."""
    model = _diffusion()
    target = GaussianMixture(MEANS, COVS, COUNTS.double())
    x = target.sample(24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        lp = model.log_prob(x)
        per = torch.stack([model.log_prob(x, cond=torch.full((24,), c)) for c in range(3)])
    exact = target.log_prob(x)
    assert (lp - exact).abs().max() < 0.02, (lp - exact).abs().max()
    torch.testing.assert_close(lp, torch.logsumexp(per + COUNTS.double().log()[:, None]
                                                   - math.log(10), 0))
    equal = GaussianMixture(MEANS, COVS).log_prob(x)
    assert (equal - exact).abs().max() > 0.1
    with torch.no_grad():  # the model that did train its null label scores it
        torch.testing.assert_close(_diffusion(null_label=True).log_prob(x), equal,
                                   atol=0.02, rtol=0)


def test_diffusion_bound_without_labels_is_the_mixture_of_class_bounds() -> None:
    model = _diffusion()
    x = GaussianMixture(MEANS, COVS).sample(8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        lb = model.log_prob_bound(x)
        per = torch.stack([model.log_prob_bound(x, cond=torch.full((8,), c)) for c in range(3)])
    torch.testing.assert_close(lb, torch.logsumexp(per + model.label_log_prior()[:, None], 0))


def test_diffusion_samples_without_labels_draw_the_class_first() -> None:
    """The unlabelled sample is, draw for draw, the conditional sample of labels drawn from pi
    by the same generator; 3 000 of them hit the classes in proportion 0.6 / 0.3 / 0.1."""
    model = _diffusion()
    s = model.sample(500, sampler="em", nfe=20,
                     generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    labels = torch.multinomial(torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64), 500,
                               replacement=True, generator=g)
    ref = model.sample(500, cond=labels, sampler="em", nfe=20, generator=g)
    torch.testing.assert_close(s, ref)
    x = model.sample(3000, nfe=20, generator=torch.Generator().manual_seed(4))
    per = torch.stack([GaussianMixture(MEANS[k:k + 1], COVS[k:k + 1]).log_prob(x.double())
                       for k in range(3)], 1)
    frac = torch.bincount(per.argmax(1), minlength=3).double() / 3000
    torch.testing.assert_close(frac, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64),
                               atol=0.04, rtol=0)


# --- flow matching: the exact per-class Gaussian velocity on the linear path ---------------
MU = torch.tensor([[2.0, 0.0], [-2.0, 1.0]], dtype=torch.float64)
S = torch.tensor([0.5, 0.7], dtype=torch.float64)


class ClassGaussianField(nn.Module):
    """The marginal velocity of the linear path from N(mu_c, s^2) (t = 0) to N(0, I); the null
    label gets a field to N(0, s^2) (wrong on purpose: it must not be used)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        t = t.to(x.dtype).reshape(-1, 1)
        labels = torch.full((x.shape[0],), -1) if cond is None else cond.long()
        mu = torch.where((labels >= 0)[:, None], MU[labels.clamp_min(0)], torch.zeros(2))
        v = (1 - t) ** 2 * S**2 + t**2
        return -mu + (t - (1 - t) * S**2) / v * (x - (1 - t) * mu) + 0 * self.w


def test_flow_matching_log_prob_without_labels_is_the_weighted_mixture() -> None:
    model = DensityFlowMatching(ClassGaussianField(), make_interpolant("linear"),
                                StandardNormal((2,)), (2,), sampler="rk4", nfe=80,
                                likelihood_solver="rk4", likelihood_steps=100, n_classes=2,
                                null_label=False).double()
    model.label_counts.copy_(torch.tensor([3, 1]))
    target = GaussianMixture(MU, torch.diag_embed(S.square()).expand(2, 2, 2).clone(),
                             torch.tensor([3.0, 1.0]))
    x = target.sample(32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        lp = model.log_prob(x)
    torch.testing.assert_close(lp, target.log_prob(x), atol=2e-3, rtol=0)
    s = model.sample(4000, generator=torch.Generator().manual_seed(1))
    frac = float((s[:, 0] > 0).double().mean())  # class 0 sits at x = +2, class 1 at -2
    assert abs(frac - 0.75) < 0.03, frac
    model.label_counts.zero_()  # no counts: the uniform prior
    torch.testing.assert_close(model.label_log_prior(),
                               torch.full((2,), -math.log(2), dtype=torch.float64))


def _cfm(**kw):
    cfg = CFMConfig(**{"conditional": True, "width": 16, "blocks": 1, "nfe": 4, **kw})
    return build_cfm(cfg, DataInfo((2,), n_classes=3))


def test_training_steps_count_the_true_labels_only() -> None:
    """Counts are the labels before dropout, in training steps only (not under no_grad or in
    eval mode); the builder sets null_label from p_uncond."""
    for p in (0.0, 0.5):
        model, objective = _cfm(p_uncond=p)
        assert model.null_label == (p > 0)
        y = torch.tensor([0, 2, 2, 1, 2, 0, 2])
        batch = Batch(torch.randn(7, 2), y=y)
        objective(model, batch).loss.backward()
        assert model.label_counts.tolist() == [2, 1, 4]
        with torch.no_grad():
            objective(model, batch)
        model.eval()
        objective(model, batch)
        assert model.label_counts.tolist() == [2, 1, 4]


def test_guidance_is_refused_when_the_null_label_is_untrained() -> None:
    model, _ = _cfm(p_uncond=0.0)
    with pytest.raises(InputError, match="p_uncond=0"):
        model.sample(4, cond=torch.zeros(4, dtype=torch.long), guidance=1.0)
    diffusion = _diffusion()
    with pytest.raises(InputError, match="p_uncond=0"):
        diffusion.sample(4, cond=torch.zeros(4, dtype=torch.long), guidance=1.0)


def test_a_checkpoint_without_counts_loads_with_a_uniform_prior() -> None:
    model, _ = _cfm(p_uncond=0.0)
    state = {k: v for k, v in model.state_dict().items() if k != "label_counts"}
    with pytest.raises(RuntimeError, match="label_counts"):
        model.load_state_dict(state)
    model.load_state_dict(with_label_counts(model, state))
    assert model.label_counts.sum() == 0


def test_cli_score_of_a_p_uncond_0_run_is_the_label_mixture(tmp_path, capsys) -> None:
    """A digits run with p_uncond=0: its counts hold the training labels it saw; ``score``
    without labels equals logsumexp_c [log pi_c + score --label c]; ``--set model.guidance``
    exits 2 in one line."""
    out = tmp_path / "run"
    assert main(["train", "--model", "cfm", "--data", "digits", "--steps", "3",
                 "--batch-size", "16", "--set", "conditional=true", "p_uncond=0",
                 "width=16", "blocks=1", "likelihood_solver=euler", "likelihood_steps=2",
                 "--out", str(out)]) == 0
    run = gm.load(out)
    counts = run.family_model.label_counts
    assert int(counts.sum()) == 3 * 16 and int((counts > 0).sum()) > 1
    x = run.dataset().test[:3]
    pts, lp = tmp_path / "x.npy", tmp_path / "lp.npy"
    np.save(pts, x.numpy())
    assert main(["score", str(out), "--in", str(pts), "--out", str(lp)]) == 0
    per = torch.stack([run.log_prob(x, label=c) for c in range(10)])
    prior = run.family_model.label_log_prior().float()
    torch.testing.assert_close(torch.from_numpy(np.load(lp)),
                               torch.logsumexp(per + prior[:, None], 0))
    capsys.readouterr()
    bad = tmp_path / "s.npy"
    assert main(["sample", str(out), "--label", "1", "--n", "2", "--set", "model.guidance=1",
                 "--out", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "p_uncond=0" in err and len(err.splitlines()) == 1
    assert not bad.exists()
