"""Retrain: the gold standard. A fresh network of the same architecture trained on the retain set
only, through the checkpoint cache. It never sees a forget sample."""

from __future__ import annotations

from dataclasses import dataclass

from ..cache import train_or_load
from ..train import TrainConfig
from .base import register


@dataclass
class RetrainConfig(TrainConfig):
    """The original model's training recipe (same fields as :class:`unlearn.train.TrainConfig`)."""


@register("retrain", RetrainConfig)
def retrain(model, forget, retain, *, val=None, config: RetrainConfig, seed=0):
    """Gold model: from scratch on ``retain`` only. Forget accuracy falls to what generalisation gives."""
    cfg = TrainConfig(**vars(config))
    gold, meta = train_or_load(model, retain, cfg, seed, tag="gold")  # rebuilt from scratch under seed
    gold.unlearning_info = {
        "cached": meta["cached"],
        "train_seconds": meta["train_seconds"],
        "grad_evals": cfg.epochs * len(retain),
        "retain_size": len(retain),
    }
    return gold
