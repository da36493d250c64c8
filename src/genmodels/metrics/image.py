"""``fd`` and ``kid`` on features of the digits classifier (NOT Inception; see features.py).

They apply only to event shape ``(1, 8, 8)`` (the sklearn digits) and return ``{}`` otherwise.
Images are mapped to the classifier's [0, 1] scale with the test split's min and max, so any
affine data normalisation works.
"""

from __future__ import annotations

from torch import Tensor

from .context import EvalContext
from .features import EVENT_SHAPE, classifier_score, features_and_probs

#: KID subsets and subset size in ``evaluate`` (cheap defaults).
KID_SUBSETS, KID_SUBSET_SIZE = 10, 1000


def _applies(ctx: EvalContext) -> bool:
    return tuple(ctx.test.shape[1:]) == EVENT_SHAPE and ctx.two_sample_ok


def _features(ctx: EvalContext) -> dict[str, tuple[Tensor, Tensor]] | None:
    """Features and class probabilities of the model samples and halves A, B (cached)."""
    if "digits_features" not in ctx.cache:
        if not ctx.samples_finite():
            ctx.cache["digits_features"] = None
            return None
        lo, hi = float(ctx.test.min()), float(ctx.test.max())
        ctx.cache["digits_features"] = {
            "samples": features_and_probs(ctx.samples(), lo, hi),
            "a": features_and_probs(ctx.half_a, lo, hi),
            "b": features_and_probs(ctx.half_b, lo, hi),
        }
    return ctx.cache["digits_features"]


def fd_metric(ctx: EvalContext) -> dict[str, float]:
    """``fd_digits`` (Fréchet distance of digits-classifier features, squared, samples vs A),
    ``fd_digits_floor`` (B vs A), ``cs_digits`` / ``cs_digits_real`` (classifier score, the
    Inception-score analogue, of the samples / of A) and ``label_entropy_digits`` /
    ``label_entropy_digits_real`` (entropy of the predicted-label distribution, nats)."""
    from ..divergences import frechet_distance

    if not _applies(ctx):
        return {}
    f = _features(ctx)
    if f is None:
        return {}
    cs, ent = classifier_score(f["samples"][1])
    cs_r, ent_r = classifier_score(f["a"][1])
    return {
        "fd_digits": frechet_distance(f["samples"][0], f["a"][0]),
        "fd_digits_floor": frechet_distance(f["b"][0], f["a"][0]),
        "cs_digits": cs,
        "cs_digits_real": cs_r,
        "label_entropy_digits": ent,
        "label_entropy_digits_real": ent_r,
        "n_eval": float(ctx.n_eval),
    }


def kid_metric(ctx: EvalContext) -> dict[str, float]:
    """``kid_digits`` ± ``kid_digits_std`` (unbiased MMD², cubic polynomial kernel, on
    digits-classifier features, samples vs A, over subsets) and ``kid_digits_floor`` (B vs A)."""
    import torch

    from ..divergences import kid

    if not _applies(ctx):
        return {}
    f = _features(ctx)
    if f is None:
        return {}
    seed = int(torch.randint(2**31, (1,), generator=ctx.generator,
                             device=ctx.generator.device if ctx.generator else "cpu"))
    kw = dict(n_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE)
    value, std = kid(f["samples"][0], f["a"][0], generator=torch.Generator().manual_seed(seed),
                     **kw)
    floor, _ = kid(f["b"][0], f["a"][0], generator=torch.Generator().manual_seed(seed), **kw)
    return {"kid_digits": value, "kid_digits_std": std, "kid_digits_floor": floor,
            "n_eval": float(ctx.n_eval)}
