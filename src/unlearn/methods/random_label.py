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
from torch.utils.data import Dataset

from ..data.arrays import as_arrays, targets_of
from ..seed import set_seed
from ..train import count_grads, cross_entropy, get_device
from .base import register


# --- shared helpers -----------------------------------------------------------------------------
def _take(ds: Dataset, resolved, idx: torch.Tensor):
    if resolved is not None:
        base, ix = resolved
        return base.take(ix[idx])
    items = [ds[int(i)] for i in idx]
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def mixed_batches(datasets: list[Dataset], batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None):
    """Batches drawn from the union of ``datasets``, shuffled together. Yields ``(x, y, src, pos)``:
    ``src[i]`` says which dataset sample ``i`` came from and ``pos[i]`` its index inside it, so a
    caller can override labels (random labels, noise classes) or weight losses per source."""
    sizes = [len(d) for d in datasets]
    src = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    pos = torch.cat([torch.arange(n) for n in sizes])
    order = torch.randperm(len(src), generator=generator) if shuffle else torch.arange(len(src))
    resolved = [as_arrays(d) for d in datasets]
    for s in range(0, len(order), batch_size):
        o = order[s : s + batch_size]
        bs, bp = src[o], pos[o]
        x = y = None
        for i, d in enumerate(datasets):
            m = bs == i
            if not m.any():
                continue
            xi, yi = _take(d, resolved[i], bp[m])
            if x is None:
                x = torch.empty((len(o), *xi.shape[1:]), dtype=xi.dtype)
                y = torch.empty(len(o), dtype=torch.long)
            x[m], y[m] = xi, yi
        yield x, y, bs, bp


def random_other_labels(labels: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random label different from each true label (seeded through ``generator``)."""
    if num_classes < 2:
        raise ValueError("random relabelling needs at least two classes")
    offset = torch.randint(1, num_classes, labels.shape, generator=generator)
    return (labels.long() + offset) % num_classes


def num_classes_of(model, *datasets) -> int:
    """The model's class count (``model.num_classes``), else the largest label seen + 1."""
    n = getattr(model, "num_classes", None)
    if n is not None:
        return int(n)
    return int(max(int(targets_of(d).max()) for d in datasets if d is not None and len(d))) + 1


# --- the method ---------------------------------------------------------------------------------
@dataclass
class RandomLabelConfig:
    epochs: int = 5  # passes over retain + relabelled forget (SalUn's RL uses 10 on CIFAR; 5 suffice for small CNNs)
    lr: float = 0.01  # SGD learning rate (SalUn RL: 0.01-0.04)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty
    retain_fraction: float = 1.0  # share of the retain set mixed in each run (1.0 = all of it, as in SalUn)


@register("random_label", RandomLabelConfig)
def random_label(model, forget, retain, *, val=None, config: RandomLabelConfig, seed=0):
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
            loss = cross_entropy(model(x.to(device)), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            count_grads(len(y))
    model.unlearning_info = {"relabelled": len(forget)}
    return model
