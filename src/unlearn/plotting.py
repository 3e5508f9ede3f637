"""Plot helpers: seaborn style, deterministic PNGs saved explicitly (inline display stays on)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import seaborn as sns

from . import paths

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


def style() -> None:
    """The notebooks' look: seaborn's colour-blind palette for figures; tables (a DataFrame a cell ends with) shown
    whole, every column and up to 200 rows, rather than cut with "..." in the middle."""
    import pandas as pd

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.width", 160)


def save(fig, name: str, profile: str = "cpu") -> Path:
    """Save ``fig`` as ``<figures_dir(profile)>/<name>.png`` with no timestamp metadata, so the same
    numbers give the same bytes; smoke runs write under build/ and never overwrite figures/."""
    path = paths.figures_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    return path


def adjust_labels(ax, texts, x=None, y=None) -> None:
    """Move point labels apart (adjustText) so that none hides another or, given the points' ``x`` and ``y``, any
    point; a thin line joins a moved label to its point. adjustText's default moves (10 px at most) leave labels of
    tight clusters piled up, hence the larger moves and margins."""
    from adjustText import adjust_text

    adjust_text(texts, x=x, y=y, ax=ax, expand=(1.3, 1.6), max_move=(40, 40), force_text=(0.3, 0.6),
                force_static=(0.3, 0.6), arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5})


# One colour per kind of model, the same in every figure that sorts methods so (colour-blind-safe palette).
KIND_COLOURS = {"control": "#7f7f7f", "paper": "#0173b2", "baseline": "#de8f05"}
PAPER_METHODS = ("tmu", "dlfd", "influence_first_order", "influence_second_order")


def method_kind(name: str) -> str:
    """"control" (original, retrain), "paper" (the three papers' methods) or "baseline"."""
    return "control" if name in ("original", "retrain") else "paper" if name in PAPER_METHODS else "baseline"


def samples_figure(sets: dict, classes=None, n: int = 8, seed: int = 0) -> Figure:
    """A picture of the data: one row of ``n`` seeded random images per named set (e.g. forgotten and kept), each
    titled with its class. Images are read as the models see them (channels first, scaled to [0, 1])."""
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from .train import take

    rows = len(sets)
    fig, axes = plt.subplots(rows, n, figsize=(1.25 * n, 1.45 * rows + 0.2), squeeze=False)
    rng = np.random.default_rng(seed)
    for r, (name, ds) in enumerate(sets.items()):
        idx = np.sort(rng.choice(len(ds), min(n, len(ds)), replace=False))
        x, y = take(ds, torch.as_tensor(idx))
        x = x.float()
        lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
        x = ((x - lo) / (hi - lo).clamp_min(1e-8)).permute(0, 2, 3, 1).numpy()  # each image stretched to [0, 1]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c >= len(x):
                ax.axis("off")
                continue
            img = x[c][..., 0] if x.shape[-1] == 1 else x[c]
            ax.imshow(img, cmap="gray_r" if x.shape[-1] == 1 else None)
            label = int(y[c])
            ax.set_title(str(classes[label]) if classes is not None else str(label), fontsize=8)
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig
