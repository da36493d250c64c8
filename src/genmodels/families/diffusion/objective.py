r"""Denoising score matching with weightings and time densities as values.

.. math:: \mathcal L(\theta) = \mathbb E_{t\sim\mathcal U[t_\varepsilon, T]}\,
    \lambda(t)\,\mathbb E_{x_0, \varepsilon}\big\lVert s_\theta(x_t, t)
    + \varepsilon/\sigma_t\big\rVert^2
    = \mathbb E\, \frac{\lambda(t)}{\sigma_t^2}\lVert\hat\varepsilon_\theta - \varepsilon\rVert^2

(Vincent 2011; Song et al. 2021, Eq. 7), averaged over coordinates. Whatever the network
predicts (noise, data, velocity, score) is converted to :math:`\hat\varepsilon` by
:func:`genmodels.paths.convert`, so the weighting alone defines the objective.

Weightings :math:`\lambda(t)`: ``likelihood`` :math:`g(t)^2` (the loss then bounds the KL;
Song et al. 2021b, "Maximum Likelihood Training of Score-Based Diffusion Models"),
``sigma2`` :math:`\sigma_t^2` (the DDPM "simple" loss), ``uniform`` 1, ``min-snr``
:math:`\sigma_t^2\min(\mathrm{SNR}_t, \gamma)/\mathrm{SNR}_t` (Hang et al. 2023).
Time densities: ``uniform``, or ``importance`` :math:`p(t) \propto g(t)^2/\sigma_t^2` (the
variance-reducing choice for likelihood weighting); the estimate stays unbiased for the
uniform-time objective through the factor :math:`1/(p(t)(T - t_\varepsilon))`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...core import Batch, LossOutput, Objective, noise
from ...errors import InputError
from ...paths.guidance import training_labels
from ...paths.sde import ForwardSDE

WEIGHTINGS = ("likelihood", "sigma2", "uniform", "min-snr")
T_DENSITIES = ("uniform", "importance")


def noise_weight(sde: ForwardSDE, t: Tensor, weighting: str, gamma: float = 5.0) -> Tensor:
    """:math:`\\lambda(t)/\\sigma_t^2`: the weight of the squared noise error."""
    var = sde.var(t)
    if weighting == "likelihood":
        return sde.g2(t) / var
    if weighting == "sigma2":
        return torch.ones_like(var)
    if weighting == "uniform":
        return 1 / var
    if weighting == "min-snr":
        snr = sde.alpha(t) ** 2 / var
        return torch.clamp(snr, max=gamma) / snr
    raise InputError(f"weighting {weighting!r}: unknown (known: {', '.join(WEIGHTINGS)})")


class TimeDensity:
    """Draws training times: uniform on :math:`[t_\\varepsilon, T]`, or from
    :math:`p(t) \\propto g^2/\\sigma^2` by inverting its tabulated CDF."""

    def __init__(self, sde: ForwardSDE, kind: str = "uniform", table: int = 4096) -> None:
        if kind not in T_DENSITIES:
            raise InputError(f"t_sampling {kind!r}: unknown (known: {', '.join(T_DENSITIES)})")
        self.sde, self.kind = sde, kind
        self.span = sde.T - sde.t_eps
        if kind == "importance":
            ts = sde.time_grid(table, "logsnr").flip(0)
            q = sde.g2(ts) / sde.var(ts)
            cdf = torch.cat((torch.zeros(1, dtype=ts.dtype),
                             torch.cumsum(0.5 * (q[1:] + q[:-1]) * (ts[1:] - ts[:-1]), 0)))
            self.z = float(cdf[-1])
            self.ts, self.q, self.cdf = ts, q / self.z, cdf / self.z

    def sample(self, n: int, *, device: torch.device, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """Times ``(n,)`` (float64) and the factors :math:`1/(p(t)(T-t_\\varepsilon))`."""
        u = noise.rand((n,), generator=generator, dtype=torch.float64, device=device)
        if self.kind == "uniform":
            return self.sde.t_eps + self.span * u, torch.ones_like(u)
        cdf, ts, q = (a.to(device) for a in (self.cdf, self.ts, self.q))
        i = torch.searchsorted(cdf, u).clamp(1, len(cdf) - 1)
        w = (u - cdf[i - 1]) / (cdf[i] - cdf[i - 1]).clamp_min(1e-300)
        t = ts[i - 1] + w * (ts[i] - ts[i - 1])
        p = q[i - 1] + w * (q[i] - q[i - 1])
        return t, 1 / (p * self.span)


class DenoisingScoreMatching(Objective):
    """The DSM loss of a :class:`~genmodels.families.diffusion.ScoreDiffusion` model.

    Logs ``dsm`` (the loss) and ``eps_mse`` (the unweighted noise error).

    Args:
        weighting: one of :data:`WEIGHTINGS`.
        t_sampling: one of :data:`T_DENSITIES`.
        min_snr_gamma: :math:`\\gamma` of the min-SNR weighting.
    """

    def __init__(self, weighting: str = "sigma2", t_sampling: str = "uniform",
                 min_snr_gamma: float = 5.0, p_uncond: float = 0.1) -> None:
        if weighting not in WEIGHTINGS:
            raise InputError(f"weighting {weighting!r}: unknown (known: {', '.join(WEIGHTINGS)})")
        if t_sampling not in T_DENSITIES:
            raise InputError(f"t_sampling {t_sampling!r}: unknown "
                             f"(known: {', '.join(T_DENSITIES)})")
        if not 0 <= p_uncond <= 1:
            raise InputError(f"p_uncond {p_uncond} must be in [0, 1]")
        self.weighting, self.t_sampling, self.gamma = weighting, t_sampling, min_snr_gamma
        self.p_uncond = float(p_uncond)
        self._density: TimeDensity | None = None

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        sde = model.sde
        if self._density is None or self._density.sde is not sde:
            self._density = TimeDensity(sde, self.t_sampling)
        x0 = batch.x
        t, iw = self._density.sample(x0.shape[0], device=x0.device)
        eps = noise.randn_like(x0)
        xt = sde.perturb(x0, t, eps).to(x0.dtype)
        cond = training_labels(model, batch, self.p_uncond, "diffusion model")
        eps_hat = model.predict(xt, t, "noise", cond=cond)
        err = (eps_hat - eps).flatten(1).square().mean(1)
        w = (noise_weight(sde, t, self.weighting, self.gamma) * iw).to(err.dtype)
        loss = (w * err).mean()
        return LossOutput(loss, {"dsm": loss.detach(), "eps_mse": err.mean().detach()})
