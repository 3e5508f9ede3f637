"""Notebooks 03 and 05: figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Subset

from ...methods import Unlearned
from ...plotting import adjust_labels
from ...tasks import TaskSets
from ...train import predict
from .analysis import monitor_curve

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


# --- figures ---------------------------------------------------------------------------------
def loss_histograms(named_models: dict, data: TaskSets) -> Figure:
    """Per model, the distribution of per-sample losses on the forget set and on unseen data, on one shared
    log-scaled axis: memorised samples sit at losses of 1e-4 and below, which a linear axis folds into its first bin."""
    import matplotlib.pyplot as plt

    losses = {name: (predict(m, data.forget).losses.numpy(), predict(m, data.test).losses.numpy())
              for name, m in named_models.items()}
    floor = 1e-6  # losses below are drawn at the floor (a few samples are fitted to float precision)
    every = np.concatenate([np.r_[lf, lu] for lf, lu in losses.values()])
    bins = np.logspace(np.log10(floor), np.log10(max(every.max(), 1.0)), 36)
    fig, axes = plt.subplots(1, len(losses), figsize=(3.4 * len(losses) + 1.2, 3), sharex=True, sharey=True,
                             layout="constrained")
    for ax, (name, (lf, lu)) in zip(np.atleast_1d(axes), losses.items()):
        ax.hist(np.clip(lf, floor, None), bins, alpha=0.6, label="forget (trained on)")
        ax.hist(np.clip(lu, floor, None), bins, alpha=0.6, label="unseen (never trained on)")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("cross-entropy loss")
    np.atleast_1d(axes)[0].set_ylabel("samples")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside right center", frameon=False)
    return fig


@torch.no_grad()
def _features(model, ds) -> np.ndarray:
    from ...train import batches

    model.eval()
    return torch.cat([model.features(x) for x, _ in batches(ds, 256)]).numpy()


def tsne_figure(before, after, data: TaskSets, n: int, seed: int = 0) -> Figure:
    """t-SNE of penultimate features of n forget and n retain samples, before and after unlearning: colour = age
    group, marker = forget (x) or retain (dot)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.lines import Line2D
    from sklearn.manifold import TSNE

    from ...data import targets_of

    rng = np.random.default_rng(seed)
    fi = np.sort(rng.choice(len(data.forget), min(n, len(data.forget)), replace=False)).tolist()
    ri = np.sort(rng.choice(len(data.retain), min(n, len(data.retain)), replace=False)).tolist()
    f_ds, r_ds = Subset(data.forget, fi), Subset(data.retain, ri)
    groups = np.r_[targets_of(data.forget).numpy()[fi], targets_of(data.retain).numpy()[ri]]
    palette = sns.color_palette("colorblind", len(data.classes))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    for ax, (title, m) in zip(axes, (("original", before), ("DLFD", after))):
        z = np.concatenate([_features(m, f_ds), _features(m, r_ds)])
        e = TSNE(2, perplexity=min(30, (len(z) - 1) / 3), random_state=seed, init="pca").fit_transform(z)
        k = len(fi)
        colours = [palette[g] for g in groups]
        ax.scatter(*e[k:].T, s=8, alpha=0.6, c=colours[k:], marker="o")
        ax.scatter(*e[:k].T, s=14, alpha=0.9, c=colours[:k], marker="x", linewidths=0.8)
        ax.set_title(f"{title}: penultimate features (t-SNE)")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], ls="", marker="s", color=palette[i], label=f"age {c}") for i, c in enumerate(data.classes)]
    handles += [Line2D([], [], ls="", marker="x", color="k", label="forget"),
                Line2D([], [], ls="", marker="o", color="k", alpha=0.6, label="retain")]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=8)
    return fig


def tradeoff_figure(df: pd.DataFrame, lam: float = 0.5) -> Figure:
    """Test accuracy against FS for every model, with NoMUS contour lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    fs = np.linspace(0, max(0.3, df["fs"].max() * 1.1), 100)
    acc = np.linspace(max(0, df["test_acc"].min() - 0.1), min(1, df["test_acc"].max() + 0.1), 100)
    F_, A_ = np.meshgrid(fs, acc)
    cs = ax.contour(F_, A_, lam * A_ + (1 - lam) * (1 - 2 * F_), levels=10, colors="grey", linewidths=0.6)
    ax.clabel(cs, fontsize=7, fmt="%.2f")
    texts = []
    for name, r in df.iterrows():
        ax.scatter(r["fs"], r["test_acc"], s=40, marker="*" if name == "dlfd" else "o")
        texts.append(ax.text(r["fs"], r["test_acc"], name, fontsize=8))
    adjust_labels(ax, texts, x=df["fs"].to_numpy(), y=df["test_acc"].to_numpy())
    ax.set_xlabel("forgetting score FS = |MIA - 0.5| (lower is better)")
    ax.set_ylabel("test (unseen) accuracy")
    ax.set_title("utility vs forgetting; grey lines: NoMUS")
    fig.tight_layout()
    return fig


def monitor_figure(run: Unlearned) -> Figure:
    """DLFD's monitor through its epoch: accuracy on D_test and FS at each measured batch, the batches it perturbed
    (filled markers) and the checkpoint it returned."""
    import matplotlib.pyplot as plt

    c = monitor_curve(run)
    cfg, info = run.record.config, run.record.info
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    for col, label, colour in (("val_acc", "accuracy on D_test", "C0"), ("fs", "FS (monitor sample)", "C1")):
        ax.plot(c["batch"], c[col], color=colour, lw=1, label=label)
        p = c[c["perturbed"].astype(bool)]
        ax.scatter(p["batch"], p[col], color=colour, s=14, zorder=3)
    ax.scatter([], [], color="k", s=14, label="perturbed batch (measured after it)")
    ax.axhline(cfg["fs_threshold"], ls="--", c="grey", lw=0.8, label=f"stop perturbing below FS {cfg['fs_threshold']}")
    ax.axhline(cfg["save_threshold"], ls=":", c="grey", lw=0.8, label=f"keep a checkpoint at FS <= {cfg['save_threshold']}")
    returned = info.best_batch if info.selected == "best" else int(c["batch"].max())
    ax.axvline(returned, c="k", lw=1, alpha=0.7, label=f"returned: {info.selected} checkpoint (batch {returned})")
    ax.set(xlabel="retain batch", ylabel="accuracy / FS", title="DLFD's single epoch")
    fig.legend(fontsize=7, loc="outside right center", frameon=False)
    return fig


def ablation_figure(per_split: pd.DataFrame, reference: str = "DLFD (paper)") -> Figure:
    """Per variant, test accuracy and FS on each forget split (dots, joined per split to the
    reference's) and the mean: the paired design at a glance."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(per_split["variant"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, m, label in zip(axes, ("test_acc", "fs", "nomus"), ("unseen accuracy", "FS (lower is better)", "NoMUS")):
        wide = per_split.pivot(index="split", columns="variant", values=m)[names]
        for _, row in wide.iterrows():
            ax.plot(range(len(names)), row.to_numpy(), color="grey", lw=0.6, alpha=0.6, marker="o", ms=3)
        ax.plot(range(len(names)), wide.mean().to_numpy(), color="C3", marker="D", lw=0, ms=7, label="mean over splits")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"DLFD ablation: each grey line is one forget split ({len(wide)} splits)", fontsize=10)
    fig.tight_layout()
    return fig
