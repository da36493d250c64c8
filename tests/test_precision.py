"""train.precision (fp32 / bf16 / fp16 with loss scaling) and train.compile, on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from genmodels.config import TrainConfig
from genmodels.core import Batch, LossOutput, Objective
from genmodels.errors import InputError
from genmodels.run import resolve_config
from genmodels.train import Trainer
from genmodels.train.precision import Precision


class Regression(nn.Module):
    """``y ≈ W x`` through a small MLP (matrix products: what autocast lowers)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


class MSE(Objective):
    """Mean squared error; records the dtype the first layer computed in."""

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype] = []

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        h = model.net[0](batch.x[:, :4])
        self.dtypes.append(h.dtype)
        pred = model.net[2](model.net[1](h)).squeeze(-1)
        return LossOutput((pred - batch.x[:, 4]).square().mean())


def _data() -> Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    return torch.cat([x, y[:, None]], 1)


def _train(precision: str, steps: int = 60, compile: bool = False) -> tuple[nn.Module, MSE, float]:
    torch.manual_seed(0)
    model, obj = Regression(), MSE()
    cfg = TrainConfig(steps=steps, batch_size=64, lr=1e-2, schedule="constant", device="cpu",
                      checkpoint_every=0, precision=precision, compile=compile, threads=1)
    res = Trainer(cfg, progress=False).fit(model, obj, _data())
    return model, obj, float(res.final_loss)


def test_bf16_autocasts_on_the_cpu_and_learns() -> None:
    m32, o32, loss32 = _train("fp32")
    m16, o16, loss16 = _train("bf16")
    assert set(o32.dtypes) == {torch.float32}
    assert set(o16.dtypes) == {torch.bfloat16}  # the matmuls really ran in bfloat16
    assert all(p.dtype == torch.float32 for p in m16.parameters())  # master weights stay fp32
    start = float(_data()[:, 4].square().mean())
    assert loss16 < 0.1 * start and loss32 < 0.1 * start  # both fit; bf16 is not broken
    for a, b in zip(m32.parameters(), m16.parameters(), strict=True):
        assert (a - b).abs().max() < 0.1  # close to the fp32 run, not equal (8-bit mantissa)


def test_fp16_on_the_cpu_is_refused_in_one_line() -> None:
    with pytest.raises(InputError, match=r"train.precision = 'fp16' needs a CUDA device"):
        _train("fp16", steps=1)
    with pytest.raises(InputError, match="train.precision"):
        resolve_config(model={"name": "realnvp"}, overrides=["train.precision=fp8"])
    assert resolve_config(model={"name": "realnvp"},
                          overrides=["train.precision=bf16"]).train.precision == "bf16"


def test_fp16_loss_scaling_unscales_and_absorbs_overflow() -> None:
    """The scaler's gradients equal the unscaled ones; an overflow halves the scale."""
    torch.manual_seed(0)
    lin = nn.Linear(3, 1)
    x = torch.randn(8, 3)
    amp = Precision("fp16", torch.device("cpu"), allow_cpu_fp16=True)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    scale0 = amp.scaler.get_scale()
    amp.backward(lin(x).square().mean())
    assert lin.weight.grad.abs().max() > 10  # scaled by 2**16
    amp.unscale(opt)
    ref = torch.autograd.grad(lin(x).square().mean(), lin.weight)[0]
    torch.testing.assert_close(lin.weight.grad, ref)
    before = lin.weight.detach().clone()
    amp.step(opt)
    torch.testing.assert_close(lin.weight.detach(), before - 0.1 * ref)
    # an overflowing gradient: the step is the scaler's to absorb (finite loss), scale halves
    opt.zero_grad()
    loss = lin(x).square().mean()
    amp.backward(loss * 1e35)
    amp.unscale(opt)
    assert not lin.weight.grad.isfinite().all()
    assert amp.absorbed(loss.detach())
    assert amp.scaler.get_scale() == scale0 / 2
    state = amp.state_dict()
    again = Precision("fp16", torch.device("cpu"), allow_cpu_fp16=True)
    again.load_state_dict(state)
    assert again.scaler.get_scale() == scale0 / 2


def test_compile_switch_trains_the_same_model() -> None:
    m0, _, _ = _train("fp32", steps=5)
    m1, _, _ = _train("fp32", steps=5, compile=True)
    for a, b in zip(m0.parameters(), m1.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
