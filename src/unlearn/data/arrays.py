"""In-memory datasets: whole tensors, so a batch is one indexing operation, not N item calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


class ArrayDataset(Dataset):
    """Inputs ``x`` (uint8 images are scaled to [0, 1] on access) and integer labels ``y``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        self.x = x
        self.y = torch.from_numpy(whole_labels(y.numpy()))

    @property
    def targets(self) -> torch.Tensor:
        return self.y

    def __len__(self) -> int:
        return len(self.y)

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def __getitem__(self, i):
        return self._scale(self.x[i]), self.y[i]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch by fancy indexing: ``(x[idx], y[idx])``."""
        return self._scale(self.x[idx]), self.y[idx]


def whole_labels(y: np.ndarray, name: str = "labels") -> np.ndarray:
    """Class labels as int64. Float labels are accepted only when whole (2.0), never truncated (2.7)."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise ValueError(f"{name} must be whole class indices, got values such as {y[bad][:3].tolist()} "
                             "(they would be truncated)")
    elif y.dtype.kind not in "iub":
        raise ValueError(f"{name} must be integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64)


def root_indices(dataset: Dataset) -> tuple[Dataset, np.ndarray]:
    """(root dataset, int64 indices of ``dataset`` into it) through any nesting of Subsets; a plain dataset is its
    own root with all of its indices."""
    idx = None
    while isinstance(dataset, Subset):
        sub = np.asarray(dataset.indices, dtype=np.int64)
        idx = sub if idx is None else sub[idx]
        dataset = dataset.dataset
    return dataset, (np.arange(len(dataset), dtype=np.int64) if idx is None else idx)


def as_arrays(dataset: Dataset) -> tuple[ArrayDataset, torch.Tensor] | None:
    """Resolve (nested) Subsets of an ArrayDataset to (base, indices); None for other datasets."""
    root, idx = root_indices(dataset)
    if not isinstance(root, ArrayDataset):
        return None
    return root, torch.from_numpy(idx)


def targets_of(dataset: Dataset) -> torch.Tensor:
    """Labels of any dataset: fast for ArrayDataset (and subsets), by iteration otherwise."""
    resolved = as_arrays(dataset)
    if resolved is not None:
        base, idx = resolved
        return base.y[idx]
    if hasattr(dataset, "targets"):
        return torch.as_tensor(dataset.targets).long()
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])


@dataclass
class DataBundle:
    """What ``load_dataset`` returns: train and test sets plus what else the dataset has."""

    name: str
    train: Any
    test: Any
    classes: list[str]
    extra: dict = field(default_factory=dict)  # feature_names, vocab, ages, corpus, ...

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"DataBundle({self.name!r}, train={len(self.train)}, test={len(self.test)}, "
            f"classes={self.num_classes}, extra={sorted(self.extra)})"
        )


def to_arrays(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of a dataset in its stored dtype (uint8 images stay uint8, so concatenations keep the
    [0, 1] scaling of :class:`ArrayDataset`)."""
    resolved = as_arrays(ds)
    if resolved is not None:
        base, idx = resolved
        return base.x[idx], base.y[idx]
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor([int(y) for y in ys])


def concat_arrays(*datasets: Dataset) -> ArrayDataset:
    """One in-memory ArrayDataset holding every sample of ``datasets`` in order."""
    parts = [to_arrays(d) for d in datasets if d is not None and len(d)]
    if not parts:
        raise ValueError("nothing to concatenate: every dataset is empty")
    dtypes = {x.dtype for x, _ in parts}
    if len(dtypes) > 1:
        raise ValueError(f"datasets store inputs as different dtypes {sorted(map(str, dtypes))}")
    return ArrayDataset(torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts]))
