r"""The conditional flow-matching objective.

For pairs :math:`(x_\mathrm{data}, x_\mathrm{src}) \sim \pi` (the coupling), times
:math:`t = t_\mathrm{lo} + (t_\mathrm{hi} - t_\mathrm{lo})\,u^k`, :math:`u \sim \mathcal U[0, 1]`
(``time_power`` :math:`k`; 1 is uniform, :math:`k > 1` puts more times near the data end
:math:`t = 0`) and the interpolant's point
:math:`x_t` and conditional velocity :math:`u_t`,

.. math:: \mathcal L_\mathrm{CFM}(\theta) = \mathbb E_{t, \pi, z}
    \big\lVert v_\theta(x_t, t) - u_t \big\rVert^2

(averaged over coordinates). Its gradient equals that of the flow-matching loss
:math:`\mathbb E\lVert v_\theta(x_t, t) - v_t(x_t)\rVert^2` against the marginal field
:math:`v_t(x) = \mathbb E[u_t \mid x_t = x]`, which it therefore learns without ever
evaluating it (Lipman et al. 2023, Thm. 2; Tong et al. 2024, Thm. 3.2 for any coupling).
Any time density positive on :math:`(t_\mathrm{lo}, t_\mathrm{hi})` has the same minimiser at
each :math:`t`; :math:`k` only moves the network's effort along :math:`t`.
With a ``noise`` or ``data`` prediction the regression is on the source point or the data
point instead; the minimiser is again the conditional expectation, and the converter turns it
into the same marginal velocity (the weighting over :math:`t` differs).

A class-conditional model regresses :math:`v_\theta(x_t, t, c)` on the same targets, with the
label :math:`c` of each data point replaced by the null token with probability
:math:`p_\mathrm{uncond}` (:func:`genmodels.paths.guidance.training_labels`, the label
dropout of classifier-free guidance, Ho & Salimans 2022), so one network learns the
conditional fields :math:`v_t(x \mid c)` and the unconditional :math:`v_t(x)`. A non-trivial
coupling then pairs each label's points among themselves
(:func:`genmodels.paths.couplings.couple_within`), so the source marginal of every class is
still the source.

With ``workers > 0`` (``model.coupling_workers``) a non-trivial coupling is computed by a
:class:`~genmodels.paths.pipeline.CouplingPipeline` of that many worker threads: the call that
receives batch :math:`k` draws its source points and labels, submits their plan, and trains on
the pair of batch :math:`k - w` with that pair's own plan (the first :math:`w` calls wait and
train on their own batch). A call without gradients (validation) couples its batch in place.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torch.nn import functional

from ...core import Batch, LossOutput, Objective, noise
from ...errors import InputError
from ...paths.couplings import Coupling, Independent, couple_within
from ...paths.guidance import training_labels
from ...paths.pipeline import CouplingPipeline
from .model import FlowMatching


def transport_cost(x_data: Tensor, x_src: Tensor) -> Tensor:
    """:math:`\\frac1B\\sum_i\\lVert x_{\\mathrm{src},i} - x_{\\mathrm{data},i}\\rVert^2`, the mean
    squared distance of the coupled pairs (a scalar)."""
    with torch.no_grad():
        return (x_src - x_data).square().sum() / x_data.shape[0]


class ConditionalFlowMatching(Objective):
    """The CFM regression loss with a coupling of each batch.

    Logs ``cfm`` (the loss) and ``transport_cost``, the batch mean of
    :math:`\\lVert x_\\mathrm{src} - x_\\mathrm{data}\\rVert^2` over the coupled pairs (what
    an OT coupling lowers).

    Args:
        coupling: a :class:`~genmodels.paths.couplings.Coupling` (default independent).
        p_uncond: the label dropout rate of a class-conditional model.
        workers: 0 couples each batch in the call; ``w >= 1`` computes the couplings in ``w``
            worker threads, training each call on the batch of ``w`` calls earlier (module
            docstring). The Trainer calls :meth:`close` at the end of ``fit``.
        time_power: the exponent :math:`k` of the training times :math:`u^k` (> 0).
    """

    def __init__(self, coupling: Coupling | None = None, p_uncond: float = 0.1,
                 workers: int = 0, time_power: float = 1.0) -> None:
        if not time_power > 0:
            raise ValueError(f"time_power must be > 0, got {time_power}")
        self.coupling = coupling or Independent()
        self.p_uncond = float(p_uncond)
        self.time_power = float(time_power)
        if workers < 0:
            raise InputError(f"model.coupling_workers: {workers} must be >= 0")
        self.workers = int(workers)
        self.pipeline = (CouplingPipeline(self.coupling, self.workers)
                         if self.workers and not isinstance(self.coupling, Independent)
                         else None)

    def close(self) -> None:
        """Stops the coupling workers (a later call starts them again)."""
        if self.pipeline is not None:
            self.pipeline.close()

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        if not isinstance(model, FlowMatching):
            raise TypeError("flow matching needs a FlowMatching model, got "
                            f"{type(model).__name__}")
        x_data = batch.x
        n = x_data.shape[0]
        x_src = model.source.sample(n)
        if x_src.dtype != x_data.dtype or x_src.device != x_data.device:
            x_src = x_src.to(x_data)
        cond = training_labels(model, batch, self.p_uncond, "flow-matching model")
        if self.pipeline is not None and torch.is_grad_enabled():
            # the pair of `workers` calls ago, coupled by its own plan, and its labels
            x_data, x_src, cond = self.pipeline(x_data, x_src, cond,
                                                within=bool(model.n_classes))
            n = x_data.shape[0]
        elif model.n_classes:
            x_data, x_src = couple_within(self.coupling, x_data, x_src, cond)
        else:
            x_data, x_src = self.coupling(x_data, x_src)
        t = noise.rand((n,), dtype=torch.float64, device=x_data.device)
        if self.time_power != 1.0:
            t = t.pow(self.time_power)
        if (model.t_lo, model.t_hi) != (0.0, 1.0):
            t = model.t_lo + (model.t_hi - model.t_lo) * t
        z = noise.randn_like(x_data) if model.path.stochastic else None
        xt, ut = model.path.sample(x_data, x_src, t.to(x_data.dtype), z)
        target = {"velocity": ut, "noise": x_src, "data": x_data}[model.prediction]
        pred = model.predict(xt, t, cond=cond)
        # the mean over coordinates and points (rows have equal sizes): one fused op
        loss = functional.mse_loss(pred, target)
        # the transport cost is computed only on log steps (4 tensor ops on every step else)
        return LossOutput(loss, {"cfm": loss.detach(),
                                 "transport_cost": partial(transport_cost, x_data, x_src)})
