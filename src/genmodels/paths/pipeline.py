r"""Minibatch couplings computed by worker threads, off the training step's critical path.

An exact OT coupling costs about a millisecond of CPU per batch or more (at n = 256 on the
2-core development machine: 0.8–1.0 ms for the C auction solver, 3.3–3.9 ms for POT's network
simplex ``ot.emd``), more than the whole training step of a small network (0.55 ms there). A
:class:`CouplingPipeline` of ``workers`` threads hides it behind the steps: call :math:`k`
hands in the pair :math:`(x_{\mathrm{data},k}, x_{\mathrm{src},k})` (drawn by the
caller, in the main thread), submits the computation of its partners
:math:`j_k = \mathrm{partners}(x_{\mathrm{data},k}, x_{\mathrm{src},k})` to a worker, and
returns the coupled pair of call :math:`k - w`,

.. math:: \big(x_{\mathrm{data},k-w},\; x_{\mathrm{src},k-w}[j_{k-w}]\big),

whose plan the workers computed while the :math:`w` steps in between ran. The plan returned is
always the plan of the pair returned (the pair and its future travel together). During the
warm-up (calls :math:`0, \dots, w-1`) a call waits for its own plan and returns its own pair;
those :math:`w` pairs come back a second time :math:`w` calls later, and the last :math:`w`
pairs handed in are never returned (their plans are dropped by :meth:`close`).

**Determinism.** Every random draw is made by the caller, in call order, in the main thread:
a worker's job is a pure function of its inputs (the exact plan is deterministic; a stochastic
coupling, Sinkhorn's, draws from a generator seeded by a number the caller drew through
:mod:`genmodels.core.noise`). A call waits for the future of the pair it returns, whatever
order the workers finish in, so a fixed seed gives the same training run twice.

**Speed.** Per step the CPU still does the plan and the step; the pipeline only spreads them
over cores. With one worker the step takes about :math:`\max(t_\mathrm{plan},
t_\mathrm{step})`; with :math:`w` workers on :math:`c` cores at best
:math:`\max\big((t_\mathrm{plan} + t_\mathrm{step}) / c,\; t_\mathrm{plan} / w,\;
t_\mathrm{step}\big)`. It helps most when the step runs on a GPU and the plan on the CPU.
"""

from __future__ import annotations

import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..core import noise
from ..errors import InputError
from .couplings import Coupling, partners_within

THREAD_PREFIX = "genmodels-coupling"


def _partners(coupling: Coupling, x_data: Tensor, x_src: Tensor, groups: Tensor | None,
              seed: int | None) -> Tensor:
    """A worker's job: the partner index of one pair (within ``groups`` when given)."""
    g = None if seed is None else torch.Generator(device=x_data.device).manual_seed(seed)
    if groups is None:
        return coupling.partners(x_data, x_src, generator=g)
    return partners_within(coupling, x_data, x_src, groups, generator=g)


@dataclass
class _Pending:
    """A pair handed in, with what travels with it and the future of its partners."""

    x_data: Tensor
    x_src: Tensor
    cond: Any
    future: Future


class CouplingPipeline:
    """Couples each pair in a worker thread and returns, ``workers`` calls later, that pair
    coupled by its own plan.

    The threads start at the first call and stop at :meth:`close` (or when the pipeline is
    garbage-collected); a call after :meth:`close` starts afresh with a new warm-up.

    Args:
        coupling: the coupling whose :meth:`~genmodels.paths.couplings.Coupling.partners`
            the workers compute.
        workers: the worker threads, and the delay in calls (>= 1).
    """

    def __init__(self, coupling: Coupling, workers: int = 1) -> None:
        if workers < 1:
            raise InputError(f"coupling pipeline: workers {workers} must be >= 1")
        self.coupling, self.workers = coupling, int(workers)
        self._queue: deque[_Pending] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None

    def __call__(self, x_data: Tensor, x_src: Tensor, cond: Any = None, *,
                 within: bool = False) -> tuple[Tensor, Tensor, Any]:
        """Hands in a pair and returns the coupled pair ``(x_data, x_src[j], cond)`` of
        ``workers`` calls ago (during the warm-up, this call's own).

        Args:
            x_data: the data batch ``(B, *D)``.
            x_src: the source batch ``(B, *D)``.
            cond: what travels with the pair (labels, conditioning), returned with it.
            within: couple within the groups of equal ``cond`` values ``(B,)``
                (:func:`~genmodels.paths.couplings.couple_within`).

        Raises:
            RuntimeError: when the worker's computation raised (its message and type named;
                the pipeline is closed); an :class:`~genmodels.errors.InputError` stays one.
        """
        pool = self._start()
        # drawn here, in call order, so that a stochastic plan does not depend on threads
        seed = int(noise.randint(0, 2**62, (1,))[0]) if self.coupling.stochastic else None
        groups = cond if within else None
        item = _Pending(x_data, x_src, cond,
                        pool.submit(_partners, self.coupling, x_data, x_src, groups, seed))
        self._queue.append(item)
        if len(self._queue) > self.workers:
            item = self._queue.popleft()
        j = self._result(item)
        return item.x_data, item.x_src[j.to(item.x_src.device)], item.cond

    def _start(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=THREAD_PREFIX)
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False,
                                               cancel_futures=True)
        return self._pool

    def _result(self, item: _Pending) -> Tensor:
        try:
            return item.future.result()
        except Exception as e:
            self.close()
            what = f"the {self.coupling.name or type(self.coupling).__name__!r} coupling"
            if isinstance(e, InputError):
                raise InputError(f"{what} (in its worker thread): {e}") from e
            raise RuntimeError(f"{what} failed in its worker thread: "
                               f"{type(e).__name__}: {e}") from e

    def close(self) -> None:
        """Drops the pairs in flight and stops the threads (waiting for running jobs)."""
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()
        if self._pool is not None:
            self._finalizer.detach()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._finalizer = None

    def __repr__(self) -> str:
        return f"CouplingPipeline({self.coupling!r}, workers={self.workers})"
