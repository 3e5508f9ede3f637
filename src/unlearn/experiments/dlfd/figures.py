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
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(named_models), figsize=(3.6 * len(named_models), 3), sharey=True)
    for ax, (name, m) in zip(np.atleast_1d(axes), named_models.items()):
        lf, lu = predict(m, data.forget).losses.numpy(), predict(m, data.test).losses.numpy()
        bins = np.linspace(0, max(np.percentile(np.r_[lf, lu], 99), 1e-3), 30)
        ax.hist(np.clip(lf, 0, bins[-1]), bins, alpha=0.6, density=True, label="forget")
        ax.hist(np.clip(lu, 0, bins[-1]), bins, alpha=0.6, density=True, label="unseen")
        ax.set_title(name)
        ax.set_xlabel("cross-entropy loss")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    return fig


@torch.no_grad()
def _features(model, ds) -> np.ndarray:
    from ...train import batches

    model.eval()
    return torch.cat([model.features(x) for x, _ in batches(ds, 256)]).numpy()


def tsne_figure(before, after, data: TaskSets, n: int, seed: int = 0) -> Figure:
    """t-SNE of penultimate features of n forget and n retain samples, before and after unlearning."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    fi = np.sort(rng.choice(len(data.forget), min(n, len(data.forget)), replace=False)).tolist()
    ri = np.sort(rng.choice(len(data.retain), min(n, len(data.retain)), replace=False)).tolist()
    f_ds, r_ds = Subset(data.forget, fi), Subset(data.retain, ri)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (title, m) in zip(axes, (("original", before), ("DLFD", after))):
        z = np.concatenate([_features(m, f_ds), _features(m, r_ds)])
        e = TSNE(2, perplexity=min(30, (len(z) - 1) / 3), random_state=seed, init="pca").fit_transform(z)
        k = len(fi)
        ax.scatter(*e[k:].T, s=6, alpha=0.5, label="retain")
        ax.scatter(*e[:k].T, s=6, alpha=0.7, label="forget")
        ax.set_title(f"{title}: penultimate features (t-SNE)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend()
    fig.tight_layout()
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
    adjust_labels(ax, texts)
    ax.set_xlabel("forgetting score FS = |MIA - 0.5| (lower is better)")
    ax.set_ylabel("test (unseen) accuracy")
    ax.set_title("utility vs forgetting; grey lines: NoMUS")
    fig.tight_layout()
    return fig


def monitor_figure(run: Unlearned) -> Figure:
    import matplotlib.pyplot as plt

    c = monitor_curve(run)
    cfg = run.record.config
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(c["batch"], c["val_acc"], marker=".", label="D_test accuracy")
    ax.plot(c["batch"], c["fs"], marker=".", label="FS (monitor sample)")
    ax.axhline(cfg["fs_threshold"], ls="--", c="grey", lw=0.8, label="stop-perturbing threshold")
    ax.axhline(cfg["save_threshold"], ls=":", c="grey", lw=0.8, label="save threshold")
    ax.set_xlabel("retain batch")
    ax.legend(fontsize=7)
    ax.set_title("DLFD's single epoch")
    fig.tight_layout()
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
