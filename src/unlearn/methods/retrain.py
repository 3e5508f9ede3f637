"""Retrain: the gold standard. A fresh network of the same architecture (rebuilt from ``model.spec``
with the original initialisation scheme, seeded) trained on the retain set only, through the
checkpoint cache. It never sees a forget sample: the only data it is given is ``retain``.

The config is the original model's training recipe, a :class:`unlearn.train.TrainConfig` (pass the
same instance the original was trained with, or a dict of its fields). Its cost in the record is the
wall time and gradient evaluations of the training run, also when the model comes from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..cache import train_or_load
from ..train import TrainConfig, fresh_copy
from .base import Report, register


@register("retrain", TrainConfig)
def retrain(model, forget, retain, *, config: TrainConfig, seed=0) -> nn.Module:
    """Gold model: from scratch on ``retain`` only. Forget accuracy decreases to what generalisation
    gives (for a whole forgotten class: to ~0)."""
    cfg = TrainConfig(**vars(config))
    gold, meta = train_or_load(fresh_copy(model, seed), retain, cfg, seed, tag="gold", progress=False)
    epochs = meta.get("epochs") or cfg.epochs  # with until_train_acc: the epochs it took to fit D_r
    return gold, RetrainReport(cached=meta["cached"], train_seconds=meta["train_seconds"],
                               grad_evals=epochs * len(retain), epochs=epochs, retain_size=len(retain))


@dataclass(frozen=True)
class RetrainReport(Report):
    cached: bool  # loaded from the checkpoint cache (trained by an earlier call)
    train_seconds: float  # wall time of the training, when it ran
    grad_evals: int  # samples back-propagated by that training
    epochs: int  # epochs it ran
    retain_size: int  # |D_r|, the only data it saw

    def recorded_cost(self) -> tuple[float, int] | None:
        # a model loaded from the cache cost nothing now; what retraining costs is what its training cost
        return (self.train_seconds, self.grad_evals) if self.cached else None
