"""Forget / retain (/ test) index sets for every unlearning setting of the three papers.

All are seeded, checked disjoint, and serialisable to JSON beside the results. Bad requests
(an empty forget set, overlap, an index or label out of range) raise ``ValueError`` saying
what to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .data.arrays import whole_labels
from .seed import rng


def _check(forget: np.ndarray, retain: np.ndarray, n: int) -> None:
    if len(forget) == 0:
        raise ValueError("the forget set is empty: ask for a positive fraction or count, or a class that has samples")
    for name, idx in (("forget", forget), ("retain", retain)):
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{name} index out of range [0, {n}): got {idx.min()}..{idx.max()}")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"{name} indices repeat")
    shared = np.intersect1d(forget, retain)
    if len(shared):
        raise ValueError(f"forget and retain share {len(shared)} samples (e.g. {shared[:5].tolist()}); they must be disjoint")


@dataclass
class Split:
    """Indices into one training set: ``forget`` and ``retain`` (disjoint), optional ``test``
    indices into the test set (e.g. the forgotten class's test images), and how they were made."""

    forget: np.ndarray
    retain: np.ndarray
    n: int
    kind: str
    params: dict = field(default_factory=dict)
    test: np.ndarray | None = None

    def __post_init__(self):
        self.forget = np.sort(np.asarray(self.forget, dtype=np.int64))
        self.retain = np.sort(np.asarray(self.retain, dtype=np.int64))
        _check(self.forget, self.retain, self.n)

    def subsets(self, train: Dataset) -> tuple[Subset, Subset]:
        """(forget, retain) as Subsets of ``train``."""
        if len(train) != self.n:
            raise ValueError(f"split was made for {self.n} samples, dataset has {len(train)}")
        return Subset(train, self.forget.tolist()), Subset(train, self.retain.tolist())

    def to_json(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "params": self.params, "forget": self.forget.tolist(), "retain": self.retain.tolist()}
        if self.test is not None:
            d["test"] = np.asarray(self.test).tolist()
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        d = json.loads(Path(path).read_text())
        test = np.asarray(d["test"]) if "test" in d else None
        return cls(np.asarray(d["forget"]), np.asarray(d["retain"]), d["n"], d["kind"], d["params"], test)


def _targets(targets) -> np.ndarray:
    return whole_labels(torch.as_tensor(targets).numpy() if not isinstance(targets, np.ndarray) else targets)


def _amount(value, name: str) -> float | int:
    """A fraction (any float, numpy's included) or a count (any integer), refusing everything else:
    ``np.float32(0.1)`` is a fraction, not a count of 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a fraction (float) or a count (int), got {type(value).__name__} {value!r}")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _forget_count(n: int, forget: float | int) -> int:
    """How many of n samples a fraction (float in (0, 1)) or count (int) means, checked."""
    forget = _amount(forget, "forget")
    k = int(round(forget * n)) if isinstance(forget, float) else int(forget)
    if isinstance(forget, float) and not 0 < forget < 1:
        raise ValueError(f"forget fraction must lie in (0, 1), got {forget}")
    if not 0 < k < n:
        raise ValueError(f"forget count must lie in [1, {n - 1}], got {k}")
    return k


def random_instances(n: int, forget: float | int, seed: int = 0) -> Split:
    """A random ``forget`` fraction (float in (0, 1)) or count (int) of all n samples."""
    k = _forget_count(n, forget)
    perm = rng(seed).permutation(n)
    return Split(perm[:k], perm[k:], n, "random", {"forget": _amount(forget, "forget"), "seed": seed})


def _check_class(y: np.ndarray, cls: int) -> None:
    if isinstance(cls, (bool, np.bool_)) or not isinstance(cls, (int, np.integer)):
        raise ValueError(f"cls must be a class index (int), got {type(cls).__name__} {cls!r}; "
                         f"classes present: {np.unique(y).tolist()}")
    if cls not in set(np.unique(y).tolist()):
        raise ValueError(f"class {cls} does not occur in the labels (classes present: {np.unique(y).tolist()})")


def class_fraction(targets, cls: int, fraction: float, seed: int = 0, test_targets=None) -> Split:
    """Sub-class forgetting (TMU): a seeded ``fraction`` of class ``cls``'s samples; ``test`` holds
    the class's test indices when ``test_targets`` is given."""
    y = _targets(targets)
    _check_class(y, cls)
    fraction = float(_amount(fraction, "fraction"))
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    members = np.flatnonzero(y == cls)
    k = max(1, int(round(fraction * len(members))))
    forget = rng(seed).choice(members, k, replace=False)
    retain = np.setdiff1d(np.arange(len(y)), forget)
    test = np.flatnonzero(_targets(test_targets) == cls) if test_targets is not None else None
    return Split(forget, retain, len(y), "class_fraction", {"class": cls, "fraction": fraction, "seed": seed}, test)


def whole_class(targets, cls: int, test_targets=None) -> Split:
    """Full-class forgetting: every sample of class ``cls``."""
    y = _targets(targets)
    _check_class(y, cls)
    forget = np.flatnonzero(y == cls)
    test = np.flatnonzero(_targets(test_targets) == cls) if test_targets is not None else None
    return Split(forget, np.flatnonzero(y != cls), len(y), "whole_class", {"class": cls}, test)


def label_flips(targets, budget: float | int, num_classes: int, seed: int = 0,
                pairwise: bool = False) -> tuple[Split, torch.Tensor]:
    """Label poisoning (Warnecke et al.): flip ``budget`` (fraction or count) labels. Returns the split
    (forget = flipped samples) and the poisoned label vector.

    ``pairwise=False``: random samples, each to a random other class. ``pairwise=True``: the authors'
    ``flip_labels``: budget / num_classes samples of every class c (seeded) become class num_classes - 1 - c,
    so the poison is a consistent confusion a model can learn, not label noise."""
    y = _targets(targets).copy()
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    if pairwise:
        if num_classes % 2:
            raise ValueError(f"pairwise flips pair c with {num_classes} - 1 - c: num_classes must be even, got {num_classes}")
        total = _forget_count(len(y), budget)
        g = rng(seed)
        order = g.permutation(len(y))
        per_class = total // num_classes
        forget = np.sort(np.concatenate([order[y[order] == c][:per_class] for c in range(num_classes)]))
        if len(forget) == 0:
            raise ValueError(f"a budget of {total} flips is fewer than one per class ({num_classes} classes)")
        poisoned = y.copy()
        poisoned[forget] = num_classes - 1 - y[forget]
        split = Split(forget, np.setdiff1d(np.arange(len(y)), forget), len(y), "label_flips")
    else:
        split = random_instances(len(y), budget, seed)
        g = rng(seed + 1)
        offsets = g.integers(1, num_classes, size=len(split.forget))  # never the true class
        poisoned = y.copy()
        poisoned[split.forget] = (y[split.forget] + offsets) % num_classes
    split.kind = "label_flips"
    split.params = {"budget": budget, "num_classes": num_classes, "seed": seed, "pairwise": pairwise}
    return split, torch.as_tensor(poisoned)


def mufac_split(bundle, forget_count: int | None = None) -> Split:
    """The MUFAC benchmark's split of a :func:`unlearn.data.load_mufac` bundle: the first ``forget_count`` training
    rows are forgotten (the release and the benchmark notebooks: ``image_age_list[:1500]``), the rest retained."""
    from .data.mufac import FORGET_COUNT

    forget_count = FORGET_COUNT if forget_count is None else forget_count
    n = len(bundle.train)
    if not 0 < forget_count < n:
        raise ValueError(f"forget_count must lie in [1, {n - 1}], got {forget_count}")
    return Split(np.arange(forget_count), np.arange(forget_count, n), n, "mufac_first_rows", {"forget_count": forget_count})


def feature_subset(feature_names: list[str], select: int | list[str], seed: int = 0) -> np.ndarray:
    """Column indices of the features to unlearn: ``select`` random ones (seeded) or the named ones."""
    names = list(feature_names)
    if isinstance(select, int):
        if not 0 < select <= len(names):
            raise ValueError(f"ask for between 1 and {len(names)} features, got {select}")
        return np.sort(rng(seed).choice(len(names), select, replace=False))
    missing = [s for s in select if s not in names]
    if missing:
        raise ValueError(f"features {missing[:5]} are not among the {len(names)} feature names")
    if not select:
        raise ValueError("no features selected")
    return np.array(sorted(names.index(s) for s in select))


def insert_canary(text: str, canary: str, copies: int, seed: int = 0) -> tuple[str, list[int]]:
    """Insert ``copies`` of ``canary`` at seeded line starts of ``text`` (Carlini et al. 2019;
    Warnecke et al.). Returns the new text and the canaries' start offsets in it."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    if not canary:
        raise ValueError("the canary is empty")
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    chosen = sorted(rng(seed).choice(len(starts), copies, replace=False))
    out, offsets, prev, length = [], [], 0, 0
    for s in (starts[i] for i in chosen):
        out.append(text[prev:s])
        length += s - prev
        offsets.append(length)
        out.append(canary + "\n")
        length += len(canary) + 1
        prev = s
    out.append(text[prev:])
    new = "".join(out)
    assert all(new[o : o + len(canary)] == canary for o in offsets)
    return new, offsets
