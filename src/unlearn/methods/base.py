"""The one call shape every unlearning method shares, and the registry.

    method(model, forget, retain, *, config=None, seed=0, **data) -> Unlearned(model, record)

``forget``/``retain`` are datasets or DataLoaders. A method that needs one more data set names it when it
registers, and callers pass it by that name: TMU's held-out set of the forgotten class ``holdout=``, DLFD's
monitoring set ``monitor=``, the influence updates' corrected points ``corrected=``. :func:`register` wraps a method so
that it (1) validates its inputs, (2) works on a deep copy (the model passed in is never
mutated), (3) builds its config dataclass from None, a dict, or an instance (an unknown key is a
``ValueError``), (4) seeds everything, and (5) returns the unlearned model with its :class:`UnlearningRecord`
(wall time, gradient evaluations, the config, and the method's own typed :class:`Report`) as an
:class:`Unlearned` pair: ``model, record = method(...)`` or ``.model`` / ``.record``. Nothing is attached to the
model. A method's function returns its model, or ``(model, report)``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import math
import time
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, Subset

from ..data.arrays import as_arrays, root_indices, targets_of
from ..seed import set_seed
from ..train import Diverged, counting

REGISTRY: dict[str, Callable] = {}


@dataclass(frozen=True)
class Report:
    """What a method says about its own run: each method that has more to say than its cost subclasses this with
    its fields (a frozen dataclass, each field commented)."""

    def recorded_cost(self) -> tuple[float, int] | None:
        """(seconds, gradient evaluations) to report instead of this call's own when the work was done before (a
        retrained model loaded from the checkpoint cache reports what its training cost); None: this call's."""
        return None


@dataclass(frozen=True)
class UnlearningRecord:
    """What one call cost, wall time and gradient evaluations (samples back-propagated), with the config it ran
    and the method's :class:`Report` (None for a method that reports nothing more)."""

    method: str
    seconds: float
    grad_evals: int
    config: dict = field(default_factory=dict)
    info: Report | None = None


class Unlearned(NamedTuple):
    """What every method returns: the unlearned model and its record (``model, record = method(...)``).
    Experiments also pair a model no method produced (the original, a control) with ``record=None``."""

    model: nn.Module
    record: UnlearningRecord | None


def as_dataset(data, name: str = "data") -> Dataset | None:
    """The dataset a method reads. A DataLoader's sampler is honoured: a sampler that visits only
    some samples (``SubsetRandomSampler``, a custom list) becomes a Subset of those samples; one that
    draws with replacement or repeats samples is refused (a method would weight them twice)."""
    if not isinstance(data, DataLoader):
        return data
    sampler = data.sampler
    if isinstance(sampler, SequentialSampler) or (isinstance(sampler, RandomSampler) and not sampler.replacement
                                                  and sampler.num_samples == len(data.dataset)):
        return data.dataset
    idx = [int(i) for i in sampler]
    if len(set(idx)) != len(idx):
        raise ValueError(f"the {name} DataLoader's sampler repeats samples ({len(idx)} draws, {len(set(idx))} distinct); "
                         "pass a Subset of the samples to unlearn instead")
    return Subset(data.dataset, sorted(idx))


def _row_hashes(ds) -> set[bytes] | None:
    """Fingerprints of an in-memory dataset's samples, input and label together (a relabelled copy
    of a sample, as in label repair, is another sample), or None for other datasets."""
    resolved = as_arrays(ds)
    if resolved is None:
        return None
    base, idx = resolved
    rows, labels = base.x[idx].reshape(len(idx), -1).contiguous().numpy(), base.y[idx].tolist()
    return {hashlib.blake2b(r.tobytes() + int(y).to_bytes(8, "little", signed=True), digest_size=16).digest()
            for r, y in zip(rows, labels)}


def _check_disjoint(forget, retain) -> None:
    (rf, f_idx), (rr, r_idx) = root_indices(forget), root_indices(retain)
    if rf is rr:
        shared = np.intersect1d(f_idx, r_idx)
        if len(shared):
            whole = " (retain is the whole dataset the forget set was drawn from)" if len(r_idx) == len(rr) else ""
            raise ValueError(f"forget and retain share {len(shared)} samples{whole}; make them disjoint (see unlearn.splits)")
        return
    hf, hr = _row_hashes(forget), _row_hashes(retain)  # different roots: compare contents
    if hf is not None and hr is not None and hf & hr:
        raise ValueError(f"{len(hf & hr)} forget samples also occur in the retain set (identical inputs and labels in "
                         "two different datasets); make them disjoint (see unlearn.splits)")


def _check_finite(name: str, ds) -> None:
    """Refuse NaN or infinite inputs, whatever the dataset type: in-memory arrays are checked at once, any other
    ``Dataset`` batch by batch (one pass over it, as the method would make)."""
    from ..train import batches

    resolved = as_arrays(ds)
    if resolved is not None:
        base, idx = resolved
        parts = [base.x[idx]] if base.x.is_floating_point() else []
    else:
        parts = (x for x, _ in batches(ds, 1024))
    bad = 0
    for x in parts:
        x = torch.as_tensor(x)
        if x.is_floating_point():
            bad += int((~torch.isfinite(x.reshape(len(x), -1))).any(1).sum())
    if bad:
        raise ValueError(f"the {name} set has {bad} samples with NaN or infinite inputs; clean or drop them first")


def check_inputs(model: nn.Module, forget, retain) -> None:
    """The bad inputs every method refuses, each with a message that says what to change."""
    if forget is None or len(forget) == 0:
        raise ValueError("the forget set is empty: there is nothing to unlearn")
    if retain is not None and len(retain):
        _check_disjoint(forget, retain)
    for name, ds in (("forget", forget), ("retain", retain)):
        if ds is not None:
            _check_finite(name, ds)
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


# Fields that must be strictly positive (a zero would make the method a silent no-op or divide by zero);
# every other number must be finite and >= 0 unless its field's metadata says {"signed": True}.
_POSITIVE = ("epochs", "lr", "batch_size", "batch")


def _check_field(cls_name: str, f: dataclasses.Field, hint, value):
    """``value`` converted to the field's type, or a ValueError naming the field and what it needs."""
    where = f"{cls_name}.{f.name}"
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError(f"{where} cannot be None")
    kinds = [t for t in options if t is not type(None)]
    if bool in kinds:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{where} must be True or False, got {value!r}")
        return bool(value)
    if int in kinds or float in kinds:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{where} must be a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{where} must be finite, got {value!r}")
        if int in kinds and float not in kinds:
            if float(value) != int(value):
                raise ValueError(f"{where} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        positive = f.name in _POSITIVE or f.name.endswith(tuple(f"_{p}" for p in _POSITIVE))
        if positive and value <= 0:
            raise ValueError(f"{where} must be positive, got {value!r}")
        if value < 0 and not f.metadata.get("signed"):
            raise ValueError(f"{where} must not be negative, got {value!r}")
        return value
    for t in kinds:  # str, tuple, dict, ...
        if isinstance(t, type) and isinstance(value, t):
            return value
        if t is tuple and isinstance(value, (list, np.ndarray)):
            return tuple(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else tuple(value)
    raise ValueError(f"{where} must be {' or '.join(getattr(t, '__name__', str(t)) for t in kinds)}, "
                     f"got {type(value).__name__} {value!r}")


def make_config(config_cls, config) -> Any:
    """None -> defaults; dict -> config_cls(**dict) (unknown keys refused); an instance as is. Every
    field is then checked against its annotation (type, finite, sign), its name in the message."""
    if config is None:
        config = config_cls()
    elif isinstance(config, dict):
        valid = {f.name for f in dataclasses.fields(config_cls)}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise ValueError(f"{config_cls.__name__} has no option(s) {unknown}; valid: {sorted(valid)}")
        config = config_cls(**config)
    elif not isinstance(config, config_cls):
        raise ValueError(f"config must be None, a dict or a {config_cls.__name__}, got {type(config).__name__}")
    hints = typing.get_type_hints(config_cls)
    checked = {f.name: _check_field(config_cls.__name__, f, hints[f.name], getattr(config, f.name))
               for f in dataclasses.fields(config_cls)}
    return dataclasses.replace(config, **checked)


def register(name: str, config_cls, data: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator: put a method in the registry behind the shared call shape. ``data`` names the method's own
    extra data set, if it takes one (passed to it under that keyword)."""

    def wrap(fn):
        @functools.wraps(fn)
        def method(model: nn.Module, forget, retain, *, config=None, seed: int = 0, **inputs) -> Unlearned:
            unknown = sorted(set(inputs) - {data})
            if unknown:
                takes = f"its one extra data set is {data}=" if data else "it takes no extra data set"
                raise ValueError(f"{name} got {', '.join(k + '=' for k in unknown)}; {takes}")
            forget, retain = as_dataset(forget, "forget"), as_dataset(retain, "retain")
            extra = {data: as_dataset(inputs.get(data), data)} if data else {}
            check_inputs(model, forget, retain)
            for key, ds in extra.items():
                if ds is not None:
                    _check_finite(key, ds)
            cfg = make_config(config_cls, config)
            work = copy.deepcopy(model)  # never touch the caller's model
            set_seed(seed)
            start = time.perf_counter()
            with counting() as grads:
                try:
                    out = fn(work, forget, retain, config=cfg, seed=seed, **extra)
                except Diverged as exc:  # name the method, so an experiment can record it as diverged
                    raise Diverged(f"{name} diverged: {exc}", method=name) from None
            seconds, evals = time.perf_counter() - start, grads.value
            out, report = out if isinstance(out, tuple) else (out, None)
            if report is not None and not isinstance(report, Report):
                raise TypeError(f"{name} returned a {type(report).__name__} as its report; return a base.Report subclass")
            cost = report.recorded_cost() if report is not None else None
            if cost is not None:  # e.g. a cached retrain reports what the training cost when it ran
                seconds, evals = cost
            return Unlearned(out.eval(), UnlearningRecord(name, seconds, evals, dataclasses.asdict(cfg), report))

        method.config_cls = config_cls
        method.method_name = name
        REGISTRY[name] = method
        return method

    return wrap
