"""NegGrad: gradient ascent on the forget set (Golatkar et al. 2020; Thudi et al. 2022).
It drives forget accuracy down, usually below the gold model's: the over-forgetting TMU criticises.

Ascent is unbounded: after the forget accuracy reaches 0 the loss keeps growing until it overflows. A fixed
number of ascent epochs is therefore a knife edge (on one CPU 3 epochs reach 0, on another the same 3 leave
0.96, and 5 overflow). With ``target_acc`` the ascent stops by rule, as soon as the forget accuracy is at or
below the target (checked after every step), and ``epochs`` is only the cap; the steps it took are recorded.
A loss that turns non-finite first stops the run with :class:`unlearn.train.Diverged` (never a NaN model)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..seed import set_seed
from ..train import accuracy_on, augment_batch, batches, cross_entropy, get_device, step
from .base import Report, register


@dataclass
class NegGradConfig:
    epochs: int = 1  # passes over the forget set (with target_acc: the most it may take)
    lr: float = 0.01  # ascent step size
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    target_acc: float | None = None  # stop once forget accuracy <= this (checked after every step); None: run all epochs
    augment: bool = False  # images: ascend on randomly cropped and flipped forget images (the DLFD release's loader)


@register("neggrad", NegGradConfig)
def neggrad(model, forget, retain, *, config: NegGradConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (maximises the forget loss; retain is not used)."""
    gen = set_seed(seed)
    device = get_device()
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    steps, acc = 0, None
    for _ in range(config.epochs):
        for x, y in batches(forget, config.batch_size, shuffle=True, generator=gen):
            if config.augment:
                x = augment_batch(x, gen)
            step(opt, -cross_entropy(model(x.to(device)), y.to(device)), len(y))  # ascent
            steps += 1
            if config.target_acc is not None:
                acc = accuracy_on(model, forget)
                if acc <= config.target_acc:
                    break
        else:
            continue
        break
    return model, NegGradReport(ascent_steps=steps, forget_acc=acc,
                                reached=None if config.target_acc is None else acc <= config.target_acc)


@dataclass(frozen=True)
class NegGradReport(Report):
    ascent_steps: int  # gradient-ascent steps taken
    forget_acc: float | None  # forget accuracy when it stopped (measured only with target_acc)
    reached: bool | None  # whether target_acc was reached (None: no target)
