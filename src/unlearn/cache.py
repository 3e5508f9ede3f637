"""Checkpoint cache for trained models (originals and gold retrains).

A checkpoint's key is a hash of its recipe: a fingerprint of the training data (so a relabelled or
reduced training set gets its own entry), the architecture, the training config and the seed.
Files are written atomically, checked against a SHA-256 stored beside them on every load, and
retrained when corrupt. A notebook's second run reuses every model its first run trained.
"""

from __future__ import annotations

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


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_model(key: str, train: Callable[[], nn.Module], tag: str = "model") -> tuple[nn.Module, dict]:
    """Return ``(model, meta)``: loaded from the cache, or built by ``train()`` and stored.

    ``meta['train_seconds']`` is the wall time of the original training, kept so that speed-ups
    against retraining stay meaningful when the gold model comes from the cache.
    """
    root = paths.model_cache_dir()
    ckpt, side = root / f"{tag}-{key}.pt", root / f"{tag}-{key}.json"
    if ckpt.exists() and side.exists():
        try:
            meta = json.loads(side.read_text())
            if _sha(ckpt) != meta["sha256"]:
                raise ValueError("checksum mismatch")
            model = torch.load(ckpt, weights_only=False, map_location="cpu")
            return model.eval(), meta | {"cached": True}
        except Exception as exc:  # corrupt or partial: say so, then retrain
            warnings.warn(f"cached checkpoint {ckpt.name} is unusable ({exc}); retraining")
    start = time.perf_counter()
    model = train()
    seconds = time.perf_counter() - start
    model = model.cpu().eval()
    tmp = ckpt.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model, tmp)
    meta = {"key": key, "tag": tag, "train_seconds": seconds, "sha256": _sha(tmp)}
    os.replace(tmp, ckpt)  # atomic: a reader never sees half a file
    side_tmp = side.with_suffix(f".{os.getpid()}.tmp")
    side_tmp.write_text(json.dumps(meta, indent=1))
    os.replace(side_tmp, side)
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
    key = recipe_key(data=fingerprint(dataset), arch=arch, cfg=cfg, seed=seed, init=init)
    return cached_model(key, lambda: fit(start, dataset, cfg, seed, progress=progress, desc=tag), tag=tag)
