"""Every unlearning baseline on digits, against retraining, in one command.

    python benchmarks/baselines_digits.py --profile cpu      # or smoke

Setting: the original SmallCNN is trained on the digits training set (1347 images); a random 10 %
of the training set (135 samples, seeded) is forgotten (``--split class_fraction`` forgets 10 % of
class 3 instead, TMU's sub-class setting; ``whole_class`` all of class 3). Random 10 % is the default:
it gives enough forget samples for a stable loss-MIA and separates the methods that over-forget (forget
accuracy far below the gold model's, which the MIA then flags) from those that barely move.
Original and gold (retrain) models come through the checkpoint cache; the gold's time is measured
by retraining it once more, uncached, in the same run (and checked to give identical weights). SISA is run on a SISA ensemble trained (and cached) on the full training set with the
original's recipe; its row is the unlearning step alone (retraining the touched shards).
Occlusion is not run: it removes input *features* and has no meaning for forgetting samples
(notebook 02 uses it for feature unlearning).

Writes results/<profile>/baselines_digits.csv (mean over seeds) and baselines_digits_runs.csv (every
seed), and prints the table. Timings are wall-clock on this machine with one torch thread (set by
``--threads``); on a shared machine they are inflated and noisy.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import pandas as pd
import torch

from unlearn import methods, paths, profiles, tasks, train
from unlearn.evaluate import evaluate
from unlearn.methods.sisa import SISAConfig, SISAEnsemble
from unlearn.train import Timer

paths.use_repository()  # data, model cache, results and figures: this repository's folders


@dataclass
class Profile:
    width: int  # SmallCNN channel width
    hidden: int  # SmallCNN hidden units
    epochs: int  # original / gold training epochs
    batch_size: int  # original / gold batch size
    lr: float  # original / gold peak learning rate (SGD, cosine)
    shards: int  # SISA shards
    seeds: int  # repetitions (seed 0..seeds-1: original, gold and method seeds)


PROFILES = {
    "smoke": Profile(width=8, hidden=32, epochs=8, batch_size=64, lr=0.05, shards=3, seeds=1),
    "cpu": Profile(width=32, hidden=128, epochs=20, batch_size=64, lr=0.05, shards=5, seeds=3),
    "paper": Profile(width=32, hidden=128, epochs=30, batch_size=64, lr=0.05, shards=5, seeds=5),
}

BASELINES = ["finetune", "neggrad", "neggrad_plus", "random_label", "bad_teacher", "scrub", "cf_k", "eu_k",
             "unsir", "salun", "sisa"]


def run(profile: str, split_kind: str = "random", only: list[str] | None = None) -> pd.DataFrame:
    P = profiles.pick(PROFILES, profile)
    cfg = train.TrainConfig(epochs=P.epochs, batch_size=P.batch_size, lr=P.lr)
    task = tasks.get("digits", split=split_kind, forget_class=3, fraction=0.1, train=cfg,
                     model_kw=dict(in_channels=1, num_classes=10, width=P.width, hidden=P.hidden))
    rows = []
    for seed in range(P.seeds):
        run_ = task.build(seed, split_seed=0)  # one split (seed 0) for every model seed
        bundle, forget, retain, original, gold = run_.data, run_.forget, run_.retain, run_.original, run_.gold
        # the cached gold's recorded time is from whenever it was first trained (another machine load);
        # retrain once more, uncached, in this run so every time in the table is measured under one load
        with Timer() as t:
            again = train.fit(train.fresh_copy(original, seed), retain, cfg, seed, progress=False)
        gold_seconds = t.seconds
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), gold.state_dict().values())), \
            "the cached gold model differs from a fresh retrain with the same seed"
        gold_forget = train.accuracy_on(gold, forget)

        def row(name, model, seconds, grad_evals):
            e = evaluate(model, forget=forget, retain=retain, test=bundle.test, seed=seed)
            rows.append({"method": name, "seed": seed, "retain_acc": e["retain_acc"], "forget_acc": e["forget_acc"],
                         "test_acc": e["test_acc"], "mia": e["mia"], "delta_gold": abs(e["forget_acc"] - gold_forget),
                         "seconds": seconds, "speedup": gold_seconds / seconds if seconds else float("nan"),
                         "grad_evals": grad_evals})
            print(f"  seed {seed} {name:14s} forget {e['forget_acc']:.3f} test {e['test_acc']:.3f} {seconds:7.2f}s", flush=True)

        row("original", original, float("nan"), 0)
        row("retrain", gold, gold_seconds, run_.gold_record.grad_evals)
        for name in only or BASELINES:
            if name == "sisa":
                scfg = SISAConfig(**vars(cfg), shards=P.shards)
                ens = SISAEnsemble.fit(original, bundle.train, scfg, seed)  # an ensemble is not a cacheable state_dict
                row("sisa (before)", ens, float("nan"), 0)
                out = methods.get("sisa")(ens, forget, retain, seed=seed)
            else:
                out = methods.get(name)(original, forget, retain, seed=seed)
            row(name, out.model, out.record.seconds, out.record.grad_evals)
    runs = pd.DataFrame(rows)
    table = runs.groupby("method", sort=False).mean(numeric_only=True).drop(columns="seed")
    if P.seeds > 1:
        table["forget_acc_std"] = runs.groupby("method", sort=False)["forget_acc"].std()
    out_dir = paths.results_dir(profile)
    suffix = "" if split_kind == "random" else f"_{split_kind}"
    runs.to_csv(out_dir / f"baselines_digits{suffix}_runs.csv", index=False)
    table.to_csv(out_dir / f"baselines_digits{suffix}.csv")
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    ap.add_argument("--split", default="random", choices=["random", "class_fraction", "whole_class"])
    ap.add_argument("--methods", default=None, help="comma-separated subset of the baselines")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: stable timings on a shared CPU)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    table = run(args.profile, args.split, args.methods.split(",") if args.methods else None)
    print(f"\ndigits, forget = {args.split} ({args.profile} profile), mean over seeds; "
          f"speedup = retrain seconds / method seconds")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round({"retain_acc": 3, "forget_acc": 3, "test_acc": 3, "mia": 3, "delta_gold": 3,
                           "seconds": 2, "speedup": 1, "grad_evals": 0, "forget_acc_std": 3}).to_string())
    print(f"\ntotal {time.perf_counter() - start:.0f}s; written to {paths.results_dir(args.profile)}")


if __name__ == "__main__":
    sys.exit(main())
