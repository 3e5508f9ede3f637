"""Random labels: relabel every forget sample to a random *other* class and train on those wrong
labels together with the retain set, so the model's memory of the true forget labels is overwritten
while the retain set anchors everything else.

Introduced as the "amnesiac" / random-relabelling baseline by Graves et al., "Amnesiac Machine
Learning" (AAAI 2021), and used as the "random labels" baseline by Golatkar et al. (CVPR 2020),
Hayase et al. and SalUn (Fan et al., ICLR 2024, "RL"). SalUn's RL draws the new label uniformly from
all classes (so ~1/C of them keep their true label); here it is always another class, seeded, fixed
for the whole run.

The module also holds the small batching helpers other baselines (SalUn, Bad Teacher, UNSIR) share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data.arrays import targets_of
from ..seed import set_seed
from ..train import cross_entropy, get_device, mixed_batches, step
from .base import Report, register
from .common import num_classes_of, random_other_labels


@dataclass
class RandomLabelConfig:
    epochs: int = 5  # passes over retain + relabelled forget (SalUn's RL uses 10 on CIFAR; 5 suffice for small CNNs)
    lr: float = 0.01  # SGD learning rate (SalUn RL: 0.01-0.04)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty
    retain_fraction: float = 1.0  # share of the retain set mixed in each run (1.0 = all of it, as in SalUn)


@register("random_label", RandomLabelConfig)
def random_label(model, forget, retain, *, config: RandomLabelConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (the forget samples are trained towards wrong labels, usually
    below the gold model's level); retain accuracy is held by training on the retain set."""
    if not 0 < config.retain_fraction <= 1:
        raise ValueError(f"retain_fraction must lie in (0, 1], got {config.retain_fraction}")
    gen = set_seed(seed)
    device = get_device()
    n_cls = num_classes_of(model, forget, retain)
    new_y = random_other_labels(targets_of(forget), n_cls, gen)
    keep = retain
    if config.retain_fraction < 1:
        k = max(1, int(round(config.retain_fraction * len(retain))))
        keep = torch.utils.data.Subset(retain, torch.randperm(len(retain), generator=gen)[:k].tolist())
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        for x, y, src, pos in mixed_batches([forget, keep], config.batch_size, generator=gen):
            m = src == 0
            y[m] = new_y[pos[m]]
            step(opt, cross_entropy(model(x.to(device)), y.to(device)), len(y))
    return model, RandomLabelReport(relabelled=len(forget))


@dataclass(frozen=True)
class RandomLabelReport(Report):
    relabelled: int  # forget samples trained towards a random other label
