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


class _Structure:
    """The degree-sorted unit order of every layer and the prefix ends (fixed per MADE)."""

    def __init__(self, made: MADE) -> None:
        d = made.features
        self.perms = [torch.argsort(deg, stable=True) for deg in made.hidden_degrees]
        # ends[l][p]: number of units of layer l with degree <= p (a prefix after sorting)
        self.ends = [torch.searchsorted(deg[perm], torch.arange(d), right=True).tolist()
                     for deg, perm in zip(made.hidden_degrees, self.perms)]
        coord = made.sorted_order.cpu()  # coord[p]: the coordinate at position p
        self.coord = coord
        self.rows = coord[:, None] + d * torch.arange(made.params)[None, :]  # (d, params)

    def groups(self, p: int) -> list[tuple[int, int, int]]:
        """Per hidden layer, the rows ``[start, stop)`` of degree ``p`` and their inputs' count.

        Units of degree ``p`` see the inputs at positions ``< p`` (first layer) or the units
        of degree ``<= p`` of the layer below: a prefix of the sorted units.
        """
        out, prev = [], p
        for ends in self.ends:
            start, stop = (ends[p - 1] if p else 0), ends[p]
            out.append((start, stop, prev))
            prev = stop
        return out


def _structure(made: MADE) -> _Structure:
    cached = getattr(made, "_incremental_structure", None)
    if cached is None:
        cached = made._incremental_structure = _Structure(made)
    return cached


def _weights(made: MADE, st: _Structure) -> dict[str, object]:
    """The masked weights with units in degree order and inputs in position order."""
    linears = list(made.layers)[0::2]
    d, perms = made.features, st.perms
    ws = [lin.weight * lin.mask for lin in linears]
    bs = [lin.bias for lin in linears]
    w1 = ws[0][perms[0]]
    dev = w1.device
    return {
        "w_ctx": w1[:, d:] if made.context else None,  # (H1, c)
        "b_first": bs[0][perms[0]],
        "w_in": w1[:, :d][:, st.coord.to(dev)],  # columns in position order
        "w_hidden": [ws[k][perms[k]][:, perms[k - 1]] for k in range(1, len(perms))],
        "b_hidden": [bs[k][perms[k]] for k in range(1, len(perms))],
        "w_out": ws[-1][:, perms[-1]][st.rows.to(dev)],  # (d, params, H_L)
        "b_out": bs[-1][st.rows.to(dev)],  # (d, params)
    }


class _Plan:
    """Masked, degree-sorted weights of a MADE, sliced for every step (no autograd)."""

    def __init__(self, made: MADE) -> None:
        st = _structure(made)
        self.acts = list(made.layers)[1::2]
        self.ends = st.ends
        with torch.no_grad():
            w = _weights(made, st)
        self.w_ctx, self.b_first = w["w_ctx"], w["b_first"]
        self.steps = []
        for p in range(made.features):
            step = []
            for k, (start, stop, prev) in enumerate(st.groups(p)):
                weight = w["w_in"] if k == 0 else w["w_hidden"][k - 1]
                bias = w["b_first"] if k == 0 else w["b_hidden"][k - 1]
                step.append((start, stop, weight[start:stop, :prev].contiguous(),
                             bias[start:stop, None].contiguous()))
            prev = st.ends[-1][p]
            step.append((0, prev, w["w_out"][p][:, :prev].contiguous(),
                         w["b_out"][p][:, None].contiguous()))
            self.steps.append(step)


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


class MADESequential:
    """Fills a MADE's input in position order with autograd (see :meth:`MADE.sequential`).

    The same unit-by-degree schedule as :class:`MADEIncremental`, in the ``(B, units)``
    layout: each layer keeps the prefix of its computed units, extended by concatenation
    (out of place, so gradients flow to the parameters, the context and the inputs set).

    Args:
        made: the MADE (with at least one hidden layer).
        cond: the context ``(B, c)`` when the MADE has one.
        like: a ``(B, ·)`` tensor with the batch size, dtype and device to use.
    """

    def __init__(self, made: MADE, cond: Tensor | None, like: Tensor) -> None:
        self.st = _structure(made)
        self.acts = list(made.layers)[1::2]
        self.w = _weights(made, self.st)
        batch = like.shape[0]
        self.x = like.new_zeros(batch, 0)  # inputs set so far, in position order
        self.prefix = [like.new_zeros(batch, 0) for _ in self.st.ends]
        b_first = self.w["b_first"]
        self.first = b_first.expand(batch, -1)
        if made.context:
            cond = made._input(like.new_zeros(batch, 0), cond)
            self.first = torch.addmm(b_first, cond, self.w["w_ctx"].T)

    def outputs(self, p: int) -> Tensor:
        """The ``(B, params)`` outputs of position ``p``, given the inputs at positions ``< p``."""
        w = self.w
        below = self.x
        for k, (start, stop, prev) in enumerate(self.st.groups(p)):
            if stop > start:
                if k == 0:
                    pre = torch.addmm(self.first[:, start:stop], below[:, :prev],
                                      w["w_in"][start:stop, :prev].T)
                else:
                    pre = torch.addmm(w["b_hidden"][k - 1][start:stop], below[:, :prev],
                                      w["w_hidden"][k - 1][start:stop, :prev].T)
                self.prefix[k] = torch.cat((self.prefix[k], self.acts[k](pre)), dim=1)
            below = self.prefix[k]
        stop = self.st.ends[-1][p]
        return torch.addmm(w["b_out"][p], below[:, :stop], w["w_out"][p][:, :stop].T)

    def set(self, p: int, value: Tensor) -> None:
        """Sets the input at position ``p`` (set in order) to ``value``, shape ``(B, 1)``."""
        if self.x.shape[1] != p:
            raise ValueError(f"position {p} set out of order (next is {self.x.shape[1]})")
        self.x = torch.cat((self.x, value), dim=1)
