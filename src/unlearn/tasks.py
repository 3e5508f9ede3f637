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

Random-instance forgetting on facial age (DLFD's MUFAC protocol on UTKFace, the ``utkface`` task) halves the test
split instead (``halved_test=HalvedTest(...)``): a monitoring set a method may read (``val``, MUFAC's D_test) and a
test set that only scores (``test``, D_unseen); stratified, seeded subsets of the training set (``subset``) and of
each half give the smaller profiles. One typed object carries every set of every task: :class:`TaskSets`, and
:class:`TaskRun` with the trained models.

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
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import Dataset, Subset

from . import methods, models, splits
from .cache import train_or_load
from .data import ArrayDataset, DataBundle, load_dataset, targets_of
from .methods.influence import certified
from .train import TrainConfig, predict

SPLITS = ("random", "class_fraction", "whole_class", "label_flips")


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
class HalvedTest:
    """The test side of MUFAC-style forgetting: the test split halved (stratified, seeded) into a monitoring set a
    method may read (``val``, MUFAC's D_test: checkpoint selection) and one that only scores (``test``, D_unseen:
    final accuracy and the membership attack's non-members); each optionally a stratified subset."""

    val: int | None = None  # D_test images (None: the whole half)
    test: int | None = None  # D_unseen images (None: the whole half)


@dataclass(frozen=True)
class RandomSubsets:
    """Warnecke et al.'s label poisoning at a smaller size: training and validation images from one seeded
    permutation of the training split (disjoint; the validation set tunes the influence updates' step), and a seeded
    subset of the test split."""

    train: int  # training images
    val: int  # validation images, from the rest of the training split
    test: int = 0  # test images (0: the whole test split)


def stratified_subset(ds: ArrayDataset, n: int | None, seed: int) -> ArrayDataset:
    """``n`` samples of ``ds``, stratified by label and seeded (scikit-learn's split), in index order; all of it
    when ``n`` is None or not smaller."""
    if n is None or n >= len(ds):
        return ds
    idx, _ = train_test_split(np.arange(len(ds)), train_size=n, stratify=ds.y.numpy(), random_state=seed)
    idx = torch.as_tensor(np.sort(idx))
    return ArrayDataset(ds.x[idx], ds.y[idx])


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
    halved_test: HalvedTest | None = None  # MUFAC-style val (D_test) and test (D_unseen) halves of the test split
    subset: int | None = None  # halved_test tasks: a stratified, seeded subset of the training set (None: all of it)
    dataset_kw: dict = field(default_factory=dict)  # load_dataset's keyword arguments (e.g. UTKFace's resolution)
    budgets: dict = field(default_factory=dict)  # method -> config its paper or release runs on this task
    subsets: RandomSubsets | None = None  # label-flip tasks: the training, validation and test subsets

    def forget_split(self, targets, seed: int) -> splits.Split:
        """D_f / D_r of the training targets, by this task's recipe (seeded)."""
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.split == "random":
            return splits.random_instances(len(targets), self.fraction, seed=seed)
        if self.split == "label_flips":
            raise ValueError("a label_flips task draws its flips with its sets: use sets(seed, split_seed=...)")
        if self.forget_class is None:
            raise ValueError(f"a {self.split!r} split needs forget_class")
        if self.split == "class_fraction":
            return splits.class_fraction(targets, self.forget_class, self.fraction, seed=seed)
        return splits.whole_class(targets, self.forget_class)

    def sets(self, seed: int, split_seed: int | None = None) -> TaskSets:
        """The data and every set of this task, drawn with ``seed`` (the split with ``split_seed``, default
        ``seed``); nothing is trained."""
        data = load_dataset(self.dataset, **self.dataset_kw)
        if self.halved_test is not None:
            return self._halved_sets(data, seed, split_seed)
        if self.split == "label_flips":
            return self._flipped_sets(data, seed, split_seed)
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

    def _halved_sets(self, data: DataBundle, seed: int, split_seed: int | None) -> TaskSets:
        train = stratified_subset(data.train, self.subset, seed)
        te = data.test
        a, b = train_test_split(np.arange(len(te)), test_size=0.5, stratify=te.y.numpy(), random_state=seed)
        a, b = torch.as_tensor(np.sort(a)), torch.as_tensor(np.sort(b))
        val = stratified_subset(ArrayDataset(te.x[a], te.y[a]), self.halved_test.val, seed)
        test = stratified_subset(ArrayDataset(te.x[b], te.y[b]), self.halved_test.test, seed)
        split = self.forget_split(targets_of(train), seed if split_seed is None else split_seed)
        forget, retain = split.subsets(train)
        return TaskSets(self, data, train, split, forget, retain, None, None, test, val)

    def _flipped_sets(self, data: DataBundle, seed: int, split_seed: int | None) -> TaskSets:
        """Pairwise label flips (class c -> C - 1 - c) of a ``fraction`` of the training subset, drawn with
        ``split_seed``: ``train`` holds the poisoned labels, ``forget`` the flipped points as trained, ``corrected``
        the same points with their true labels (Z~), ``clean`` the whole subset with true labels."""
        if self.subsets is None:
            raise ValueError("a label_flips task needs subsets=RandomSubsets(...)")
        sub = self.subsets
        perm = np.random.default_rng(seed).permutation(len(data.train))
        tr, va = np.sort(perm[: sub.train]), np.sort(perm[sub.train : sub.train + sub.val])
        test = data.test
        if sub.test:
            te = np.sort(np.random.default_rng(seed + 1).choice(len(data.test), sub.test, replace=False))
            test = ArrayDataset(data.test.x[te], data.test.y[te])
        clean, val = ArrayDataset(data.train.x[tr], data.train.y[tr]), ArrayDataset(data.train.x[va], data.train.y[va])
        split, y_poison = splits.label_flips(clean.targets, self.fraction, len(data.classes),
                                             seed=seed if split_seed is None else split_seed, pairwise=True)
        train = ArrayDataset(clean.x, y_poison)
        flips = split.forget.tolist()
        return TaskSets(self, data, train, split, Subset(train, flips), Subset(train, split.retain.tolist()), None, None,
                        test, val, corrected=Subset(clean, flips), clean=clean)

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
    """Every set of one task at one seed: the problem every experiment and method reads."""

    task: Task
    data: DataBundle
    train: Dataset  # the training set (a class-balanced subset when the task has per_class)
    split: splits.Split
    forget: Dataset
    retain: Dataset
    holdout: Dataset | None  # D_h (sub-class tasks only)
    class_test: Dataset | None  # the forget class's evaluation half (sub-class tasks only)
    test: Dataset  # the test set: accuracy, membership non-members (sub-class tasks: without D_h; MUFAC: D_unseen)
    val: Dataset | None = None  # a set a method may monitor or tune on (MUFAC's D_test; halved_test tasks only)
    corrected: Dataset | None = None  # label_flips tasks: the forget points with their true labels (Z~)
    clean: Dataset | None = None  # label_flips tasks: the training set with every label true (D~)

    @property
    def classes(self) -> list:
        return self.data.classes

    def resplit(self, split_seed: int) -> TaskSets:
        """The same training, held-out and test sets with another forget split (the task's recipe, seeded):
        the original, trained on the whole training set, serves every split."""
        split = self.task.forget_split(targets_of(self.train), split_seed)
        forget, retain = split.subsets(self.train)
        return dataclasses.replace(self, split=split, forget=forget, retain=retain)


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

    @functools.cached_property
    def gold_correct(self) -> np.ndarray:
        """Which forget samples the gold model classifies correctly: the real easy / hard split of D_f (TMU)."""
        return predict(self.gold, self.forget).correct.numpy()


# The baselines of DLFD's Table 1 at the DLFD release's MUFAC settings (age_cls_experiments.ipynb and unlearn/*.py of
# github.com/Dasol-Choi/DLFD): the utkface task's budgets, read by notebook 03 and notebook 04 alike. Where the
# release's code is not the method (EU-k re-initialises nothing and trains only `bn2` affine weights; Bad Teacher
# never reads the forget set; SCRUB ignores msteps and the temperature), the method's own form is kept with the
# release's budget, learning rate and batch size.
MUFAC_RELEASE_SETTINGS = {
    # SGD 0.001, 2 epochs, batch 32 (the release's cosine T_max=2 stepped per batch cycles every 4 batches;
    # the shared cosine-to-0 schedule has the same mean rate)
    "finetune": {"epochs": 2, "lr": 0.001, "batch_size": 32},
    # only the MLP head trains (DLFDNet's 3 Linear layers), SGD 0.001 without weight decay, 2 epochs
    "cf_k": {"k": 3, "epochs": 2, "lr": 0.001, "batch_size": 32, "weight_decay": 0.0},
    # the head re-initialised and retrained (Goel et al.) for the release's 2 epochs at batch 32; the
    # from-scratch rate (0.05) as the release's 0.001 cannot train a re-initialised head in 2 epochs
    "eu_k": {"k": 3, "epochs": 2, "batch_size": 32},
    # gradient ascent on the forget set: SGD 0.001, momentum 0.9, 1 epoch, batch 32, on the augmented forget images
    # (age_cls_experiments.ipynb cell 19 passes data_loaders['forget_train'], which crops and flips; unlearn/neg_grad.py)
    "neggrad": {"epochs": 1, "lr": 0.001, "batch_size": 32, "augment": True},
    # noise: one batch of 32 per class, 8 Adam steps at 0.1; impair 1 and repair 2 epochs (Adam 0.001) on
    # the whole retain set, batch 128
    "unsir": {"noise_batch": 32, "noise_steps": 8, "noise_lr": 0.1, "impair_lr": 0.001, "repair_lr": 0.001,
              "impair_epochs": 1, "repair_epochs": 2, "retain_per_class": 0, "batch_size": 128},
    # Adam 0.001, 2 epochs, batch 32, KL temperature 4
    "bad_teacher": {"epochs": 2, "lr": 0.001, "batch_size": 32},
    # SGD 5e-4, 2 epochs, batch 32 for both sets, in the release's own form (see ScrubConfig.form): the paper's form
    # (KL maximised at T = 4, scaled by T^2 = 16) collapsed this model's test accuracy to 0.27 (release: 0.646)
    "scrub": {"epochs": 2, "msteps": 2, "lr": 5e-4, "batch_size": 32, "forget_batch_size": 32, "lr_decay_epochs": (),
              "form": "release"},
}


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
    # UTKFace's 8 MUFAC age groups, DLFD's random-instance forgetting (15 %, MUFAC's 1,500 of 10,025): the test split
    # halved into D_test (val, monitoring) and D_unseen (test); DLFD's network and the cpu recipe of notebook 03
    # CIFAR-10 label poisoning as Warnecke et al. run it (Applications/Poisoning): pairwise flips c -> 9 - c of 20 %
    # of a 5,000-image training subset, a VGG-style CNN trained with Adam until it fits them, the whole test set
    "cifar10-poisoning": Task("cifar10", "vgg", dict(in_channels=3, num_classes=10, width=16, hidden=128),
                              TrainConfig(epochs=40, batch_size=64, lr=2e-3, optimizer="adam", weight_decay=0.0,
                                          schedule="cosine"), split="label_flips", fraction=0.2, tag="cifar_poisoned",
                              subsets=RandomSubsets(train=5000, val=1000)),
    "utkface": Task("utkface", "dlfd", dict(num_classes=8, width=8),
                    TrainConfig(epochs=30, batch_size=64, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=5e-4,
                                schedule="cosine"), split="random", fraction=0.15, tag="dlfd-original",
                    halved_test=HalvedTest(), dataset_kw={"resolution": 32}, budgets=MUFAC_RELEASE_SETTINGS),
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
