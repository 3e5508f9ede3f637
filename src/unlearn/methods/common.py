"""Pieces several unlearning methods share: random wrong labels (random label, SalUn, TMU's hard samples), the
class count of a model, and the temperature-scaled distillation loss (Bad Teacher, SCRUB)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.arrays import targets_of


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


def distill_kl(student_logits: torch.Tensor, teacher_probs: torch.Tensor, T: float, reduction: str = "batchmean") -> torch.Tensor:
    """KL(teacher || student) at temperature ``T``; ``teacher_probs`` are already softmax(t/T).
    ``reduction='none'`` gives one value per sample."""
    logp = F.log_softmax(student_logits / T, dim=-1)
    kl = (teacher_probs * (teacher_probs.clamp_min(1e-12).log() - logp)).sum(-1)
    return kl if reduction == "none" else kl.mean()
