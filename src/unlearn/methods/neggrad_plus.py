"""NegGrad+: gradient ascent on the forget set *together with* descent on the retain set.

Kurmanji, Triantafillou, Hayes & Triantafillou, "Towards Unbounded Machine Unlearning", NeurIPS 2023
(NegGrad+: loss = beta * CE(retain) - (1 - beta) * CE(forget)), the "advanced NegGrad" of the MUFAC
benchmark (Choi & Na 2023: each step pairs a retain batch with a forget batch). One epoch is one pass
over the retain set, cycling through the forget set alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..seed import set_seed
from ..train import batches, cross_entropy, endless_batches, get_device, step
from .base import register


@dataclass
class NegGradPlusConfig:
    epochs: int = 2  # passes over the retain set (MUFAC: a few epochs)
    beta: float = 0.95  # weight of the retain loss; the forget loss gets 1 - beta (Kurmanji et al. tune beta in [0.9, 0.999])
    lr: float = 0.01  # SGD learning rate (MUFAC / Kurmanji et al.: 0.01)
    batch_size: int = 64  # retain samples per step
    forget_batch_size: int = 64  # forget samples per step (cycled)
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty
    clip: float = 5.0  # gradient-norm clip, keeps the unbounded ascent term from diverging (0 = off)


@register("neggrad_plus", NegGradPlusConfig)
def neggrad_plus(model, forget, retain, *, config: NegGradPlusConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (the forget loss is maximised) while the retain term holds retain
    accuracy close to the original's."""
    if not 0 <= config.beta <= 1:
        raise ValueError(f"beta must lie in [0, 1], got {config.beta}")
    gen = set_seed(seed)
    device = get_device()
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    fgen = endless_batches(forget, config.forget_batch_size, gen)
    for _ in range(config.epochs):
        for xr, yr in batches(retain, config.batch_size, shuffle=True, generator=gen):
            xf, yf = next(fgen)
            loss = config.beta * cross_entropy(model(xr.to(device)), yr.to(device)) - (1 - config.beta) * cross_entropy(
                model(xf.to(device)), yf.to(device)
            )
            clip = (lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)) if config.clip else None
            step(opt, loss, len(yr) + len(yf), adjust=clip)
    return model
