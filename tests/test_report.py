"""`genmodels report` rebuilds a comparison from its run directories (the same numbers),
`genmodels runs` lists them, and the table knows which direction is better per metric."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from genmodels.cli import main
from genmodels.errors import InputError
from genmodels.registry import FAMILIES
from genmodels.report.columns import aggregate, best_values, direction, is_best, metric_columns
from genmodels.report.compare import split_overrides
from test_compare import shared_comparison


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return shared_comparison(tmp_path_factory.getbasetemp())


def test_report_rebuilds_the_same_numbers(comparison: dict[str, Any], tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    out, models = comparison["out"], comparison["models"]
    before = {r["model"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    # from evaluation.json (every run), then re-evaluated from the checkpoints with the same
    # seed (the two cheapest runs: two flows or a flow and a GAN)
    cheap = [m for m in models if FAMILIES[m].kind in ("flow", "gan")][:2]
    for flag, dest, chosen in (([], tmp_path / "r1", models),
                               (["--evaluate"], tmp_path / "r2", cheap)):
        args = [str(out / "runs" / f"{m}-seed0") for m in chosen]
        assert main(["report", *args, "--out", str(dest), *flag]) == 0
        rows = json.loads((dest / "results.json").read_text())["rows"]
        assert [r["model"] for r in rows] == chosen
        for r in rows:
            b = before[r["model"]]
            assert r["steps"] == b["steps"]
            for k in ("w2", "w2_floor", "energy"):
                assert math.isclose(r[k], b[k], rel_tol=1e-6, abs_tol=1e-9), (r["model"], k)
        page = (dest / "report.html").read_text()
        assert all(f'<tr data-model="{m}">' in page for m in chosen)
        assert (dest / "figures" / "samples.png").is_file()
    assert "report:" in capsys.readouterr().out


def test_runs_lists_every_run_with_its_metrics(comparison: dict[str, Any],
                                               capsys: pytest.CaptureFixture) -> None:
    out, models = comparison["out"], comparison["models"]
    capsys.readouterr()
    assert main(["runs", str(out / "runs")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 + len(models) and "w2" in lines[0]
    for m in models:
        assert any(f"  {m}  " in line for line in lines[1:]), m
    assert main(["runs", str(out / "runs"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["model"] for r in listed) == sorted(models)
    assert all(r["step"] == 200 and "w2" in r["metrics"] for r in listed)


def test_report_refuses_a_missing_run(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize(("key", "want"), [
    ("nll", "lower"), ("bpd", "lower"), ("w2", "lower"), ("mmd2", "lower"), ("kid", "lower"),
    ("fd_digits", "lower"), ("mode_rkl", "lower"), ("critic_loss", "lower"),
    ("modes", "higher"), ("hq_fraction", "higher"), ("precision", "higher"),
    ("coverage", "higher"), ("c2st", "half"), ("w2_floor", None), ("nll_se", None),
    ("entropy", None),
])
def test_direction(key: str, want: str | None) -> None:
    assert direction(key) == want


def test_best_values_follow_the_direction() -> None:
    rows = [{"model": "a", "w2": 0.5, "mmd2": -0.002, "c2st": 0.9, "modes": 8.0},
            {"model": "b", "w2": 0.3, "mmd2": 0.001, "c2st": 0.55, "modes": 6.0},
            {"model": "c", "w2": 0.4, "mmd2": 0.003, "c2st": 0.35, "modes": 7.0}]
    cols = metric_columns(rows)
    assert set(cols) == {"w2", "mmd2", "c2st", "modes"}
    best = best_values(rows, cols)
    assert best == {"w2": 0.3, "mmd2": 0.001, "c2st": 0.55, "modes": 8.0}
    assert is_best("w2", 0.3, best) and not is_best("w2", 0.4, best)
    assert best_values(rows[:1], cols) == {}  # nothing to mark with one model


def test_aggregate_means_and_spreads_over_seeds() -> None:
    rows = [{"model": "a", "seed": 0, "w2": 1.0, "steps": 10},
            {"model": "a", "seed": 1, "w2": 3.0, "steps": 10},
            {"model": "b", "seed": 0, "w2": 2.0, "steps": 10}]
    agg = aggregate(rows)
    assert [r["model"] for r in agg] == ["a", "b"]
    assert agg[0]["w2"] == 2.0 and math.isclose(agg[0]["w2_sd"], math.sqrt(2.0))
    assert agg[0]["seeds"] == 2 and agg[1]["seeds"] == 1 and "w2_sd" not in agg[1]


def test_per_model_overrides() -> None:
    got = split_overrides(["a", "b"], ["train.lr=1e-3", "b:layers=2"])
    assert got == {"a": ["train.lr=1e-3"], "b": ["train.lr=1e-3", "layers=2"]}
    with pytest.raises(InputError, match="'c'"):
        split_overrides(["a", "b"], ["c:layers=2"])
