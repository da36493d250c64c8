r"""Mode coverage on the ``ring8`` and ``grid25`` mixtures, as VEEGAN and PacGAN define it.

For K mixture centres :math:`\mu_c` with a common isotropic std :math:`\sigma`:

* a sample is **high quality** when :math:`\min_c \lVert x - \mu_c\rVert / \sigma < 3`
  (VEEGAN; PacGAN's diagonal-Mahalanobis threshold 3 is the same for an isotropic std);
* **modes captured** = #{c : c is the nearest centre of at least one high-quality sample};
* **reverse KL** of the mode histogram (PacGAN): with :math:`\hat p_c` the share of the
  high-quality samples whose nearest centre is c,
  :math:`\mathrm{KL}(\hat p \,\|\, U_K) = \sum_c \hat p_c \log(K \hat p_c)` (0 when every
  mode gets the same share, :math:`\log K` for one mode); left out when no sample is high
  quality.

References: Srivastava et al., "VEEGAN", NeurIPS 2017, https://arxiv.org/abs/1705.07761;
Lin et al., "PacGAN", NeurIPS 2018, https://arxiv.org/abs/1712.04086
"""

from __future__ import annotations

import torch
from torch import Tensor

from .builtin import register
from .context import EvalContext

__all__ = ["MODE_DATASETS", "mode_coverage"]

#: The data sets this metric applies to.
MODE_DATASETS = ("ring8", "grid25")


def mode_coverage(samples: Tensor, centres: Tensor, std: float,
                  threshold: float = 3.0) -> dict[str, float]:
    """Modes captured, the high-quality fraction and the reverse KL of the mode histogram.

    Args:
        samples: ``(n, 2)`` model samples (any ``(n, d)`` with ``centres`` of ``(K, d)``).
        centres: the mixture centres ``(K, d)``.
        std: the common isotropic standard deviation of the components.
        threshold: a sample is high quality within ``threshold`` std of its nearest centre.

    Returns:
        ``modes`` (captured), ``modes_total`` (K), ``hq_fraction`` in [0, 1], ``mode_rkl``
        (nats; absent without high-quality samples) and ``n_eval``.
    """
    x = samples.reshape(samples.shape[0], -1).to(torch.float64)
    c = centres.to(x.device, torch.float64)
    k = c.shape[0]
    dist = torch.cdist(x, c)
    d_min, nearest = dist.min(dim=1)
    hq = d_min / std < threshold
    counts = torch.bincount(nearest[hq], minlength=k).to(torch.float64)
    out = {
        "modes": float((counts > 0).sum()),
        "modes_total": float(k),
        "hq_fraction": float(hq.to(torch.float64).mean()) if x.shape[0] else 0.0,
        "n_eval": float(x.shape[0]),
    }
    total = counts.sum()
    if total > 0:
        p = counts / total
        out["mode_rkl"] = float(torch.xlogy(p, p * k).sum())
    return out


def _compute(ctx: EvalContext) -> dict[str, float]:
    if ctx.dataset not in MODE_DATASETS:
        return {}
    from ..data.toy import mixture_centres

    samples = ctx.samples()
    if samples.shape[1:] != (2,) or not ctx.samples_finite():
        return {}
    centres, std = mixture_centres(ctx.dataset)
    return mode_coverage(samples, centres, std)


register(
    "mode-coverage",
    "ring8/grid25 only: modes captured (nearest centre of a sample within 3 std), fraction "
    "of such high-quality samples, reverse KL of the mode histogram to uniform (VEEGAN/PacGAN)",
    _compute,
)
