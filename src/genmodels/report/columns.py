"""Which result keys are shown, in what order, and which direction is better for each.

A result row is the flat dict of :func:`genmodels.metrics.evaluate` plus bookkeeping
(``model``, ``seed``, ``steps``, ``train_s``). A metric ``<name>`` may come with
``<name>_se`` (its standard error, shown as ``±``) and ``<name>_floor`` (the same metric between
two independent real samples: the value of a perfect model).

Directions (the best value of a column is marked):

- lower is better: ``nll``, ``bpd``, ``kl_to_data``, ``w2``, ``mmd2`` (by ``|·|``: the unbiased
  estimate can be negative), ``energy``, Fréchet distances ``fd*``, ``kid*``, sliced and
  Sinkhorn distances, anything ending in ``_kl``, ``rkl`` (``mode_rkl``) or ``loss``;
- higher is better: ``precision``, ``recall``, ``density``, ``coverage`` (PRDC), mode counts and
  shares (``modes``, ``hq_fraction``, ``mode_coverage*``), ``ess*``;
- closest to ½ is best: ``c2st*`` (a classifier's accuracy at telling samples from data).

PRDC keys are read without their ``prdc_`` prefix; p-values, classifier scores (``cs_*``) and
label entropies are higher-is-better. Keys ending in ``_se``, ``_sd``, ``_std``, ``_floor``,
``_k``, ``_n``, ``_real``, ``_bandwidth`` or ``_total`` are companions or parameters of a
metric, never columns of their own. Unknown metrics are shown but not marked.
"""

from __future__ import annotations

import math
from typing import Any

#: Keys that are bookkeeping or parameters, never metric columns.
HIDDEN = {"model", "kind", "seed", "steps", "train_s", "eval_s", "data", "n_eval",
          "mmd2_bandwidth", "entropy", "entropy_se", "stopped", "path", "label", "seeds",
          "modes_total"}

_ORDER = ["nll", "bpd", "kl_to_data", "w2", "mmd2", "energy"]
_LOWER = ("nll", "bpd", "kl_to_data", "w2", "mmd2", "energy", "fd", "kid", "sw", "sliced",
          "sinkhorn")
_HIGHER = ("precision", "recall", "density", "coverage", "modes", "mode_", "high_quality",
           "hq_", "ess")
_AUX = ("_se", "_floor", "_sd", "_std", "_k", "_n", "_real", "_bandwidth", "_total")


def direction(key: str) -> str | None:
    """``"lower"``, ``"higher"``, ``"half"`` (closest to 0.5) or ``None`` (unknown)."""
    k = key.lower()
    if k == "entropy" or k.endswith(_AUX) or k.startswith("log_z"):
        return None
    k = k.removeprefix("prdc_")
    if k.startswith("c2st"):
        return "half"
    if "pvalue" in k or k.startswith(("cs_", "label_entropy")):
        return "higher"
    if k.endswith(("_kl", "rkl", "loss")) or k.startswith("iw_nll"):
        return "lower"
    if k.startswith(_HIGHER):
        return "higher"
    if k.startswith(_LOWER):
        return "lower"
    return None


def _score(key: str, value: float) -> float:
    """A number where smaller is better, for the key's direction."""
    d = direction(key)
    if d == "higher":
        return -value
    if d == "half":
        return abs(value - 0.5)
    if key.startswith("mmd2") or key.startswith("kid"):
        return abs(value)
    return value


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def metric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The metric columns present in ``rows``: the known ones first, then the rest sorted."""
    present = {k for r in rows for k, v in r.items() if _is_num(v)}
    keys = [k for k in present if k not in HIDDEN and not k.endswith(_AUX)]
    known = [k for k in _ORDER if k in keys]
    return known + sorted(k for k in keys if k not in known)


def best_values(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, float]:
    """The best value of each column with a known direction (only when rows > 1)."""
    if len(rows) < 2:
        return {}
    best: dict[str, float] = {}
    for c in columns:
        if direction(c) is None:
            continue
        vals = [r[c] for r in rows if _is_num(r.get(c))]
        if vals:
            best[c] = min(vals, key=lambda v: _score(c, v))
    return best


def is_best(key: str, value: Any, best: dict[str, float]) -> bool:
    """Whether ``value`` ties the best of column ``key``."""
    return key in best and _is_num(value) and _score(key, value) == _score(key, best[key])


def arrow(key: str) -> str:
    """``↓``, ``↑``, ``→½`` or ``""``: the direction mark shown in a column's header."""
    return {"lower": "↓", "higher": "↑", "half": "→½"}.get(direction(key) or "", "")


def fmt(value: Any) -> str:
    """A compact number: 4 significant digits; integers as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: the mean over seeds of every number, its spread in ``<key>_sd``.

    With one seed per model the rows come back unchanged (plus ``seeds = 1``).
    """
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_model.setdefault(str(r["model"]), []).append(r)
    out = []
    for model, group in by_model.items():
        agg: dict[str, Any] = {"model": model, "kind": group[0].get("kind", ""),
                               "seeds": len(group)}
        keys = list(dict.fromkeys(k for r in group for k in r))
        for k in keys:
            if k in ("model", "kind", "seed"):
                continue
            vals = [r[k] for r in group if _is_num(r.get(k))]
            if vals and len(vals) == len(group):
                mean = sum(vals) / len(vals)
                agg[k] = mean if isinstance(vals[0], float) or len(vals) > 1 else vals[0]
                if len(vals) > 1:
                    agg[f"{k}_sd"] = math.sqrt(sum((v - mean) ** 2 for v in vals)
                                               / (len(vals) - 1))
            elif not vals and k in group[0]:
                agg[k] = group[0][k]
        out.append(agg)
    return out
