"""Evaluate an unlearned model under every yardstick of the three papers at once."""

from __future__ import annotations

from torch import nn
from torch.utils.data import Dataset

from . import metrics
from .methods.base import Unlearned
from .train import Predictions, predict


def evaluate(model: nn.Module | Unlearned, *, forget: Dataset, retain: Dataset, test: Dataset,
             gold: nn.Module | None = None, extra: dict[str, Dataset] | None = None, seed: int = 0,
             lam: float = 0.5) -> dict[str, float]:
    """Accuracies on forget / retain / test (and any ``extra`` sets), loss-MIA with forget as members
    and test as non-members, FS, NoMUS; with a ``gold`` model also Delta, activation distance and JS
    divergence to it on the forget set, and the parameter distance. Given a method's :class:`Unlearned` result,
    also its cost (``seconds``, ``grad_evals``) from its record."""
    model, record = model if isinstance(model, Unlearned) else (model, None)
    pf = predict(model, forget)
    out = scores(pf, predict(model, retain), predict(model, test), seed=seed, lam=lam)
    for name, ds in (extra or {}).items():
        out[f"{name}_acc"] = predict(model, ds).accuracy
    if gold is not None:
        gf = predict(gold, forget)
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


def changed_share(model: nn.Module, original: nn.Module, data: Dataset) -> float:
    """Share of ``data``'s predictions that ``model`` changed relative to ``original`` (a method that changes
    almost none did not unlearn anything, whatever its other numbers say)."""
    return float((predict(model, data).logits.argmax(-1) != predict(original, data).logits.argmax(-1)).double().mean())
