"""The latent-variable family from the CLI and the API: bad input, encode/decode, grad-var,
evaluate's report, BBVI, priors and decoders on toys and images."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

import genmodels as gm
from conftest import genmodels_cmd
from genmodels.cli import main
from genmodels.families.vae import VAE, importance_weighted

TRAIN = ["--data", "moons", "--steps", "20", "--batch-size", "32", "--set", "data.n_train=256",
         "--set", "data.n_test=64", "--no-progress"]


@pytest.mark.parametrize("bad", [
    ["--model", "vae", "--set", "estimator=score"],
    ["--model", "vae", "--set", "inference=mcmc"],
    ["--model", "iwae", "--set", "samples=0"],
    ["--model", "vae", "--set", "eval_samples=-1"],
    ["--model", "vae", "--set", "latent=3"],
    ["--model", "vae", "--set", "estimator=reinforce-loo"],  # K = 1: no leave-one-out
    ["--model", "vae", "--set", "prior=nonsense"],
    ["--model", "vae", "--set", "decoder=categorical"],  # continuous data
])
def test_bad_input_is_one_line_and_exit_2(bad: list[str], tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", *bad, *TRAIN, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genmodels: error:"), lines
    assert not out.exists()


def test_bad_input_exit_code_of_the_process(tmp_path, cli_env) -> None:
    out = tmp_path / "run"
    p = subprocess.run([*genmodels_cmd(), "train", "--model", "iwae", "--set", "samples=0",
                        *TRAIN, "--out", str(out)],
                       capture_output=True, text=True, env=cli_env, timeout=120)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "model.samples" in p.stderr and not out.exists()


def test_encode_decode_grad_var_and_evaluate(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--model", "vae", *TRAIN, "--set", "eval_samples=64",
                 "--set", "refine_steps=5", "--out", str(run)]) == 0
    x = np.random.default_rng(0).normal(size=(7, 2)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    assert main(["encode", str(run), "--in", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (7, 2) and np.isfinite(z).all()
    assert main(["decode", str(run), "--in", str(tmp_path / "z.npy"),
                 "--out", str(tmp_path / "xr.npy")]) == 0
    assert np.load(tmp_path / "xr.npy").shape == (7, 2)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "nll,elbo,latent", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["iw_k"] == 64 and 1 <= r["iw_ess"] <= 64
    assert r["nll"] <= r["nll_bound"] + 3 * r["nll_bound_se"]
    assert "amortisation_gap" in r and abs(r["bound_gap"] - (r["nll_bound"] - r["nll"])) < 1e-6
    assert main(["grad-var", str(run), "--repeats", "20", "--batch", "16", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ratio = {row["estimator"]: row["ratio"] for row in rows}
    assert ratio["reparam"] == 1.0 and ratio["reinforce"] > 1.0
    # latent codes of the wrong size, and a decode of a non-VAE run: one line, exit 2
    np.save(tmp_path / "z3.npy", np.zeros((2, 3), "float32"))
    assert main(["decode", str(run), "--in", str(tmp_path / "z3.npy"),
                 "--out", str(tmp_path / "o.npy")]) == 2
    assert main(["grad-var", str(run), "--estimators", "pathwise"]) == 2


@pytest.mark.parametrize("overrides", [
    ["inference=bbvi", "local_steps=3", "refine_steps=5", "estimator=reinforce-baseline"],
    ["prior=mixture", "encoder=full", "kl=mc", "variance=fixed", "beta=0.5", "warmup=10"],
    ["prior=realnvp", "objective=iwae", "samples=4", "estimator=reinforce-loo"],
])
def test_variants_train_and_score(overrides: list[str]) -> None:
    run = gm.fit(model={"name": "vae"}, data={"name": "moons", "n_train": 256, "n_test": 32},
                 train={"steps": 15, "batch_size": 32}, overrides=[*overrides, "eval_samples=16"])
    x = run.dataset().test[:8]
    lp, lb = run.log_prob(x), run.log_prob(x, bound=True)
    assert lp.shape == (8,) and torch.isfinite(lp).all() and torch.isfinite(lb).all()
    assert run.sample(5, seed=0).shape == (5, 2)


def test_digits_with_a_categorical_decoder_learns() -> None:
    """On 8×8 digits (17 levels, not standardised) the categorical decoder's bits/dim fall well
    below the uniform ``log2 17 = 4.09`` in 150 steps; IW ≤ ELBO as NLL."""
    run = gm.fit(model={"name": "vae"}, data={"name": "digits"},
                 train={"steps": 150, "batch_size": 64}, overrides=["eval_samples=100",
                                                                  "hidden=[64, 64]"])
    assert run.standardize.is_identity
    m = run.evaluate(metrics=["nll", "elbo"], save=False)
    assert m["bpd"] < 3.2 and m["nll"] <= m["nll_bound"] + 1e-6 + 3 * m["nll_bound_se"]
    s = run.sample(4, seed=0)
    assert s.shape == (4, 1, 8, 8) and (s >= 0).all() and (s < 17).all()
    from genmodels.families.vae.evaluate.probe import linear_probe

    probe = linear_probe(run)
    assert probe["probe_accuracy"] > 2 * probe["probe_chance"]


def test_conv_networks_and_logistic_decoder_on_images() -> None:
    run = gm.fit(model={"name": "iwae"}, data={"name": "digits"},
                 train={"steps": 5, "batch_size": 16},
                 overrides=["network=conv", "channels=8", "decoder=logistic", "samples=3",
                            "eval_samples=8"])
    model = run.family_model
    assert isinstance(model, VAE)
    x = run.dataset().test[:4]
    est = importance_weighted(model, x, 20, chunk=10)
    assert torch.isfinite(est.log_prob).all() and est.k == 20
    assert model.decode(model.encode(x)).shape == (4, 1, 8, 8)
