r"""Classifier-free guidance: one combination of a conditional and an unconditional prediction.

A label-conditional denoiser is trained on labels replaced by a null token :math:`\varnothing`
with probability :math:`p_\mathrm{uncond}` (:func:`drop_labels`), so the one network gives
both :math:`\varepsilon(x, t, c)` and :math:`\varepsilon(x, t, \varnothing)`. Sampling uses

.. math:: \tilde\varepsilon = (1 + w)\,\varepsilon(x, t, c) - w\,\varepsilon(x, t, \varnothing),
    \qquad
    \tilde s = (1 + w)\,\nabla\log p_t(x \mid c) - w\,\nabla\log p_t(x)
    = \nabla\log p_t(x \mid c) + w\,\nabla\log p_t(c \mid x)

(Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", Eq. 6). Convention: ``w = 0`` is
plain conditional sampling, ``w = -1`` unconditional; the "guidance scale" :math:`s` of
diffusers / Stable Diffusion (``uncond + s (cond - uncond)``) is :math:`s = 1 + w`.

**Any prediction.** The weights :math:`(1 + w, -w)` sum to one, and every conversion between
noise, data, velocity and score (:func:`~genmodels.paths.convert`) is affine in the
prediction at fixed :math:`(x, t)`; an affine map commutes with an affine combination, so
guiding the score, the noise, the data or the velocity gives the same sampler input. The
diffusion family guides the score its samplers consume; flow matching guides the velocity
(:math:`\tilde v = (1 + w)\,v_\theta(x, t, c) - w\,v_\theta(x, t, \varnothing)`, the same
weights).

The families share the rest too: :func:`check_conditioning` (the ``model.conditional``,
``p_uncond`` and ``guidance`` settings) and :func:`training_labels` (the labels an objective
passes to the network, with dropout).

The null token is the label :data:`NULL_LABEL` (``-1``): networks map negative labels to
their learnt null embedding (:class:`~genmodels.nn.time.LabelEmbedding`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..core import Batch, LabelConditional, noise
from ..errors import InputError

#: The label of "no label" (the null token :math:`\varnothing`).
NULL_LABEL = -1

#: ``fn(t, x, labels) -> prediction``: a label-conditional field.
ConditionalFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def guide(cond: Tensor, uncond: Tensor, w: float) -> Tensor:
    """:math:`(1 + w)\\,\\mathrm{cond} - w\\,\\mathrm{uncond}` (``w = 0``: ``cond`` itself)."""
    return cond + w * (cond - uncond)


def guided(fn: ConditionalFn, labels: Tensor, w: float) -> Callable[[Tensor, Tensor], Tensor]:
    """The guided field ``f(t, x)`` of a conditional field ``fn(t, x, labels)``.

    At ``w = 0`` it is ``fn(t, x, labels)`` (one evaluation); otherwise the conditional and
    the unconditional predictions come from one evaluation on the doubled batch
    ``[x; x]`` with labels ``[labels; NULL_LABEL]``, then :func:`guide`.

    Args:
        fn: the conditional prediction (any of noise, data, velocity, score).
        labels: ``(B,)`` integer labels of the points (``NULL_LABEL`` allowed).
        w: the guidance weight.
    """
    check_guidance(w)
    labels = labels.long()
    if w == 0:
        return lambda t, x: fn(t, x, labels)
    both = torch.cat((labels, torch.full_like(labels, NULL_LABEL)))

    def field(t: Tensor, x: Tensor) -> Tensor:
        t2 = t if t.dim() == 0 else torch.cat((t, t))
        c, u = fn(t2, torch.cat((x, x)), both).chunk(2)
        return guide(c, u, w)

    return field


def check_guidance(w: float) -> float:
    """``w`` as a float; refuses non-finite values and ``w < -1`` (a negative weight on the
    conditional prediction)."""
    w = float(w)
    if not math.isfinite(w) or w < -1:
        raise InputError(f"model.guidance: {w} must be a finite number >= -1 "
                         "(0: conditional, -1: unconditional)")
    return w


def check_conditioning(conditional: bool, p_uncond: float, guidance: float) -> None:
    """Refuses inconsistent ``model.conditional`` / ``model.p_uncond`` / ``model.guidance``
    settings with an :class:`InputError`: a bad weight (:func:`check_guidance`),
    ``p_uncond`` outside ``[0, 1)``, guidance on an unconditional model, or guidance with
    ``p_uncond = 0`` (the null label was never trained)."""
    check_guidance(guidance)
    if not 0 <= p_uncond < 1:
        raise InputError(f"model.p_uncond: {p_uncond} must be in [0, 1)")
    if not conditional and guidance != 0:
        raise InputError("model.guidance: the model is unconditional (train it with "
                         "model.conditional=true)")
    if conditional and p_uncond == 0 and guidance != 0:
        raise InputError("model.guidance needs an unconditional network: model.p_uncond=0 "
                         "never trained the null label")


def check_null_label(model: LabelConditional, w: float) -> None:
    """Refuses a guidance weight ``w != 0`` for a model whose null label was never trained
    (``p_uncond = 0``: its unconditional prediction is untrained)."""
    if w != 0 and not model.null_label:
        raise InputError(f"guidance {w:g}: the model was trained with model.p_uncond=0, so "
                         "its null label (the unconditional prediction) is untrained")


def training_labels(model: object, batch: Batch, p_uncond: float,
                    what: str = "model") -> Tensor | None:
    """The ``cond`` an objective gives the network for ``batch``: ``batch.cond`` for a model
    without classes; for a class-conditional :class:`~genmodels.core.LabelConditional` the
    batch labels after :func:`drop_labels` (drawn through :mod:`genmodels.core.noise`, so a
    DDP run draws what one process would). Refuses an unlabelled batch then."""
    if isinstance(model, LabelConditional) and model.n_classes:
        if batch.y is None:
            raise InputError(f"a class-conditional {what} needs labelled batches")
        if model.training and torch.is_grad_enabled():
            model.count_labels(batch.y)
        return drop_labels(batch.y, p_uncond)
    return batch.cond


def mixture_log_prob(log_prob: Callable[[Tensor], Tensor], x: Tensor,
                     log_prior: Tensor) -> Tensor:
    r""":math:`\log p(x) = \operatorname{logsumexp}_c\,[\log\pi_c + \log p(x \mid c)]`
    ``(B,)``: the marginal density of a class-conditional model whose null label was never
    trained (``p_uncond = 0``), one conditional density per class.

    Args:
        log_prob: ``log_prob(labels) -> (B,)``, the conditional log-density of the points
            ``x`` given ``(B,)`` labels.
        x: the points ``(B, *D)`` (their count and device).
        log_prior: :math:`\log\pi_c` ``(K,)`` (a class of prior 0 is skipped).
    """
    n = x.shape[0]
    terms = [log_prob(torch.full((n,), c, dtype=torch.long, device=x.device)) + lp
             for c, lp in enumerate(log_prior.tolist()) if math.isfinite(lp)]
    return torch.logsumexp(torch.stack(terms, dim=0), dim=0)


def drop_labels(labels: Tensor, p: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Labels with each one replaced by :data:`NULL_LABEL` with probability ``p`` (the label
    dropout of classifier-free guidance training)."""
    if not 0 <= p <= 1:
        raise InputError(f"model.p_uncond: {p} must be in [0, 1]")
    labels = labels.long()
    if p == 0:
        return labels
    u = noise.rand(tuple(labels.shape), generator=generator, device=labels.device)
    return torch.where(u < p, torch.full_like(labels, NULL_LABEL), labels)


def as_labels(label: int | Tensor, n: int, n_classes: int) -> Tensor:
    """``(n,)`` long labels from one label or a tensor of ``n``; refuses labels outside
    ``[0, n_classes)`` (``NULL_LABEL`` excepted) with an :class:`InputError`."""
    y = torch.as_tensor(label).long()
    if y.dim() == 0:
        y = y.expand(n)
    if y.shape != (n,):
        raise InputError(f"label: {tuple(y.shape)} labels for {n} samples")
    bad = (y != NULL_LABEL) & ((y < 0) | (y >= n_classes))
    if bad.any():
        raise InputError(f"--label {int(y[bad][0])}: out of range (the data has classes "
                         f"0..{n_classes - 1})")
    return y.clone()
