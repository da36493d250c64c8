"""Time per VAE training step: genmodels (through its Trainer, and as a bare loop over the
objective) against pythae 0.1.2's ``VAE`` doing the same work, in one process.

The same work: 8×8 digits flattened to 64 values in [0, 1], batch 100, an MLP encoder
64-256-256-(16+16) and decoder 16-256-256-64 (ReLU), one reparameterised sample, a Gaussian
decoder with unit variance (pythae's ``reconstruction_loss="mse"``, the same loss up to a
constant), the analytic KL, Adam at 1e-3. Goal: genmodels ≥ 1.0× pythae's speed.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_vae.py [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, write_table  # noqa: E402

from genmodels.config import DataConfig, TrainConfig  # noqa: E402
from genmodels.core import Batch  # noqa: E402
from genmodels.data import load_dataset  # noqa: E402
from genmodels.families.vae import VAEConfig, build_vae  # noqa: E402
from genmodels.registry import DataInfo  # noqa: E402
from genmodels.train import Trainer  # noqa: E402

BATCH, LATENT, HIDDEN = 100, 16, 256


def data() -> torch.Tensor:
    d = load_dataset(DataConfig(name="digits"))
    return (torch.as_tensor(d.train[:]).float().reshape(len(d.train), -1) + 0.5) / 17


def ours() -> tuple[nn.Module, object]:
    torch.manual_seed(0)
    cfg = VAEConfig(latent=LATENT, hidden=(HIDDEN, HIDDEN), decoder="gaussian",
                    variance="fixed", sigma=1.0, refine_steps=0)
    return build_vae(cfg, DataInfo((64,)))


def theirs() -> nn.Module:
    from pythae.models import VAE
    from pythae.models import VAEConfig as PConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Enc(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN),
                                     nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENT))

        def forward(self, x: torch.Tensor) -> ModelOutput:
            h = self.net(x.reshape(len(x), -1))
            return ModelOutput(embedding=h[:, :LATENT], log_covariance=h[:, LATENT:])

    class Dec(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(),
                                     nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 64))

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=self.net(z))

    torch.manual_seed(0)
    cfg = PConfig(input_dim=(64,), latent_dim=LATENT, reconstruction_loss="mse")
    return VAE(cfg, encoder=Enc(), decoder=Dec())


def batches(x: torch.Tensor, steps: int):
    g = torch.Generator().manual_seed(0)
    perm, pos = torch.randperm(len(x), generator=g), 0
    for _ in range(steps):
        if pos + BATCH > len(perm):
            perm, pos = torch.randperm(len(x), generator=g), 0
        yield x[perm[pos:pos + BATCH]]
        pos += BATCH


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    x = data()
    steps = args.steps

    def trainer() -> None:
        model, objective = ours()
        cfg = TrainConfig(steps=steps, batch_size=BATCH, schedule="constant",
                          checkpoint_every=0, log_every=steps, seed=0)
        Trainer(cfg, progress=False).fit(model, objective, x)

    def bare(fused: bool = False) -> None:
        model, objective = ours()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
        for xb in batches(x, steps):
            loss = objective(model, Batch(xb)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def pythae(fused: bool = False) -> None:
        from pythae.data.datasets import DatasetOutput

        model = theirs()
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
        for xb in batches(x, steps):
            loss = model(DatasetOutput(data=xb)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    t = interleaved({"trainer": trainer, "bare": bare, "pythae": pythae,
                     "bare_fused": lambda: bare(True), "pythae_fused": lambda: pythae(True)},
                    repeats=args.repeats)
    ms = {k: 1e3 * v / steps for k, v in t.items()}
    rows = [["genmodels Trainer", f"{ms['trainer']:.3f}", f"{t['pythae'] / t['trainer']:.2f}"],
            ["genmodels objective, bare loop", f"{ms['bare']:.3f}",
             f"{t['pythae'] / t['bare']:.2f}"],
            ["pythae 0.1.2 VAE, bare loop", f"{ms['pythae']:.3f}", "1.00"],
            ["genmodels objective, bare loop, fused Adam", f"{ms['bare_fused']:.3f}",
             f"{t['pythae_fused'] / t['bare_fused']:.2f} (vs pythae fused)"],
            ["pythae 0.1.2 VAE, bare loop, fused Adam", f"{ms['pythae_fused']:.3f}", "1.00"]]
    write_table("vae_speed", f"VAE training step: digits (64-d), batch {BATCH}, MLP 256-256, "
                f"latent {LATENT}", ["implementation", "ms/step", "speed vs pythae (goal ≥ 1.0)"],
                rows, notes=f"Median of {args.repeats} interleaved runs of {steps} steps each "
                "(model build included); one process, so the ratios share the machine's load. "
                "The Trainer picks the fused Adam kernel on CPU; the fused rows compare the "
                "model and objective alone with the same optimiser kernel.")


if __name__ == "__main__":
    main()
