"""Notebooks 03 and 05: what the scores say. The regime, the methods that changed nothing, the cost ratio, the paired
bootstrap of Table 1, the claims over forget splits and the ablation's verdicts (resampling through
:mod:`unlearn.stats`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import metrics, stats
from ...methods import Unlearned
from ...progress import tqdm
from ...tasks import TaskSets
from ...train import predict
from .protocol import ERROR_MAXIMISING


def mean_interval(values, level: float = 0.95) -> dict:
    """Mean of per-split values and its Student-t interval (:func:`unlearn.stats.t_interval`); ``n`` is how many
    splits it rests on (a split whose value is NaN, a diverged run, is left out of its pairs)."""
    return stats.t_interval(values, level)


def split_claims(runs: pd.DataFrame, method: str = "dlfd", level: float = 0.95) -> pd.DataFrame:
    """What the DLFD claims rest on, over the splits of :func:`run_splits`: the test-accuracy drop from the
    original and FS (each split one value), and NoMUS minus every other approximate method's, paired split by
    split. One row per quantity: mean, t-interval, number of splits."""
    wide = {m: runs.pivot(index="split", columns="method", values=m) for m in ("test_acc", "fs", "nomus")}
    rows = {"test_acc_drop": mean_interval(wide["test_acc"]["original"] - wide["test_acc"][method], level),
            "fs": mean_interval(wide["fs"][method], level)}
    for other in (c for c in wide["nomus"].columns if c not in ("original", method)):
        rows[f"nomus_minus_{other}"] = mean_interval(wide["nomus"][method] - wide["nomus"][other], level)
    return pd.DataFrame(rows).T


def bootstrap(named_models: dict, data: TaskSets, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Replicates of test accuracy, FS and NoMUS for every model, each replicate resampling the forget
    and unseen samples with replacement, with the *same* draws for every model (so differences between
    models are paired). One row per (replicate, model)."""
    rng = np.random.default_rng(seed)
    preds = {name: (predict(m, data.forget).losses.numpy(), predict(m, data.test)) for name, m in named_models.items()}
    draws = stats.resample((len(data.forget), len(data.test)), n_boot, rng)
    rows = []
    for b, (fi, ui) in enumerate(tqdm(draws, total=n_boot, desc="bootstrap", leave=False)):
        for name, (lf, pu) in preds.items():
            acc = float(pu.correct.numpy()[ui].mean())
            mia = metrics.mia_score(lf[fi], pu.losses.numpy()[ui], seed=seed)
            rows.append({"rep": b, "method": name, "test_acc": acc, "fs": metrics.forgetting_score(mia),
                         "nomus": metrics.nomus(acc, mia)})
    return pd.DataFrame(rows)


def intervals(reps: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Percentile intervals of each model's test accuracy, FS and NoMUS from :func:`bootstrap`."""
    out = {}
    for name, g in reps.groupby("method", sort=False):
        out[name] = {f"{m}_{s}": v for m in ("test_acc", "fs", "nomus") for s, v in zip(("lo", "hi"), stats.quantiles(g[m], level))}
    return pd.DataFrame(out).T


def paired_difference(reps: pd.DataFrame, a: str, b: str, metric: str = "nomus", level: float = 0.95) -> dict:
    """``a`` minus ``b`` on ``metric``: the bootstrap mean and percentile interval of the paired difference."""
    wide = reps.pivot(index="rep", columns="method", values=metric)
    return stats.paired_difference(wide[a], wide[b], level)


def versus(reps: pd.DataFrame, method: str, others, metric: str = "nomus") -> pd.DataFrame:
    """``method`` minus each of ``others`` on ``metric``, paired over bootstrap replicates."""
    return pd.DataFrame({o: paired_difference(reps, method, o, metric) for o in others}).T


def memorisation(scores: pd.DataFrame) -> dict:
    """The regime DLFD needs: the original fits its training data far better than unseen data, and
    its FS is high enough that DLFD's stop rule lets it perturb."""
    o = scores.loc["original"]
    return {"forget_acc": float(o["forget_acc"]), "unseen_acc": float(o["test_acc"]),
            "gap": float(o["forget_acc"] - o["test_acc"]), "fs": float(o["fs"]), "fs_retrain": float(scores.loc["retrain", "fs"])}


def changes(scores: pd.DataFrame, min_changed: float = 0.01) -> pd.DataFrame:
    """Did each method change the model? Share of forget + unseen predictions that differ from the
    original's, parameter distance, and a flag for methods that changed fewer than ``min_changed``
    of the predictions (their rows say nothing about unlearning)."""
    df = scores.drop(index="original")[["changed", "param_dist"]].copy()
    df["no_op"] = df["changed"] < min_changed
    return df


def cost_ratio(costs: pd.DataFrame, method: str = "dlfd", reference: str = "retrain") -> dict:
    """A method's cost as a fraction of retraining: wall time and gradient evaluations."""
    return {"seconds": float(costs.loc[method, "seconds"] / costs.loc[reference, "seconds"]),
            "grad_evals": float(costs.loc[method, "grad_evals"] / costs.loc[reference, "grad_evals"])}


def correlation_collapse(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy lost relative to the original, and forget accuracy, for the error-maximising
    methods and DLFD (the paper's "correlation collapse": forgetting by pushing samples towards
    errors also destroys the feature-label correlation that test accuracy relies on)."""
    names = [n for n in (*ERROR_MAXIMISING, "dlfd") if n in df.index]
    base = df.loc["original", "test_acc"]
    return pd.DataFrame({
        "test_acc": df.loc[names, "test_acc"],
        "test_acc_drop": base - df.loc[names, "test_acc"],
        "forget_acc": df.loc[names, "forget_acc"],
        "fs": df.loc[names, "fs"],
    })


def without_timings(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its wall-time column, which varies run to run (nbval checks the rest)."""
    return df.drop(columns=[c for c in ("seconds",) if c in df.columns])


def ablation_summary(per_split: pd.DataFrame, metrics_=("test_acc", "fs", "nomus", "fs_retain"), reference: str = "DLFD (paper)",
                     level: float = 0.95) -> pd.DataFrame:
    """Per variant: the mean of each metric over splits, and its paired difference from ``reference``
    (variant minus reference, split by split) with a Student-t interval (few splits: a bootstrap of
    5 values would be too narrow). ``n_splits`` says on how many splits the variant was scored (a diverged run is
    not); its paired differences rest on the splits where both it and the reference were."""
    rows = {}
    ref = per_split[per_split["variant"] == reference].set_index("split")
    for name, g in per_split.groupby("variant", sort=False):
        g = g.set_index("split")
        row = {"n_splits": int(g["nomus"].notna().sum())}  # splits scored (a diverged run is not)
        for m in metrics_:
            row[m] = g[m].mean()
            if name == reference:
                continue
            d = mean_interval((g[m] - ref.loc[g.index, m]).to_numpy(dtype=float), level)
            row[f"d_{m}"], row[f"d_{m}_lo"], row[f"d_{m}_hi"] = d["mean"], d["lo"], d["hi"]
        rows[name] = row
    out = pd.DataFrame(rows).T
    return out[["n_splits", *[c for c in out.columns if c != "n_splits"]]]


def monitor_curve(run: Unlearned) -> pd.DataFrame:
    """DLFD's monitored validation accuracy and FS through its epoch (from a DLFD run's record)."""
    return pd.DataFrame(run.record.info.curve)


def ablation_verdicts(summary: pd.DataFrame, metric: str = "nomus", reference: str = "DLFD (paper)") -> pd.DataFrame:
    """For each variant: is the reference better, worse, or not distinguishable on ``metric``
    (the paired 95 % interval of variant - reference excludes 0 or not)."""
    rows = {}
    for name, r in summary.drop(index=reference).iterrows():
        lo, hi = float(r[f"d_{metric}_lo"]), float(r[f"d_{metric}_hi"])
        verdict = "DLFD higher" if hi < 0 else "DLFD lower" if lo > 0 else "not distinguishable"
        rows[name] = {f"d_{metric}": float(r[f"d_{metric}"]), "lo": lo, "hi": hi, "verdict": verdict}
    return pd.DataFrame(rows).T
