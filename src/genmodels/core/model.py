"""Model interfaces: what a generative model can do, declared by its class.

Capabilities are declared, never probed: ``isinstance(model, DensityModel)`` says a model has
``log_prob``; ``isinstance(model, LatentVariableModel)`` says it has ``encode``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn


class GenerativeModel(nn.Module, ABC):
    """A model of a distribution :math:`p_\\theta` over points of shape ``event_shape``.

    Subclasses set ``event_shape`` (the shape ``D`` of one point) and implement
    :meth:`sample`.
    """

    event_shape: tuple[int, ...]

    #: Why a model that is no :class:`DensityModel` has no log-density, when there is a reason
    #: worth telling (``genmodels score`` and an explicitly requested ``nll`` metric refuse
    #: with it); empty otherwise.
    no_density: str = ""

    @abstractmethod
    def sample(
        self, n: int, *, cond: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Draws ``n`` points :math:`x \\sim p_\\theta`, shape ``(n, *event_shape)``.

        Args:
            n: number of points.
            cond: optional context, shape ``(n, C)``, for conditional models.
            generator: the source of randomness; the same generator state gives the same
                samples.
        """

    @property
    def device(self) -> torch.device:
        """The device of the model's first parameter or buffer (CPU when it has none)."""
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")


class DensityModel(GenerativeModel):
    """A generative model with a log-density: exact (flows) or a stated estimate/bound."""

    #: ``"exact"`` for change-of-variables likelihoods; ``"bound"`` for an ELBO-type lower
    #: bound; ``"estimate"`` for a stochastic estimate (importance weighting, Hutchinson).
    log_prob_kind: str = "exact"

    @abstractmethod
    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """Returns :math:`\\log p_\\theta(x)` in nats, shape ``(B,)``, for ``x`` of ``(B, *D)``."""


class VariationalBound(DensityModel):
    """A density model that also gives a variational lower bound
    :math:`\\mathcal L(x) \\le \\log p_\\theta(x)` (diffusion: the continuous-time ELBO;
    a VAE: its ELBO). The ``elbo`` metric and ``genmodels score --bound`` use it."""

    @abstractmethod
    def log_prob_bound(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """Returns the lower bound in nats, shape ``(B,)``, for ``x`` of ``(B, *D)``."""


class LatentVariableModel(GenerativeModel):
    """A generative model with a representation :math:`z = \\mathrm{encode}(x)`."""

    @abstractmethod
    def encode(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """Returns a representation of each point, shape ``(B, *latent_shape)``."""


class IterativeModel(GenerativeModel):
    """A model whose sampling integrates an ODE or SDE with a chosen numerical solver.

    Diffusion and flow-matching models declare this; the CLI's ``--sampler`` and ``--nfe``
    reach :meth:`sample` through it. ``samplers`` lists the accepted names, the first being
    the default; ``default_nfe`` is the number of function evaluations used when none is given.
    """

    samplers: tuple[str, ...] = ()
    default_nfe: int = 50

    @abstractmethod
    def sample(
        self,
        n: int,
        *,
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        nfe: int | None = None,
    ) -> Tensor:
        """Draws ``n`` points by integrating from the noise end (``t = T``) down to ``t = 0``.

        Args:
            n: number of points.
            cond: optional context, shape ``(n, C)``.
            generator: the source of randomness.
            sampler: one of :attr:`samplers` (default: the first).
            nfe: the number of network evaluations (default: :attr:`default_nfe`).
        """

    def trajectory(self, n: int, *, generator: torch.Generator | None = None,
                   nfe: int | None = None) -> Tensor | None:
        """States ``(K + 1, n, *D)`` of the deterministic sampler from the noise end to the
        data end (``K`` steps, about ``nfe`` evaluations), for trajectory figures; ``None``
        when the model offers none (the default)."""
        return None

class LabelConditional(GenerativeModel):
    """A model that may be trained on class labels and sampled given one, with
    classifier-free guidance (Ho & Salimans 2022; :mod:`genmodels.paths.guidance`).

    ``n_classes`` is 0 for an instance built without labels. ``sample(n, cond=labels,
    guidance=w)`` takes ``(n,)`` integer labels as ``cond`` (``-1``: the null label, i.e.
    unconditional samples) and the weight :math:`w` (default: :attr:`guidance`); ``w = 0``
    is conditional sampling.

    **No labels.** With no ``cond`` at all a model whose null label was trained
    (``null_label``, i.e. ``p_uncond > 0``) uses it: :math:`p_\\theta(x \\mid \\varnothing)`
    models the data marginal. A model trained with ``p_uncond = 0`` never saw the null label,
    so it uses the label mixture instead, :math:`p_\\theta(x) = \\sum_c \\pi_c\\,p_\\theta(x
    \\mid c)`: samples draw :math:`c \\sim \\pi` first, and the log-density is the
    log-sum-exp over the classes (:func:`genmodels.paths.guidance.mixture_log_prob`).
    :math:`\\pi` is the label frequency seen in training (the persistent buffer
    ``label_counts``, int64, counted by :meth:`count_labels` in training steps; uniform
    before any count).
    """

    n_classes: int = 0
    guidance: float = 0.0
    null_label: bool = True

    def init_classes(self, n_classes: int, null_label: bool = True) -> None:
        """Sets :attr:`n_classes` and :attr:`null_label` and, for a class-conditional model,
        registers the ``label_counts`` buffer ``(n_classes,)`` (int64, zeros)."""
        self.n_classes, self.null_label = int(n_classes), bool(null_label)
        if self.n_classes:
            self.register_buffer("label_counts",
                                 torch.zeros(self.n_classes, dtype=torch.long))

    def count_labels(self, labels: Tensor) -> None:
        """Adds the class labels of a training batch (``(B,)``, null labels ignored) to
        ``label_counts``."""
        counts = getattr(self, "label_counts", None)
        if counts is None:
            return
        y = labels.detach().long().flatten()
        y = y[(y >= 0) & (y < self.n_classes)]
        counts += torch.bincount(y.to(counts.device), minlength=self.n_classes)

    def label_log_prior(self) -> Tensor:
        """:math:`\\log\\pi_c` ``(n_classes,)`` (float64): the training label frequencies,
        uniform while none are counted."""
        counts = self.label_counts.double().cpu()
        if not counts.sum() > 0:
            counts = torch.ones_like(counts)
        return counts.log() - counts.sum().log()

    def mixes_labels(self, cond: Tensor | None) -> bool:
        """Whether a call with this ``cond`` must use the label mixture: a class-conditional
        model given no labels whose null label was never trained."""
        return bool(self.n_classes) and cond is None and not self.null_label

    def unconditional_labels(self, n: int,
                             generator: torch.Generator | None = None) -> Tensor | None:
        """The ``cond`` of an unlabelled draw of ``n`` points: ``None`` (the null label) when
        the null label was trained or the model has no classes, else ``(n,)`` labels drawn
        from :math:`\\pi`."""
        if not self.mixes_labels(None):
            return None
        device = generator.device if generator is not None else self.label_counts.device
        prior = self.label_log_prior().exp().to(device)
        return torch.multinomial(prior, n, replacement=True, generator=generator)


def with_label_counts(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with the model's zero ``label_counts`` buffers added where it lacks them:
    a run saved before class-conditional models counted their labels loads with a uniform
    label prior."""
    extra = {k: v for k, v in model.state_dict().items()
             if k.endswith("label_counts") and k not in state}
    return {**state, **extra} if extra else state
