"""EU-k (exact unlearning of the last k layers): re-initialise the last k layers and train them from
scratch on the retain set, the rest frozen. If the frozen body had not seen the forget set this would
be exact; it has, so EU-k is exact only for the top of the network.

Goel, Prabhu, Sanyal, Lim, Torr & Kumaraguru, "Towards Adversarial Evaluation of Machine Unlearning",
arXiv:2201.06640, 2022. "The last k layers" is defined in :mod:`unlearn.methods.cf_k`. The new layers get
the architecture's own initialisation (taken from a fresh build of the model, seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..train import TrainConfig, fresh_copy
from .base import register
from .cf_k import last_k, train_last_k


@dataclass
class EUkConfig:
    k: int = 2  # layers re-initialised and retrained, counted from the output (see cf_k.layers)
    epochs: int = 10  # passes over the retain set (Goel et al.: the original training budget)
    lr: float = 0.05  # SGD peak learning rate (from-scratch scale, like the original training)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty


@register("eu_k", EUkConfig)
def eu_k(model, forget, retain, *, config: EUkConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (the top k layers never see a forget sample after re-initialisation)."""
    chosen = last_k(model, config.k)
    fresh = dict(fresh_copy(model, seed).named_modules())
    with torch.no_grad():
        for name, m in chosen:
            m.load_state_dict(fresh[name].state_dict())
    cfg = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                      momentum=config.momentum, weight_decay=config.weight_decay, schedule="cosine")
    return train_last_k(model, retain, config.k, cfg, seed)
