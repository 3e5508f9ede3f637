"""UNSIR: UNlearning with Single Pass Impair and Repair.

Tarun, Chundawat, Mandal & Kankanhalli, "Fast Yet Effective Machine Unlearning", IEEE TNNLS 2023
(arXiv:2111.08947). For every class present in the forget set, learn an *error-maximising noise*
batch N_c (the frozen model's cross-entropy for label c is maximised, with an L2 penalty
lambda * mean ||N||^2 keeping it bounded). *Impair*: one pass over the noise (labelled c) mixed with
a subset of the retain set at a high learning rate, which wrecks what the model knows about the
forget classes. *Repair*: one pass over the retain subset at a lower rate. The paper works on whole
classes; for a forget set of scattered samples every class it touches gets noise (as published:
there is no per-sample variant in the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Subset

from ..data.arrays import ArrayDataset, targets_of
from ..seed import set_seed
from ..train import batches, cross_entropy, get_device, mixed_batches, step
from .base import Report, register


@dataclass
class UnsirConfig:
    noise_batch: int = 64  # noise samples per forget class (paper: one batch of 256; CPU-scale sets are smaller)
    noise_steps: int = 10  # Adam steps optimising the noise (paper: 5-8 with lr 0.1)
    noise_lr: float = 0.1  # Adam step size for the noise (paper: 0.1)
    noise_l2: float = 0.1  # lambda of the noise's L2 penalty (paper: 0.1)
    noise_copies: int = 1  # how many times the noise batch enters the impair pass
    retain_per_class: int = 100  # retain samples per class used in impair and repair (paper: 1000 on CIFAR; 0 = all)
    impair_lr: float = 0.02  # Adam learning rate of the impair pass (paper: 0.02)
    repair_lr: float = 0.01  # Adam learning rate of the repair pass (paper: 0.01)
    impair_epochs: int = 1  # paper: 1 (single pass)
    repair_epochs: int = 2  # paper: 1 (single pass); 2 here: one pass over a CPU-scale retain subset is ~16 steps,
    # too few to repair a small CNN after impairing (with one pass, digits at 10 % random forgetting ends at ~0.1 accuracy)
    batch_size: int = 64  # samples per step (paper: 256; smaller for CPU-scale sets so there are enough steps)


def _retain_subset(retain, per_class: int, gen: torch.Generator):
    if per_class <= 0:
        return retain
    y = targets_of(retain)
    keep = []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return Subset(retain, torch.sort(torch.cat(keep)).values.tolist())


@register("unsir", UnsirConfig)
def unsir(model, forget, retain, *, config: UnsirConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (the impair pass with error-maximising noise destroys the forget
    classes' decision regions; repair restores the retain classes only). For a scattered forget set
    all classes are impaired and repaired, so the decrease is small."""
    gen = set_seed(seed)
    device = get_device()
    classes = torch.unique(targets_of(forget)).tolist()
    xs = torch.cat([x for x, _ in batches(forget, 512)])
    shape, mu, sd = tuple(xs.shape[1:]), xs.float().mean().item(), xs.float().std().item()
    # 1. error-maximising noise, one batch per forget class, against the frozen model
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    noise_x, noise_y = [], []
    for c in classes:
        # the paper draws N(0, 1) noise for standardised inputs; here it is drawn on the data's own scale
        noise = (mu + sd * torch.randn((config.noise_batch, *shape), generator=gen)).to(device).requires_grad_(True)
        opt = torch.optim.Adam([noise], lr=config.noise_lr)
        label = torch.full((config.noise_batch,), int(c), device=device)
        for _ in range(config.noise_steps):
            loss = -cross_entropy(model(noise), label) + config.noise_l2 * noise.pow(2).flatten(1).sum(1).mean()
            step(opt, loss, config.noise_batch)
        noise_x.append(noise.detach().cpu())
        noise_y.append(label.cpu())
    for p in model.parameters():
        p.requires_grad_(True)
    noise_ds = ArrayDataset(torch.cat(noise_x * config.noise_copies), torch.cat(noise_y * config.noise_copies))
    sub = _retain_subset(retain, config.retain_per_class, gen)
    # 2. impair: noise (as its forget class) + retain subset, high learning rate
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=config.impair_lr)
    for _ in range(config.impair_epochs):
        for x, y, _src, _pos in mixed_batches([noise_ds, sub], config.batch_size, generator=gen):
            step(opt, cross_entropy(model(x.to(device)), y.to(device)), len(y))
    # 3. repair: retain subset only
    opt = torch.optim.Adam(model.parameters(), lr=config.repair_lr)
    for _ in range(config.repair_epochs):
        for x, y in batches(sub, config.batch_size, shuffle=True, generator=gen):
            step(opt, cross_entropy(model(x.to(device)), y.to(device)), len(y))
    return model, UNSIRReport(noise_classes=[int(c) for c in classes], retain_used=len(sub))


@dataclass(frozen=True)
class UNSIRReport(Report):
    noise_classes: list  # classes whose error-maximising noise was learned
    retain_used: int  # retain samples of the impair and repair passes
