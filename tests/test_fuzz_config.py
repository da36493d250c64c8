"""Hostile config input: mappings, ``--set key=value`` overrides and TOML files (hypothesis).

Every property: the config either resolves to a :class:`RunConfig` or raises a one-line
:class:`InputError` naming the key or the file; never another exception.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from _fuzz import FUZZ, few, outcome
from genmodels.config import DataConfig, RunConfig, TrainConfig, apply_overrides, load_toml
from genmodels.errors import InputError
from genmodels.registry import FAMILIES, DataInfo, load_all
from genmodels.run import resolve_config

load_all()
FAMILY_NAMES = sorted(FAMILIES)
SECTION_KEYS = {
    "data": [f.name for f in dataclasses.fields(DataConfig)],
    "train": [f.name for f in dataclasses.fields(TrainConfig)],
}
MODEL_KEYS = sorted({f.name for fam in FAMILIES.values() for f in dataclasses.fields(fam.config)})
ALL_KEYS = sorted({*MODEL_KEYS, *SECTION_KEYS["data"], *SECTION_KEYS["train"], "name"})

scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(FAMILY_NAMES + ["", "adam", "auto", "L"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
"""JSON/TOML-like values of any type, nested."""

keys = st.sampled_from(ALL_KEYS) | st.text(max_size=10)


def section(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A section: mostly real keys (so the type checks are reached), values of any type."""
    return st.dictionaries(st.sampled_from(names) | keys, values, max_size=4)


model_section = st.builds(
    lambda name, rest: {"name": name, **rest} if name is not None else rest,
    st.sampled_from(FAMILY_NAMES) | st.none() | values,
    section(MODEL_KEYS),
)
run_dicts = st.fixed_dictionaries(
    {},
    optional={"model": model_section | values, "data": section(SECTION_KEYS["data"]) | values,
              "train": section(SECTION_KEYS["train"]) | values, "other": values},
)


@FUZZ
@given(d=run_dicts)
def test_from_dict_loads_or_input_error(d: dict[str, Any]) -> None:
    r = outcome(RunConfig.from_dict, d)
    if isinstance(r, RunConfig):
        assert r.model in FAMILIES
        again = RunConfig.from_dict(r.to_dict())
        assert again.to_dict() == r.to_dict()


@FUZZ
@given(d=st.none() | st.lists(values, max_size=3) | values)
def test_from_dict_non_mapping(d: Any) -> None:
    outcome(RunConfig.from_dict, d, places=("config",))


@FUZZ
@given(section_name=st.sampled_from(["model", "data", "train"]),
       bad=st.none() | st.integers() | st.text(max_size=5) | st.lists(scalars, max_size=3)
       | st.floats())
def test_non_table_section_is_input_error(section_name: str, bad: Any) -> None:
    d: dict[str, Any] = {"model": {"name": "realnvp"}}
    d[section_name] = bad
    for call in (RunConfig.from_dict, resolve_config):
        r = outcome(call, d, places=(section_name,))
        assert isinstance(r, InputError), f"{d} loaded"


def toml_value(v: Any) -> str:
    """A value written as TOML text where it can be (else a raw string)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


override_text = st.builds(
    lambda key, sep, value: f"{key}{sep}{value}",
    st.sampled_from(ALL_KEYS) | st.builds(lambda s, k: f"{s}.{k}",
                                         st.sampled_from(["model", "data", "train", "x", ""]),
                                         st.sampled_from(ALL_KEYS) | st.text(max_size=6))
    | st.text(max_size=10),
    st.sampled_from(["=", " = ", "==", ""]),
    st.builds(toml_value, values) | st.text(max_size=16),
)


@FUZZ
@given(name=st.sampled_from(FAMILY_NAMES), overrides=st.lists(override_text, max_size=4))
def test_set_overrides(name: str, overrides: list[str]) -> None:
    r = outcome(resolve_config, model={"name": name}, overrides=overrides)
    if isinstance(r, InputError):
        assert "--set" in str(r) or "config" in str(r) or "model" in str(r)


@FUZZ
@given(base=run_dicts, overrides=st.lists(override_text, max_size=3))
def test_apply_overrides_on_any_dict(base: dict[str, Any], overrides: list[str]) -> None:
    d = outcome(apply_overrides, base, overrides)
    if isinstance(d, dict):
        outcome(RunConfig.from_dict, d)


def toml_text(d: dict[str, Any]) -> str:
    lines = []
    for name, body in d.items():
        if isinstance(body, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
        else:
            lines.insert(0, f"{name} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=st.builds(toml_text, run_dicts) | st.text(max_size=200))
def test_toml_text_files(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "run.toml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcome(resolve_config, p, places=(str(p), "config", "--set"))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_toml_binary_files(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "run.toml"
        p.write_bytes(raw)
        r = outcome(load_toml, p, places=(str(p),))
        if isinstance(r, dict):
            outcome(resolve_config, r)


def test_toml_not_a_file(tmp_path: Path) -> None:
    for p in (tmp_path, tmp_path / "missing.toml"):
        r = outcome(load_toml, p, places=(str(p),))
        assert isinstance(r, InputError)


small = (st.integers(-3, 6) | st.floats(-2, 4) | st.booleans() | st.text(max_size=6)
         | st.lists(st.integers(-2, 8), max_size=3) | st.none())


@few(40)
@given(name=st.sampled_from(FAMILY_NAMES),
       fields=st.dictionaries(st.sampled_from(MODEL_KEYS), small, max_size=3),
       shape=st.sampled_from([(2,), (1,), (3,), (1, 4, 4)]))
def test_family_build_with_fuzzed_fields(name: str, fields: dict[str, Any],
                                         shape: tuple[int, ...]) -> None:
    """A config that resolves builds its model, or the build raises a one-line InputError."""
    cfg = outcome(resolve_config, model={"name": name, **fields})
    if isinstance(cfg, InputError):
        return
    outcome(FAMILIES[name].build, cfg.model_config, DataInfo(shape))


def test_control_characters_in_a_key_stay_on_one_line() -> None:
    """Found by the full run: a key with a CR or LF gave a two-line message."""
    for item in ("0\r0=1", ".\n0=1", "train.\nx=1"):
        r = outcome(resolve_config, model={"name": "realnvp"}, overrides=[item],
                    places=("--set", "config"))
        assert isinstance(r, InputError)
