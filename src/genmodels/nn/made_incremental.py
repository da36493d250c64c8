r"""Incremental MADE evaluation without autograd: each hidden unit is computed exactly once.

Sequential inversion of an autoregressive layer (sampling a MAF, scoring an IAF) fills the
input one position at a time. A hidden unit of degree :math:`m` depends only on the inputs at
positions :math:`< m` (through the units of degree :math:`\le m` of the layer below), so its
value is final as soon as positions :math:`0, \dots, m-1` are known, and the outputs of
position :math:`p` read only units of degree :math:`\le p`. Step :math:`p` therefore computes
the units of degree exactly :math:`p` in every hidden layer and then position :math:`p`'s
outputs; over the :math:`d` steps this is one masked pass of the MADE, in place of
:math:`d` full passes.

The units of every layer are sorted by degree, so the units of degree :math:`\le p` are a
prefix and each step is one small matrix product per layer on a prefix of the layer below,
in a transposed ``(units, batch)`` layout where those prefixes are contiguous rows. The masked
and sorted weights are built once per version of the parameters and cached on the MADE.

References:
    MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015),
    https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from .made import MADE

_INPLACE: dict[type[nn.Module], Callable[[nn.Module, Tensor], object]] = {
    nn.ReLU: lambda m, t: t.relu_(),
    nn.Tanh: lambda m, t: t.tanh_(),
    nn.SiLU: lambda m, t: F.silu(t, inplace=True),
    nn.ELU: lambda m, t: F.elu_(t, m.alpha),
}


class _Plan:
    """Masked, degree-sorted weights of a MADE, sliced for every step (no autograd)."""

    def __init__(self, made: MADE) -> None:
        linears = list(made.layers)[0::2]
        self.acts = list(made.layers)[1::2]
        d, ctx = made.features, made.context
        degrees = made.hidden_degrees
        perms = [torch.argsort(deg, stable=True) for deg in degrees]
        # ends[l][p]: number of units of layer l with degree <= p (a prefix after sorting)
        self.ends = [torch.searchsorted(deg[perm], torch.arange(d), right=True).tolist()
                     for deg, perm in zip(degrees, perms)]
        with torch.no_grad():
            ws = [lin.weight * lin.mask for lin in linears]
            bs = [lin.bias for lin in linears]
            w1 = ws[0][perms[0]]
            self.w_ctx = w1[:, d:] if ctx else None  # (H1, c)
            self.b_first = bs[0][perms[0]]
            self.w_in = w1[:, :d][:, torch.argsort(made.order)]  # columns in position order
            self.w_hidden = [ws[k][perms[k]][:, perms[k - 1]] for k in range(1, len(perms))]
            self.b_hidden = [bs[k][perms[k]] for k in range(1, len(perms))]
            coord = torch.argsort(made.order)  # coord[p]: the coordinate at position p
            rows = coord[:, None] + d * torch.arange(made.params)[None, :]  # (d, params)
            self.w_out = ws[-1][:, perms[-1]][rows]  # (d, params, H_L)
            self.b_out = bs[-1][rows]  # (d, params)
        self.steps = [self._step(p) for p in range(d)]

    def _step(self, p: int) -> list[tuple[int, int, Tensor, Tensor | None]]:
        """Per layer: the rows ``[start, stop)`` of degree ``p``, their weights and biases."""
        out = []
        prev = p  # the inputs at positions < p
        for k, ends in enumerate(self.ends):
            start = ends[p - 1] if p else 0
            stop = ends[p]
            if k == 0:
                w = self.w_in[start:stop, :prev].contiguous()
                b = self.b_first[start:stop]
            else:
                w = self.w_hidden[k - 1][start:stop, :prev].contiguous()
                b = self.b_hidden[k - 1][start:stop]
            out.append((start, stop, w, b[:, None].contiguous()))
            prev = stop
        last = self.w_out[p][:, :prev].contiguous()  # (params, units of degree <= p)
        out.append((0, prev, last, self.b_out[p][:, None].contiguous()))
        return out


def plan(made: MADE) -> _Plan:
    """The cached plan of ``made``, rebuilt whenever a parameter (or its storage) changes."""
    key = tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in made.parameters())
    cached = getattr(made, "_incremental_plan", None)
    if cached is None or cached[0] != key:
        cached = (key, _Plan(made))
        made._incremental_plan = cached
    return cached[1]


class MADEIncremental:
    """Fills a MADE's input in position order ``0, 1, …, d-1`` (see the module docstring).

    Call :meth:`outputs` for position ``p`` once positions ``< p`` are set, then :meth:`set`.
    No autograd: use under ``torch.no_grad()`` (the layers' autograd path is
    :meth:`MADE.sequential`).

    Args:
        made: the MADE (with at least one hidden layer).
        batch: the batch size ``B``.
        cond: the context ``(B, c)`` when the MADE has one.
        like: a tensor with the dtype and device to use.
    """

    def __init__(self, made: MADE, batch: int, cond: Tensor | None, like: Tensor) -> None:
        self.plan = plan(made)
        opts = {"dtype": like.dtype, "device": like.device}
        self.x = torch.zeros(made.features, batch, **opts)  # inputs, in position order
        self.hidden = [torch.empty(len(e) and e[-1], batch, **opts) for e in self.plan.ends]
        self.first_bias: Tensor | None = None
        if made.context:
            cond = made._input(like.new_zeros(batch, 0), cond)
            self.first_bias = torch.addmm(self.plan.b_first[:, None], self.plan.w_ctx, cond.T)

    def outputs(self, p: int) -> Tensor:
        """The ``(params, B)`` outputs of position ``p``, given the inputs at positions ``< p``."""
        steps = self.plan.steps[p]
        below = self.x
        for k, (start, stop, w, b) in enumerate(steps[:-1]):
            buf = self.hidden[k]
            if stop > start:
                out = buf[start:stop]
                if k == 0 and self.first_bias is not None:
                    b = self.first_bias[start:stop]
                torch.addmm(b, w, below[: w.shape[1]], out=out)
                act = self.plan.acts[k]
                fn = _INPLACE.get(type(act))
                if fn is None:
                    out.copy_(act(out))
                else:
                    fn(act, out)
            below = buf
        _, stop, w, b = steps[-1]
        return torch.addmm(b, w, below[:stop])

    def set(self, p: int, value: Tensor) -> None:
        """Sets the input at position ``p`` to ``value`` (shape ``(B,)``)."""
        self.x[p].copy_(value)
