"""The CLI contract end to end: train → sample → score → evaluate, exit codes, no partial files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import genmodels_cmd

SMALL = ["--set", "layers=2", "hidden=[32, 32]", "--batch-size", "64"]


def gm(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([*genmodels_cmd(), *args], capture_output=True, text=True, env=env,
                       timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"genmodels {' '.join(args)} -> {p.returncode}\n{p.stderr}")
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import os

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    train = (rng.multivariate_normal([3.0, -2.0], cov * 4, size=3000)).astype("float32")
    test = (rng.multivariate_normal([3.0, -2.0], cov * 4, size=500)).astype("float32")
    np.save(d / "train.npy", train)
    np.save(d / "test.npy", test)
    gm(["train", "--model", "realnvp", "--data", str(d / "train.npy"), "--steps", "300",
        "--seed", "0", "--out", str(d / "run"), *SMALL], env)
    return {"dir": d, "run": d / "run", "env": env}  # type: ignore[dict-item]


def test_run_directory_layout(trained: dict) -> None:
    run = trained["run"]
    for name in ("config.json", "data.json", "standardize.safetensors", "metrics.jsonl"):
        assert (run / name).is_file(), name
    ckpts = run / "checkpoints"
    last = json.loads((ckpts / "last.json").read_text())
    assert (ckpts / last["dir"] / "model.safetensors").is_file()
    assert (ckpts / last["dir"] / "state.pt").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["name"] == "realnvp" and cfg["model"]["layers"] == 2


def test_sample_shape_and_units(trained: dict) -> None:
    out = trained["dir"] / "s.npy"
    gm(["sample", str(trained["run"]), "--n", "2000", "--seed", "1", "--out", str(out)],
       trained["env"])
    x = np.load(out)
    assert x.shape == (2000, 2)
    # samples come back in data units (the data has mean (3, -2) and std 2)
    assert np.allclose(x.mean(0), [3.0, -2.0], atol=0.3), x.mean(0)
    assert np.allclose(x.std(0), [2.0, 2.0], atol=0.3), x.std(0)
    again = trained["dir"] / "s2.npy"
    gm(["sample", str(trained["run"]), "--n", "2000", "--seed", "1", "--out", str(again)],
       trained["env"])
    assert np.array_equal(x, np.load(again)), "same seed, different samples"


def test_score_in_data_units(trained: dict) -> None:
    out = trained["dir"] / "lp.npy"
    gm(["score", str(trained["run"]), "--in", str(trained["dir"] / "test.npy"), "--out",
        str(out)], trained["env"])
    lp = np.load(out)
    assert lp.shape == (500,) and np.isfinite(lp).all()
    # the data is N(m, 4·C): its entropy is 1 + log(2π) + ½ log det(4C)
    entropy = 1 + np.log(2 * np.pi) + 0.5 * np.log(np.linalg.det(4 * np.array([[1, .8], [.8, 1]])))
    assert abs(-lp.mean() - entropy) < 0.15, (-lp.mean(), entropy)


def test_evaluate_json(trained: dict) -> None:
    p = gm(["evaluate", str(trained["run"]), "--data", str(trained["dir"] / "test.npy"),
            "--json"], trained["env"])
    d = json.loads(p.stdout)
    for k in ("nll", "w2", "w2_floor", "mmd2", "mmd2_floor"):
        assert isinstance(d[k], float) and np.isfinite(d[k]), k
    assert d["w2"] < 2.0 * d["w2_floor"], d
    assert (trained["run"] / "evaluation.json").is_file()
    listed = json.loads(gm(["runs", str(trained["dir"]), "--json"], trained["env"]).stdout)
    assert listed[0]["model"] == "realnvp" and "w2" in listed[0]["metrics"]


def test_list_json(trained: dict) -> None:
    d = json.loads(gm(["list", "--json"], trained["env"]).stdout)
    assert {"families", "datasets", "metrics"} <= set(d)
    names = {f["name"] for f in d["families"]}
    assert "realnvp" in names
    assert {"nll", "w2", "mmd2"} <= {m["name"] for m in d["metrics"]}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--model", "nope", "--data", "checkerboard", "--steps", "1"], "unknown model"),
        (["train", "--model", "realnvp", "--data", "no-such-set", "--steps", "1"], "no-such-set"),
        (["train", "--model", "realnvp", "--data", "checkerboard", "--set", "no.such=1"],
         "no.such"),
        (["train", "--model", "realnvp", "--data", "checkerboard", "--set", "train.steps=x"],
         "train.steps"),
        (["train", "--model", "realnvp", "--data", "checkerboard", "--budget", "soon"], "budget"),
        (["sample", "/nonexistent/run", "--n", "3", "--out", "x.npy"], "/nonexistent/run"),
        (["train", "--bogus-flag"], "bogus-flag"),
    ],
)
def test_bad_input_exit_2_one_line(trained: dict, tmp_path: Path, args: list, needle: str) -> None:
    if args[0] == "train":
        args = [*args, "--out", str(tmp_path / "o")]
    p = gm(args, trained["env"], check=False)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists(), "a failed train left a run directory behind"


def test_score_rejects_bad_points(trained: dict) -> None:
    bad = trained["dir"] / "bad.npy"
    np.save(bad, np.zeros((4, 3), dtype="float32"))
    out = trained["dir"] / "never.npy"
    p = gm(["score", str(trained["run"]), "--in", str(bad), "--out", str(out)], trained["env"],
           check=False)
    assert p.returncode == 2 and "shape" in p.stderr
    assert not out.exists()
    nan = trained["dir"] / "nan.npy"
    arr = np.zeros((4, 2), dtype="float32")
    arr[2, 1] = np.nan
    np.save(nan, arr)
    p = gm(["score", str(trained["run"]), "--in", str(nan), "--out", str(out)], trained["env"],
           check=False)
    assert p.returncode == 2 and "row 2" in p.stderr, p.stderr
    assert not out.exists()


def test_existing_run_is_not_overwritten(trained: dict) -> None:
    before = (trained["run"] / "config.json").read_text()
    p = gm(["train", "--model", "realnvp", "--data", "checkerboard", "--steps", "2", "--out",
            str(trained["run"])], trained["env"], check=False)
    assert p.returncode == 2 and "--resume" in p.stderr
    assert (trained["run"] / "config.json").read_text() == before
