"""The exact OT coupling's auction solver (``genmodels.paths._auction``, C): optimal against
two independent exact solvers (POT's network simplex, scipy's Hungarian) on geometric, random,
tied and badly scaled cost matrices; its error bound; bad input; the fallbacks without the
extension; thread safety; and ``model.coupling_solver`` from the CLI."""

from __future__ import annotations

import os
import subprocess
import threading

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from genmodels.errors import InputError
from genmodels.paths import couplings
from genmodels.paths.couplings import (
    _assign,
    _benefit,
    _cost_np,
    auction_assignment,
    exact_assignment,
    make_coupling,
)


def test_the_extension_is_built() -> None:
    """``make install`` builds it (setup.py); without it the tests below would test POT. On
    x86-64 it has the SSE2 scan, and uses the best scan the CPU offers."""
    native = couplings._native(required=True)
    import platform

    if platform.machine() in ("x86_64", "AMD64"):
        assert native.scans()[0] == "sse2"
    assert native.scan() == native.scans()[-1]
    with pytest.raises(ValueError, match="not available"):
        native.set_scan("neon")


def _optimum(c: np.ndarray) -> float:
    r, j = linear_sum_assignment(c)
    return float(c[r, j].sum())


def _total(c: np.ndarray, j: np.ndarray) -> float:
    return float(c[np.arange(len(j)), j].sum())


def _is_permutation(j: np.ndarray) -> bool:
    return sorted(j.tolist()) == list(range(len(j)))


def _cases():
    """(name, cost matrix) pairs: geometric 2-D and 30-D batches, uniform random costs,
    integer costs with many ties, constant and zero matrices, and extreme scales."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 64, 256):
        x, y = rng.normal(size=(n, 2)) * 3 + 1, rng.normal(size=(n, 2))
        yield f"gauss2d-{n}", _cost_np(torch.as_tensor(x), torch.as_tensor(y))
    yield "gauss30d", _cost_np(torch.as_tensor(rng.normal(size=(100, 30))),
                               torch.as_tensor(rng.normal(size=(100, 30))))
    yield "uniform", rng.uniform(size=(150, 150))
    yield "ties", rng.integers(0, 3, size=(120, 120)).astype(float)
    yield "constant", np.full((40, 40), 2.5)
    yield "zero", np.zeros((10, 10))
    yield "huge", rng.uniform(size=(50, 50)) * 1e12
    yield "tiny", rng.uniform(size=(50, 50)) * 1e-12
    yield "outlier", np.where(np.eye(80, k=3) > 0, 1e9, rng.uniform(size=(80, 80)))


SCANS = couplings._native().scans() if couplings._native() is not None else ()


@pytest.fixture(params=SCANS)
def scan(request: pytest.FixtureRequest):
    """Each row scan the build and CPU offer (SSE2 and, where the CPU has it, AVX2), so the
    optimality tests cover every code path that a user's machine may take."""
    native = couplings._native()
    before = native.scan()
    native.set_scan(request.param)
    yield request.param
    native.set_scan(before)


@pytest.mark.parametrize(("name", "c"), list(_cases()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_auction_is_optimal_within_its_bound(name: str, c: np.ndarray, scan: str) -> None:
    """The assignment is a permutation whose cost exceeds scipy's optimum by at most the
    documented n * eps_min, eps_min = max(1e-9 mean C, 1e-13 max C)."""
    j = auction_assignment(c)
    assert _is_permutation(j), name
    n = len(c)
    bound = n * max(1e-9 * c.mean(), 1e-13 * c.max())
    excess = _total(c, j) - _optimum(c)
    assert -1e-9 * max(1.0, abs(_optimum(c))) <= excess <= bound + 1e-12 * abs(_optimum(c)), \
        (name, excess, bound)


def test_auction_gives_pots_permutation_on_toy_batches(scan: str) -> None:
    """On 40 training-like batches (n = 256, 2-D data against N(0, I)) the auction returns
    exactly the permutation of POT's network simplex (no near-ties in continuous data)."""
    from genmodels.data.toy import sample as toy_sample

    g = torch.Generator().manual_seed(3)
    w = np.full(256, 1 / 256)
    for name in ("8gaussians-cfm", "moons-cfm"):
        x = toy_sample(name, 256 * 20, generator=g)
        for k in range(20):
            c = _cost_np(x[256 * k:256 * (k + 1)], torch.randn(256, 2, generator=g))
            assert (auction_assignment(c) == ot.emd(w, w, c).argmax(1)).all(), (name, k, scan)


def test_every_solver_reaches_the_same_optimum() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(90, 3)), rng.normal(size=(90, 3))
    c = _cost_np(torch.as_tensor(x), torch.as_tensor(y))
    best = _optimum(c)
    for solver in ("auto", "auction", "emd", "hungarian"):
        j = exact_assignment(torch.as_tensor(c), solver).numpy()
        assert _is_permutation(j) and abs(_total(c, j) - best) <= 1e-9 * best, solver


def test_bad_input_is_refused_in_one_line() -> None:
    c = np.ones((4, 4))
    c[1, 2] = np.nan
    for solver in ("auto", "auction", "emd", "hungarian"):
        with pytest.raises(InputError, match="non-finite"):
            _assign(c, solver)
    with pytest.raises(InputError, match="non-finite"):
        _assign(np.full((3, 3), np.inf))
    with pytest.raises(InputError, match="non-finite"):
        auction_assignment(c)  # called directly, not through the coupling
    with pytest.raises(InputError, match="equal batch sizes"):
        auction_assignment(np.ones((3, 4)))
    with pytest.raises(InputError, match="equal batch sizes"):
        _assign(np.ones((3, 4)))
    with pytest.raises(InputError, match="unknown"):
        make_coupling("exact", solver="simplex")
    with pytest.raises(ValueError, match="buffer sizes"):
        couplings._native().solve(np.zeros(8), np.zeros(3), np.zeros(3, np.int64), 3,
                                  1.0, 8.0, 1e-9, 10)
    with pytest.raises(ValueError, match="eps0"):
        couplings._native().solve(np.zeros(9), np.zeros(3), np.zeros(3, np.int64), 3,
                                  0.0, 8.0, 1e-9, 10)
    with pytest.raises(RuntimeError, match="max_bids"):
        couplings._native().solve(-np.random.default_rng(0).uniform(size=100), np.zeros(10),
                                  np.zeros(10, np.int64), 10, 1.0, 8.0, 1e-9, 5)


def test_without_the_extension_auto_falls_back_and_auction_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    c = rng.uniform(size=(30, 30))
    want = auction_assignment(c)
    import sys

    import genmodels.paths

    # the import of genmodels.paths._auction now fails as it does where it was never built
    monkeypatch.setitem(sys.modules, "genmodels.paths._auction", None)
    monkeypatch.delattr(genmodels.paths, "_auction", raising=False)
    assert couplings._native() is None
    assert (_assign(c) == want).all()  # auto: POT's network simplex, the same optimum
    with pytest.raises(InputError, match="C extension"):
        make_coupling("exact", solver="auction")


@pytest.mark.parametrize("d", [1, 2, 3, 8, 9, 30])
def test_benefit_from_the_points_is_minus_the_cost(d: int) -> None:
    """The coupling's benefit matrix (C differences up to d = 8, BLAS above) equals -C from
    explicit differences, for unequal sizes too, to float64 rounding."""
    rng = np.random.default_rng(d)
    x = rng.normal(size=(37, d)) * 3 + 1
    y = rng.normal(size=(29, d)).astype(np.float32)  # float32 points are taken to float64
    want = -((x[:, None, :] - y[None, :, :].astype(np.float64)) ** 2).sum(-1)
    got = _benefit(torch.as_tensor(x), torch.as_tensor(y))
    assert got.shape == (37, 29) and got.dtype == np.float64 and (got <= 0).all()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    if d <= 8:  # the C path by differences is exact up to one rounding per term
        np.testing.assert_allclose(got, want, rtol=4 * d * 2.3e-16, atol=0)
    img = torch.as_tensor(rng.normal(size=(5, 1, 2, 2)))  # points are flattened
    np.testing.assert_allclose(_benefit(img, img[[1, 0, 2, 3, 4]]),
                               -_cost_np(img, img[[1, 0, 2, 3, 4]]), atol=1e-12)


def test_the_coupling_refuses_bad_points_in_one_line() -> None:
    """Through the benefit path: NaN or infinite points and unequal batch sizes give the same
    one-line errors as the cost path; the C function checks its buffer sizes."""
    ot_ = make_coupling("exact", solver="auction")
    x = torch.randn(6, 2)
    for bad in (float("nan"), float("inf")):
        y = torch.randn(6, 2)
        y[2, 1] = bad
        with pytest.raises(InputError, match="non-finite"):
            ot_(x, y)
    with pytest.raises(InputError, match="non-finite"):  # overflow of the squares
        ot_(x * 1e200, -x * 1e200)
    with pytest.raises(InputError, match="equal batch sizes"):
        ot_(x, torch.randn(5, 2))
    with pytest.raises(ValueError, match="buffer sizes"):
        couplings._native().benefit(np.zeros(6), np.zeros(6), np.zeros(8), 3, 3, 2)


def test_the_coupling_pairs_like_the_cost_path() -> None:
    """ExactOT(auction) from the points gives the permutation of the emd solver on the cost
    matrix, in 2-D (C benefit) and in 12-D (BLAS benefit)."""
    g = torch.Generator().manual_seed(8)
    for d in (2, 12):
        x, y = torch.randn(128, d, generator=g) * 2 + 1, torch.randn(128, d, generator=g)
        j = make_coupling("exact", solver="auction").partners(x, y)
        ref = make_coupling("exact", solver="emd").partners(x, y)
        assert torch.equal(j, ref), d


def test_threads_solve_concurrently_and_correctly() -> None:
    """The solver releases the GIL (the coupling pipeline's workers run it in threads): four
    threads solving different problems each get their own optimum."""
    rng = np.random.default_rng(4)
    problems = [rng.uniform(size=(200, 200)) for _ in range(8)]
    want = [_optimum(c) for c in problems]
    got: dict[int, float] = {}

    def work(k: int) -> None:
        for i in range(k, len(problems), 4):
            got[i] = _total(problems[i], auction_assignment(problems[i]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(abs(got[i] - want[i]) <= 1e-6 * want[i] for i in range(len(problems)))


def test_cli_coupling_solver_emd_and_auction_train_the_same_model(tmp_path) -> None:
    """``--set model.coupling_solver=...``: the same seed and the same permutations give the
    same weights, so the same samples; an unknown solver exits 2 in one line."""
    from conftest import ROOT, genmodels_cmd

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    samples = {}
    for solver in ("auction", "emd"):
        out = tmp_path / solver
        args = ["train", "--model", "ot-cfm", "--data", "moons", "--steps", "30", "--seed", "0",
                "--batch-size", "64", "--out", str(out), "--set", "model.width=16",
                "model.blocks=1", f"model.coupling_solver={solver}"]
        subprocess.run([*genmodels_cmd(), *args], check=True, env=env, capture_output=True,
                       timeout=300)
        subprocess.run([*genmodels_cmd(), "sample", str(out), "--n", "50", "--seed", "1",
                        "--out", str(tmp_path / f"{solver}.npy"), "--set", "model.nfe=4"],
                       check=True, env=env, capture_output=True, timeout=300)
        samples[solver] = np.load(tmp_path / f"{solver}.npy")
    np.testing.assert_array_equal(samples["auction"], samples["emd"])
    p = subprocess.run([*genmodels_cmd(), "train", "--model", "ot-cfm", "--data", "moons",
                        "--steps", "2", "--out", str(tmp_path / "bad"), "--set",
                        "model.coupling_solver=simplex"], env=env, capture_output=True,
                       text=True, timeout=300)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "coupling_solver" in lines[0], p.stderr
    assert not (tmp_path / "bad").exists()
