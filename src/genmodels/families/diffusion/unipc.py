r"""UniPC: a multistep predictor with a corrector that costs no network evaluation.

In data prediction and :math:`\lambda = \log(\alpha/\sigma)`, the probability-flow ODE from
:math:`t_k` to :math:`t_{k+1}` (:math:`h = \lambda_{k+1} - \lambda_k > 0`) is, exactly,

.. math::
    x_{k+1} = \frac{\sigma_{k+1}}{\sigma_k} x_k
        + \alpha_{k+1} \int_0^h e^{u - h}\, \hat x_0(\lambda_k + u)\, du .

Replacing :math:`\hat x_0` by the polynomial through model outputs at nodes
:math:`r_j = (\lambda_j - \lambda_k)/h` and integrating exactly gives scalar weights
:math:`x_{k+1} = \frac{\sigma_{k+1}}{\sigma_k}x_k + \alpha_{k+1}\sum_j w_j m_j`,
:math:`w = V^{-\top} b`, :math:`V_{jn} = r_j^n`, :math:`b_n = h\,n!\,\varphi_{n+1}(-h)`, with
:math:`\varphi_1(z) = (e^z - 1)/z`, :math:`\varphi_{n+1}(z) = (\varphi_n(z) - 1/n!)/z`.

* predictor (UniP): the nodes are the current point and the last outputs (:math:`r \le 0`);
* corrector (UniC): once the network has been evaluated at the predicted point (which the
  next step needs anyway), the same update is redone from :math:`x_k` with that output
  added as a node (:math:`r = 1`). The next step starts from the corrected point but keeps
  the output at the predicted one, so the corrector is free.

With ``q`` predictor nodes the corrector has ``q + 1``; its local error is
:math:`O(h^{q+2})`, so ``unipc-p`` (``q = p - 1``) has global order ``p``. The last step has
no corrector (it would cost an evaluation); with fewer than 15 steps the final steps lower the
order, as DPM-Solver++ does. This is the exact-coefficient ("varying coefficient") form of
UniPC in the data prediction of Zhao, Bai, Rao, Zhou & Lu, *UniPC: A Unified
Predictor-Corrector Framework for Fast Sampling of Diffusion Models*, NeurIPS 2023
(arXiv 2302.04867), §3, whose UniC raises the order of any such predictor by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ...errors import InputError
from ...paths.sde import ForwardSDE

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def phi(k: int, z: float) -> float:
    """:math:`\\varphi_k(z) = \\sum_{i \\ge 0} z^i / (i + k)!` (series for small ``|z|``,
    where the recurrence cancels)."""
    if abs(z) < 0.5:
        return sum(z**i / math.factorial(i + k) for i in range(24))
    out = math.exp(z)
    for j in range(k):
        out = (out - 1 / math.factorial(j)) / z
    return out


def weights(r: list[float], h: float) -> list[float]:
    """The weights :math:`w = V^{-\\top} b` of the exponential quadrature on nodes ``r``."""
    q = len(r)
    v = torch.tensor([[ri**n for n in range(q)] for ri in r], dtype=torch.float64)
    b = torch.tensor([h * math.factorial(n) * phi(n + 1, -h) for n in range(q)],
                     dtype=torch.float64)
    return torch.linalg.solve(v.T, b).tolist()


def unipc(score: ScoreFn, sde: ForwardSDE, x: Tensor, ts: Tensor, order: int) -> Tensor:
    """Runs ``unipc-<order>`` on the decreasing grid ``ts`` (one evaluation per step)."""
    if order not in (2, 3, 4):
        raise InputError(f"unipc: order {order} must be 2, 3 or 4")
    tsd = ts.to(torch.float64)
    alpha = sde.alpha(tsd).tolist()
    sigma = sde.sigma(tsd).tolist()
    lam = [math.log(a / s) for a, s in zip(alpha, sigma)]
    n = len(lam) - 1

    def x0_at(k: int, y: Tensor) -> Tensor:
        return (y + sigma[k] ** 2 * score(ts[k], y)) / alpha[k]

    hist: list[tuple[float, Tensor]] = [(lam[0], x0_at(0, x))]  # (λ, x̂0), newest last

    def update(k: int, y: Tensor, nodes: list[tuple[float, Tensor]]) -> Tensor:
        h = lam[k + 1] - lam[k]
        w = weights([(lk - lam[k]) / h for lk, _ in nodes], h)
        out = (sigma[k + 1] / sigma[k]) * y
        for wj, (_, m) in zip(w, nodes):
            out = out + alpha[k + 1] * wj * m
        return out

    for k in range(n):
        h = lam[k + 1] - lam[k]
        q = min(order - 1, len(hist), n - k if n < 15 else order)
        if q >= 2 and lam[k] - hist[-2][0] < 0.5 * h:
            q = 1  # history too short for a step this long: extrapolation is unstable
        pred = update(k, x, hist[-q:])
        if k == n - 1:
            return pred
        m_new = x0_at(k + 1, pred)
        x = update(k, x, [*hist[-q:], (lam[k + 1], m_new)])  # UniC: the free corrector
        hist = [*hist[-(order - 1):], (lam[k + 1], m_new)]
    return x
