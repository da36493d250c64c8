"""The argument parser of every ``genmodels`` command, with an example in each ``--help``."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ..errors import InputError
from . import commands


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one-line :class:`InputError`\\ s."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{self.prog}: {message}")


def _help(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def build_parser() -> Parser:
    """The top-level parser with one sub-command per verb."""
    p = Parser(
        prog="genmodels",
        description="Train, sample, score, evaluate and compare deep generative models.",
        epilog="Example:\n  genmodels train --model realnvp --data checkerboard --steps 2000 "
        "--out runs/cb\n  genmodels evaluate runs/cb --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"genmodels {_version()}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    s = sub.add_parser(
        "list", help="list families, data sets and metrics",
        epilog="Example:\n  genmodels list --json",
    )
    _help(s)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(handler=commands.cmd_list)

    s = sub.add_parser(
        "train", help="train a model and write a run directory",
        epilog="Examples:\n"
        "  genmodels train --model realnvp --data checkerboard --steps 2000 --out runs/cb\n"
        "  genmodels train --model realnvp --data points.npy --set train.ema_decay=0.999 "
        "--set layers=4\n"
        "  genmodels train --config run.toml\n"
        "  genmodels train --resume runs/cb",
    )
    _help(s)
    s.add_argument("--model", help="a registered family (see `genmodels list`)")
    s.add_argument("--data", help="a registered data set or a file (.npy, .npz, .csv, .tsv)")
    s.add_argument("--steps", type=int, help="training steps (train.steps)")
    s.add_argument("--batch-size", type=int, help="points per batch (train.batch_size)")
    s.add_argument("--lr", type=float, help="learning rate (train.lr)")
    s.add_argument("--seed", type=int, help="training seed (train.seed)")
    s.add_argument("--budget", help="wall-clock budget, e.g. 90s, 5m (train.budget)")
    s.add_argument("--out", help="the run directory (default: runs/<model>-<data>-<time>)")
    s.add_argument("--config", help="a TOML file with [model], [data] and [train] tables")
    s.add_argument(
        "--set", action="append", nargs="+", default=[], metavar="KEY=VALUE",
        help="override a config field: dotted (train.lr=3e-4) or a field name (layers=4)",
    )
    s.add_argument("--resume", metavar="RUN", help="continue RUN exactly where it stopped")
    _progress_flags(s)
    s.set_defaults(handler=commands.cmd_train)

    s = sub.add_parser(
        "fit-target", help="fit a flow to an unnormalised target density (neural IS)",
        description="Trains a registered flow on an unnormalised target (banana, funnel, "
        "gmm, double-well, many-well) by reverse KL (reparameterised, mode-seeking) or "
        "forward KL with self-normalised importance weights (mass-covering). `genmodels "
        "evaluate RUN` then reports the importance-sampling log Z, its standard error and "
        "the ESS.",
        epilog="Examples:\n  genmodels fit-target --target gmm --model realnvp --steps 800 "
        "--objective forward-kl --set target.k=4 target.std=0.5 --out runs/gmm\n"
        "  genmodels evaluate runs/gmm --json --mcmc-steps 20",
    )
    _help(s)
    s.add_argument("--target", required=True, help="a registered target density")
    s.add_argument("--model", required=True, help="a registered flow family")
    s.add_argument("--objective", default="reverse-kl", choices=("reverse-kl", "forward-kl"),
                   help="the divergence to minimise (default reverse-kl)")
    s.add_argument("--steps", type=int, help="training steps (train.steps)")
    s.add_argument("--batch-size", type=int, help="flow samples per step (train.batch_size)")
    s.add_argument("--lr", type=float, help="learning rate (train.lr)")
    s.add_argument("--seed", type=int, help="training seed (train.seed)")
    s.add_argument("--set", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="target.KEY=VALUE for the target (target.dim=4), else model/train keys")
    s.add_argument("--out", required=True, help="the run directory")
    _progress_flags(s)
    s.set_defaults(handler=commands.cmd_fit_target)

    s = sub.add_parser(
        "sample", help="draw samples from a trained run (in data units)",
        epilog="Examples:\n  genmodels sample runs/cb --n 10000 --seed 1 --out samples.npy\n"
               "  genmodels sample runs/digits-cfg --label 3 --n 64 --set model.guidance=2 "
               "--out threes.npy",
    )
    _help(s)
    s.add_argument("run", metavar="RUN", help="a run directory")
    s.add_argument("--n", type=int, required=True, help="number of samples")
    s.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    s.add_argument("--sampler", help="ODE/SDE sampler, for diffusion and flow-matching models")
    s.add_argument("--nfe", type=int, help="function evaluations for the sampler")
    s.add_argument("--label", type=int,
                   help="class of every sample (runs trained with model.conditional=true)")
    s.add_argument("--set", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="model settings at sampling time, e.g. model.guidance=2 (the "
                        "classifier-free guidance weight w; 0: conditional)")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--out", required=True, help="output .npy file")
    s.set_defaults(handler=commands.cmd_sample)

    s = sub.add_parser(
        "score", help="log-density in nats of given points (in their units)",
        description="Writes log p(x) in nats for each row of --in, in the units of the given "
        "data (the Jacobian of any standardisation included). Flows give the exact value; "
        "models without a tractable density give their family's bound or estimate "
        "(VAE: importance-weighted bound; diffusion/flow matching: probability-flow ODE); "
        "GANs have no density and exit with code 2.",
        epilog="Examples:\n  genmodels score runs/cb --in test.npy --out logp.npy\n"
        "  genmodels score runs/diff --in test.npy --out elbo.npy --bound\n"
        "  genmodels score runs/digits-cfm --in test.npy --labels test_labels.npy --out lp.npy",
    )
    _help(s)
    s.add_argument("run", metavar="RUN", help="a run directory")
    s.add_argument("--in", dest="inp", required=True, help="points (.npy, .npz, .csv, .tsv)")
    s.add_argument("--bound", action="store_true",
                   help="the variational lower bound instead (diffusion: the reverse-SDE ELBO)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--label", type=int, help="class of every point: log p(x | c) of a run "
                   "trained with model.conditional=true (default: the unconditional density)")
    g.add_argument("--labels", metavar="FILE",
                   help="one class per point (.npy, .npz, .csv, .tsv of integers, (n,))")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--out", required=True, help="output .npy file of shape (n,)")
    s.set_defaults(handler=commands.cmd_score)

    s = sub.add_parser(
        "evaluate", help="metrics of a run against test data, with noise floors",
        epilog="Examples:\n  genmodels evaluate runs/cb --json\n"
        "  genmodels evaluate runs/cb --data test.npy --metrics nll,w2 --json",
    )
    _help(s)
    s.add_argument("run", metavar="RUN", help="a run directory")
    s.add_argument("--data", help="test data: a registered name or a file (default: the run's "
                   "own test split)")
    s.add_argument("--metrics", help="comma-separated metric names (default: all that apply)")
    s.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    s.add_argument("--which", choices=("best", "last"), default="best", help="checkpoint")
    s.add_argument("--json", action="store_true", help="print one flat JSON object")
    s.add_argument("--mcmc-steps", type=int, default=0,
                   help="target runs: MALA steps refining the flow's samples (default 0)")
    s.add_argument("--n", type=int, default=10_000,
                   help="target runs: importance-sampling proposals (default 10000)")
    s.set_defaults(handler=commands.cmd_evaluate)

    s = sub.add_parser(
        "runs", help="list runs with their final metrics",
        epilog="Example:\n  genmodels runs runs/ --json",
    )
    _help(s)
    s.add_argument("root", nargs="?", default="runs", help="directory of runs (default runs/)")
    s.add_argument("--json", action="store_true", help="print a JSON list")
    s.set_defaults(handler=commands.cmd_runs)

    s = sub.add_parser(
        "compare", help="train several models with one budget and compare them in a report",
        description="Trains every model on the same data with the same budget (steps or wall "
        "time), evaluates all with the same metrics (noise floors beside them) and writes "
        "results.json, results.csv, figures/ (PNG and SVG) and a self-contained report.html.",
        epilog="Examples:\n  genmodels compare --data checkerboard --models realnvp,nice,maf "
        "--steps 500 --out cmp\n"
        "  genmodels compare --data 8gaussians --models realnvp,maf --budget 2m --seeds 3 "
        "--out cmp\n"
        "  genmodels compare --data moons --models realnvp,maf --steps 300 "
        "--set train.batch_size=128 --set maf:layers=3 --out cmp",
    )
    _help(s)
    s.add_argument("--data", required=True, help="a registered data set or a file")
    s.add_argument("--models", required=True, help="comma-separated family names")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, help="training steps per model")
    g.add_argument("--budget", help="wall-clock budget per model, e.g. 90s, 5m (the steps that "
                   "fit are measured first, so the schedule completes)")
    s.add_argument("--seeds", type=int, default=1, help="seeds per model (default 1)")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--title", help="the report's title")
    s.add_argument("--set", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override a config field for every model, or MODEL:KEY=VALUE for one")
    _progress_flags(s)
    s.set_defaults(handler=commands.cmd_compare)

    s = sub.add_parser(
        "demo", help="the main job: one model of every family, compared on built-in data",
        description="Trains one model of every registered family kind on checkerboard (and "
        "on digits when registered), sharing a training-time budget, and writes one report.",
        epilog="Example:\n  genmodels demo --out demo-report",
    )
    _help(s)
    s.add_argument("--out", default="demo-report", help="output directory (default demo-report)")
    s.add_argument("--time", default="120s", dest="total",
                   help="training time shared by all models, e.g. 120s, 4m (default 120s)")
    s.add_argument("--steps", type=int, help="fixed steps per model instead of --time")
    s.add_argument("--max-steps", type=int, default=3000,
                   help="cap on each model's steps under --time (default 3000)")
    _progress_flags(s)
    s.set_defaults(handler=commands.cmd_demo)

    s = sub.add_parser(
        "report", help="rebuild a comparison report from existing runs",
        epilog="Example:\n  genmodels report runs/a runs/b --out report-ab",
    )
    _help(s)
    s.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--evaluate", action="store_true",
                   help="re-evaluate every run (default: use its evaluation.json when present)")
    s.add_argument("--title", help="the report's title")
    s.set_defaults(handler=commands.cmd_report)

    from . import vae as vae_commands  # encode, decode, grad-var (latent-variable models)

    vae_commands.add_parsers(sub, _help)
    return p


def _progress_flags(s: argparse.ArgumentParser) -> None:
    g = s.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="never show progress bars")


def _version() -> str:
    from .. import __version__

    return __version__


if __name__ == "__main__":  # pragma: no cover
    from . import main

    sys.exit(main())
