"""The run config: TOML, --set overrides and validation that names the key."""

from __future__ import annotations

import pytest

from genmodels.config import RunConfig, TrainConfig, apply_overrides, coerce, parse_value
from genmodels.errors import InputError
from genmodels.run import resolve_config


def test_defaults_and_round_trip() -> None:
    cfg = resolve_config(model={"name": "realnvp"}, data={"name": "moons"})
    assert cfg.train == TrainConfig()
    again = RunConfig.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()


def test_set_dotted_and_bare_keys() -> None:
    cfg = resolve_config(
        model={"name": "realnvp"},
        overrides=["train.lr=3e-4", "train.betas=[0.5, 0.9]", "steps=7", "data.name=moons"],
    )
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.train.betas == (0.5, 0.9)
    assert cfg.train.steps == 7
    assert cfg.data.name == "moons"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.no_such=1", "no_such"),
        ("no.such.key=1", "no.such.key"),
        ("train.steps=abc", "train.steps"),
        ("train.steps=1.5", "train.steps"),
        ("train.optimizer=sgd", "train.optimizer"),
        ("train.betas=[1, 2, 3]", "train.betas"),
        ("nonsense", "key=value"),
        ("bogus=1", "bogus"),
    ],
)
def test_bad_overrides_name_the_key(override: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace(".", r"\.")):
        resolve_config(model={"name": "realnvp"}, overrides=[override])


def test_unknown_model_lists_known() -> None:
    with pytest.raises(InputError, match="unknown model 'nope'.*realnvp"):
        resolve_config(model={"name": "nope"})


def test_unknown_section() -> None:
    with pytest.raises(InputError, match="unknown config key 'optim'"):
        RunConfig.from_dict({"model": {"name": "realnvp"}, "optim": {}})


def test_toml_file(tmp_path) -> None:
    p = tmp_path / "run.toml"
    p.write_text('[model]\nname = "realnvp"\n[train]\nsteps = 11\nlr = 1\n')
    cfg = resolve_config(p)
    assert cfg.train.steps == 11 and cfg.train.lr == 1.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(InputError, match="bad.toml: invalid TOML"):
        resolve_config(bad)


def test_parse_value_and_coerce() -> None:
    assert parse_value("kl") == "kl"
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("true") is True
    assert coerce(3, float, "x") == 3.0
    with pytest.raises(InputError, match="x: True is not an int"):
        coerce(True, int, "x")
    assert apply_overrides({"model": {"name": "realnvp"}}, ["train.seed=3"])["train"]["seed"] == 3
