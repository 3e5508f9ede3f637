"""Bad Teacher: knowledge distillation from a competent and an incompetent teacher.

Chundawat, Tarun, Mandal & Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning in Deep
Networks Using an Incompetent Teacher", AAAI 2023. The student starts as the original model. On
retain samples it is distilled towards the original (competent) model; on forget samples towards a
randomly initialised (incompetent) network of the same architecture. The loss is
KL(teacher_T || student_T) with temperature T = 4, on the forget set plus a random share of the retain
set (30 % in the paper).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..seed import set_seed
from ..train import fresh_copy, get_device, mixed_batches, step
from .base import Report, register
from .common import distill_kl


@dataclass
class BadTeacherConfig:
    temperature: float = 4.0  # KL temperature T (paper: 4)
    retain_fraction: float = 0.3  # share of the retain set used alongside the forget set (paper: 30 %)
    epochs: int = 3  # passes over forget + retain share (paper: 1 epoch on CIFAR-size sets; 3 here, where digits gives ~5 steps per epoch)
    lr: float = 1e-3  # Adam learning rate (paper: 1e-4; adapted to 1e-3 for the few steps a CPU-scale set gives)
    batch_size: int = 64  # samples per step (paper: 256; smaller for CPU-scale sets so there are enough steps)


@register("bad_teacher", BadTeacherConfig)
def bad_teacher(model, forget, retain, *, config: BadTeacherConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (forget outputs are pulled towards a random network's near-uniform
    predictions, typically below the gold model's accuracy); retain accuracy is held by distilling
    from the original model on the retain share."""
    if not 0 < config.retain_fraction <= 1:
        raise ValueError(f"retain_fraction must lie in (0, 1], got {config.retain_fraction}")
    if config.temperature <= 0:
        raise ValueError("temperature must be positive")
    device = get_device()
    good = copy.deepcopy(model).to(device).eval()
    bad = fresh_copy(model, seed + 1).to(device).eval()  # the incompetent teacher: random initialisation
    gen = set_seed(seed)
    k = max(1, int(round(config.retain_fraction * len(retain))))
    share = torch.utils.data.Subset(retain, torch.randperm(len(retain), generator=gen)[:k].tolist())
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    T = config.temperature
    for _ in range(config.epochs):
        for x, _y, src, _pos in mixed_batches([forget, share], config.batch_size, generator=gen):
            x = x.to(device)
            with torch.no_grad():
                is_forget = (src == 0).to(device).unsqueeze(1).float()
                target = is_forget * F.softmax(bad(x) / T, -1) + (1 - is_forget) * F.softmax(good(x) / T, -1)
            step(opt, distill_kl(model(x), target, T), len(x))
    return model, BadTeacherReport(retain_used=k)


@dataclass(frozen=True)
class BadTeacherReport(Report):
    retain_used: int  # retain samples distilled from the competent teacher
