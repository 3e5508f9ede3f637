"""Notebook 01's protocol on two other Fashion-MNIST classes, every seed: does it stay in its regime (the original
fits D_f, NegGrad reaches its zero level without diverging, the twin fits D_h) on classes it was not tuned on, and
what is TMU's Delta there? Writes results/<profile>/tmu_other_classes.csv, which notebook 01 prints.

Classes 2 (pullover) and 4 (coat): after shirt (6, notebook 01's class) the two classes the gold model gets wrong
most often, so that their gold level is measurable (neither ~0 nor ~1). About 10 minutes per class at cpu.

    python tools/tmu_other_classes.py [--profile cpu] [--classes 2 4]
"""

from __future__ import annotations

import argparse

from unlearn import paths, profiles
from unlearn.experiments import tmu

paths.use_repository()  # data, model cache, results and figures: this repository's folders


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    ap.add_argument("--classes", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    df = tmu.other_classes(profiles.pick(tmu.PROFILES, args.profile), args.classes, args.seed)
    out = paths.results_dir(args.profile) / "tmu_other_classes.csv"
    df.to_csv(out, index=False)
    print(df.round(3).to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
