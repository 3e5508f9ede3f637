"""Tasks: a data set, a model and a forget-split recipe, built the same way wherever they are used (notebook 00's
tour, notebook 01's TMU experiment and notebook 04's benchmark, ``make baselines`` and ``make bench``). A task
trains its original model through the checkpoint cache and its gold model, on first use, by retraining on D_r with
the original's recipe.

    task = tasks.get("digits", split="class_fraction", forget_class=3, fraction=0.3)
    run = task.build(seed=0)          # data, split, forget, retain, original; run.gold on first use

Sub-class forgetting (TMU) needs more than a split: a class-balanced training subset (``per_class``) and the
forget class's test images divided into a held-out set D_h that a method may use and an evaluation half that only
scores (``class_test=ClassTest(...)``). Every draw comes from one generator seeded with the task's seed, in a fixed
order (training subset, then the class's test images, then the other classes'), so one seed is one set of samples.

The linear tasks of Warnecke et al. (Enron, Adult, Diabetes: rows L2-normalised, labels +-1, for the certified
logistic regression) are built by :func:`linear_task`, used by notebook 02 and ``make bench`` alike.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from . import methods, models, splits
from .cache import train_or_load
from .data import DataBundle, load_dataset, targets_of
from .methods.influence import certified
from .train import TrainConfig

SPLITS = ("random", "class_fraction", "whole_class")


@dataclass(frozen=True)
class ClassTest:
    """The test side of sub-class forgetting: the forget class's test images, permuted with the task's seed and
    split in halves, give D_h (the first half: images of the class the model never saw, a method's input, e.g.
    TMU's twin problem) and an evaluation half that only scores; the test set is ``per_class`` images of every
    other class plus (at most ``per_class`` of) the evaluation half, so D_h never counts as test."""

    holdout: int = 0  # |D_h| (0: the whole first half)
    class_test: int = 0  # evaluation-half images for class-c accuracy and membership non-members (0: all of it)
    per_class: int = 0  # test images of each class (0: all)


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
    per_class: int = 0  # a class-balanced training subset of this many images per class (0: the whole training set)
    class_test: ClassTest | None = None  # sub-class forgetting's D_h and evaluation half (needs forget_class)

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

    def sets(self, seed: int, split_seed: int | None = None) -> TaskSets:
        """The data and every set of this task, drawn with ``seed`` (the split with ``split_seed``, default
        ``seed``); nothing is trained."""
        data = load_dataset(self.dataset)
        rng = np.random.default_rng(seed)
        train = data.train
        if self.per_class:
            n_classes = len(data.classes)
            train = Subset(data.train, stratified_indices(targets_of(data.train).numpy(), self.per_class, rng,
                                                          range(n_classes)).tolist())
        split = self.forget_split(targets_of(train), seed if split_seed is None else split_seed)
        forget, retain = split.subsets(train)
        holdout = class_test = None
        test = data.test
        if self.class_test is not None:
            holdout, class_test, test = self._class_test_sets(data, rng)
        return TaskSets(self, data, train, split, forget, retain, holdout, class_test, test)

    def _class_test_sets(self, data: DataBundle, rng: np.random.Generator) -> tuple[Subset, Subset, Subset]:
        if self.forget_class is None:
            raise ValueError("class_test needs forget_class (the class whose test images give D_h)")
        ct, c = self.class_test, self.forget_class
        y = targets_of(data.test).numpy()
        c_test = rng.permutation(np.flatnonzero(y == c))
        twin_half, eval_half = c_test[: len(c_test) // 2], c_test[len(c_test) // 2 :]
        others = stratified_indices(y, ct.per_class, rng, [k for k in range(len(data.classes)) if k != c])
        c_eval = eval_half[: ct.per_class] if ct.per_class else eval_half
        holdout = np.sort(twin_half[: ct.holdout] if ct.holdout else twin_half)
        class_test = np.sort(eval_half[: ct.class_test] if ct.class_test else eval_half)
        test = np.sort(np.concatenate([others, c_eval]))
        return tuple(Subset(data.test, idx.tolist()) for idx in (holdout, class_test, test))

    def train_original(self, train: Dataset, seed: int) -> tuple[nn.Module, dict]:
        """The original model on ``train`` (through the checkpoint cache) and the cache's record."""
        return train_or_load(models.build(self.model, **self.model_kw), train, self.train, seed, tag=self.tag,
                             progress=False)

    def build(self, seed: int, split_seed: int | None = None) -> TaskRun:
        """The sets (:meth:`sets`), the original model (cached) and, on first use of ``run.gold``, the gold model
        (retrained on D_r with the same recipe and seed)."""
        s = self.sets(seed, split_seed)
        original, meta = self.train_original(s.train, seed)
        return TaskRun(**{f.name: getattr(s, f.name) for f in dataclasses.fields(s)}, seed=seed, original=original,
                       original_meta=meta)


@dataclass
class TaskSets:
    task: Task
    data: DataBundle
    train: Dataset  # the training set (a class-balanced subset when the task has per_class)
    split: splits.Split
    forget: Dataset
    retain: Dataset
    holdout: Dataset | None  # D_h (sub-class tasks only)
    class_test: Dataset | None  # the forget class's evaluation half (sub-class tasks only)
    test: Dataset  # the test set (sub-class tasks: without D_h)


@dataclass
class TaskRun(TaskSets):
    seed: int = 0
    original: nn.Module | None = None
    original_meta: dict = field(default_factory=dict)  # the checkpoint cache's record: train_seconds, cached, ...

    @functools.cached_property
    def retrained(self) -> methods.Unlearned:
        """Retraining on D_r with the original's recipe and seed (trained on first use): the gold model and its
        record (its cost)."""
        return methods.get("retrain")(self.original, self.forget, self.retain, config=dataclasses.asdict(self.task.train),
                                      seed=self.seed)

    @property
    def gold(self) -> nn.Module:
        """The gold model (:attr:`retrained`'s model)."""
        return self.retrained.model

    @property
    def gold_record(self) -> methods.UnlearningRecord:
        return self.retrained.record


TASKS = {
    # scikit-learn's 8x8 digits (1,347 training images, bundled): instant, for class use and CI
    "digits": Task("digits", "small_cnn", dict(in_channels=1, num_classes=10, width=16, hidden=64),
                   TrainConfig(epochs=20, batch_size=64, lr=0.05)),
    # CIFAR-10 sub-class forgetting (TMU's setting: 10 % of class 3, cat) on a class-balanced subset, a small CNN;
    # D_h = 100 held-out cat test images, 50 test images per class. make bench runs it at two sizes (per_class).
    "cifar10": Task("cifar10", "small_cnn", dict(in_channels=3, num_classes=10, width=32, hidden=128),
                    TrainConfig(epochs=8, batch_size=128, lr=0.05), split="class_fraction", fraction=0.1,
                    forget_class=3, tag="cifar10-original", per_class=500,
                    class_test=ClassTest(holdout=100, per_class=50)),
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


# --- linear tasks (Warnecke et al.): certified logistic regression on normalised rows ------------------------
NAMES_FILE = Path(__file__).parent / "data" / "first_names.txt"
LINEAR = ("enron", "adult", "diabetes")


def first_names() -> list[str]:
    """The shipped list of common English first names (lower case, de-duplicated, file order): no public name
    list can be downloaded at run time here, so the package ships one (hand-compiled; see its header)."""
    seen, out = set(), []
    for line in NAMES_FILE.read_text().splitlines():
        w = line.strip().lower()
        if w and not w.startswith("#") and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def enron_names(vocabulary: dict, min_count: int = 0, x=None) -> list[str]:
    """Person names present in the Enron vocabulary (optionally occurring in >= min_count training mails)."""
    hits = [n for n in first_names() if n in vocabulary]
    if min_count and x is not None:
        hits = [n for n in hits if int((x[:, vocabulary[n]] != 0).sum()) >= min_count]
    return sorted(hits)


@dataclass
class LinearTask:
    """One linear data set, rows L2-normalised, labels in {-1, +1}, with the features that may be unlearned."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor
    feature_names: list
    candidates: list  # column indices that may be unlearned
    mode: str  # "remove" (zero the columns in every row), "categorical" (move one-hots), "zero_rows"
    groups: list = field(default_factory=list)  # categorical: column-index lists, one per attribute
    info: dict = field(default_factory=dict)


def linear_task(name: str, seed: int = 0, rows: int = 0, max_features: int | None = None) -> LinearTask:
    """``enron`` (bag of words; unlearnable: the person names in its vocabulary), ``adult`` (one-hots of
    marital status, relationship and race) or ``diabetes`` (every numeric column), rows L2-normalised.
    ``rows``: a random subset of that many training rows (seeded; 0 or more than there are: all of them);
    ``max_features``: Enron's vocabulary size (None: the loader's default)."""
    if name not in LINEAR:
        raise ValueError(f"unknown linear task {name!r}; use one of {', '.join(LINEAR)}")
    b = load_dataset(name, **({"max_features": max_features} if name == "enron" and max_features else {}))
    x, y = certified.normalize_rows(b.train.x), certified.pm1(b.train.y)
    if rows and rows < len(y):  # after normalising: the same rows, the same bits as the whole set's
        keep = torch.as_tensor(np.sort(np.random.default_rng(seed).choice(len(y), rows, replace=False)))
        x, y = x[keep], y[keep]
    sets = (x, y, certified.normalize_rows(b.test.x), certified.pm1(b.test.y))
    fn = b.extra["feature_names"]
    if name == "enron":
        voc = b.extra["vocabulary"]
        names = enron_names(voc, min_count=1, x=x)
        return LinearTask(name, *sets, fn, [voc[n] for n in names], "remove", info={"names": names})
    if name == "adult":
        groups = [[i for i, f in enumerate(fn) if f.startswith(a + "=")] for a in ("marital-status", "relationship", "race")]
        return LinearTask(name, *sets, fn, sum(groups, []), "categorical", groups)
    return LinearTask(name, *sets, fn, list(range(x.shape[1])), "zero_rows")
