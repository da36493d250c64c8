"""Hostile input at the command line (hypothesis): exit code 0 or 2, never 1.

On exit code 2 stderr is exactly one line ``genmodels: error: ...``, and no run directory or
output file (partial or temporary) is left behind. The in-process entry point
:func:`genmodels.cli.main` keeps the examples fast; one subprocess case checks the real
command.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _fuzz import FUZZ, few, files_under
from conftest import genmodels_cmd
from genmodels.cli import main
from test_fuzz_config import ALL_KEYS
from test_fuzz_run import RUN_FILES, copy_of_run


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 2), f"exit {code}: {err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("genmodels: error: "), err
    return code, err


TINY = ["--model", "realnvp", "--data", "moons", "--set", "data.n_train=64", "data.n_val=0",
        "data.n_test=16", "train.steps=1", "train.batch_size=16", "layers=1", "hidden=[4]",
        "--no-progress"]
overrides = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(ALL_KEYS) | st.text(max_size=6),
                      st.sampled_from(["-1", "0", "nan", "inf", "[1,", "'x'", "1e400", "{}",
                                       "true", "\"\"", "[]", "99999999999999999999"])
                      | st.text(max_size=6))


@few(25)
@given(sets=st.lists(overrides, min_size=1, max_size=2))
def test_train_with_hostile_overrides(sets: list[str], capsys: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        code, _ = run_cli(["train", *TINY, "--set", *sets, "--out", str(out)], capsys)
        if code == 2:
            assert not out.exists(), "a refused run left its directory"
            assert not files_under(Path(tmp))


@FUZZ
@given(text=st.text(max_size=120), raw=st.binary(max_size=60), binary=st.booleans())
def test_train_with_hostile_config_file(text: str, raw: bytes, binary: bool,
                                        capsys: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "run.toml"
        if binary:
            cfg.write_bytes(raw)
        else:
            cfg.write_text(f"[model]\nname = \"nope\"\n{text}", errors="surrogatepass")
        out = Path(tmp) / "run"
        code, _ = run_cli(["train", "--config", str(cfg), "--out", str(out)], capsys)
        assert code == 2 and not out.exists()


@few(30)
@given(name=st.sampled_from(RUN_FILES), data=st.data(),
       command=st.sampled_from(["sample", "score", "evaluate"]))
def test_commands_on_a_damaged_run(name: str, data: st.DataObject, command: str,
                                   capsys: Any) -> None:
    with copy_of_run() as (base, run):
        p = run / name
        b = bytearray(p.read_bytes())
        if data.draw(st.booleans(), label="truncate"):
            b = b[:data.draw(st.integers(0, len(b) - 1), label="length")]
        else:
            i = data.draw(st.integers(0, len(b) - 1), label="at")
            b[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        p.write_bytes(bytes(b))
        np.save(base / "points.npy", np.zeros((8, 2), np.float32))
        outdir = base / "out"
        outdir.mkdir()
        out = outdir / "result.npy"
        argv = {"sample": ["sample", str(run), "--n", "3", "--out", str(out)],
                "score": ["score", str(run), "--in", str(base / "points.npy"), "--out", str(out)],
                "evaluate": ["evaluate", str(run), "--data", str(base / "points.npy"),
                             "--metrics", "nll", "--json"]}[command]
        code, _ = run_cli(argv, capsys)
        left = files_under(outdir)
        assert left <= {"result.npy"}, f"partial files: {left}"
        if code == 2:
            assert not left


@FUZZ
@given(raw=st.binary(max_size=80), suffix=st.sampled_from([".npy", ".csv", ".npz", ".tsv",
                                                          ".parquet", ".txt"]))
def test_score_hostile_points(raw: bytes, suffix: str, capsys: Any) -> None:
    with copy_of_run() as (base, run):
        inp = base / f"in{suffix}"
        inp.write_bytes(raw)
        out = base / "out" / "lp.npy"
        out.parent.mkdir()
        code, _ = run_cli(["score", str(run), "--in", str(inp), "--out", str(out)], capsys)
        assert code == 2 and not files_under(out.parent)


@pytest.mark.parametrize("argv", [
    ["sample", "no-such-run", "--n", "2", "--out", "x.npy"],
    ["train", "--model", "realnvp", "--set", "model=0"],
])
def test_subprocess_exit_2_one_line(argv: list[str], cli_env: dict[str, str],
                                    tmp_path: Path) -> None:
    r = subprocess.run([*genmodels_cmd(), *argv], capture_output=True, text=True, cwd=tmp_path,
                       env=cli_env, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genmodels: error: "), r.stderr
    assert not files_under(tmp_path)
