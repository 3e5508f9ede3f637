"""Notebook 01's statistics over seeds: Delta per method with paired intervals, per-sample agreement with the gold
model, and the predictor's calibration (every resampling through :mod:`unlearn.stats`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ... import methods, stats
from ...methods.tmu import features as tmu_features
from .studies import OTHER_CLASS_COLUMNS


def other_classes_summary(other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(regime, deltas) from :func:`other_classes`' table: per (class, seed) the regime numbers and whether the
    notebook's own regime checks pass there (``in_regime``: M_o at 1.0 on D_f, NegGrad at its zero level without
    diverging, the twin at 1.0 on D_h), a failed fit named in ``regime_failed``; per class each method's Delta,
    mean and range over the seeds in regime."""
    regime = other.reindex(columns=["class", "seed", *OTHER_CLASS_COLUMNS, "regime_failed"]).copy()
    regime["regime_failed"] = regime["regime_failed"].fillna("").str.split(";").str[0]  # what failed, not the fixes
    ok = ((regime["original_forget_acc"] == 1.0) & (regime["neggrad_forget_acc"] == 0.0)
          & (regime["neggrad_diverged"].astype(str) == "False") & (regime["twin_holdout_acc"] == 1.0))
    regime.insert(2, "in_regime", ok & (regime["regime_failed"] == ""))
    cols = [c for c in other.columns if c.startswith("delta_")]
    long = other.loc[regime["in_regime"].to_numpy()].melt(id_vars="class", value_vars=cols, var_name="method",
                                                          value_name="delta")
    long["method"] = long["method"].str.removeprefix("delta_")
    deltas = long.groupby(["class", "method"], sort=False)["delta"].agg(["mean", "min", "max", "count"])
    return regime, deltas.rename(columns={"count": "seeds"})


def delta_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Delta per method: mean and sd over seeds, the per-seed values, whether TMU's Delta is below the method's on
    every seed, a one-sided sign test of TMU < method over seeds (scipy's exact binomial test), and the share of
    forget + test predictions the method changed (``no_op`` below 0.5 %)."""
    wide = table.pivot(index="seed", columns="method", values="delta").astype(float)
    changed = table.groupby("method")["changed"].mean() if "changed" in table else None
    tmu_d = wide["TMU"]
    out = {}
    for m in wide.columns:
        d = wide[m]
        wins = int((tmu_d < d).sum())
        ties = int((tmu_d == d).sum())
        n = len(d) - ties
        out[m] = {"delta_mean": d.mean(), "delta_sd": d.std(ddof=1) if len(d) > 1 else float("nan"),
                  "per_seed": ", ".join(f"{v:.3f}" for v in d),
                  "tmu_below_every_seed": bool((tmu_d < d).all()) if m != "TMU" else False,
                  "sign_test_p": stats.sign_test(wins, n) if m != "TMU" else float("nan")}
        if changed is not None:  # < 0.5 % of forget + test predictions changed: not unlearning, never a loss for TMU
            out[m]["changed"] = float(changed[m])
            out[m]["no_op"] = bool(changed[m] < 0.005) and m != "original"
    return pd.DataFrame(out).T


def delta_intervals(correct: dict, n_boot: int = 2000, seed: int = 0, level: float = 0.95, reference: str = "TMU") -> pd.DataFrame:
    """Mean Delta over seeds with a bootstrap interval, and each method's Delta minus ``reference``'s, paired.
    ``correct``: seed -> method -> per-sample correctness on D_f (``run_seeds(...)["correct"]``). Each replicate
    redraws the seeds and then D_f within every drawn seed (:func:`unlearn.stats.cluster_bootstrap`: the interval
    covers the variation between trained models, not only between samples), the same draw for every method and the
    gold model, so the differences are paired; Delta is recomputed per drawn seed and averaged."""
    rng = np.random.default_rng(seed)
    per_seed = list(correct.values())
    methods_ = [m for m in per_seed[0] if all(m in c for c in per_seed)]
    point = {m: float(np.mean([abs(p[m].mean() - p["retrain (gold)"].mean()) for p in per_seed])) for m in methods_}
    boot = {m: np.zeros(n_boot) for m in methods_}
    sizes = [len(p["retrain (gold)"]) for p in per_seed]
    for b, rep in enumerate(stats.cluster_bootstrap(sizes, n_boot, rng)):
        for c, idx in rep:
            gold = per_seed[c]["retrain (gold)"][idx].mean()
            for m in methods_:
                boot[m][b] += abs(per_seed[c][m][idx].mean() - gold) / len(rep)
    rows = {}
    for m in methods_:
        lo, hi = stats.quantiles(boot[m], level)
        dlo, dhi = stats.quantiles(boot[m] - boot[reference], level)
        rows[m] = {"delta": point[m], "lo": lo, "hi": hi, f"minus_{reference}": point[m] - point[reference],
                   "diff_lo": dlo, "diff_hi": dhi}
    return pd.DataFrame(rows).T


def agreement_difference(correct: dict, a: str, b: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Per-sample agreement with the gold model (right exactly where gold is right) of ``a`` minus ``b``, pooled over
    seeds' D_f, with a paired interval from the two-level bootstrap (seeds, then samples within each drawn seed)."""
    d = [(per[a] == per["retrain (gold)"]).astype(float) - (per[b] == per["retrain (gold)"]).astype(float)
         for per in correct.values()]
    rng = np.random.default_rng(seed)
    reps = [np.concatenate([d[c][idx] for c, idx in rep]).mean()
            for rep in stats.cluster_bootstrap([len(x) for x in d], n_boot, rng)]
    lo, hi = stats.quantiles(reps, level)
    pooled = np.concatenate(d)
    return {"diff": float(pooled.mean()), "lo": lo, "hi": hi, "samples": len(pooled),
            "discordant": int((pooled != 0).sum())}


def _variant_scores(rec: dict, overrides: dict) -> tuple[np.ndarray, float]:
    """(P(easy) on D_f, threshold) with the predictor's settings of a seed's TMU run changed by ``overrides``
    (scaling, calibration, features), from that run's stored raw features; {} repeats the run's own decisions."""
    from ...methods.tmu import TMUConfig, decision_threshold

    cfg = methods.make_config(TMUConfig, {**rec["config"], **overrides})
    names = tuple(cfg.features)
    twin_raw = {k: torch.as_tensor(v) for k, v in rec["twin_features_raw"].items()}
    orig_raw = {k: torch.as_tensor(v) for k, v in rec["features_raw"].items()}
    scaler = tmu_features.FeatureScaler().fit(twin_raw)
    y_twin = torch.as_tensor(rec["twin_labels"])
    own = tmu_features.FeatureScaler().fit(orig_raw) if cfg.scaling == "per_set" else scaler
    pred = tmu_features.train_predictor(tmu_features.stack_features(scaler.transform(twin_raw), names), y_twin,
                                        epochs=cfg.predictor_epochs, lr=cfg.predictor_lr, hidden=cfg.predictor_hidden,
                                        seed=rec["seed"])
    scores = pred.scores(tmu_features.stack_features(own.transform(orig_raw), names)).numpy()
    twin_scores = pred.scores(tmu_features.stack_features(scaler.transform(twin_raw), names))
    return scores, decision_threshold(cfg, twin_scores, y_twin)


# the predictor's settings compared (notebook 01): TMU as run (the release's per-set scaling and P >= 0.62, the
# paper's three features), and one change at a time
CALIBRATION_VARIANTS = {
    "TMU as run": {},
    "fixed P >= 0.5": {"calibration": "fixed", "threshold": 0.5},
    "base rate": {"calibration": "base_rate"},
    "twin scaling": {"scaling": "twin"},
    "twin scaling, fixed P >= 0.5 (earlier default)": {"scaling": "twin", "calibration": "fixed", "threshold": 0.5},
    "DF + CF only (release)": {"features": ("df", "cf")},
}


def calibration_table(records: list, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The predictor's decisions under each calibration variant, pooled over seeds, against the gold model's real
    correctness on D_f: predicted and true easy rates, accuracy, balanced accuracy and AUROC (95 % intervals from
    the two-level bootstrap: seeds, then D_f samples within each drawn seed), and the majority baseline's accuracy."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(seed)
    rows = {}
    for v, overrides in CALIBRATION_VARIANTS.items():
        per = [(_variant_scores(r, overrides), r["gold_correct"]) for r in records]
        s = np.concatenate([sc for (sc, _), _ in per])
        pred = np.concatenate([sc >= t for (sc, t), _ in per])
        truth = np.concatenate([g for _, g in per]).astype(int)
        offsets = np.cumsum([0] + [len(g) for _, g in per])
        reps = {"auroc": [], "balanced_acc": []}
        for rep in stats.cluster_bootstrap([len(g) for _, g in per], n_boot, rng):  # seeds, then D_f within each
            idx = np.concatenate([offsets[c] + i for c, i in rep])
            if truth[idx].min() == truth[idx].max():
                continue
            reps["auroc"].append(roc_auc_score(truth[idx], s[idx]))
            reps["balanced_acc"].append(balanced_accuracy_score(truth[idx], pred[idx]))
        both = truth.min() != truth.max()  # AUROC and balanced accuracy need easy and hard samples
        row = {"predicted_easy": pred.mean(), "true_easy": truth.mean(), "accuracy": (pred == truth).mean(),
               "balanced_acc": balanced_accuracy_score(truth, pred) if both else np.nan,
               "auroc": roc_auc_score(truth, s) if both else np.nan}
        for k in reps:
            row[f"{k}_lo"], row[f"{k}_hi"] = stats.quantiles(reps[k]) if reps[k] else (np.nan, np.nan)
        row["majority_acc"] = max(truth.mean(), 1 - truth.mean())
        rows[v] = row
    return pd.DataFrame(rows).T
