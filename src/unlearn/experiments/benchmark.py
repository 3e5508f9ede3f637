"""Notebook 04: every method under every paper's yardstick, on three tasks, over several seeds.

Tasks (each a dict with forget / retain / test / original / gold, plus what some methods need):
- ``digits``: sub-class forgetting on scikit-learn's digits (instant; for class use), the registry's digits task.
- ``cifar10``: TMU's sub-class forgetting (10 % of class 3), built by ``experiments.tmu.setup`` (the registry's
  cifar10 task at TMU's profile).
- ``utkface``: DLFD's random-instance forgetting on facial-age groups, built by ``experiments.dlfd``.

The sizes are smaller than in notebooks 01 and 03 because every task runs once per seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from torch.utils.data import ConcatDataset

from .. import claims, methods, tasks
from ..evaluate import changed_share, evaluate
from ..methods import Unlearned
from ..plotting import adjust_labels
from ..train import Diverged, TrainConfig, predict
from . import dlfd as dlfd_exp
from . import tmu as tmu_exp

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure

BASELINES = ("finetune", "neggrad", "neggrad_plus", "random_label", "bad_teacher", "scrub", "cf_k", "eu_k", "unsir", "salun")
INFLUENCE = ("influence_first_order", "influence_second_order")
# Metrics shown in the heat map, and whether higher is better (for the colour scale).
METRICS = {"retain_acc": True, "forget_acc": None, "test_acc": True, "delta": False, "act_dist": False, "js": False,
           "mia": None, "fs": False, "nomus": True, "speedup": True}


@dataclass(frozen=True)
class BenchProfile:
    seeds: tuple  # seeds each task runs with (mean +- std over them)
    tasks: tuple  # which tasks to run
    digits_epochs: int  # digits: training epochs of original and gold
    digits_fraction: float  # digits: share of class 3 forgotten (larger than TMU's 10 %: digits has ~135 per class)
    tmu: dict = field(default_factory=dict)  # overrides of experiments.tmu.PROFILES[profile] for the cifar10 task
    dlfd: dict = field(default_factory=dict)  # overrides of experiments.dlfd.PROFILES[profile] for the utkface task
    influence_scope: str = "last_layer"  # influence updates on the model's head ("last_layer", the authors' choice) or the "whole" network


PROFILES = {
    "smoke": BenchProfile(seeds=(0,), tasks=("digits", "cifar10", "utkface"), digits_epochs=3, digits_fraction=0.3),
    "cpu": BenchProfile(seeds=(0, 1, 2), tasks=("digits", "cifar10", "utkface"), digits_epochs=15, digits_fraction=0.3,
                        tmu={"train_per_class": 200, "width": 16, "epochs": 10},
                        # a 1,000-image UTKFace task (notebook 03 runs the full 7,547 once): width 16 and
                        # 30 epochs so that the original overfits it
                        dlfd={"n_train": 1000, "n_test": 300, "n_unseen": 400, "width": 16,
                              "dlfd": {"monitor_every": 2, "monitor_samples": 180, "val_samples": 300}}),
    "paper": BenchProfile(seeds=(0, 1, 2, 3, 4), tasks=("digits", "cifar10", "utkface"), digits_epochs=30,
                          digits_fraction=0.3),
}


def task_profiles(P: BenchProfile, profile: str) -> tuple:
    """The TMU and DLFD experiment profiles this benchmark runs, with its overrides applied."""
    # the cifar10 task stays on CIFAR-10 (class 3, TMU's setting) whatever notebook 01's cpu regime is
    base = tmu_exp.CIFAR_CPU if profile == "cpu" else tmu_exp.PROFILES[profile]
    return (dataclasses.replace(base, **({"dataset": "cifar10", "forget_class": 3, "seeds": (0,)} | P.tmu)),
            dataclasses.replace(dlfd_exp.PROFILES[profile], **P.dlfd))


def digits_task(P: BenchProfile, seed: int) -> dict:
    """Sub-class forgetting on digits, with D_h (half of class 3's test images) for TMU; the test set is the rest."""
    run = tasks.get("digits", split="class_fraction", forget_class=3, fraction=P.digits_fraction,
                    train=TrainConfig(epochs=P.digits_epochs, batch_size=64, lr=0.05), tag="bench-digits-original",
                    class_test=tasks.ClassTest()).build(seed)
    budgets = {"finetune": {"epochs": 2}, "neggrad": {"epochs": 2}, "neggrad_plus": {"epochs": 2},
               "random_label": {"epochs": 2}, "bad_teacher": {"epochs": 1}, "scrub": {"epochs": 2, "msteps": 1},
               "cf_k": {"epochs": 2}, "eu_k": {"epochs": 2}, "salun": {"epochs": 2},
               "tmu": {"twin_epochs": 2, "curriculum_epochs": 2, "epochs": 2, "twin_lr": 1e-3, "curriculum_lr": 1e-3},
               "dlfd": {"monitor_every": 4, "monitor_samples": 40, "val_samples": 200}}
    return {"forget": run.forget, "retain": run.retain, "test": run.test, "holdout": run.holdout, "val": run.test,
            "original": run.original, "gold": run.gold, "gold_record": run.gold_record, "budgets": budgets}


def cifar_task(P: BenchProfile, profile: str, seed: int) -> dict:
    Pt, _ = task_profiles(P, profile)
    ctx = tmu_exp.setup(Pt, seed)
    budgets = {"finetune": {"epochs": Pt.unlearn_epochs}, "neggrad": {"epochs": Pt.neggrad_epochs},
               "random_label": {"epochs": Pt.unlearn_epochs}, "bad_teacher": {"epochs": Pt.bad_teacher_epochs},
               "scrub": {"epochs": Pt.scrub_epochs, "msteps": Pt.scrub_msteps}, "tmu": tmu_exp.tmu_config(Pt)}
    # DLFD (not in notebook 01): monitor every 2nd batch on 300 test images, not every batch on all
    # of them, which at this size costs more than its unlearning
    budgets["dlfd"] = {"monitor_every": 2, "val_samples": 300}
    return ctx | {"val": ctx["test"], "budgets": budgets}  # the budgets notebook 01 uses


def utkface_task(P: BenchProfile, profile: str, seed: int) -> dict:
    _, Pd = task_profiles(P, profile)
    data = dlfd_exp.load_data(Pd, seed)
    original, _ = dlfd_exp.train_original(Pd, data, seed)
    gold, gold_record = methods.get("retrain")(original, data.forget, data.retain, config=Pd.train_config, seed=seed)
    # unseen: final accuracy and MIA non-members; test: DLFD's monitoring set (as in notebook 03)
    return {"forget": data.forget, "retain": data.retain, "test": data.unseen, "val": data.test, "holdout": None,
            "original": original, "gold": gold, "gold_record": gold_record,
            "budgets": dlfd_exp.RELEASE_SETTINGS | {"dlfd": dlfd_exp.dlfd_config(Pd)}}  # as in notebook 03


def build_task(name: str, P: BenchProfile, profile: str, seed: int) -> dict:
    if name == "digits":
        return digits_task(P, seed)
    if name == "cifar10":
        return cifar_task(P, profile, seed)
    if name == "utkface":
        return utkface_task(P, profile, seed)
    raise ValueError(f"unknown task {name!r}")


# Grids the influence updates are tuned over (removal requests, so no label to repair): tau for the first order,
# the damping of the head's (or network's) Hessian for the second.
TAU_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
DAMPING_GRID = (1e-2, 1.0, 1e2, 1e4)


def tuned_influence(ctx: dict, P: BenchProfile, seed: int, names=INFLUENCE) -> dict:
    """Both influence updates, each with its step chosen on the task's validation set by how close the forget
    accuracy comes to the validation accuracy (the level of data the model never saw; the gold model is not
    used). Head only ("last_layer", the authors' choice) or the whole network. Returns {method: (Unlearned,
    search seconds)}; the record times the chosen update alone."""
    from ..methods.influence import tune

    params = "head" if P.influence_scope == "last_layer" else "all"
    forget_acc = lambda m: predict(m, ctx["forget"]).accuracy
    val_acc = predict(ctx["original"], ctx["val"]).accuracy  # the level to aim the forget accuracy at
    out = {}
    for m, key, grid, extra in (("influence_first_order", "tau", TAU_GRID, {}),
                                ("influence_second_order", "damping", DAMPING_GRID, {"solver": "cg", "cg_tol": 1e-3})):
        if m not in names:
            continue
        conf = {"params": params, **extra}
        upd = lambda v, m=m, conf=conf, key=key: methods.get(m)(ctx["original"], ctx["forget"], ctx["retain"],
                                                                config={**conf, key: v}, seed=seed)
        t = tune(upd, grid, ctx["val"], score=lambda model: -abs(forget_acc(model) - val_acc))
        out[m] = (upd(t.value), t.seconds)
    return out


def run_task(name: str, ctx: dict, P: BenchProfile, seed: int, progress: bool = True) -> list[dict]:
    """Every applicable method on one task and seed; one row of metrics each."""
    from ..progress import tqdm

    args = (ctx["original"], ctx["forget"], ctx["retain"])
    runs = {"original": Unlearned(ctx["original"], None), "retrain": Unlearned(ctx["gold"], ctx["gold_record"])}
    budget = ctx.get("budgets", {}).get
    steps = list(BASELINES) + (["tmu"] if ctx.get("holdout") is not None else []) + ["dlfd", "influence (tuned)"]
    bar = tqdm(steps, desc=f"{name} seed {seed}", leave=False, disable=not progress)
    search, diverged = {}, []
    for m in bar:
        bar.set_postfix_str(m)
        try:
            if m == "tmu":  # defined for sub-class forgetting (D_h from the class)
                runs[m] = methods.get(m)(*args, holdout=ctx["holdout"], config=budget(m), seed=seed)
            elif m == "dlfd":
                runs[m] = methods.get(m)(*args, monitor=ctx["val"], config=budget(m), seed=seed)
            elif m == "influence (tuned)":
                for name_, (u, secs) in tuned_influence(ctx, P, seed).items():
                    runs[name_], search[name_] = u, secs
            else:
                runs[m] = methods.get(m)(*args, config=budget(m), seed=seed)
        except Diverged:  # its loss turned non-finite: a row marked diverged (no metrics), the others still run
            diverged.append(m)
    gold_seconds = ctx["gold_record"].seconds
    both = ConcatDataset([ctx["forget"], ctx["test"]])
    rows = []
    for method, u in runs.items():
        r = evaluate(u, forget=ctx["forget"], retain=ctx["retain"], test=ctx["test"], gold=ctx["gold"], seed=seed)
        r["speedup"] = gold_seconds / r["seconds"] if "seconds" in r else np.nan
        r["search_seconds"] = search.get(method, 0.0)
        r["changed"] = changed_share(u.model, ctx["original"], both) if method != "original" else 0.0
        rows.append({"task": name, "seed": seed, "method": method, "status": "ok"} | r)
    rows += [{"task": name, "seed": seed, "method": m, "status": "diverged"} for m in diverged]
    return rows


def run(P: BenchProfile, profile: str, base_seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Every task at every seed (``base_seed`` + the profile's seeds); one row per method. Two progress bars: the
    (task, seed) runs, and the methods within the current one."""
    from ..progress import tqdm

    rows = []
    for task, seed in tqdm([(t, base_seed + s) for t in P.tasks for s in P.seeds], desc="tasks x seeds",
                           disable=not progress):
        rows += run_task(task, build_task(task, P, profile, seed), P, seed, progress)
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """mean and std over seeds for every (task, method) and metric."""
    cols = [c for c in METRICS if c in df] + ["seconds", "grad_evals"] + [c for c in ("changed", "search_seconds") if c in df]
    g = df.groupby(["task", "method"], sort=False)[cols]
    out = g.mean().join(g.std(ddof=0), rsuffix="_std")
    if "changed" in out:  # changed under 0.5 % of forget + test predictions: the row says nothing, never a win
        out["no_op"] = (out["changed"] < 0.005) & (out.index.get_level_values("method") != "original")
    return out


def mean_pm_std(summ: pd.DataFrame, cols, digits: int = 3) -> pd.DataFrame:
    """'mean ± std' strings at fixed precision, for printing."""
    out = pd.DataFrame(index=summ.index)
    for c in cols:
        out[c] = [f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(m) else "n/a"
                  for m, s in zip(summ[c], summ[f"{c}_std"])]
    return out


def claims_table(profile: str) -> pd.DataFrame:
    """Each paper's headline claims as recorded by notebooks 01-03 at this profile (never typed)."""
    rows = claims.load(profile)
    if not rows:
        return pd.DataFrame(columns=["paper", "claim", "verdict", "timing", "numbers"])
    df = pd.DataFrame(rows)
    # claims whose evidence is a wall time can flip between runs; nbval must not compare those
    df["timing"] = [any("speedup" in k or "seconds" in k for k in n) for n in df.numbers]
    df["numbers"] = [", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in n.items())
                     for n in df.numbers]
    df["verdict"] = [r.get("verdict", "holds" if r["holds"] else "does not hold") for r in rows]
    return df[["paper", "claim", "verdict", "timing", "numbers"]]


# --- figures -------------------------------------------------------------------------------------------------
def heatmap_figure(summ: pd.DataFrame) -> Figure:
    """Every metric for every method, one panel per task, annotated with the mean over seeds. Colour: each column
    scaled to [0, 1] with "better" at 1 (forget_acc: closeness to the gold row; mia: closeness to 0.5); a no-op
    row (fewer than 0.5 % of predictions changed) is grey, never coloured as a win."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    task_names = list(dict.fromkeys(summ.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(task_names), figsize=(8 * len(task_names), 8), squeeze=False, gridspec_kw={"wspace": 0.55})
    for ax, task in zip(axes[0], task_names):
        t = summ.loc[task][list(METRICS)]
        labels = t.map(lambda v: "" if not np.isfinite(v) else f"{v:.0f}" if abs(v) >= 10 else f"{v:.2f}")
        score = t.copy()
        score["forget_acc"] = -(t["forget_acc"] - t.loc["retrain", "forget_acc"]).abs()
        score["mia"] = -(t["mia"] - 0.5).abs()
        score["speedup"] = np.log10(t["speedup"])
        for c, higher in METRICS.items():
            if higher is False:
                score[c] = -score[c]
        score = (score - score.min()) / (score.max() - score.min()).replace(0, 1)
        no_op = summ.loc[task]["no_op"].reindex(score.index).fillna(False).astype(bool)
        score.loc[no_op] = np.nan
        score.index = [f"{m} (no-op)" if n else m for m, n in zip(score.index, no_op)]
        sns.heatmap(score, annot=labels.to_numpy(), fmt="", cmap="RdYlGn", cbar=False, ax=ax, vmin=0, vmax=1)
        ax.set_facecolor("#d9d9d9")
        ax.set(title=f"{task}: mean over seeds (green = better, grey = no-op)", xlabel="", ylabel="")
    return fig


def tradeoff_figure(summ: pd.DataFrame) -> Figure:
    """Test accuracy against the forgetting score per method and task; marker area ~ wall time."""
    import matplotlib.pyplot as plt

    task_names = list(dict.fromkeys(summ.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(task_names), figsize=(6 * len(task_names), 5), squeeze=False)
    for ax, task in zip(axes[0], task_names):
        t = summ.loc[task].reset_index()
        sizes = 30 + 400 * t.seconds.fillna(0) / max(t.seconds.max(), 1e-9)
        ax.scatter(t.fs, t.test_acc, s=sizes, alpha=0.6)
        adjust_labels(ax, [ax.text(r.fs, r.test_acc, r.method, fontsize=8) for _, r in t.iterrows()])
        ax.set(title=f"{task}: utility vs forgetting (marker area ~ time)",
               xlabel="forgetting score |MIA - 0.5| (lower is better)", ylabel="test accuracy")
    return fig


def speedup_figure(df: pd.DataFrame) -> Figure:
    """Speed-up against retraining per method, bars per task (sd over seeds)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(10, 6))
    sp = df[~df.method.isin(["original", "retrain"])]
    sns.barplot(data=sp, y="method", x="speedup", hue="task", ax=ax, orient="h", errorbar="sd")
    ax.set(xscale="log", xlabel="speed-up against retraining (retrain time / method time)", ylabel="")
    ax.axvline(1, c="k", lw=1)
    return fig
