"""Train notebook 03's cpu original with and without augmentation and record whether each memorised
its training set (results/cpu/dlfd_profile_check.csv, printed by notebook 03). About 8 minutes on
2 cores from an empty cache; the run without augmentation is the cache entry notebook 03 uses.

    python tools/dlfd_profile_check.py [--profile cpu] [--seed 0]
"""

from __future__ import annotations

import argparse

from unlearn import paths, profiles
from unlearn.experiments import dlfd

paths.use_repository()  # data, model cache, results and figures: this repository's folders


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    P = profiles.pick(dlfd.PROFILES, args.profile)
    table = dlfd.memorisation_check(P, dlfd.load_data(P, args.seed), args.seed)
    out = paths.results_dir(args.profile) / "dlfd_profile_check.csv"
    table.to_csv(out)
    print(table.round(4).to_string())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
