"""How far can the unlearning step move notebook 01's cpu model? Random label and the oracle TMU control (TMU's
fine-tuning with the gold model's own easy/hard split) at several (epochs, lr) budgets, on one seed.

Issue 13's regime asks that random label reach ~0 on D_f and, implicitly, that TMU's fine-tuning can reach the
gold level when it keeps the right samples (the oracle). At the profile's budget (5 epochs, SGD 0.01) neither
happens on the Fashion-MNIST MLP; this script measures the budgets around it.

    python tools/tmu_budget_probe.py [--profile cpu] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy

import pandas as pd
import torch

from unlearn import methods, profiles
from unlearn.experiments import tmu
from unlearn.methods.tmu import TMUConfig, finetune_with_labels
from unlearn.train import predict

BUDGETS = ((5, 0.01), (5, 0.1), (10, 0.1), (10, 0.3))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=profiles.PROFILES)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    P = profiles.pick(tmu.PROFILES, args.profile)
    ctx = tmu.setup(P, args.seed)
    gold = torch.as_tensor(ctx["gold_correct"].astype(bool))
    acc = lambda m, d: predict(m, ctx[d]).accuracy
    rows = []
    for epochs, lr in BUDGETS:
        rl = methods.get("random_label")(ctx["original"], ctx["forget"], ctx["retain"], config={"epochs": epochs, "lr": lr},
                                         seed=args.seed)
        oracle = copy.deepcopy(ctx["original"])
        finetune_with_labels(oracle, ctx["forget"], ctx["retain"], gold, methods.make_config(TMUConfig, {"epochs": epochs, "lr": lr}),
                             args.seed)
        rows.append({"epochs": epochs, "lr": lr, "random_label_forget": acc(rl, "forget"), "random_label_test": acc(rl, "test"),
                     "oracle_forget": acc(oracle, "forget"), "oracle_test": acc(oracle, "test"),
                     "gold_forget": float(gold.float().mean())})
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
