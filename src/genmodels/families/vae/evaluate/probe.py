r"""Representation quality: a linear probe on the latent codes.

Multinomial logistic regression :math:`p(y \mid z) = \mathrm{softmax}(Az + c)` is fitted on the
standardised codes :math:`z = \mathbb E_q[z \mid x]` of the training split (full-batch L-BFGS
with a small L2 penalty) and scored on the test split: its accuracy beside that of the same
probe on the raw pixels and the majority-class rate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ....errors import InputError


def fit_probe(train: Tensor, y_train: Tensor, test: Tensor, y_test: Tensor, *,
              l2: float = 1e-3, steps: int = 200) -> float:
    """Test accuracy of a linear softmax classifier fitted on ``(train, y_train)``."""
    if len(train) == 0 or len(test) == 0:
        raise InputError("linear probe: the train and test splits must be non-empty")
    a, b = train.flatten(1).double(), test.flatten(1).double()
    mu, sd = a.mean(0), a.std(0).clamp_min(1e-6)
    a, b = (a - mu) / sd, (b - mu) / sd
    k = int(max(int(y_train.max()), int(y_test.max()))) + 1
    w = torch.zeros(a.shape[1], k, dtype=torch.float64, requires_grad=True)
    c = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=steps, line_search_fn="strong_wolfe")
    yt = y_train.long()

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(a @ w + c, yt) + l2 * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        return float(((b @ w + c).argmax(1) == y_test.long()).double().mean())


def linear_probe(run: object) -> dict[str, float]:
    """``probe_accuracy`` (codes), ``probe_pixels`` (raw inputs), ``probe_chance`` (majority)
    on a labelled run's own splits."""
    from ..model import VAE

    model = run.family_model  # type: ignore[attr-defined]
    if not isinstance(model, VAE):
        raise InputError("probe: the run is not a latent-variable model (vae, iwae)")
    data = run.dataset()  # type: ignore[attr-defined]
    if data.train_labels is None or data.test_labels is None:
        raise InputError(f"probe: data set {data.name!r} has no labels")
    std = run.standardize  # type: ignore[attr-defined]
    train = torch.as_tensor(data.train[:]).float() + 0.5 if data.levels else \
        torch.as_tensor(data.train[:]).float()
    with torch.no_grad():
        z_train = model.encode(std.forward(train))
        z_test = model.encode(std.forward(data.test.float()))
    counts = torch.bincount(data.test_labels.long())
    return {"probe_accuracy": fit_probe(z_train, data.train_labels, z_test, data.test_labels),
            "probe_pixels": fit_probe(train, data.train_labels, data.test.float(),
                                      data.test_labels),
            "probe_chance": float(counts.max() / counts.sum()),
            "latent": float(model.latent)}
