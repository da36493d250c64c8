"""Compare families side by side on a 2-D toy: same budget, same metrics, one HTML report.

Picks one model of every registered family kind (a flow, a GAN, a diffusion model, … as they
exist), trains each for ``--steps`` steps on ``--data``, evaluates all with the same metrics
(noise floors beside them) and writes ``results.json``, ``results.csv``, ``figures/`` and a
self-contained ``report.html``.

Run: ``python examples/compare_2d.py [--steps 1000] [--data 8gaussians] [--out cmp-2d]``.
The CLI does the same: ``genmodels compare --data 8gaussians --models realnvp,wgan-gp,vp-sde
--steps 1000 --out cmp-2d``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from genmodels.report.compare import compare, small_overrides
from genmodels.report.demo import demo_models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000, help="training steps per model")
    p.add_argument("--data", default="8gaussians", help="a registered 2-D data set")
    p.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    args = p.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="genmodels-compare-"))

    models = demo_models()  # one per family kind: realnvp, wgan-gp, vp-sde, ... when present
    quick = args.steps < 200  # a tiny budget (CI): small networks and few test points
    overrides = ["train.batch_size=128"]
    if quick:
        overrides += ["data.n_test=400", "data.n_train=2000"]
        overrides += [f"{m}:{o}" for m in models for o in small_overrides(m)]
    section = compare(args.data, models, out=out, steps=args.steps, overrides=overrides,
                      progress=False, title=f"{len(models)} families on {args.data}")

    # the same numbers, read back from results.json
    rows = json.loads((out / "results.json").read_text())["rows"]
    for r in rows:
        print(f"{r['model']:>10} ({r['kind']}): W2 {r['w2']:.3f} (floor {r['w2_floor']:.3f})")
    print(f"{len(section.figures)} figures; open {out / 'report.html'}")


if __name__ == "__main__":
    main()
