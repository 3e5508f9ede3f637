"""Unlearning methods, one file each, all behind one call shape (see ``base.py``):

    method(model, forget, retain, *, config=None, seed=0, **data) -> Unlearned(model, record)

``available()`` lists them; ``get(name)`` fetches one. Every module in this package that
registers a method is imported here automatically, so adding a method is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

from .base import REGISTRY, Report, Unlearned, UnlearningRecord, make_config, register

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in ("base", "common") and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")


def available() -> list[str]:
    """Names of every registered method."""
    return sorted(REGISTRY)


def get(name: str) -> Callable[..., Unlearned]:
    """The method registered as ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(available())}")
    return REGISTRY[name]


__all__ = ["available", "get", "register", "make_config", "Report", "Unlearned", "UnlearningRecord"]
