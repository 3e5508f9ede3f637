"""SISA's label repair at notebook 02's cpu setting, for 5, 10 and 20 shards (the authors' counts).

The pairwise flips touch every shard, so SISA's repair retrains every shard on corrected labels: each shard
count costs a whole training of the CNN, which notebook 02's 15-minute budget cannot hold three times over.
This script runs them against the same clean and poisoned models (from the model cache when notebook 02 ran)
and writes results/<profile>/02_poisoning_sisa.csv, which notebook 02 prints.

    python tools/poison_sisa.py [--profile cpu] [--seed 0]
"""

from __future__ import annotations

import argparse

from unlearn import paths, profiles
from unlearn.experiments import features_labels

paths.use_repository()  # data, model cache, results and figures: this repository's folders


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    P = profiles.pick(features_labels.PROFILES, args.profile)
    df = features_labels.sisa_repair(P, args.seed, shards=(5, 10, 20))
    out = paths.results_dir(args.profile) / "02_poisoning_sisa.csv"
    df.to_csv(out, index=False)
    print(df.round(3).to_string(index=False))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
