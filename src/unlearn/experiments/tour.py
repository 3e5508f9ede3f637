"""Notebook 00, the classroom tour: unlearning a random 10 % of scikit-learn's digits.

Original model on all training data, gold model retrained without the forget set, then two
simple unlearning methods (fine-tuning, gradient ascent) judged by every metric that applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from .. import methods, profiles, tasks
from ..evaluate import evaluate
from ..methods import Unlearned
from ..train import TrainConfig, predict

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class TourProfile:
    epochs: int  # training epochs of the original and gold models
    width: int  # SmallCNN channel width
    forget_fraction: float  # share of the training set to forget (random instances)
    finetune_epochs: int  # fine-tuning passes over the retain set
    neggrad_epochs: int  # gradient-ascent passes over the forget set
    neggrad_lr: float  # gradient-ascent step size
    sweep_lrs: tuple = (0.01, 0.03, 0.05, 0.07, 0.1)  # NegGrad step sizes for the dose-response sweep


PROFILES = {
    "smoke": TourProfile(epochs=3, width=8, forget_fraction=0.1, finetune_epochs=1, neggrad_epochs=2, neggrad_lr=0.03, sweep_lrs=(0.03, 0.1)),
    "cpu": TourProfile(epochs=20, width=16, forget_fraction=0.1, finetune_epochs=3, neggrad_epochs=5, neggrad_lr=0.03),
    "paper": TourProfile(epochs=40, width=32, forget_fraction=0.1, finetune_epochs=5, neggrad_epochs=5, neggrad_lr=0.03),
}
PROFILES["paper-dry"] = profiles.dry_run(PROFILES["paper"])  # digits is small already: one epoch of everything


def task(P: TourProfile) -> tasks.Task:
    """The registry's digits task at this profile's sizes: a random share of the training set forgotten."""
    base = tasks.get("digits")
    return tasks.get("digits", split="random", fraction=P.forget_fraction, tag="tour-original",
                     model_kw=base.model_kw | {"width": P.width}, train=TrainConfig(epochs=P.epochs, batch_size=64, lr=0.05))


def setup(P: TourProfile, seed: int) -> tasks.TaskRun:
    """Data, split, original and gold models (both through the checkpoint cache)."""
    run = task(P).build(seed)
    run.retrained  # the gold model now, before any method runs
    return run


def unlearn_all(P: TourProfile, ctx: tasks.TaskRun, seed: int) -> dict[str, Unlearned]:
    """The unlearned models with their records: fine-tuning on retain, gradient ascent (NegGrad) on forget; the
    original (no record) and the gold model beside them."""
    ft = methods.get("finetune")(ctx.original, ctx.forget, ctx.retain,
                                 config={"epochs": P.finetune_epochs}, seed=seed)
    ng = methods.get("neggrad")(ctx.original, ctx.forget, ctx.retain,
                                config={"epochs": P.neggrad_epochs, "lr": P.neggrad_lr}, seed=seed)
    return {"original": Unlearned(ctx.original, None), "gold (retrain)": Unlearned(ctx.gold, ctx.gold_record),
            "fine-tune": ft, "NegGrad": ng}


def table(ctx: tasks.TaskRun, unlearned: dict, seed: int) -> pd.DataFrame:
    """Every metric for every model, one row each; speed-up is against the gold retrain's time."""
    rows = {}
    gold_seconds = ctx.gold_record.seconds
    for name, u in unlearned.items():
        r = evaluate(u, forget=ctx.forget, retain=ctx.retain, test=ctx.data.test,
                     gold=ctx.gold, seed=seed)
        if "seconds" in r:
            r["speedup"] = gold_seconds / r["seconds"]
        rows[name] = r
    return pd.DataFrame(rows).T


def losses(ctx: tasks.TaskRun, unlearned: dict) -> pd.DataFrame:
    """Per-sample losses on forget and unseen test data: what the membership attack sees."""
    frames = []
    for name, u in unlearned.items():
        for part, ds in (("forget", ctx.forget), ("unseen test", ctx.data.test)):
            frames.append(pd.DataFrame({"model": name, "set": part, "loss": predict(u.model, ds).losses.numpy()}))
    return pd.concat(frames, ignore_index=True)


def neggrad_sweep(P: TourProfile, ctx: tasks.TaskRun, seed: int) -> pd.DataFrame:
    """NegGrad at increasing step sizes: forget / retain / test accuracy against the gold level."""
    rows = []
    for lr in P.sweep_lrs:
        m = methods.get("neggrad")(ctx.original, ctx.forget, ctx.retain,
                                   config={"epochs": P.neggrad_epochs, "lr": lr}, seed=seed)
        r = evaluate(m, forget=ctx.forget, retain=ctx.retain, test=ctx.data.test, gold=ctx.gold, seed=seed)
        rows.append({"lr": lr} | {k: r[k] for k in ("forget_acc", "retain_acc", "test_acc", "mia", "delta")})
    return pd.DataFrame(rows)


def figure(losses: pd.DataFrame, sweep: pd.DataFrame, results: pd.DataFrame) -> Figure:
    """Left: the original model's per-sample losses on forget vs unseen data (what a membership attack sees).
    Right: NegGrad's forget and test accuracy against its step size, with the gold forget accuracy."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    shown = losses[losses.model == "original"]
    sns.histplot(data=shown, x="loss", hue="set", ax=ax1, bins=30, stat="density", common_norm=False, element="step",
                 fill=False, log_scale=(True, False))
    ax1.set(title="original model: per-sample loss, forget vs unseen", xlabel="cross-entropy (log scale)")
    gold_acc = results.loc["gold (retrain)", "forget_acc"]
    ax2.plot(sweep.lr, sweep.forget_acc, "o-", label="forget accuracy")
    ax2.plot(sweep.lr, sweep.test_acc, "s-", label="test accuracy")
    ax2.axhline(gold_acc, ls="--", c="k", label=f"gold forget accuracy ({gold_acc:.3f})")
    ax2.set(xscale="log", xlabel="NegGrad step size", ylabel="accuracy", title="NegGrad: forget and test accuracy fall together")
    ax2.legend()
    return fig
