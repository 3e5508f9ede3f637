"""One seeded training loop, batching, and per-sample prediction.

Gradient evaluations are counted (samples back-propagated) through :func:`count_grads`, so every
unlearning method reports its cost the same way whether it uses :func:`fit` or its own loop.
"""

from __future__ import annotations

import contextvars
import copy
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.arrays import as_arrays
from .progress import tqdm
from .seed import set_seed


def get_device() -> torch.device:
    """CUDA when available (or ``$UNLEARN_DEVICE``), else CPU. Chosen once, never hard-coded."""
    name = os.environ.get("UNLEARN_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# --- cost: gradient-evaluation counting and wall time --------------------------------------------------------------
_COUNTER: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("grad_counter", default=None)


def count_grads(n: int) -> None:
    """Record that ``n`` samples were back-propagated (a no-op outside a counting context)."""
    box = _COUNTER.get()
    if box is not None:
        box[0] += int(n)


class counting:
    """``with counting() as c: ...; c.value`` counts gradient evaluations inside the block. Blocks nest: an
    inner block's count also goes to the enclosing one."""

    def __enter__(self):
        self._box = [0]
        self._outer = _COUNTER.get()
        self._token = _COUNTER.set(self._box)
        return self

    def __exit__(self, *exc):
        _COUNTER.reset(self._token)
        if self._outer is not None:
            self._outer[0] += self._box[0]

    @property
    def value(self) -> int:
        return self._box[0]


class Timer:
    """Wall time of a block: ``with Timer() as t: ...; t.seconds``."""

    def __enter__(self):
        self._start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


# --- batching -----------------------------------------------------------------------------------
def batches(dataset: Dataset, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None) -> Iterator:
    """Yield ``(x, y)`` batches. In-memory ArrayDatasets (and Subsets of them) are sliced directly,
    which on a 2-core CPU is several times faster than a DataLoader collating items one by one."""
    if isinstance(dataset, DataLoader):
        dataset = dataset.dataset
    resolved = as_arrays(dataset)
    if resolved is None:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
        return
    base, idx = resolved
    if shuffle:
        idx = idx[torch.randperm(len(idx), generator=generator)]
    for s in range(0, len(idx), batch_size):
        yield base.take(idx[s : s + batch_size])


def take(ds: Dataset, idx: torch.Tensor, resolved=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples ``idx`` of ``ds`` as (x, y) tensors: sliced from memory for ArrayDatasets and their Subsets
    (``resolved``: :func:`as_arrays` of ``ds``, when the caller already has it), item by item otherwise."""
    resolved = as_arrays(ds) if resolved is None else resolved
    if resolved is not None:
        base, ix = resolved
        return base.take(ix[idx])
    items = [ds[int(i)] for i in idx]
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def mixed_batches(datasets: list[Dataset], batch_size: int, shuffle: bool = True,
                  generator: torch.Generator | None = None) -> Iterator:
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
            xi, yi = take(d, bp[m], resolved[i])
            if x is None:
                x = torch.empty((len(o), *xi.shape[1:]), dtype=xi.dtype)
                y = torch.empty(len(o), dtype=torch.long)
            x[m], y[m] = xi, yi
        yield x, y, bs, bp


def endless_batches(dataset: Dataset, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
    """Shuffled passes over ``dataset``, one after another without end (a second stream paired with an epoch)."""
    while True:
        yield from batches(dataset, batch_size, shuffle=True, generator=generator)


# --- one optimisation step ----------------------------------------------------------------------
class Diverged(FloatingPointError):
    """A loss turned NaN or infinite. The step that would have written it into the weights is refused, so no
    model with NaN weights is ever returned; ``method`` names the unlearning method when one was running."""

    def __init__(self, message: str, method: str | None = None):
        super().__init__(message)
        self.method = method


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, n: int,
         adjust: Callable[[], None] | None = None) -> None:
    """One optimiser step on ``loss``: clear the gradients, back-propagate, ``adjust()`` them if given (a norm
    clip, a saliency mask), step, and count ``n`` gradient evaluations (samples back-propagated). Every training
    loop of the package goes through here, so this is where a non-finite loss (an unbounded ascent, a too large
    rate, NaN inputs) is stopped: :class:`Diverged` is raised before the step."""
    if not torch.isfinite(loss.detach()).all():
        raise Diverged(f"the loss is {loss.detach().float().mean().item()} (not finite); lower the learning rate or the "
                       "number of steps, or check the inputs for NaN or infinite values")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if adjust is not None:
        adjust()
    optimizer.step()
    count_grads(n)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for (B, C) classifier or (B, T, V) sequence outputs; per-sample losses of a
    sequence are the mean over its positions."""
    if logits.dim() == 3:
        per_token = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)
        per_sample = per_token.mean(1)
        return per_sample if reduction == "none" else per_sample.mean()
    return F.cross_entropy(logits, y, reduction=reduction)


@dataclass
class TrainConfig:
    """Hyper-parameters of the shared training loop."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # samples per step
    lr: float = 0.05  # peak learning rate
    optimizer: str = "sgd"  # "sgd" (with momentum) or "adam"
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty through the optimiser
    schedule: str = "cosine"  # "cosine" (to 0 over all steps) or "constant"
    augment: bool = False  # images only: random crop (4 px zero padding) and horizontal flip per sample
    # Train until the model fits its training set: stop after the first epoch whose training accuracy (eval mode)
    # reaches this share; ``epochs`` is then the cap, and not reaching it by the cap is an error (0: no target,
    # run all epochs). A rule, not a count: the epoch a fit is reached moves between CPUs, the fit does not.
    until_train_acc: float = 0.0


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad`` pixels of zero padding and a horizontal flip, drawn per sample, for a
    batch of images (B, C, H, W) -> (B, C, H, W). torchvision's transforms draw one crop per call, so a
    whole batch would share it; indexing the padded batch keeps the draws per sample and fast."""
    if x.dim() != 4:
        raise ValueError(f"augment expects image batches (B, C, H, W), got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    flip = torch.rand(b, generator=generator) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    left = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    return padded[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use 'sgd' or 'adam'")


def fit(model: nn.Module, dataset: Dataset, cfg: TrainConfig, seed: int = 0, *, progress: bool = True,
        desc: str = "train", params=None, frozen_modules=()) -> nn.Module:
    """Train ``model`` in place on ``dataset`` with cross-entropy; returns it. ``params`` restricts
    training to some parameters (e.g. the last k layers); ``frozen_modules`` stay in eval mode (so a
    frozen BatchNorm keeps its running statistics)."""
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    gen = set_seed(seed)
    device = get_device()
    model.to(device).train()
    for m in frozen_modules:
        m.eval()
    opt = make_optimizer(params if params is not None else model.parameters(), cfg)
    steps = cfg.epochs * -(-len(dataset) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1)) if cfg.schedule == "cosine" else None
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False)
    train_acc, epochs_run = float("nan"), 0
    for _ in range(cfg.epochs):
        epochs_run += 1
        for x, y in batches(dataset, cfg.batch_size, shuffle=True, generator=gen):
            if cfg.augment:
                x = augment_batch(x, gen)
            x, y = x.to(device), y.to(device)
            try:
                step(opt, cross_entropy(model(x), y), len(y))
            except Diverged as exc:
                raise Diverged(f"{desc}: step {bar.n + 1} of {steps} (lr {cfg.lr}): {exc}") from None
            if sched is not None:
                sched.step()
            bar.update()
        if cfg.until_train_acc:
            train_acc = accuracy_on(model, dataset)  # restores train mode
            for m in frozen_modules:
                m.eval()
            if train_acc >= cfg.until_train_acc:
                break
    bar.close()
    if cfg.until_train_acc and train_acc < cfg.until_train_acc:
        raise NotFitted(f"{desc}: training accuracy {train_acc:.4f} after {cfg.epochs} epochs, below until_train_acc="
                        f"{cfg.until_train_acc}; raise epochs (the cap) or the learning rate, or lower the target")
    model.fit_epochs = epochs_run  # read by the checkpoint cache's record
    return model.eval()


class NotFitted(RuntimeError):
    """Training reached its epoch cap before the training accuracy reached ``TrainConfig.until_train_acc``."""


@dataclass
class Predictions:
    """One pass of a model over a dataset: logits (N, C), labels (N,), per-sample losses (N,)."""

    logits: torch.Tensor
    labels: torch.Tensor
    losses: torch.Tensor

    @property
    def correct(self) -> torch.Tensor:
        return self.logits.argmax(-1) == self.labels

    @property
    def accuracy(self) -> float:
        return self.correct.float().mean().item()

    @property
    def probs(self) -> torch.Tensor:
        return self.logits.softmax(-1)


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> Predictions:
    """Logits, labels and per-sample cross-entropy in one pass (eval mode; model mode restored)."""
    device = get_device()
    was_training = model.training
    model.to(device).eval()
    out, ys, losses = [], [], []
    for x, y in batches(dataset, batch_size):
        logits = model(x.to(device)).float().cpu()
        out.append(logits)
        ys.append(y)
        losses.append(cross_entropy(logits, y, reduction="none"))
    model.train(was_training)
    if not out:
        raise ValueError("cannot predict on an empty dataset")
    return Predictions(torch.cat(out), torch.cat(ys), torch.cat(losses))


@torch.no_grad()  # without it every batch's autograd graph stays alive with its features: gigabytes for a CNN
def penultimate(model: nn.Module, ds: Dataset, batch_size: int = 512) -> torch.Tensor:
    """Penultimate-layer features ``model.features(x)`` for every sample, in order (eval mode), without gradients."""
    device = get_device()
    was = model.training
    model.to(device).eval()
    out = [model.features(x.to(device)).float().cpu() for x, _ in batches(ds, batch_size)]
    model.train(was)
    if not out:
        raise ValueError("cannot compute features of an empty dataset")
    return torch.cat(out)


def accuracy_on(model: nn.Module, dataset: Dataset) -> float:
    """Top-1 accuracy of ``model`` on ``dataset``."""
    return predict(model, dataset).accuracy


def fresh_copy(model: nn.Module, seed: int) -> nn.Module:
    """The same architecture, freshly initialised from ``seed``: rebuilt from ``model.spec`` when the
    model came from :func:`unlearn.models.build` (same init scheme as the original), otherwise a
    deep copy whose layers are reset."""
    set_seed(seed)
    spec = getattr(model, "spec", None)
    if spec is not None:
        from .models import build

        return build(**spec)
    new = copy.deepcopy(model)
    for m in new.modules():
        if hasattr(m, "reset_parameters") and m is not new:
            m.reset_parameters()
    return new
