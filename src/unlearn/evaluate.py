"""Evaluate an unlearned model under every yardstick of the three papers at once."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from . import metrics
from .methods.base import Unlearned
from .train import Predictions, predict


def evaluate(model: nn.Module | Unlearned, *, forget: Dataset, retain: Dataset, test: Dataset,
             gold: nn.Module | None = None, extra: dict[str, Dataset] | None = None, seed: int = 0,
             lam: float = 0.5, gold_forget: Predictions | None = None,
             original_labels: torch.Tensor | None = None) -> dict[str, float]:
    """Accuracies on forget / retain / test (and any ``extra`` sets), loss-MIA with forget as members
    and test as non-members, FS, NoMUS; with a ``gold`` model also Delta, activation distance and JS
    divergence to it on the forget set, and the parameter distance. Given a method's :class:`Unlearned` result,
    also its cost (``seconds``, ``grad_evals``) from its record.

    A caller scoring many models of one task passes what they share, predicted once: ``gold_forget``, the gold
    model's predictions on ``forget``; ``original_labels``, the original's predicted labels on ``forget`` then
    ``test``, which adds ``changed`` (the share of those predictions the model changed, :func:`changed_share`)."""
    model, record = model if isinstance(model, Unlearned) else (model, None)
    pf, pt = predict(model, forget), predict(model, test)
    out = scores(pf, predict(model, retain), pt, seed=seed, lam=lam)
    for name, ds in (extra or {}).items():
        out[f"{name}_acc"] = predict(model, ds).accuracy
    if original_labels is not None:
        labels = torch.cat([pf.logits.argmax(-1), pt.logits.argmax(-1)])
        out["changed"] = float((labels != original_labels).double().mean())
    if gold is not None:
        gf = predict(gold, forget) if gold_forget is None else gold_forget
        out["delta"] = metrics.delta_to_gold(pf.accuracy, gf.accuracy)
        out["act_dist"] = metrics.activation_distance(pf.logits, gf.logits)
        out["js"] = metrics.js_divergence(pf.logits, gf.logits)
        out["param_dist"] = metrics.param_distance(model, gold)
    if record is not None:
        out["seconds"] = record.seconds
        out["grad_evals"] = record.grad_evals
    return out


def scores(forget: Predictions, retain: Predictions, test: Predictions, *, seed: int = 0, lam: float = 0.5) -> dict[str, float]:
    """The scores :func:`evaluate` reports without a gold model, from predictions already made (a caller that needs
    the same predictions for more metrics makes each pass once)."""
    mia = metrics.mia_score(forget.losses, test.losses, seed=seed)
    return {
        "retain_acc": retain.accuracy,
        "forget_acc": forget.accuracy,
        "test_acc": test.accuracy,
        "mia": mia,
        "fs": metrics.forgetting_score(mia),
        "nomus": metrics.nomus(test.accuracy, mia, lam),
    }


def predicted_labels(model: nn.Module, *datasets: Dataset) -> torch.Tensor:
    """``model``'s predicted labels on each data set in turn, concatenated (``evaluate``'s ``original_labels``)."""
    return torch.cat([predict(model, ds).logits.argmax(-1) for ds in datasets])


def changed_share(model: nn.Module, original: nn.Module, data: Dataset) -> float:
    """Share of ``data``'s predictions that ``model`` changed relative to ``original`` (a method that changes
    almost none did not unlearn anything, whatever its other numbers say)."""
    return float((predict(model, data).logits.argmax(-1) != predict(original, data).logits.argmax(-1)).double().mean())
