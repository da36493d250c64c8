"""The latent-variable commands: ``encode``, ``decode`` and ``grad-var``."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from ..errors import InputError


def add_parsers(sub: Any, help_fmt: Any) -> None:
    """Adds ``encode``, ``decode`` and ``grad-var`` to the sub-command table ``sub``."""
    s = sub.add_parser("encode", help="latent codes E_q[z|x] of points (latent-variable models)",
                       epilog="Example:\n  genmodels encode runs/vae --in test.npy --out z.npy")
    help_fmt(s)
    s.add_argument("run", metavar="RUN", help="a run directory of a vae/iwae model")
    s.add_argument("--in", dest="inp", required=True, help="points (.npy, .npz, .csv, .tsv)")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--out", required=True, help="output .npy file of shape (n, L)")
    s.set_defaults(handler=cmd_encode)

    s = sub.add_parser("decode", help="E[x|z] of latent codes, in data units (VAE models)",
                       epilog="Example:\n  genmodels decode runs/vae --in z.npy --out x.npy")
    help_fmt(s)
    s.add_argument("run", metavar="RUN", help="a run directory of a vae/iwae model")
    s.add_argument("--in", dest="inp", required=True, help="latent codes (n, L)")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--out", required=True, help="output .npy file")
    s.set_defaults(handler=cmd_decode)

    s = sub.add_parser(
        "grad-var", help="variance of gradient estimators on a VAE run and a test batch",
        epilog="Example:\n  genmodels grad-var runs/vae --estimators "
        "reparam,reinforce,reinforce-baseline,reinforce-loo --samples 2 --repeats 200 --json")
    help_fmt(s)
    s.add_argument("run", metavar="RUN", help="a run directory of a vae/iwae model")
    s.add_argument("--estimators", default="reparam,reinforce,reinforce-baseline,reinforce-loo",
                   help="comma-separated estimators (the first is the ratio's reference)")
    s.add_argument("--batch", type=int, default=64, help="test points in the batch (default 64)")
    s.add_argument("--samples", type=int, default=2, help="K posterior samples per point")
    s.add_argument("--bound", choices=("elbo", "iwae"), default="elbo", help="the bound")
    s.add_argument("--repeats", type=int, default=100, help="independent gradient draws")
    s.add_argument("--seed", type=int, default=0, help="seed of the first draw")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.set_defaults(handler=cmd_grad_var)

    s = sub.add_parser("probe", help="linear-probe accuracy of the latent codes on the labels",
                       epilog="Example:\n  genmodels probe runs/vae-digits --json")
    help_fmt(s)
    s.add_argument("run", metavar="RUN", help="a vae/iwae run directory on labelled data")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(handler=cmd_probe)


def _vae_run(path: str, which: str) -> tuple[Any, Any]:
    from ..families.vae import VAE
    from ..rundir import load

    run = load(path, which=which)
    if not isinstance(run.family_model, VAE):
        raise InputError(f"{path}: model {run.config.model!r} is not a latent-variable model "
                         "(train --model vae or iwae)")
    return run, run.family_model


def cmd_encode(args: argparse.Namespace) -> int:
    """``genmodels encode``: posterior means of the given points."""
    import torch

    from ..run import check_points
    from .commands import load_points, save_npy_atomic

    run, model = _vae_run(args.run, args.which)
    x = load_points(args.inp)
    if x.dim() == 1 and len(model.event_shape) == 1:
        x = x[:, None]
    if x.dim() == 2 and len(model.event_shape) > 1 and x.shape[1] == x[0].numel() and \
            x.shape[1] == math.prod(model.event_shape):
        x = x.reshape(len(x), *model.event_shape)  # flattened images
    check_points(x, model.event_shape, f"--in {args.inp}")
    with torch.no_grad():
        z = model.encode(run.standardize.forward(x.float()))
    save_npy_atomic(args.out, z.cpu().numpy())
    print(args.out)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """``genmodels decode``: decoder means of the given latent codes, in data units."""
    import torch

    from ..run import check_points
    from .commands import load_points, save_npy_atomic

    run, model = _vae_run(args.run, args.which)
    z = load_points(args.inp)
    if z.dim() == 1:
        z = z[:, None]
    check_points(z, (model.latent,), f"--in {args.inp} (latent codes)")
    with torch.no_grad():
        x = run.standardize.inverse(model.decode(z.float()))
    save_npy_atomic(args.out, x.cpu().numpy())
    print(args.out)
    return 0


def cmd_grad_var(args: argparse.Namespace) -> int:
    """``genmodels grad-var``: one row per estimator (variance, ratio, SNR)."""
    from ..families.vae import gradient_variance

    if args.batch < 1:
        raise InputError(f"--batch {args.batch}: must be >= 1")
    run, model = _vae_run(args.run, args.which)
    test = run.dataset().test[:args.batch].float()
    x = run.standardize.forward(test)
    names = [e.strip() for e in args.estimators.split(",") if e.strip()]
    rows = gradient_variance(model, x, names, repeats=args.repeats, samples=args.samples,
                             bound=args.bound, seed=args.seed)
    for r in rows:
        r.update({"batch": int(x.shape[0]), "samples": args.samples, "repeats": args.repeats,
                  "bound": args.bound})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'estimator':<20} {'variance':>12} {'ratio':>10} {'snr':>10}")
    for r in rows:
        print(f"{r['estimator']:<20} {r['variance']:>12.4g} {r['ratio']:>10.3g} {r['snr']:>10.3g}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """``genmodels probe``: a linear classifier on the codes (train split -> test split)."""
    from ..families.vae.evaluate.probe import linear_probe

    run, _ = _vae_run(args.run, args.which)
    result = linear_probe(run)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in sorted(result.items()):
            print(f"{k:<16} {v:.4g}")
    return 0
