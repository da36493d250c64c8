r"""Maximum likelihood for a CNF, with the RNODE regularisers.

.. math:: \mathcal L(\theta) = -\frac1B\sum_b \log p_\theta(x_b)
    + \lambda_K \frac1B\sum_b \int_0^T \lVert F_\theta(x_t, t)\rVert^2 dt
    + \lambda_J \frac1B\sum_b \int_0^T \lVert \nabla_x F_\theta(x_t, t)\rVert_F^2 dt

The kinetic energy favours straight, constant-speed paths and the Jacobian norm smooth
dynamics, both of which cut the solver's work (Finlay et al. 2020, *How to train your neural
ODE*, https://arxiv.org/abs/2002.02798). The Frobenius norm is exact with the exact trace and
Hutchinson's :math:`\lVert\epsilon^\top J\rVert^2` with probes (the same probes as the trace).
"""

from __future__ import annotations

from torch import nn

from ...core import Batch, LossOutput, Objective
from .model import CNF


class CNFLikelihood(Objective):
    """Negative log-likelihood in nats per point plus the optional RNODE terms.

    Args:
        kinetic: :math:`\\lambda_K`.
        jacobian: :math:`\\lambda_J`.

    Logs ``nll`` and, when regularised, ``kinetic`` and ``jacobian`` (the integrals).
    """

    def __init__(self, kinetic: float = 0.0, jacobian: float = 0.0) -> None:
        self.kinetic, self.jacobian = float(kinetic), float(jacobian)

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        if not isinstance(model, CNF):
            raise TypeError(f"CNF likelihood needs a CNF, got {type(model).__name__}")
        regularize = self.kinetic > 0 or self.jacobian > 0
        sol = model.flow(batch.x, cond=batch.cond, create_graph=True, regularize=regularize)
        nll = -(model.base.log_prob(sol.x) + sol.div).mean()
        loss, logs = nll, {"nll": nll.detach()}
        if regularize:
            k, j = sol.kinetic.mean(), sol.frobenius.mean()
            loss = loss + self.kinetic * k + self.jacobian * j
            logs.update(kinetic=k.detach(), jacobian=j.detach())
        return LossOutput(loss, logs)
