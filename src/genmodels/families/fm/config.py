"""The configs of the ``cfm`` and ``ot-cfm`` families (``--set model.<field>=...``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...paths.couplings import COUPLINGS, OT_SOLVERS
from ...paths.interpolants import INTERPOLANTS

SAMPLERS = ("euler", "midpoint", "heun", "rk4", "dopri5")
PREDICTIONS = ("velocity", "noise", "data")


@dataclass
class CFMConfig:
    """Conditional flow matching: an interpolant, a coupling, a source and a prediction.

    Attributes:
        path: the interpolant (``linear``, ``cosine``, ``vp``, ``bridge``, ``tube``).
        sigma_min: ``linear``'s width at the data end (0: exactly the data).
        bridge_scale: ``bridge``'s :math:`s` in :math:`\\gamma_t = s\\sqrt{t(1-t)}`, and
            ``tube``'s constant width :math:`\\gamma_t = s`.
        t_min: the time cut-off where a path's coefficients are singular (``vp``, ``bridge``,
            and the end a ``noise``/``data`` prediction cannot convert at).
        time_power: the training times are :math:`t = u^k`, :math:`u \\sim U[0, 1]`, with
            this :math:`k` (1: uniform; > 1 trains more near the data end :math:`t = 0`).
        coupling: ``independent``, ``exact`` (minibatch OT) or ``sinkhorn``.
        sinkhorn_reg: Sinkhorn's :math:`\\varepsilon` relative to the batch's mean cost.
        coupling_solver: the ``exact`` coupling's assignment solver: ``auto`` (the C auction
            when built, else POT), ``auction`` (:func:`~genmodels.paths.auction_assignment`,
            optimal to a cost excess of at most :math:`10^{-9}\\sum_{ij}C_{ij}/n`), ``emd``
            (POT's network simplex, torchcfm's solver) or ``hungarian`` (scipy).
        coupling_workers: 0 (default) computes each batch's coupling in the training step;
            ``w >= 1`` computes it in ``w`` background threads while the steps run, and each
            step trains on the batch of ``w`` steps earlier with that batch's own plan
            (:class:`~genmodels.paths.pipeline.CouplingPipeline`). Deterministic for a seed,
            but not resume-exact (the batches in flight are not checkpointed).
        source: ``gaussian`` (a standard normal; the model then has a density) or the name
            of a registered data set (data-to-data transport; no density).
        source_points: points drawn from a data-set source.
        source_seed: the seed of those points.
        prediction: what the network predicts: ``velocity``, ``noise`` (the source point)
            or ``data``; sampling and likelihood convert it to the velocity.
        width: the network's hidden width.
        blocks: its residual blocks.
        activation: its activation.
        sampler: the default sampler.
        nfe: the default sampling budget (network evaluations).
        rtol: ``dopri5``'s tolerance (relative and absolute) when sampling.
        likelihood_solver: the solver of ``log_prob`` (adaptive ``dopri5`` by default).
        likelihood_steps: its fixed steps (other solvers).
        likelihood_rtol: its adaptive tolerance.
        trace: ``auto`` (exact up to ``exact_max_dim`` coordinates), ``exact`` or
            ``hutchinson``.
        exact_max_dim: where ``auto`` switches to Hutchinson.
        probes: Hutchinson probes per point.
        conditional: condition the network on the data's class labels (a learnt embedding
            with a null token, added to the time embedding); the data must have labels.
            ``log_prob`` given labels is then :math:`\\log p_\\theta(x \\mid c)`, without
            them the null label's :math:`\\log p_\\theta(x)`.
        p_uncond: the probability that a training label is replaced by the null token
            (Ho & Salimans 2022), so the same network is also unconditional.
        guidance: the classifier-free guidance weight :math:`w` of labelled sampling,
            :math:`\\tilde v = (1 + w)v_\\theta(x, t, c) - w\\,v_\\theta(x, t, \\varnothing)`;
            0 is conditional sampling, -1 unconditional; diffusers' guidance scale is
            :math:`1 + w` (:mod:`genmodels.paths.guidance`, the convention of diffusion's
            ``model.guidance``). ``genmodels sample --set model.guidance=2`` changes it at
            sampling time.
    """

    path: str = field(default="linear", metadata={"choices": INTERPOLANTS})
    sigma_min: float = 0.0
    bridge_scale: float = 0.1
    t_min: float = 1e-3
    time_power: float = 1.0
    coupling: str = field(default="independent", metadata={"choices": COUPLINGS})
    sinkhorn_reg: float = 0.05
    coupling_solver: str = field(default="auto", metadata={"choices": OT_SOLVERS})
    coupling_workers: int = 0
    source: str = "gaussian"
    source_points: int = 10_000
    source_seed: int = 0
    prediction: str = field(default="velocity", metadata={"choices": PREDICTIONS})
    width: int = 128
    blocks: int = 3
    activation: str = field(default="silu", metadata={"choices": ("silu", "tanh", "elu",
                                                                   "relu")})
    sampler: str = field(default="rk4", metadata={"choices": SAMPLERS})
    nfe: int = 40
    rtol: float = 1e-4
    likelihood_solver: str = field(default="dopri5", metadata={"choices": SAMPLERS})
    likelihood_steps: int = 32
    likelihood_rtol: float = 1e-5
    trace: str = field(default="auto", metadata={"choices": ("auto", "exact", "hutchinson")})
    exact_max_dim: int = 16
    probes: int = 1
    conditional: bool = False
    p_uncond: float = 0.1
    guidance: float = 0.0


@dataclass
class OTCFMConfig(CFMConfig):
    """``cfm`` with the exact minibatch-OT coupling by default (Tong et al. 2024)."""

    coupling: str = field(default="exact", metadata={"choices": COUPLINGS})
