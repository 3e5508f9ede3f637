"""Tasks: a data set, a model and a forget-split recipe, built the same way wherever they are used (notebook 00's
tour, notebook 04's benchmark, ``make baselines``). A task trains its original model through the checkpoint cache
and its gold model by retraining on D_r with the original's recipe.

    task = tasks.get("digits", split="class_fraction", forget_class=3, fraction=0.3)
    run = task.build(seed=0)          # data, split, forget, retain, original, gold

Experiments whose sets need more than a split (TMU's held-out half of a class, label repair's flipped subset) draw
their class-balanced subsets with :func:`stratified_indices`, the one sampler they share with ``make bench``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from . import methods, models, splits
from .cache import train_or_load
from .data import DataBundle, load_dataset, targets_of
from .train import TrainConfig

SPLITS = ("random", "class_fraction", "whole_class")


@dataclass(frozen=True)
class Task:
    dataset: str  # an unlearn.data name
    model: str  # an unlearn.models.build name
    model_kw: dict = field(default_factory=dict)  # its keyword arguments
    train: TrainConfig = field(default_factory=TrainConfig)  # the original's (and the gold model's) recipe
    split: str = "random"  # "random" instances, a "class_fraction" of one class, or the "whole_class"
    fraction: float = 0.1  # share forgotten (of the training set, or of the class)
    forget_class: int | None = None  # the class of "class_fraction" and "whole_class"
    tag: str = "original"  # the checkpoint cache's tag for the original model

    def forget_split(self, targets, seed: int) -> splits.Split:
        """D_f / D_r of the training targets, by this task's recipe (seeded)."""
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.split == "random":
            return splits.random_instances(len(targets), self.fraction, seed=seed)
        if self.forget_class is None:
            raise ValueError(f"a {self.split!r} split needs forget_class")
        if self.split == "class_fraction":
            return splits.class_fraction(targets, self.forget_class, self.fraction, seed=seed)
        return splits.whole_class(targets, self.forget_class)

    def build(self, seed: int, split_seed: int | None = None) -> TaskRun:
        """Data, the split (seeded by ``split_seed``, default ``seed``), the original model (cached) and the gold
        model (retrained on D_r with the same recipe and seed)."""
        data = load_dataset(self.dataset)
        split = self.forget_split(targets_of(data.train), seed if split_seed is None else split_seed)
        forget, retain = split.subsets(data.train)
        original, meta = train_or_load(models.build(self.model, **self.model_kw), data.train, self.train, seed,
                                       tag=self.tag, progress=False)
        gold = methods.get("retrain")(original, forget, retain, config=dataclasses.asdict(self.train), seed=seed)
        return TaskRun(self, data, split, forget, retain, original, meta, gold)


@dataclass
class TaskRun:
    task: Task
    data: DataBundle
    split: splits.Split
    forget: Dataset
    retain: Dataset
    original: nn.Module
    original_meta: dict  # the checkpoint cache's record: train_seconds, cached, ...
    gold: nn.Module


TASKS = {
    # scikit-learn's 8x8 digits (1,347 training images, bundled): instant, for class use and CI
    "digits": Task("digits", "small_cnn", dict(in_channels=1, num_classes=10, width=16, hidden=64),
                   TrainConfig(epochs=20, batch_size=64, lr=0.05)),
}


def get(name: str, **changes) -> Task:
    """The registered task ``name`` with ``changes`` applied (any :class:`Task` field)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}")
    return dataclasses.replace(TASKS[name], **changes)


def stratified_indices(y: np.ndarray, per_class: int, rng: np.random.Generator, classes=None) -> np.ndarray:
    """Sorted indices of ``per_class`` samples of each class (all of a class that has no more), drawn with
    ``rng`` class by class in the order of ``classes`` (default: 0 .. max label)."""
    classes = range(int(y.max()) + 1) if classes is None else classes
    out = []
    for k in classes:
        members = np.flatnonzero(y == k)
        out.append(rng.choice(members, per_class, replace=False) if 0 < per_class < len(members) else members)
    return np.sort(np.concatenate(out))
