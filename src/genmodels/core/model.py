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
    guidance=w)`` takes ``(n,)`` integer labels as ``cond`` (``-1``, or no ``cond`` at all:
    the null label, i.e. unconditional samples) and the weight :math:`w` (default:
    :attr:`guidance`); ``w = 0`` is conditional sampling.
    """

    n_classes: int = 0
    guidance: float = 0.0
