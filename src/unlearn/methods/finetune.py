"""Fine-tune: continue training on the retain set only, so the forget set fades by catastrophic
forgetting (Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020, "Fine-tune"
baseline; Warnecke et al. 2023; SalUn's "FT" uses 10 epochs at lr 0.01-0.1)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..train import TrainConfig, fit
from .base import register


@dataclass
class FinetuneConfig:
    epochs: int = 5  # passes over the retain set (SalUn FT: 10 on CIFAR; 5 on CPU-scale sets)
    lr: float = 0.02  # peak learning rate, cosine schedule (MUFAC / NeurIPS 2023 kit / SalUn use 0.01-0.1)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty


@register("finetune", FinetuneConfig)
def finetune(model, forget, retain, *, config: FinetuneConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (slowly: only through catastrophic forgetting; for a whole forgotten
    class the class's outputs are never reinforced) while retain accuracy stays."""
    cfg = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                      momentum=config.momentum, weight_decay=config.weight_decay, schedule="cosine")
    return fit(model, retain, cfg, seed, progress=False, desc="finetune")
