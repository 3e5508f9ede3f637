"""Notebook 04: every method under every paper's yardstick, on three tasks of the registry (``unlearn.tasks``), over
several seeds. Each task is a :class:`~unlearn.tasks.TaskRun` (its sets, original and gold model) and the method
budgets on it:

- ``digits``: sub-class forgetting on scikit-learn's digits (instant; for class use).
- ``cifar10``: TMU's sub-class forgetting (10 % of class 3), at the sizes and with the unlearning budgets of TMU's
  profiles (notebook 01's protocol on CIFAR-10; ``tests/test_bench.py`` checks the two agree).
- ``utkface``: DLFD's random-instance forgetting on facial-age groups (MUFAC's protocol), each baseline at the DLFD
  release's settings (the task's budgets), DLFD monitoring on the task's ``val`` half.

The sizes are smaller than in notebooks 01 and 03 because every task runs once per seed. This module imports no
other experiment: the tasks come from the registry, their sizes and budgets from :data:`PROFILES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import claims, methods, profiles, tasks
from ..evaluate import evaluate, predicted_labels
from ..methods import Unlearned
from ..plotting import KIND_COLOURS, adjust_labels, method_kind, samples_figure
from ..train import Diverged, TrainConfig, predict

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
    cifar10: dict  # the registry's cifar10 task at this profile (unlearn.tasks.Task fields): TMU's sub-class setting
    cifar10_budgets: dict  # method -> config on it: TMU's unlearning step, its twin, and the baselines' epochs
    utkface: dict  # the registry's utkface task at this profile (MUFAC's protocol on UTKFace)
    utkface_dlfd: dict  # DLFD's monitoring on it (the baselines run at the release's settings, the task's budgets)
    influence_scope: str = "last_layer"  # influence updates on the model's head ("last_layer", the authors' choice) or the "whole" network


def _tmu_budgets(unlearn: int, neggrad: int, scrub: int, msteps: int, twin: int, twin_lr: float, curriculum: int) -> dict:
    """The budgets notebook 01 gives each method (TMU's unlearning step is also fine-tune's and random label's)."""
    return {"finetune": {"epochs": unlearn}, "neggrad": {"epochs": neggrad}, "random_label": {"epochs": unlearn},
            "bad_teacher": {"epochs": 1}, "scrub": {"epochs": scrub, "msteps": msteps},
            "tmu": {"twin_epochs": twin, "twin_lr": twin_lr, "twin_fit_target": 0.0, "curriculum_epochs": curriculum,
                    "curriculum_lr": twin_lr, "epochs": unlearn, "noise_sigma": 0.1},
            # DLFD (not in notebook 01): monitor every 2nd batch on 300 test images, not every batch on all of them,
            # which at this size costs more than its unlearning
            "dlfd": {"monitor_every": 2, "val_samples": 300}}


_SGD = dict(optimizer="sgd", momentum=0.9, weight_decay=5e-4, schedule="cosine")
_TMU_TASK = dict(split="class_fraction", forget_class=3, tag="tmu-original")
PROFILES = {
    # tiny: TMU's smoke protocol (an MLP, Adam) on CIFAR-10, DLFD's smoke sizes
    "smoke": BenchProfile(
        seeds=(0,), tasks=("digits", "cifar10", "utkface"), digits_epochs=3, digits_fraction=0.3,
        cifar10=_TMU_TASK | dict(model="mlp", model_kw={"in_features": 3072, "num_classes": 10, "hidden": 64},
                                 train=TrainConfig(epochs=3, batch_size=64, lr=1e-3, optimizer="adam", weight_decay=0.0,
                                                   schedule="constant"),
                                 fraction=0.2, per_class=60, class_test=tasks.ClassTest(60, 60, 20)),
        cifar10_budgets=_tmu_budgets(1, 1, 1, 1, twin=1, twin_lr=1e-3, curriculum=1),
        utkface=dict(model_kw={"num_classes": 8, "width": 4}, train=TrainConfig(epochs=2, batch_size=64, lr=0.05, **_SGD),
                     subset=240, halved_test=tasks.HalvedTest(100, 100), dataset_kw={"resolution": 16}),
        utkface_dlfd={"monitor_every": 3, "monitor_samples": 36, "val_samples": 100, "perturb_steps": 3}),
    # utkface is left out at cpu: its three seeds cost a third of this notebook's 21 minutes (measured on 2 cores, the
    # budget is 15), and notebook 03 runs the same task at full size with DLFD's baselines over five forget splits
    "cpu": BenchProfile(
        seeds=(0, 1, 2), tasks=("digits", "cifar10"), digits_epochs=15, digits_fraction=0.3,
        # 2,000 training images and a ResNet-18 at quarter width (16), which fits its training set (the paper's
        # premise: M_o has memorised D_f) where the small CNN did not (0.70 train accuracy after 15 epochs). The
        # twin and curriculum models use a 10x larger Adam step than the release because they get far fewer steps
        # here; the twin gets 5 epochs so that M_t memorises D_h as M_o memorised D_f (2 epochs left M_t at 0.64 on D_h)
        cifar10=_TMU_TASK | dict(model="resnet18", model_kw={"num_classes": 10, "width": 16},
                                 train=TrainConfig(epochs=10, batch_size=128, lr=0.05, **_SGD),
                                 fraction=0.1, per_class=200, class_test=tasks.ClassTest(0, 0, 100)),
        cifar10_budgets=_tmu_budgets(2, 5, 2, 1, twin=5, twin_lr=1e-3, curriculum=2),
        # a 1,000-image UTKFace task (notebook 03 runs the full 7,547 once): width 16 and 30 epochs so that the
        # original overfits it
        utkface=dict(model_kw={"num_classes": 8, "width": 16}, train=TrainConfig(epochs=30, batch_size=64, lr=0.05, **_SGD),
                     subset=1000, halved_test=tasks.HalvedTest(300, 400), dataset_kw={"resolution": 32}),
        utkface_dlfd={"monitor_every": 2, "monitor_samples": 180, "val_samples": 300}),
    # the papers' sizes: TMU's release recipe (ResNet-18, Adam 1e-4, 10 epochs) and DLFD's (128 px, 100 epochs)
    "paper": BenchProfile(
        seeds=(0, 1, 2, 3, 4), tasks=("digits", "cifar10", "utkface"), digits_epochs=30, digits_fraction=0.3,
        cifar10=_TMU_TASK | dict(model="resnet18", model_kw={"num_classes": 10, "width": 64},
                                 train=TrainConfig(epochs=10, batch_size=64, lr=1e-4, optimizer="adam", weight_decay=0.0,
                                                   schedule="constant"),
                                 fraction=0.1, per_class=0, class_test=tasks.ClassTest(0, 0, 0)),
        cifar10_budgets=_tmu_budgets(5, 5, 5, 3, twin=10, twin_lr=1e-4, curriculum=2),
        utkface=dict(model_kw={"num_classes": 8, "width": 64, "stem": "imagenet"},
                     train=TrainConfig(epochs=100, batch_size=32, lr=0.01, augment=True, **_SGD),
                     halved_test=tasks.HalvedTest(), dataset_kw={"resolution": 128}),
        utkface_dlfd={}),
}
# The paper profile's networks and image sizes, one epoch, one seed, a few hundred images per task (profiles.dry_run);
# CIFAR-10 at 20 a class (at 100 its ten baselines on the full-width ResNet-18 ran past 15 minutes on 2 slow cores),
# half of class 3 forgotten: 10 images, the fewest DLFD's membership attack takes
PROFILES["paper-dry"] = profiles.dry_run(
    PROFILES["paper"],
    cifar10=profiles.dry_run(PROFILES["paper"]).cifar10 | dict(per_class=20, fraction=0.5, class_test=tasks.ClassTest(20, 20, 20)),
    utkface=profiles.dry_run(PROFILES["paper"]).utkface | dict(subset=120, halved_test=tasks.HalvedTest(40, 40)),
    utkface_dlfd={"perturb_steps": 1})

DIGITS_BUDGETS = {"finetune": {"epochs": 2}, "neggrad": {"epochs": 2}, "neggrad_plus": {"epochs": 2},
                  "random_label": {"epochs": 2}, "bad_teacher": {"epochs": 1}, "scrub": {"epochs": 2, "msteps": 1},
                  "cf_k": {"epochs": 2}, "eu_k": {"epochs": 2}, "salun": {"epochs": 2},
                  "tmu": {"twin_epochs": 2, "curriculum_epochs": 2, "epochs": 2, "twin_lr": 1e-3, "curriculum_lr": 1e-3},
                  "dlfd": {"monitor_every": 4, "monitor_samples": 40, "val_samples": 200}}


def profile_table() -> pd.DataFrame:
    """Each profile's sizes at a glance: seeds, and per task the model, the training data and the recipe."""
    rows = {}
    for name, P in PROFILES.items():
        if name == "paper-dry":
            continue
        c, u = task("cifar10", P), task("utkface", P)
        rows[name] = {
            "seeds": len(P.seeds),
            "digits": f"small CNN, {P.digits_epochs} epochs, {P.digits_fraction:.0%} of class 3",
            "cifar10": (f"{c.model}, hidden {c.model_kw['hidden']}" if c.model == "mlp" else
                        f"{c.model}, width {c.model_kw['width']}")
                       + f", {c.per_class or 'all'}/class, {c.train.epochs} epochs, {c.fraction:.0%} of class 3",
            "cifar10 TMU": f"twin {P.cifar10_budgets['tmu']['twin_epochs']}, unlearn {P.cifar10_budgets['tmu']['epochs']} epochs",
            "utkface": f"{u.dataset_kw['resolution']} px, width {u.model_kw['width']}, {u.subset or 'all'} images, "
                       f"{u.train.epochs} epochs",
        }
    return pd.DataFrame(rows)


def task(name: str, P: BenchProfile) -> tasks.Task:
    """The registry's task ``name`` at this profile's sizes."""
    if name == "digits":  # D_h is half of class 3's test images (for TMU); the test set is the rest
        return tasks.get("digits", split="class_fraction", forget_class=3, fraction=P.digits_fraction,
                         train=TrainConfig(epochs=P.digits_epochs, batch_size=64, lr=0.05), tag="bench-digits-original",
                         class_test=tasks.ClassTest())
    if name in ("cifar10", "utkface"):
        return tasks.get(name, **getattr(P, name))
    raise ValueError(f"unknown task {name!r}; this benchmark runs digits, cifar10 and utkface")


def budgets(name: str, P: BenchProfile) -> dict:
    """method -> config on task ``name`` (a method not named runs with its defaults)."""
    if name == "digits":
        return DIGITS_BUDGETS
    if name == "cifar10":
        return P.cifar10_budgets
    return task(name, P).budgets | {"dlfd": P.utkface_dlfd}  # the DLFD release's settings, as in notebook 03


def build_task(name: str, P: BenchProfile, seed: int) -> tasks.TaskRun:
    """Task ``name`` built with ``seed``: its sets, the original and the gold model. ``val`` (what DLFD monitors and
    the influence updates are tuned on) is the task's own where it has one (utkface: D_test), else its test set."""
    run = task(name, P).build(seed)
    if run.val is None:
        run.val = run.test
    run.retrained  # the gold model now, before any method runs
    return run


# Grids the influence updates are tuned over (removal requests, so no label to repair): tau for the first order,
# the damping of the head's (or network's) Hessian for the second.
TAU_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
DAMPING_GRID = (1e-2, 1.0, 1e2, 1e4)


def tuned_influence(run: tasks.TaskRun, P: BenchProfile, seed: int, names=INFLUENCE) -> dict:
    """Both influence updates, each with its step chosen on the task's validation set by how close the forget
    accuracy comes to the validation accuracy (the level of data the model never saw; the gold model is not
    used). Head only ("last_layer", the authors' choice) or the whole network. Returns {method: (Unlearned,
    search seconds)}; the record times the chosen update alone."""
    from ..methods.influence import tune

    params = "head" if P.influence_scope == "last_layer" else "all"
    forget_acc = lambda m: predict(m, run.forget).accuracy
    val_acc = predict(run.original, run.val).accuracy  # the level to aim the forget accuracy at
    out = {}
    for m, key, grid, extra in (("influence_first_order", "tau", TAU_GRID, {}),
                                ("influence_second_order", "damping", DAMPING_GRID, {"solver": "cg", "cg_tol": 1e-3})):
        if m not in names:
            continue
        conf = {"params": params, **extra}
        upd = lambda v, m=m, conf=conf, key=key: methods.get(m)(run.original, run.forget, run.retain,
                                                                config={**conf, key: v}, seed=seed)
        t = tune(upd, grid, run.val, score=lambda model: -abs(forget_acc(model) - val_acc))
        out[m] = (upd(t.value), t.seconds)
    return out


def run_task(name: str, run: tasks.TaskRun, budgets: dict, P: BenchProfile, seed: int, progress: bool = True) -> list[dict]:
    """Every applicable method on one task and seed (each with its budget on the task); one row of metrics each."""
    from ..progress import tqdm

    args = (run.original, run.forget, run.retain)
    runs = {"original": Unlearned(run.original, None), "retrain": Unlearned(run.gold, run.gold_record)}
    budget = budgets.get
    steps = list(BASELINES) + (["tmu"] if run.holdout is not None else []) + ["dlfd", "influence (tuned)"]
    bar = tqdm(steps, desc=f"{name} seed {seed}", leave=False, disable=not progress)
    search, diverged = {}, []
    for m in bar:
        bar.set_postfix_str(m)
        try:
            if m == "tmu":  # defined for sub-class forgetting (D_h from the class)
                runs[m] = methods.get(m)(*args, holdout=run.holdout, config=budget(m), seed=seed)
            elif m == "dlfd":
                runs[m] = methods.get(m)(*args, monitor=run.val, config=budget(m), seed=seed)
            elif m == "influence (tuned)":
                for name_, (u, secs) in tuned_influence(run, P, seed).items():
                    runs[name_], search[name_] = u, secs
            else:
                runs[m] = methods.get(m)(*args, config=budget(m), seed=seed)
        except Diverged:  # its loss turned non-finite: a row marked diverged (no metrics), the others still run
            diverged.append(m)
    gold_seconds = run.gold_record.seconds
    # what every model is compared with, predicted once for the task instead of once per model
    shared = dict(gold_forget=predict(run.gold, run.forget), original_labels=predicted_labels(run.original, run.forget, run.test))
    rows = []
    for method, u in runs.items():
        r = evaluate(u, forget=run.forget, retain=run.retain, test=run.test, gold=run.gold, seed=seed, **shared)
        r["speedup"] = gold_seconds / r["seconds"] if "seconds" in r else np.nan
        r["search_seconds"] = search.get(method, 0.0)
        r["changed"] = r.pop("changed")  # the column order the stored tables have
        rows.append({"task": name, "seed": seed, "method": method, "status": "ok"} | r)
    rows += [{"task": name, "seed": seed, "method": m, "status": "diverged"} for m in diverged]
    return rows


def task_rows(name: str, P: BenchProfile, seed: int) -> list[dict]:
    """One (task, seed) run of :func:`run`: the task built with ``seed`` and every method on it (a job for
    :mod:`unlearn.dispatch`)."""
    return run_task(name, build_task(name, P, seed), budgets(name, P), P, seed, progress=False)


def run(P: BenchProfile, profile: str, base_seed: int = 0, progress: bool = True,
        scheduler: str | None = None) -> pd.DataFrame:
    """Every task at every seed (``base_seed`` + the profile's seeds); one row per method. The (task, seed) runs are
    independent jobs, run where ``scheduler`` says (:mod:`unlearn.dispatch`: "serial", "local" for a worker per
    core, or a cluster's address); the rows come back in the same order either way."""
    from .. import dispatch

    jobs = [(t, P, base_seed + s) for t in P.tasks for s in P.seeds]
    done = dispatch.run(task_rows, jobs, scheduler=scheduler, desc="tasks x seeds", progress=progress)
    return pd.DataFrame([row for rows in done for row in rows])


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
def data_figure(name: str, P: BenchProfile, seed: int = 0) -> Figure:
    """A picture of task ``name``'s data as the first run draws it: forgotten and kept images, titled with their class
    (nothing is trained)."""
    sets = task(name, P).sets(seed)
    fig = samples_figure({"forgotten": sets.forget, "kept": sets.retain}, classes=sets.data.classes, seed=seed)
    fig.suptitle(f"{name}: {len(sets.forget):,} forgotten, {len(sets.retain):,} kept training images", fontsize=10)
    fig.tight_layout()
    return fig


def heatmap_figure(summ: pd.DataFrame) -> Figure:
    """Every metric for every method, one panel per task, annotated with the mean over seeds. Colour: each column
    scaled to [0, 1] with "better" at 1 (forget_acc: closeness to the gold row; mia: closeness to 0.5); a no-op
    row (fewer than 0.5 % of predictions changed) is grey, never coloured as a win."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    task_names = list(dict.fromkeys(summ.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(task_names), figsize=(8 * len(task_names), 8), squeeze=False, gridspec_kw={"wspace": 0.75})
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
        # cividis: readable with every common colour-vision deficiency (red-green scales are not)
        sns.heatmap(score, annot=labels.to_numpy(), fmt="", cmap="cividis", cbar=False, ax=ax, vmin=0, vmax=1)
        ax.set_facecolor("#f2f2f2")
        ax.set(title=task, xlabel="", ylabel="")
    fig.suptitle("Every method under every yardstick, mean over seeds: yellow = better within the column, dark blue = "
                 "worse; empty row = no-op (fewer than 0.5 % of predictions changed)", fontsize=12)
    return fig


def _accuracy_ticks(acc: pd.Series) -> list[float]:
    """Accuracy ticks evenly spread on the log of the error between the lowest and highest accuracy shown."""
    lo, hi = float(np.clip(1 - acc.max(), 1e-4, 1)), float(np.clip(1 - acc.min(), 1e-4, 1))
    return sorted({round(1 - e, 3) for e in np.geomspace(lo, hi, 6)})


def tradeoff_figure(summ: pd.DataFrame) -> Figure:
    """Test accuracy against the forgetting score per method and task; marker area ~ wall time."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FormatStrFormatter

    task_names = list(dict.fromkeys(summ.index.get_level_values("task")))
    fig, axes = plt.subplots(1, len(task_names), figsize=(6 * len(task_names) + 1.5, 5.2), squeeze=False,
                             layout="constrained")
    area = lambda sec: 20 + 25 * np.sqrt(sec)  # marker area grows with the square root of the seconds: 1 s .. 60 s readable
    for ax, task in zip(axes[0], task_names):
        t = summ.loc[task].reset_index()
        colours = [KIND_COLOURS[method_kind(m)] for m in t.method]
        ax.scatter(t.fs, t.test_acc, s=area(t.seconds.fillna(0)), c=colours, alpha=0.7, edgecolors="white")
        # good methods crowd near high accuracy and low FS while a damaging one sets the range: both axes are
        # stretched there (log FS; accuracy on the log of its error, ticks still in accuracy) so the crowd spreads out
        fwd, inv = (lambda a: -np.log10(np.clip(1 - a, 1e-4, None))), (lambda v: 1 - 10.0 ** (-v))
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(plt.FixedLocator([0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_yscale("function", functions=(fwd, inv))
        lo, hi = fwd(t.test_acc.min()), fwd(t.test_acc.max())
        pad = 0.1 * (hi - lo) or 0.05  # a panel whose methods all score the same (tiny runs) still gets a range
        ax.set_ylim(inv(lo - pad), inv(hi + pad))
        ax.yaxis.set_major_locator(plt.FixedLocator(_accuracy_ticks(t.test_acc)))
        ax.yaxis.set_minor_locator(plt.NullLocator())
        adjust_labels(ax, [ax.text(r.fs, r.test_acc, r.method, fontsize=8) for _, r in t.iterrows()],
                      x=t.fs.to_numpy(), y=t.test_acc.to_numpy())
        ax.set(title=task, xlabel="forgetting score |MIA - 0.5|, log scale (lower is better)",
               ylabel="test accuracy, stretched towards 1")
    kinds = [Line2D([], [], ls="", marker="o", ms=8, color=c, label=k) for k, c in
             (("original / retrain", KIND_COLOURS["control"]), ("the papers' methods", KIND_COLOURS["paper"]),
              ("baselines", KIND_COLOURS["baseline"]))]
    sizes = [Line2D([], [], ls="", marker="o", color="grey", alpha=0.6, markersize=np.sqrt(area(s)), label=f"{s} s")
             for s in (1, 10, 60)]
    fig.legend(handles=kinds + sizes, loc="outside right center", title="colour: kind\nsize: wall time", frameon=False)
    fig.suptitle("Utility against forgetting per task, mean over seeds (up and left is better)")
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
