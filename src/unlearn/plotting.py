"""Plot helpers: seaborn style, deterministic PNGs saved explicitly (inline display stays on)."""

from __future__ import annotations

from pathlib import Path

import seaborn as sns

from . import paths


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def save(fig, name: str, profile: str = "cpu") -> Path:
    """Save ``fig`` as ``<figures_dir(profile)>/<name>.png`` with no timestamp metadata, so the same
    numbers give the same bytes; smoke runs write under build/ and never overwrite figures/."""
    path = paths.figures_dir(profile) / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Software": None})
    return path


def adjust_labels(ax, texts) -> None:
    """Move point labels apart (adjustText) so that none hides another or its point; a thin line joins a moved
    label to its point."""
    from adjustText import adjust_text

    adjust_text(texts, ax=ax, arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5})
