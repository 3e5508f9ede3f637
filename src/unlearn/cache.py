"""Checkpoint cache for trained models (originals and gold retrains).

A checkpoint's key is a hash of its recipe: a fingerprint of the training data (so a relabelled or
reduced training set gets its own entry), the architecture, the training config, the seed and the
training code itself (:func:`code_version`: a change to ``fit`` or to a model's initialisation is a
new recipe, never a silent reuse of old weights). One file per entry holds the weights (a
``state_dict``, loaded with ``weights_only=True``: no pickled code is ever executed) and the metadata;
it is written to a temporary name and renamed, so concurrent writers each leave a complete file and a
reader never sees half of one. The weights' SHA-256 is checked on every load; a corrupt entry is
retrained. A notebook's second run reuses every model its first run trained. Without a cache location
(:func:`unlearn.paths.model_cache_dir` is None: a library user who set none) models are trained and nothing is stored.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from . import paths
from .data.arrays import as_arrays


def fingerprint(dataset: Dataset) -> str:
    """SHA-256 of a dataset's contents (inputs and labels, in order)."""
    digest = hashlib.sha256()
    resolved = as_arrays(dataset)
    if resolved is not None:
        base, idx = resolved
        digest.update(base.x[idx].contiguous().numpy().tobytes())
        digest.update(base.y[idx].numpy().tobytes())
    elif hasattr(dataset, "ids"):  # character corpora
        digest.update(dataset.ids.numpy().tobytes())
        digest.update(str(getattr(dataset, "seq_len", "")).encode())
    else:
        raise TypeError(f"cannot fingerprint a {type(dataset).__name__}; pass an explicit key")
    return digest.hexdigest()


def recipe_key(**parts) -> str:
    """A short stable hash of JSON-serialisable parts (dataclasses become dicts)."""
    norm = {k: asdict(v) if is_dataclass(v) else v for k, v in parts.items()}
    blob = json.dumps(norm, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


FORMAT = 2  # one file {"state_dict", "meta"}, loaded with weights_only=True (1: a pickled module + a JSON sidecar)


def code_version() -> str:
    """A short hash of the code that produces a cached model: the training loop (``train.py``) and the
    architectures (``models.py``), with the file format."""
    from . import models, train

    digest = hashlib.sha256(str(FORMAT).encode())
    for module in (train, models):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def cached_model(key: str, train: Callable[[], nn.Module], tag: str = "model",
                 template: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """Return ``(model, meta)``: loaded from the cache into a copy of ``template`` (the architecture),
    or built by ``train()`` and stored.

    ``meta['train_seconds']`` is the wall time of the original training, kept so that speed-ups
    against retraining stay meaningful when the gold model comes from the cache.
    """
    if template is None:
        raise ValueError("cached_model needs template=, the architecture to load cached weights into")
    root = paths.model_cache_dir()
    ckpt = root / f"{tag}-{key}.pt" if root is not None else None  # no cache given: train, store nothing
    if ckpt is not None and ckpt.exists():
        try:
            blob = torch.load(ckpt, weights_only=True, map_location="cpu")
            meta = blob["meta"]
            model = copy.deepcopy(template).cpu()
            model.load_state_dict(blob["state_dict"])
            if state_fingerprint(model) != meta["state_sha256"]:
                raise ValueError("checksum mismatch")
            return model.eval(), meta | {"cached": True}
        except Exception as exc:  # corrupt, partial or of another format: say so, then retrain
            warnings.warn(f"cached checkpoint {ckpt.name} is unusable ({type(exc).__name__}: {exc}); retraining")
    start = time.perf_counter()
    model = train()
    seconds = time.perf_counter() - start
    model = model.cpu().eval()
    meta = {"key": key, "tag": tag, "format": FORMAT, "train_seconds": seconds, "state_sha256": state_fingerprint(model),
            "epochs": getattr(model, "fit_epochs", None)}  # the epochs fit ran (until_train_acc stops early)
    if ckpt is None:
        return model, meta | {"cached": False}
    root.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
    torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    os.replace(tmp, ckpt)  # atomic: a reader never sees half a file, and weights and metadata travel together
    return model, meta | {"cached": False}


def state_fingerprint(model: nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers."""
    digest = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_or_load(model: nn.Module, dataset: Dataset, cfg, seed: int = 0, tag: str = "model",
                  progress: bool = True, from_scratch: bool = True) -> tuple[nn.Module, dict]:
    """Train with :func:`unlearn.train.fit`, or load the identical recipe from the cache.

    ``from_scratch=True``: ``model`` is only an architecture template; the network is rebuilt and
    initialised from ``seed`` (so one key always means one set of weights). ``from_scratch=False``:
    training continues from ``model``'s current weights (fine-tuning), which then enter the key.
    """
    from .train import fit, fresh_copy

    arch = getattr(model, "spec", None) or repr(model)
    start = fresh_copy(model, seed) if from_scratch else model
    init = "scratch" if from_scratch else state_fingerprint(model)
    key = recipe_key(data=fingerprint(dataset), arch=arch, cfg=cfg, seed=seed, init=init, code=code_version())
    template = copy.deepcopy(start)  # fit trains ``start`` in place
    return cached_model(key, lambda: fit(start, dataset, cfg, seed, progress=progress, desc=tag), tag=tag,
                        template=template)
