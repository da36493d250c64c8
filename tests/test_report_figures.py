"""The figures for shapes and capabilities no registered family may cover yet: image grids,
pair plots of tables, mode coverage, latent maps and quality against NFE, on small stand-in
models (each figure must come out as a PNG and an SVG)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import Tensor

from genmodels.core import IterativeModel, LatentVariableModel
from genmodels.data.base import Standardize
from genmodels.data.toy import mixture_centres
from genmodels.report import diagnostics, figures


class Gauss(IterativeModel, LatentVariableModel):
    """N(0, I) with a fake solver: the more NFE, the closer to N(0, I) (the error is 1/nfe)."""

    samplers = ("a", "b")
    default_nfe = 8

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = shape
        self.w = torch.nn.Parameter(torch.ones(()))

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None, sampler: str | None = None,
               nfe: int | None = None) -> Tensor:
        x = torch.randn(n, *self.event_shape, generator=generator)
        return x * (1 + 1 / (nfe or self.default_nfe))

    def encode(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        return x.reshape(len(x), -1)[:, :3]

    def trajectory(self, n: int, *, generator: torch.Generator | None = None,
                   nfe: int | None = None) -> Tensor | None:
        """Straight constant-speed paths from N(0, I) draws to twice themselves."""
        z = torch.randn(n, *self.event_shape, generator=generator)
        u = torch.linspace(0, 1, 9).reshape(9, *([1] * (z.dim())))
        return z * (1 + u)


def fake_run(model: Gauss, modes: Tensor | None = None) -> SimpleNamespace:
    def sample(n: int, *, seed: int = 0, sampler: str | None = None,
               nfe: int | None = None) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        if modes is not None:  # a mixture that drops its last 3 modes
            k = torch.randint(len(modes) - 3, (n,), generator=g)
            return modes[k] + 0.01 * torch.randn(n, 2, generator=g)
        return model.sample(n, generator=g, sampler=sampler, nfe=nfe)

    return SimpleNamespace(model=model, family_model=model, sample=sample, path=None,
                           standardize=Standardize.identity(model.event_shape))


def _written(out: Path, name: str) -> None:
    for ext in ("png", "svg"):
        assert (out / f"{name}.{ext}").stat().st_size > 1000, (name, ext)


def test_image_grid_and_pair_plot(tmp_path: Path) -> None:
    imgs = torch.rand(64, 1, 8, 8) * 16
    ds = SimpleNamespace(test=imgs, log_prob=None)
    got = figures.sample_figures({"m": fake_run(Gauss((1, 8, 8)))}, ds, tmp_path, "img-")
    assert [f.name for f in got] == ["img-samples"]
    _written(tmp_path, "img-samples")
    table = SimpleNamespace(test=torch.randn(300, 3), log_prob=None)
    got = figures.sample_figures({"a": fake_run(Gauss((3,)))}, table, tmp_path, "tab-")
    assert [f.name for f in got] == ["tab-pairs-a"]
    _written(tmp_path, "tab-pairs-a")


def test_tiles_keep_every_image_in_place() -> None:
    x = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1)
    grid = figures._tile(x, 2, 3, 0.0, 5.0)
    assert grid.shape == (4, 6)
    assert torch.allclose(grid[0::2, 0::2], torch.tensor([[0.0, 0.2, 0.4], [0.6, 0.8, 1.0]]))


def test_mode_coverage_counts_missing_modes(tmp_path: Path) -> None:
    centres, _ = mixture_centres("grid25")
    run = fake_run(Gauss((2,)), modes=centres.float())
    f = diagnostics.modes_figure({"m": run}, "grid25", 2000, tmp_path, "")
    assert f is not None and f.name == "modes"
    _written(tmp_path, "modes")
    assert diagnostics.modes_figure({"m": run}, "checkerboard", 100, tmp_path, "") is None


def test_latent_and_nfe_figures(tmp_path: Path) -> None:
    run = fake_run(Gauss((2,)))
    test = torch.randn(600, 2)
    assert diagnostics.latent_figure({"m": run}, test, torch.randint(3, (600,)), tmp_path,
                                     "") is not None
    assert diagnostics.nfe_figure({"m": run}, test, tmp_path, "", n=200) is not None
    _written(tmp_path, "latent")
    _written(tmp_path, "nfe")
    assert diagnostics.pick_samplers(("x", "dopri5", "em", "pc", "y", "z", "w")) == \
        ["x", "em", "pc", "y", "z"]


def test_path_straightness_is_one_for_straight_paths_and_exact_on_a_semicircle() -> None:
    u = torch.linspace(0, 1, 17).reshape(17, 1, 1)
    straight = torch.tensor([[0.0, 0.0], [1.0, 2.0]]) + u * torch.tensor([[3.0, -1.0], [0.5, 0.5]])
    assert abs(diagnostics.path_straightness(straight) - 1.0) < 1e-12
    k = 64
    theta = torch.linspace(0, torch.pi, k + 1, dtype=torch.float64)
    arc = torch.stack([theta.cos(), theta.sin()], -1).unsqueeze(1)  # (K+1, 1, 2)
    expected = k**2 * torch.sin(torch.tensor(torch.pi / (2 * k), dtype=torch.float64)) ** 2
    assert abs(diagnostics.path_straightness(arc) - float(expected)) < 1e-9  # ≈ π²/4


def test_trajectory_figure(tmp_path: Path) -> None:
    run = fake_run(Gauss((2,)))
    assert diagnostics.trajectory_figure({"m": run}, tmp_path, "") is not None
    _written(tmp_path, "trajectories")
    images = fake_run(Gauss((1, 4, 4)))
    assert diagnostics.trajectory_figure({"m": images}, tmp_path, "x") is None  # 2-D only
