"""Retrain: the gold standard. A fresh network of the same architecture (rebuilt from ``model.spec``
with the original initialisation scheme, seeded) trained on the retain set only, through the
checkpoint cache. It never sees a forget sample: the only data it is given is ``retain``.

The config is the original model's training recipe, a :class:`unlearn.train.TrainConfig` (pass the
same instance the original was trained with, or a dict of its fields). Its cost in the record is the
wall time and gradient evaluations of the training run, also when the model comes from the cache.
"""

from __future__ import annotations

from torch import nn

from ..cache import train_or_load
from ..train import TrainConfig, fresh_copy
from .base import register


@register("retrain", TrainConfig)
def retrain(model, forget, retain, *, config: TrainConfig, seed=0) -> nn.Module:
    """Gold model: from scratch on ``retain`` only. Forget accuracy decreases to what generalisation
    gives (for a whole forgotten class: to ~0)."""
    cfg = TrainConfig(**vars(config))
    gold, meta = train_or_load(fresh_copy(model, seed), retain, cfg, seed, tag="gold", progress=False)
    gold.unlearning_info = {
        "cached": meta["cached"],
        "train_seconds": meta["train_seconds"],
        "grad_evals": (meta.get("epochs") or cfg.epochs) * len(retain),
        "epochs": (meta.get("epochs") or cfg.epochs),  # with until_train_acc: the epochs it took to fit D_r
        "retain_size": len(retain),
    }
    return gold
