"""SalUn: saliency-based unlearning.

Fan, Liu, Zhang, Wei, Wong & Liu, "SalUn: Empowering Machine Unlearning via Gradient-based Weight
Saliency in Both Image Classification and Generation", ICLR 2024.
1. Weight saliency: the gradient of the forget loss, g = grad_theta sum_f CE(theta; x_f, y_f), is
   accumulated over the forget set; the mask keeps the weights whose |g| is among the top
   ``mask_ratio`` of all weights (a global threshold at that quantile; the paper's default is 50 %).
2. Random-label unlearning restricted to the mask: the forget samples get random other labels and
   are trained together with the retain set; every gradient is multiplied by the mask, so weights
   outside it never move.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data.arrays import targets_of
from ..seed import set_seed
from ..train import batches, count_grads, cross_entropy, get_device, mixed_batches, step
from .base import Report, register
from .common import num_classes_of, random_other_labels


def saliency_mask(model, forget, ratio: float, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """{parameter name: 0/1 mask} keeping the ``ratio`` share of weights with the largest forget-loss
    gradient magnitude (one global threshold over all parameters, ties broken by index)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"mask_ratio must lie in (0, 1], got {ratio}")
    device = get_device()
    model.to(device).eval()  # the gradient is taken at the trained model, BN in inference mode
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = {n: torch.zeros_like(p) for n, p in named}
    for x, y in batches(forget, batch_size):
        loss = cross_entropy(model(x.to(device)), y.to(device), reduction="sum")
        gs = torch.autograd.grad(loss, [p for _, p in named])
        for (n, _), g in zip(named, gs):
            grads[n] += g.detach()
        count_grads(len(y))
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = max(1, int(round(ratio * len(flat))))
    keep = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
    keep[torch.topk(flat, k, sorted=False).indices] = True
    masks, start = {}, 0
    for n, g in grads.items():
        masks[n] = keep[start : start + g.numel()].view_as(g).float()
        start += g.numel()
    return masks


@dataclass
class SalUnConfig:
    mask_ratio: float = 0.5  # share of weights (largest forget-gradient magnitude) that may change (paper: 0.5)
    epochs: int = 5  # passes over retain + relabelled forget (paper: 10 on CIFAR; 5 on CPU-scale sets)
    lr: float = 0.01  # SGD learning rate (paper: 0.013-0.04 for random-label SalUn on CIFAR-10)
    batch_size: int = 64  # samples per step (paper: 256)
    momentum: float = 0.9  # SGD momentum (paper: 0.9)
    weight_decay: float = 5e-4  # L2 penalty (paper: 5e-4); masked too, so unsalient weights stay exactly put


@register("salun", SalUnConfig)
def salun(model, forget, retain, *, config: SalUnConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (random labels on the forget set, through the salient weights only);
    retain accuracy is held by the retain set and by the frozen non-salient weights."""
    gen = set_seed(seed)
    device = get_device()
    masks = saliency_mask(model, forget, config.mask_ratio)
    new_y = random_other_labels(targets_of(forget), num_classes_of(model, forget, retain), gen)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    model.to(device).train()
    opt = torch.optim.SGD([p for _, p in named], lr=config.lr, momentum=config.momentum)

    def masked():  # weight decay, then only the salient weights keep a gradient
        for n, p in named:
            if p.grad is not None:
                p.grad.add_(p.detach(), alpha=config.weight_decay).mul_(masks[n])

    for _ in range(config.epochs):
        for x, y, src, pos in mixed_batches([forget, retain], config.batch_size, generator=gen):
            m = src == 0
            y[m] = new_y[pos[m]]
            step(opt, cross_entropy(model(x.to(device)), y.to(device)), len(y), adjust=masked)
    kept = sum(int(v.sum()) for v in masks.values())
    return model, SalUnReport(mask_kept=kept, mask_total=sum(v.numel() for v in masks.values()))


@dataclass(frozen=True)
class SalUnReport(Report):
    mask_kept: int  # weights the saliency mask lets train
    mask_total: int  # weights in the masked tensors
