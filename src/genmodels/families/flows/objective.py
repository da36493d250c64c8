"""Maximum likelihood: the forward KL from the data to the model, up to the data's entropy."""

from __future__ import annotations

from torch import nn

from ...core import Batch, DensityModel, LossOutput, Objective


class MaximumLikelihood(Objective):
    r"""The negative log-likelihood of a batch, in nats per point.

    .. math:: \mathcal L(\theta) = -\frac1B \sum_{b} \log p_\theta(x_b \mid c_b)
        \;\approx\; \mathrm{KL}(p_\mathrm{data} \,\|\, p_\theta) + H(p_\mathrm{data})

    Logs ``nll`` (the loss itself).
    """

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        if not isinstance(model, DensityModel):
            raise TypeError(f"maximum likelihood needs a DensityModel, got {type(model).__name__}")
        loss = -model.log_prob(batch.x, cond=batch.cond).mean()
        return LossOutput(loss, {"nll": loss.detach()})
