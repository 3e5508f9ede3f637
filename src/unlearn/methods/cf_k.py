"""CF-k (catastrophic forgetting of the last k layers): freeze everything but the last k layers and
fine-tune those on the retain set, so the forget set fades from them by catastrophic forgetting.

Goel, Prabhu, Sanyal, Lim, Torr & Kumaraguru, "Towards Adversarial Evaluation of Machine Unlearning"
(a.k.a. "Evaluating Inexact Unlearning Requires Revisiting Forgetting"), arXiv:2201.06640, 2022.

"The last k layers", defined once for every architecture (:func:`layers`): walk ``model.modules()``
in registration order (which for SmallCNN, ResNet18 and DLFDNet is forward order, the classifier head
last) and keep the *leaf* modules that own parameters (Conv, Linear, Embedding, LSTM, ...). A
normalisation layer (BatchNorm / GroupNorm / LayerNorm) is not a layer of its own: it is attached to
the weight layer before it, so conv+BN counts as one layer. SmallCNN then has 5 layers (3 conv+BN, the
hidden Linear and the head); ResNet18 21 (20 conv+BN incl. the 3 shortcut convs, and the head);
DLFDNet 23 (the backbone's 20 and the 3 head Linears).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..train import TrainConfig, fit
from .base import Report, register

_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def layers(model: nn.Module) -> list[list[tuple[str, nn.Module]]]:
    """The model's layers in order: each a list of ``(name, module)`` (a weight layer and any
    normalisation layers that follow it). See the module docstring for the definition."""
    out: list[list[tuple[str, nn.Module]]] = []
    for name, m in model.named_modules():
        if next(m.children(), None) is not None or next(m.parameters(recurse=False), None) is None:
            continue
        if isinstance(m, _NORMS) and out:
            out[-1].append((name, m))
        else:
            out.append([(name, m)])
    return out


def last_k(model: nn.Module, k: int) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` pairs making up the last ``k`` layers."""
    all_layers = layers(model)
    if not isinstance(k, int) or not 1 <= k <= len(all_layers):
        raise ValueError(f"k must be an int in [1, {len(all_layers)}] for this model (it has {len(all_layers)} layers), got {k!r}")
    return [pair for layer in all_layers[-k:] for pair in layer]


def train_last_k(model: nn.Module, data, k: int, cfg: TrainConfig, seed: int) -> nn.Module:
    """Train only the last ``k`` layers on ``data`` (cross-entropy, the shared optimiser/schedule).
    Frozen layers are truly frozen: no gradient, and their normalisation statistics are not updated."""
    chosen = last_k(model, k)
    chosen_mods = {id(m) for _, m in chosen}
    params = [p for _, m in chosen for p in m.parameters(recurse=False)]
    train_ids = {id(p) for p in params}
    saved = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(id(p) in train_ids)
    frozen_norms = [m for m in model.modules() if isinstance(m, _NORMS) and id(m) not in chosen_mods]
    try:
        fit(model, data, cfg, seed, progress=False, params=params, frozen_modules=frozen_norms)
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)
    return model, LastKReport(layers=[name for name, _ in chosen])


@dataclass(frozen=True)
class LastKReport(Report):
    layers: list  # names of the parameter groups trained (the last k layers)


@dataclass
class CFkConfig:
    k: int = 2  # layers trained, counted from the output (see cf_k.layers); Goel et al. sweep k
    epochs: int = 5  # passes over the retain set (Goel et al. fine-tune for a fraction of the original budget)
    lr: float = 0.01  # SGD learning rate (fine-tuning scale)
    batch_size: int = 64  # samples per step
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty


@register("cf_k", CFkConfig)
def cf_k(model, forget, retain, *, config: CFkConfig, seed=0) -> nn.Module:
    """Forget accuracy decreases (the last k layers are fine-tuned on retain only; the frozen body
    keeps the features, so forgetting is partial)."""
    cfg = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                      momentum=config.momentum, weight_decay=config.weight_decay, schedule="cosine")
    return train_last_k(model, retain, config.k, cfg, seed)
