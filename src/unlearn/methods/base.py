"""The one call shape every unlearning method shares, and the registry.

    method(model, forget, retain, *, val=None, config=None, seed=0) -> model

``forget``/``retain``/``val`` are datasets or DataLoaders. :func:`register` wraps a method so
that it (1) validates its inputs, (2) works on a deep copy (the model passed in is never
mutated), (3) builds its config dataclass from None, a dict, or an instance (an unknown key is a
``ValueError``), (4) seeds everything, and (5) attaches an :class:`UnlearningRecord` (wall time,
gradient evaluations) to the returned model as ``model.unlearning_record``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..data.arrays import targets_of
from ..seed import set_seed
from ..train import counting

REGISTRY: dict[str, Callable] = {}


@dataclass
class UnlearningRecord:
    """What one call cost: wall time and gradient evaluations (samples back-propagated)."""

    method: str
    seconds: float
    grad_evals: int
    config: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # method-specific extras (e.g. TMU's predicted-easy mask)


def as_dataset(data) -> Dataset | None:
    return data.dataset if isinstance(data, DataLoader) else data


def _base_indices(ds) -> tuple[object, np.ndarray] | None:
    """(root dataset, indices into it) for a (nested) Subset, to detect shared samples."""
    idx = None
    while isinstance(ds, Subset):
        sub = np.asarray(ds.indices)
        idx = sub if idx is None else sub[idx]
        ds = ds.dataset
    return (ds, idx) if idx is not None else None


def check_inputs(model: nn.Module, forget, retain) -> None:
    """The bad inputs every method refuses, each with a message that says what to change."""
    if forget is None or len(forget) == 0:
        raise ValueError("the forget set is empty: there is nothing to unlearn")
    if retain is not None:
        bf, br = _base_indices(forget), _base_indices(retain)
        if bf and br and bf[0] is br[0]:
            shared = np.intersect1d(bf[1], br[1])
            if len(shared):
                raise ValueError(f"forget and retain share {len(shared)} samples; make them disjoint (see unlearn.splits)")
    n_classes = getattr(model, "num_classes", None)
    if n_classes is not None:
        for name, ds in (("forget", forget), ("retain", retain)):
            if ds is None or len(ds) == 0 or getattr(ds, "seq_len", None) or _is_sequence(ds):
                continue
            y = targets_of(ds)
            if int(y.max()) >= n_classes or int(y.min()) < 0:
                raise ValueError(f"{name} labels span {int(y.min())}..{int(y.max())} but the model has {n_classes} classes")


def _is_sequence(ds) -> bool:
    while isinstance(ds, Subset):
        ds = ds.dataset
    return hasattr(ds, "seq_len")


def make_config(config_cls, config):
    """None -> defaults; dict -> config_cls(**dict) (unknown keys refused); an instance as is."""
    if config is None:
        return config_cls()
    if isinstance(config, config_cls):
        return config
    if isinstance(config, dict):
        valid = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise ValueError(f"{config_cls.__name__} has no option(s) {unknown}; valid: {sorted(valid)}")
        return config_cls(**config)
    raise ValueError(f"config must be None, a dict or a {config_cls.__name__}, got {type(config).__name__}")


def register(name: str, config_cls):
    """Decorator: put a method in the registry behind the shared call shape."""

    def wrap(fn):
        @functools.wraps(fn)
        def method(model: nn.Module, forget, retain, *, val=None, config=None, seed: int = 0) -> nn.Module:
            forget, retain, val = as_dataset(forget), as_dataset(retain), as_dataset(val)
            check_inputs(model, forget, retain)
            cfg = make_config(config_cls, config)
            work = copy.deepcopy(model)  # never touch the caller's model
            set_seed(seed)
            start = time.perf_counter()
            with counting() as grads:
                out = fn(work, forget, retain, val=val, config=cfg, seed=seed)
            seconds, evals = time.perf_counter() - start, grads.value
            info = getattr(out, "unlearning_info", {})
            if info.get("cached"):  # a cached retrain reports what the training cost when it ran
                seconds, evals = info["train_seconds"], info["grad_evals"]
            out.unlearning_record = UnlearningRecord(name, seconds, evals, dataclasses.asdict(cfg), info)
            return out.eval()

        method.config_cls = config_cls
        method.method_name = name
        REGISTRY[name] = method
        return method

    return wrap
