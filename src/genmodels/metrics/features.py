"""A small classifier of the 8×8 sklearn digits, the feature extractor of the image metrics.

**Not Inception.** FID, KID and the Inception score are defined on InceptionV3 features of
natural images; this extractor is a small CNN trained on ``sklearn.datasets.load_digits``
itself (no download), so the numbers it gives (``fd_digits``, ``kid_digits``, ``cs_digits``)
are comparable only with each other, never with published FID/IS values.

The network is trained once (seeded, a few seconds on one CPU core) and cached as a state
dict under ``$GENMODELS_DATA`` or, when unset, ``~/.cache/genmodels``
(``digits_classifier_v1.pt``, written atomically, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

#: The image shape the extractor reads.
EVENT_SHAPE = (1, 8, 8)
FEATURE_DIM = 64
_FILE = "digits_classifier_v1.pt"
_MEMO: dict[str, tuple[nn.Module, float]] = {}


class DigitsNet(nn.Module):
    """Conv(1→16) · Conv(16→32) · avg-pool · Linear(512→64) [features] · Linear(64→10)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.SiLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(512, FEATURE_DIM), nn.SiLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """``(B, 1, 8, 8)`` images in [0, 1] → ``(B, 64)`` penultimate-layer features."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def cache_dir() -> Path:
    """``$GENMODELS_DATA`` if set, else ``~/.cache/genmodels``."""
    root = os.environ.get("GENMODELS_DATA")
    return Path(root) if root else Path.home() / ".cache" / "genmodels"


def digits_arrays() -> tuple[Tensor, Tensor]:
    """The 1797 sklearn digits as ``(N, 1, 8, 8)`` float32 in [0, 1] (pixel / 16) and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).reshape(-1, *EVENT_SHAPE) / 16.0
    return x, torch.as_tensor(d.target, dtype=torch.long)


def _train(seed: int = 0, epochs: int = 25) -> tuple[DigitsNet, float]:
    """Trains on a seeded 80 % of the digits (dequantised: (k + U)/17 ≈ the [0, 1] scale);
    returns the net and its accuracy on the other 20 %."""
    x, y = digits_arrays()
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_tr = int(0.8 * len(x))
    tr, te = perm[:n_tr], perm[n_tr:]
    torch.manual_seed(seed)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    with torch.enable_grad():
        for _ in range(epochs):
            for idx in torch.randperm(n_tr, generator=g).split(128):
                xb = x[tr[idx]] * (16.0 / 17.0) + torch.rand(len(idx), *EVENT_SHAPE,
                                                               generator=g) / 17.0
                opt.zero_grad()
                nn.functional.cross_entropy(net(xb), y[tr[idx]]).backward()
                opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(x[te]).argmax(1) == y[te]).float().mean())
    return net, acc


def digits_classifier() -> tuple[DigitsNet, float]:
    """The cached classifier (trained on first use) and its held-out accuracy."""
    path = cache_dir() / _FILE
    key = str(path)
    if key in _MEMO:
        return _MEMO[key]  # type: ignore[return-value]
    net = DigitsNet()
    if path.exists():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(blob["state"])
        acc = float(blob["accuracy"])
    else:
        net, acc = _train()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state": net.state_dict(), "accuracy": torch.tensor(acc)}, tmp)
        os.replace(tmp, path)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    _MEMO[key] = (net, acc)
    return net, acc


def to_unit_range(x: Tensor, lo: float, hi: float) -> Tensor:
    """Maps data units to the classifier's [0, 1] scale with ``(x − lo)/(hi − lo)``."""
    return (x.to("cpu", torch.float32) - lo) / max(hi - lo, 1e-12)


def features_and_probs(images: Tensor, lo: float, hi: float) -> tuple[Tensor, Tensor]:
    """``(B, 64)`` float64 features and ``(B, 10)`` class probabilities of images in data
    units, ``[lo, hi]`` being the data's range (the test split's min and max)."""
    net, _ = digits_classifier()
    out_f, out_p = [], []
    with torch.no_grad():
        for chunk in to_unit_range(images.reshape(-1, *EVENT_SHAPE), lo, hi).split(512):
            f = net.features(chunk)
            out_f.append(f.double())
            out_p.append(torch.softmax(net.head(f), 1).double())
    return torch.cat(out_f), torch.cat(out_p)


def label_accuracy(images: Tensor, labels: Tensor, lo: float, hi: float) -> float:
    """The fraction of images in data units (range ``[lo, hi]``) that the digits classifier
    assigns to ``labels`` (the accuracy of class-conditional samples; chance is 0.1)."""
    _, probs = features_and_probs(images, lo, hi)
    return float((probs.argmax(1) == labels.cpu()).double().mean())


def classifier_score(probs: Tensor) -> tuple[float, float]:
    """``(exp(E_x KL(p(y|x) ‖ p(y))), H(p(y)))``: the Inception-score analogue and the entropy
    (nats, ≤ log 10) of the predicted-label distribution ``p(y) = mean_x p(y|x)``."""
    p = probs.clamp_min(1e-12)
    marg = p.mean(0)
    kl = (p * (p.log() - marg.log())).sum(1).mean()
    return float(kl.exp()), float(-(marg * marg.log()).sum())
