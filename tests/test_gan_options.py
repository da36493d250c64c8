"""GAN training options: EMA generator weights, PacGAN packing, f-GAN bound, the CLI."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import genmodels as gm
from conftest import ROOT, genmodels_cmd
from genmodels.core import Batch
from genmodels.errors import InputError
from genmodels.families.gan import GAN, gradient_penalty
from genmodels.registry import DataInfo, get_family

TINY = {"latent": 2, "hidden": (8,), "critic_hidden": (6,)}


def test_a_run_without_a_store_samples_with_the_closed_form_ema_of_the_generator() -> None:
    """θ̄_n = d_n θ̄_{n-1} + (1 - d_n) θ_n, d_n = min(d, (1 + n)/(10 + n)), over the weights
    after each generator step (the run keeps no checkpoint, so the average is in memory)."""
    history: list[torch.Tensor] = []
    first: list[torch.Tensor] = []

    def post(opt, args, kwargs):  # the generator phase's optimiser holds the generator
        w = opt.param_groups[0]["params"][0]
        if w.shape == (8, 2):  # the generator's first layer (the critic's is (6, 2))
            history.append(w.detach().clone())

    handle = register_optimizer_step_post_hook(post)
    try:
        torch.manual_seed(0)  # gm.fit seeds the build with train.seed = 0
        first.append(get_family("ns-gan").build(get_family("ns-gan").config(**TINY),
                                                DataInfo((2,)))[0].generator.layers[0].weight)
        run = gm.fit(model={"name": "ns-gan", **TINY},
                     data={"name": "ring8", "n_train": 512, "n_val": 0, "n_test": 64},
                     train={"steps": 15, "batch_size": 32, "ema_decay": 0.9, "seed": 0,
                            "checkpoint_every": 0, "device": "cpu"}, progress=False)
    finally:
        handle.remove()
    gen_steps = history
    assert len(gen_steps) == 15
    avg = first[0].detach().clone()
    for n, w in enumerate(gen_steps, start=1):
        d = min(0.9, (1 + n) / (10 + n))
        avg = d * avg + (1 - d) * w
    got = run.family_model.generator.layers[0].weight.detach()
    torch.testing.assert_close(got, avg, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, gen_steps[-1])


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_packing_concatenates_m_points_per_critic_input(shape: tuple[int, ...]) -> None:
    fam = get_family("wgan-gp")
    model, obj = fam.build(fam.config(pack=4, channels=8), DataInfo(shape))
    x = torch.randn(10, *shape)
    p = model.packed(x)
    if len(shape) == 1:
        assert p.shape == (2, 8)
        assert torch.equal(p[1], x[4:8].reshape(-1))
    else:
        assert p.shape == (2, 4, 8, 8)
        assert torch.equal(p[1, 2], x[6, 0])
    assert model.critic_out(x).shape == (2,)  # 10 points: the last 2 are left out
    for ph in obj.phases:
        out = obj(model, Batch(x), ph.name)
        out.loss.backward()
        assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="cannot be packed"):
        model.critic_out(torch.randn(3, *shape))


def test_gradient_penalty_of_a_pack_is_on_the_whole_pack() -> None:
    class Linear(torch.nn.Module):  # V(x) = 3·Σ x over a pack of 2 points in R^2
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 3.0 * x.sum(1, keepdim=True)

    lin = GAN(torch.nn.Identity(), Linear(), 2, (2,), pack=2)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    # the gradient is 3 in each of the 4 coordinates of a pack: norm 6, penalty 25
    assert float(gradient_penalty(lin, real, fake)) == pytest.approx(25.0, rel=1e-6)
    one = GAN(torch.nn.Identity(), Linear(), 2, (2,), pack=1)
    assert float(gradient_penalty(one, real, fake)) == pytest.approx((3 * 2 ** 0.5 - 1) ** 2,
                                                                     rel=1e-6)


def test_bad_pack_values_are_input_errors() -> None:
    for name, pack, needle in (("ns-gan", 0, ">= 1"), ("mmd-gan", 2, "critic games")):
        fam = get_family(name)
        with pytest.raises(InputError, match=f"model.pack.*{needle}"):
            fam.build(fam.config(pack=pack), DataInfo((2,)))


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    return subprocess.run([*genmodels_cmd(), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_pack_and_ema_are_reachable_from_the_cli_and_bad_values_exit_2(tmp_path: Path) -> None:
    base = ["train", "--model", "wgan-gp", "--data", "ring8", "--steps", "3",
            "--batch-size", "16", "--set", "hidden=[8]", "critic_hidden=[8]",
            "train.checkpoint_every=0"]
    p = _cli([*base, "--set", "pack=2", "train.ema_decay=0.99", "--out", str(tmp_path / "ok")])
    assert p.returncode == 0, p.stderr
    cfg = (tmp_path / "ok" / "config.json").read_text()
    assert '"pack": 2' in cfg and '"ema_decay": 0.99' in cfg
    for setting, needle in (("pack=0", "model.pack"), ("train.ema_decay=1.5", "ema_decay")):
        p = _cli([*base, "--set", setting, "--out", str(tmp_path / "bad")])
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        assert p.returncode == 2 and len(lines) == 1 and needle in lines[0], p.stderr
        assert not (tmp_path / "bad").exists()


def test_fgan_bound_squashes_the_critic_output_before_the_activation() -> None:
    from genmodels.divergences.fdiv import F_DIVERGENCES
    from genmodels.families.gan.losses import f_gan

    d = F_DIVERGENCES["neyman"]
    vr = torch.tensor([0.3, 40.0, -2.0], dtype=torch.float64)
    vf = torch.tensor([-500.0, 1.0, 0.0], dtype=torch.float64)
    b = 3.0
    game = f_gan("neyman", bound=b)
    sr, sf = b * torch.tanh(vr / b), b * torch.tanh(vf / b)
    expected = d.conjugate_of_activation(sf).mean() - d.activation(sr).mean()
    assert float(game.critic(vr, vf)) == pytest.approx(float(expected), rel=1e-12)
    assert float(game.generator(vf)) == pytest.approx(
        float(-d.conjugate_of_activation(sf).mean()), rel=1e-12)
    # unbounded, an output of -500 is worth ~ 1e15 to the critic (e^{v/2}, continued
    # linearly past e^30); bounded, the game stays within what the squashed range allows
    free = f_gan("neyman").critic(vr.float(), vf.float())
    assert abs(float(free)) > 1e12
    assert abs(float(game.critic(vr.float(), vf.float()))) < 2 * (1 + math.exp(b))
    fam = get_family("fgan")
    with pytest.raises(InputError, match="model.bound"):
        fam.build(fam.config(divergence="neyman", bound=-1.0), DataInfo((2,)))
    gan, _ = fam.build(fam.config(divergence="pearson", bound=5.0, **TINY), DataInfo((2,)))
    assert isinstance(gan, GAN)


def test_pearson_conjugate_is_flat_below_minus_two() -> None:
    # over u >= 0 the supremum of u t - (u - 1)^2 is -1 for t <= -2 (u = 0): an f-GAN
    # generator gains nothing by moving where the critic calls its points very fake
    from genmodels.divergences.fdiv import F_DIVERGENCES

    d = F_DIVERGENCES["pearson"]
    t = torch.tensor([-50.0, -4.0, -2.0, 0.0, 2.0], dtype=torch.float64)
    assert torch.allclose(d.conjugate_of_activation(t),
                          torch.tensor([-1.0, -1.0, -1.0, 0.0, 3.0], dtype=torch.float64))
