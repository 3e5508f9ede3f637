"""Real data sets behind one call: ``load_dataset(name, **options) -> DataBundle``.

Sources, in order: the project's cache (``data/``, or ``$UNLEARN_DATA``), the read-only offline
mirror named by ``$UNLEARN_DATA_MIRROR``, then the upstream download where one exists.
"""

from __future__ import annotations

from typing import Callable

from .arrays import ArrayDataset, DataBundle, as_arrays, targets_of
from .images import AGE_GROUPS, age_group, load_cifar10, load_digits, load_fashion_mnist, load_mnist, load_olivetti, load_utkface
from .mufac import load_mufac
from .sources import DatasetNotFoundError, dataset_lock
from .tabular import load_adult, load_diabetes, load_enron
from .text import CharCorpus, load_alice, load_tinyshakespeare

LOADERS: dict[str, Callable[..., DataBundle]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "olivetti": load_olivetti,
    "utkface": load_utkface,
    "alice": load_alice,
    "tinyshakespeare": load_tinyshakespeare,
    "adult": load_adult,
    "diabetes": load_diabetes,
    "enron": load_enron,
    "mufac": load_mufac,  # a local copy only (root= or UNLEARN_MUFAC); see data/mufac.py
}


def available() -> list[str]:
    return sorted(LOADERS)


def load_dataset(name: str, **options) -> DataBundle:
    """Load a data set by name; ``options`` go to its loader (e.g. ``resolution=`` for utkface)."""
    if name not in LOADERS:
        raise DatasetNotFoundError(
            f"unknown dataset {name!r}; known: {', '.join(available())}. Files are looked up in the data "
            "cache (UNLEARN_DATA) and the offline mirror (UNLEARN_DATA_MIRROR) before any upstream download."
        )
    with dataset_lock(name):  # a second process waits for the first to finish fetching and converting
        return LOADERS[name](**options)


__all__ = [
    "ArrayDataset", "CharCorpus", "DataBundle", "DatasetNotFoundError", "AGE_GROUPS", "age_group",
    "as_arrays", "available", "load_dataset", "load_mufac", "targets_of",
]
