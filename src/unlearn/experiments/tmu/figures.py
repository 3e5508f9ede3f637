"""Notebook 01's figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import tasks
from ...methods import Unlearned
from ...methods.tmu import features as tmu_features
from .protocol import CONTROLS

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


def seed_figure(table: pd.DataFrame) -> Figure:
    """Delta per method and seed (dots) with the mean (bar); TMU and its controls highlighted."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    order = [m for m in dict.fromkeys(table["method"]) if m not in ("original", "retrain (gold)")]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    means = table.groupby("method")["delta"].mean()
    # colour-blind-safe (seaborn's "colorblind" palette): TMU, its controls, the other methods
    kinds = {"TMU": "#0173b2", "TMU's controls": "#de8f05", "other methods": "#949494"}
    kind = ["TMU" if m == "TMU" else "TMU's controls" if m in CONTROLS else "other methods" for m in order]
    ax.bar(range(len(order)), [means[m] for m in order], color=[kinds[k] for k in kind], alpha=0.8)
    for i, m in enumerate(order):
        d = table.loc[table.method == m, "delta"].astype(float)
        ax.scatter(np.full(len(d), i) + np.linspace(-0.12, 0.12, len(d)), d, color="k", s=14, zorder=3)
    ax.set_xticks(range(len(order)), order, rotation=25, ha="right")
    ax.set(ylabel="Delta = |Acc(D_f) - Acc_gold(D_f)|", title="Distance to the gold level on D_f: mean over seeds, dots = seeds")
    ax.legend(handles=[Patch(color=c, alpha=0.8, label=k) for k, c in kinds.items()], loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig


# --- figures ------------------------------------------------------------------------------------
def _labels(info, ctx: tasks.TaskRun):
    return np.asarray(info.twin_labels).astype(bool), np.asarray(ctx.gold_correct).astype(bool)


def scatter_figure(tmu_run: Unlearned, ctx: tasks.TaskRun) -> Figure:
    """Easy/hard samples in (DF, CF) feature space (scaled with the twin statistics), for the twin
    problem (D_h under M_t, labels from M_o) and the original one (D_f under M_o, labels from M_g)."""
    import matplotlib.pyplot as plt

    info = tmu_run.record.info
    lt, lo = _labels(info, ctx)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
    for ax, feats, lab, title in ((axes[0], info.twin_features, lt, "twin problem: D_h, labels from M_o"),
                                  (axes[1], info.features, lo, "original problem: D_f, labels from gold M_g")):
        for flag, colour, name in ((True, "tab:blue", "easy"), (False, "tab:red", "hard")):
            ax.scatter(feats["df"][lab == flag], feats["cf"][lab == flag], s=14, alpha=0.7, c=colour, label=f"{name} ({(lab == flag).sum()})")
        ax.set(title=title, xlabel="DF (scaled)", ylabel="CF (scaled)")
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def feature_figure(tmu_run: Unlearned, ctx: tasks.TaskRun) -> Figure:
    """Distributions of each scaled feature for easy and hard samples, twin (top) and original (bottom)."""
    import matplotlib.pyplot as plt

    info = tmu_run.record.info
    lt, lo = _labels(info, ctx)
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex="col")
    bins = np.linspace(0, 1, 16)
    for row, (feats, lab, name) in enumerate(((info.twin_features, lt, "twin (D_h)"), (info.features, lo, "original (D_f)"))):
        for col, f in enumerate(tmu_features.FEATURES):
            ax = axes[row, col]
            v = np.clip(feats[f], 0, 1)  # D_f values outside the twin range sit at the edges
            for part, colour, label in ((lab, "tab:blue", "easy"), (~lab, "tab:red", "hard")):
                if part.any():  # an empty group has no density
                    ax.hist(v[part], bins=bins, alpha=0.6, density=True, color=colour, label=f"{label} ({part.sum()})")
            ax.set(title=f"{f.upper()}: {name}", xlabel="scaled value" if row else None)
            if col == 0:
                ax.legend()
    fig.tight_layout()
    return fig


def forget_bars_figure(table: pd.DataFrame) -> Figure:
    """Forget-set accuracy per method, with the gold model's level drawn across."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4))
    names = [n for n in table.index]
    colours = ["tab:green" if n.startswith("TMU") else ("tab:gray" if n.startswith("retrain") else "tab:blue") for n in names]
    bars = ax.bar(range(len(names)), table["forget_acc"].to_numpy(float), color=colours)
    ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)  # a method at 0 (NegGrad) has no visible bar otherwise
    gold = float(table.loc["retrain (gold)", "forget_acc"])
    ax.axhline(gold, color="black", ls="--", lw=1.2, label=f"gold model's forget accuracy ({gold:.2f})")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set(ylabel="accuracy on D_f", ylim=(0, 1.12), title="Aligned forgetting: the target is the gold level, not zero")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig
