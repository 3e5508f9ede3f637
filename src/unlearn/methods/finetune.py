"""Fine-tune: continue training on the retain set only, so the forget set fades by catastrophic
forgetting (Warnecke et al. 2023 "fine-tuning"; Golatkar et al. 2020 baseline)."""

from __future__ import annotations

from dataclasses import dataclass

from ..train import TrainConfig, fit
from .base import register


@dataclass
class FinetuneConfig:
    epochs: int = 2  # passes over the retain set
    lr: float = 0.01  # learning rate (MUFAC / NeurIPS 2023 kit use 0.01-0.1)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty


@register("finetune", FinetuneConfig)
def finetune(model, forget, retain, *, val=None, config: FinetuneConfig, seed=0):
    """Forget accuracy decreases (towards the gold level) as retain-only training goes on."""
    cfg = TrainConfig(config.epochs, config.batch_size, config.lr, "sgd", config.momentum, config.weight_decay, "cosine")
    return fit(model, retain, cfg, seed, desc="finetune")
