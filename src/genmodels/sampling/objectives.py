r"""Fitting a flow :math:`q_\theta` to an unnormalised target :math:`\tilde p = Z p`.

* Reverse KL (reparameterised; mode-seeking), the negative ELBO:

  .. math:: \mathrm{KL}(q_\theta\,\|\,p) - \log Z = \mathbb E_{z}\big[\log q_\theta(T_\theta(z))
      - \log\tilde p(T_\theta(z))\big]

  (Rezende & Mohamed 2015). It needs no samples of :math:`p`, and it under-covers: it pays
  nothing for the mass of :math:`p` that :math:`q` misses.

* Forward KL by self-normalised importance sampling (mass-covering):

  .. math:: \nabla_\theta \mathrm{KL}(p\,\|\,q_\theta) = -\mathbb E_p[\nabla_\theta\log q_\theta]
      \approx -\sum_i \bar w_i \nabla_\theta \log q_\theta(x_i), \quad
      x_i \sim q_\theta\ (\text{no gradient}),\ \bar w_i = \frac{\tilde p(x_i)/q_\theta(x_i)}
      {\sum_j \tilde p(x_j)/q_\theta(x_j)}

  (the neural importance sampling of Müller et al. 2019). It penalises missing mass, so it
  spreads :math:`q` over every mode it has found.

The objectives ignore the batch's values: its size is the number of samples per step, so
they train through the one :class:`~genmodels.train.Trainer` like every other objective.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core import Batch, DensityModel, LossOutput, Objective
from ..data.targets import Target
from ..metrics.ess import effective_sample_size


def draw(model: nn.Module, n: int, *, generator: torch.Generator | None = None,
         grad: bool = True) -> tuple[Tensor, Tensor]:
    """``n`` samples of a flow and their log-densities; reparameterised when ``grad``."""
    if not isinstance(model, DensityModel):
        raise TypeError(f"a target fit needs a flow, got {type(model).__name__}")
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        return model.rsample_and_log_prob(n, generator=generator)  # type: ignore[attr-defined]


class ReverseKL(Objective):
    """:math:`\\mathbb E_q[\\log q - \\log\\tilde p]` by reparameterised samples.

    Logs ``elbo`` (a lower bound on :math:`\\log Z` in expectation) and ``ess_fraction``.
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        x, lq = draw(model, batch.x.shape[0])
        lw = self.target.log_unnorm(x) - lq
        loss = -lw.mean()
        ess = effective_sample_size(lw.detach()) / lw.numel()
        return LossOutput(loss, {"elbo": -loss.detach(), "ess_fraction": ess})


class ForwardKL(Objective):
    """:math:`-\\sum_i \\bar w_i \\log q_\\theta(x_i)` with self-normalised weights of
    samples from the current flow (treated as constants).

    Logs ``ess_fraction`` and ``log_z`` (the importance-sampling estimate of the batch).
    """

    def __init__(self, target: Target) -> None:
        self.target = target

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        n = batch.x.shape[0]
        with torch.no_grad():
            x, lq = draw(model, n, grad=False)
            lw = self.target.log_unnorm(x) - lq
            w = torch.softmax(lw, 0)
        loss = -(w * model.log_prob(x)).sum()
        log_z = torch.logsumexp(lw, 0) - torch.log(torch.tensor(float(n)))
        return LossOutput(loss, {"ess_fraction": effective_sample_size(lw) / n,
                                 "log_z": log_z})


#: The target-fitting objectives by name.
OBJECTIVES = {"reverse-kl": ReverseKL, "forward-kl": ForwardKL}
