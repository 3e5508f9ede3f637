"""Notebook 01's side studies: the protocol on other classes, the unlearning-budget probe's table, the predictor's
feature subsets (Table 3) and the noise ablation (Table 4)."""

from __future__ import annotations

import pandas as pd
import torch

from ... import methods, tasks
from ...methods import Unlearned
from ...methods.tmu import features as tmu_features
from ...paths import results_dir
from ...train import NotFitted
from .protocol import TMUProfile, run_seeds, score, tmu_config


def budget_table(profile: str) -> pd.DataFrame | None:
    """The unlearning-step budgets tools/tmu_budget_probe.py measured on validation requests at ``profile`` (per
    request: the oracle control against the gold level, random label and fine-tune at each budget; ``chosen`` marks
    the budget picked over all requests), or None where the probe has not been run."""
    path = results_dir(profile) / "tmu_budget.csv"
    if not path.exists():
        return None
    cols = ["seed", "epochs", "lr", "gold_forget", "oracle_forget", "oracle_test", "original_test", "random_label_forget",
            "finetune_forget", "eligible", "chosen"]
    return pd.read_csv(path)[cols]


# the regime columns notebook 01 prints from the stored table (present even when every class failed its regime)
OTHER_CLASS_COLUMNS = ("original_forget_acc", "gold_forget_acc", "twin_holdout_acc", "neggrad_forget_acc",
                       "neggrad_diverged", "tmu_predicted_easy", "true_easy")


def other_classes(P: TMUProfile, classes, base_seed: int = 0) -> pd.DataFrame:
    """The protocol on other forgotten classes, every seed: the regime (M_o fits D_f, NegGrad reaches its zero level
    without diverging, the twin fits D_h, the gold level) and each method's Delta. One row per (class, seed): a
    protocol tuned on one class must still be in its regime on others (run by tools/tmu_other_classes.py). A class
    whose original, gold or twin model does not fit within its epoch cap gets one row naming the failure in
    ``regime_failed`` (the NotFitted message) instead of stopping the run."""
    import dataclasses

    rows = []
    for c in classes:
        try:
            runs = run_seeds(dataclasses.replace(P, forget_class=int(c)), base_seed, progress=False)
        except NotFitted as e:  # a model the regime needs did not fit within its cap: the class is out of regime
            rows.append({"class": int(c), "regime_failed": str(e)})
            continue
        deltas = runs["table"].pivot(index="seed", columns="method", values="delta").astype(float)
        for r in runs["regime"].to_dict("records"):
            rows.append({"class": int(c), **r, "regime_failed": "",
                         **{f"delta_{m}": float(deltas.loc[r["seed"], m]) for m in deltas.columns
                            if m not in ("original", "retrain (gold)")}})
    df = pd.DataFrame(rows)
    front = ["class", "seed", *OTHER_CLASS_COLUMNS, "regime_failed"]
    return df.reindex(columns=front + [c for c in df.columns if c not in front])


def stored_other_classes(profile: str) -> pd.DataFrame | None:
    """The table tools/tmu_other_classes.py stored for ``profile``, or None where it has not been run."""
    path = results_dir(profile) / "tmu_other_classes.csv"
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else None


# --- Table 3: the generalization-label predictor -----------------------------------------------
SUBSETS = [("df",), ("af",), ("cf",), ("df", "af"), ("df", "cf"), ("af", "cf"), ("df", "af", "cf")]


def predictor_table(tmu_run: Unlearned, ctx: tasks.TaskRun, seed: int) -> pd.DataFrame:
    """Accuracy of the predictor with each feature alone, each pair and all three, on the twin set
    (its training data) and on D_f against the gold model's real correctness; plus the majority
    baselines (the twin set's majority label, and D_f's own majority label)."""
    from ...methods.tmu import decision_threshold

    info = tmu_run.record.info
    cfg = methods.make_config(methods.get("tmu").config_cls, tmu_run.record.config)
    y_twin = torch.as_tensor(info.twin_labels)
    truth = torch.as_tensor(ctx.gold_correct).long()
    ft = {k: torch.as_tensor(v) for k, v in info.twin_features.items()}
    fo = {k: torch.as_tensor(v) for k, v in info.features.items()}
    rows = {}
    for names in SUBSETS:
        pred = tmu_features.train_predictor(tmu_features.stack_features(ft, names), y_twin, epochs=cfg.predictor_epochs, lr=cfg.predictor_lr,
                                  hidden=cfg.predictor_hidden, seed=seed)
        twin_scores = pred.scores(tmu_features.stack_features(ft, names))
        thr = decision_threshold(cfg, twin_scores, y_twin)  # TMU's own calibration
        easy_t = (twin_scores >= thr).long()
        easy_o = (pred.scores(tmu_features.stack_features(fo, names)) >= thr).long()
        rows[" + ".join(n.upper() for n in names)] = {
            "twin_acc": (easy_t == y_twin).float().mean().item(),
            "forget_acc": (easy_o == truth).float().mean().item(),
            "predicted_easy": easy_o.float().mean().item(),
        }
    maj = int(y_twin.float().mean() >= 0.5)
    rows["majority label of the twin set"] = {"twin_acc": (y_twin == maj).float().mean().item(),
                                              "forget_acc": (truth == maj).float().mean().item(), "predicted_easy": float(maj)}
    own = int(truth.float().mean() >= 0.5)
    rows["majority label of D_f (oracle)"] = {"twin_acc": float("nan"), "forget_acc": (truth == own).float().mean().item(),
                                              "predicted_easy": float(own)}
    return pd.DataFrame(rows).T


# --- Table 4: noise on / off --------------------------------------------------------------------
def noise_ablation(P: TMUProfile, ctx: tasks.TaskRun, tmu_run: Unlearned, seed: int) -> tuple[pd.DataFrame, Unlearned]:
    """TMU with and without the input noise of its fine-tuning (everything else identical)."""
    quiet = methods.get("tmu")(ctx.original, ctx.forget, ctx.retain, holdout=ctx.holdout,
                               config=tmu_config(P, noise_sigma=0.0), seed=seed)
    df = pd.DataFrame({f"TMU, noise sigma={P.noise_sigma}": score(tmu_run, ctx, seed),
                       "TMU, no noise": score(quiet, ctx, seed)}).T
    return df[["forget_acc", "test_acc", "class_c_acc", "delta", "act_dist", "mia", "mia_easy", "mia_hard"]], quiet


def save_tables(profile: str, **tables: pd.DataFrame) -> None:
    from ... import paths

    out = paths.results_dir(profile)
    for name, df in tables.items():
        df.to_csv(out / f"tmu_{name}.csv")
