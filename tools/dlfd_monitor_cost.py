"""What DLFD's monitoring costs at a profile: one FS measurement on the profile's monitor sample against one on all
forget and D_test losses (the release's), on the profile's network. Prints seconds per measurement and per epoch.

    python tools/dlfd_monitor_cost.py --profile cpu
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from unlearn import paths, profiles
from unlearn.experiments import dlfd as experiment
from unlearn.methods.dlfd import DLFDConfig, measure

paths.use_repository()  # data, model cache, results and figures: this repository's folders


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    P = profiles.pick(experiment.PROFILES, args.profile)
    data = experiment.load_data(P, 0)
    model = experiment.build_model(P, data)  # cost does not depend on the weights
    cfg = DLFDConfig(**P.dlfd)
    batches = -(-len(data.retain) // cfg.batch_size)
    print(f"{len(data.forget)} forget, {len(data.val)} D_test faces; {batches} retain batches per epoch")
    for name, c in (("profile's sample", DLFDConfig(**{**P.dlfd, "monitor_every": 1})), ("all (release)", DLFDConfig())):
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        for _ in range(args.repeats):
            measure(model, data.forget, data.val, c, rng, 0)
        per = (time.perf_counter() - t) / args.repeats
        print(f"{name:18s} {per:.3f} s per measurement, {per * batches:.0f} s per epoch if measured after every batch")


if __name__ == "__main__":
    main()
