"""The pieces of Twin Machine Unlearning (Niu et al., arXiv 2501.08615) that are not training:
the twin labels, the three per-sample features (DF, AF, CF), their IQR clipping and min-max
scaling, and the generalization-label predictor (a small MLP trained with BCE).

Each function is small and tested on its own (tests/test_tmu.py); ``unlearn.methods.tmu`` chains
them. Where the paper and the authors' (incomplete) release leave a detail open, the choice made
here is marked ``CHOICE:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ...data.arrays import concat_arrays, to_arrays
from ...seed import set_seed
from ...train import batches, count_grads, get_device, penultimate, predict, step
from ..common import random_other_labels

FEATURES = ("df", "af", "cf")  # distance, adversarial-attacking, curriculum-learning-loss


# --- data helpers -------------------------------------------------------------------------------
# --- twin labels --------------------------------------------------------------------------------
def twin_labels(model: nn.Module, ds: Dataset) -> torch.Tensor:
    """Generalization labels of the twin problem: 1 (easy) where ``model`` (the twin problem's
    "gold", i.e. the original model M_o, which never saw D_h) classifies the sample correctly,
    0 (hard) where it does not."""
    return predict(model, ds).correct.long()


# --- features -----------------------------------------------------------------------------------
@torch.no_grad()
def distance_feature(query: torch.Tensor, reference: torch.Tensor, k: int = 5) -> torch.Tensor:
    """DF: mean L2 distance from each (L2-normalised) query feature to its ``k`` nearest
    (L2-normalised) reference features. The reference set is the retained training samples of the
    forgotten class; a sample far from them is one the gold model is less likely to get right."""
    if query.dim() != 2 or reference.dim() != 2 or query.shape[1] != reference.shape[1]:
        raise ValueError(f"need (n, d) query and (m, d) reference features, got {tuple(query.shape)} and {tuple(reference.shape)}")
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must lie in [1, {len(reference)}] (the reference size), got {k}")
    q = F.normalize(query.double(), dim=1)
    r = F.normalize(reference.double(), dim=1)
    d = torch.cdist(q, r)  # (n, m)
    return d.topk(k, dim=1, largest=False).values.mean(1).float()


def adversarial_feature(model: nn.Module, ds: Dataset, eps: float = 4 / 255, steps: int = 5,
                        step_size: float | None = None, batch_size: int = 256, clamp: tuple | None = (0.0, 1.0)) -> torch.Tensor:
    """AF: how far a small PGD attack moves the model's output. ``steps`` signed-gradient steps of
    size ``step_size`` (default eps/3, as in the release) that increase the cross-entropy on the true
    label, projected on the L-inf ball of radius ``eps``; the feature is the cross-entropy of the
    adversarial logits against the clean prediction (softmax of the clean logits).

    CHOICE: the release passes the raw clean logits as the soft target of ``F.cross_entropy``
    (not a probability vector); here the clean softmax is the target, which is the cross-entropy the
    paper describes. CHOICE: adversarial inputs are clamped to the valid image range [0, 1]
    (``clamp=None`` turns that off; the release does not clamp)."""
    step_size = eps / 3 if step_size is None else step_size
    device = get_device()
    was = model.training
    model.to(device).eval()
    for p in model.parameters():  # only the input needs a gradient
        p.requires_grad_(False)
    out = []
    try:
        for x, y in batches(ds, batch_size):
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                clean = model(x).float()
            adv = x.clone()
            for _ in range(steps):
                adv.requires_grad_(True)
                loss = F.cross_entropy(model(adv), y)
                (grad,) = torch.autograd.grad(loss, adv)
                count_grads(len(y))
                adv = adv.detach() + step_size * grad.sign()
                adv = torch.min(torch.max(adv, x - eps), x + eps)
                if clamp is not None:
                    adv = adv.clamp(*clamp)
            with torch.no_grad():
                logits = model(adv).float()
            out.append(F.cross_entropy(logits, clean.softmax(-1), reduction="none").cpu())
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was)
    return torch.cat(out)


def curriculum_feature(curriculum_model: nn.Module, ds: Dataset) -> torch.Tensor:
    """CF: per-sample cross-entropy under a model trained from scratch for only a few (2) epochs:
    samples that are still badly fitted after so little training are the hard ones."""
    return predict(curriculum_model, ds).losses


# --- clipping and scaling -----------------------------------------------------------------------
def iqr_bounds(x: torch.Tensor, whisker: float = 1.5) -> tuple[float, float]:
    """(Q1 - whisker*IQR, Q3 + whisker*IQR), quantiles by linear interpolation (torch.quantile)."""
    x = torch.as_tensor(x, dtype=torch.float64).ravel()
    if len(x) == 0:
        raise ValueError("IQR of an empty set is undefined")
    q1, q3 = torch.quantile(x, 0.25).item(), torch.quantile(x, 0.75).item()
    return q1 - whisker * (q3 - q1), q3 + whisker * (q3 - q1)


def iqr_clip(x: torch.Tensor, bounds: tuple[float, float] | None = None, whisker: float = 1.5) -> torch.Tensor:
    """Clip ``x`` to the IQR fences (its own, or the given ``bounds``), the release's outlier rule."""
    lo, hi = bounds if bounds is not None else iqr_bounds(x, whisker)
    return torch.as_tensor(x, dtype=torch.float64).clamp(lo, hi)


@dataclass
class FeatureScaler:
    """IQR clipping then min-max scaling, both fitted on the twin problem's features and applied
    unchanged to the original problem's, so a value means the same on both sides.

    CHOICE: the release fits the clipping and min-max on each set separately; the transfer argument (a value
    means the same on both sides) asks for the twin set's statistics on both. TMUConfig.scaling="per_set" is the
    release's way."""

    bounds: dict = field(default_factory=dict)  # name -> (lo, hi) IQR fences
    ranges: dict = field(default_factory=dict)  # name -> (min, max) after clipping

    def fit(self, feats: dict[str, torch.Tensor]) -> "FeatureScaler":
        for name, v in feats.items():
            lo, hi = iqr_bounds(v)
            c = iqr_clip(v, (lo, hi))
            self.bounds[name] = (lo, hi)
            self.ranges[name] = (c.min().item(), c.max().item())
        return self

    def transform(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for name, v in feats.items():
            if name not in self.bounds:
                raise ValueError(f"feature {name!r} was not fitted (fitted: {sorted(self.bounds)})")
            mn, mx = self.ranges[name]
            c = iqr_clip(v, self.bounds[name])
            out[name] = ((c - mn) / (mx - mn if mx > mn else 1.0)).float()
        return out


def stack_features(feats: dict[str, torch.Tensor], names=FEATURES) -> torch.Tensor:
    """(n, len(names)) matrix of the named features, in the given order."""
    missing = [n for n in names if n not in feats]
    if missing:
        raise ValueError(f"features {missing} not computed (have {sorted(feats)})")
    return torch.stack([torch.as_tensor(feats[n]).float() for n in names], dim=1)


# --- the generalization-label predictor ---------------------------------------------------------
class single_thread:
    """Run a block on one intra-op thread (restored afterwards). The predictor's steps are so small
    that thread synchronisation dominates: on a busy 2-core machine one thread was 50x faster."""

    def __enter__(self):
        self._n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self._n)


class Predictor(nn.Module):
    """A small MLP scoring P(easy | features).

    CHOICE: the release's ``pure_model`` is not published; two hidden layers of 16 ReLU units."""

    def __init__(self, in_features: int, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)  # logits

    @torch.no_grad()
    def scores(self, x: torch.Tensor) -> torch.Tensor:
        with single_thread():
            return torch.sigmoid(self(torch.as_tensor(x).float()))


def train_predictor(x: torch.Tensor, y: torch.Tensor, *, epochs: int = 200, lr: float = 0.01, batch_size: int = 128,
                    hidden: int = 16, seed: int = 0) -> Predictor:
    """Fit the predictor with BCE on (features, twin labels): Adam(lr 0.01, betas 0.9/0.999),
    batch 128, 200 epochs, as the release's ``train_generalization_binary_classifier.py``."""
    x, y = torch.as_tensor(x).float(), torch.as_tensor(y).float()
    if x.dim() != 2 or len(x) != len(y):
        raise ValueError(f"need (n, d) features and n labels, got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) == 0:
        raise ValueError("cannot train the predictor on an empty twin set")
    gen = set_seed(seed)
    model = Predictor(x.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    with single_thread():
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for s in range(0, len(x), batch_size):
                i = perm[s : s + batch_size]
                # n = 0: the predictor's steps are not gradient evaluations of the unlearned model
                step(opt, F.binary_cross_entropy_with_logits(model(x[i]), y[i]), 0)
    return model.eval()


def majority_accuracy(train_labels, test_labels) -> float:
    """Accuracy of always predicting the twin set's majority label on the test labels (the
    baseline a useful predictor must beat)."""
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    majority = int(train_labels.mean() >= 0.5)
    return float((test_labels == majority).mean())


def relabel_hard(y: torch.Tensor, hard: torch.Tensor, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Labels with each ``hard`` sample given a uniformly random *other* class (seeded; drawn once)."""
    y = torch.as_tensor(y).clone()
    hard = torch.as_tensor(hard, dtype=torch.bool)
    y[hard] = random_other_labels(y[hard], num_classes, torch.Generator().manual_seed(int(seed)))
    return y


__all__ = [
    "FEATURES", "FeatureScaler", "Predictor", "adversarial_feature", "concat_arrays", "curriculum_feature",
    "distance_feature", "iqr_bounds", "iqr_clip", "majority_accuracy", "penultimate", "relabel_hard", "stack_features",
    "to_arrays", "train_predictor", "twin_labels",  # concat_arrays, to_arrays, penultimate: re-exported for TMU
]
