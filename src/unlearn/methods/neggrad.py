"""NegGrad: gradient ascent on the forget set (Golatkar et al. 2020; Thudi et al. 2022).
It drives forget accuracy down, usually below the gold model's: the over-forgetting TMU criticises."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..seed import set_seed
from ..train import batches, cross_entropy, get_device, step
from .base import register


@dataclass
class NegGradConfig:
    epochs: int = 1  # passes over the forget set
    lr: float = 0.01  # ascent step size
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum


@register("neggrad", NegGradConfig)
def neggrad(model, forget, retain, *, config: NegGradConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (maximises the forget loss; retain is not used)."""
    gen = set_seed(seed)
    device = get_device()
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    for _ in range(config.epochs):
        for x, y in batches(forget, config.batch_size, shuffle=True, generator=gen):
            step(opt, -cross_entropy(model(x.to(device)), y.to(device)), len(y))  # ascent
    return model
