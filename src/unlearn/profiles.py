"""Profiles: the same code at three sizes.

- ``smoke``: the whole pipeline, tiny (CI; about a minute per notebook).
- ``cpu``: the default, minutes on a 2-core laptop.
- ``paper``: the paper's settings, meant for a GPU.

Each experiment keeps its own table (a dict profile -> dataclass instance) in
``unlearn.experiments.<name>``; :func:`pick` validates the profile name in one place.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Mapping, TypeVar

PROFILES = ("smoke", "cpu", "paper")

T = TypeVar("T")


def pick(table: Mapping[str, T], profile: str) -> T:
    """Return ``table[profile]``, raising a clear error for an unknown profile name."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"profile table lacks {missing}")
    return table[profile]


def describe(table: Mapping[str, object]) -> str:
    """A small text table of a profile table, for notebooks to print."""
    rows = {name: asdict(v) if is_dataclass(v) else dict(v) for name, v in table.items()}
    keys = list(next(iter(rows.values())).keys())
    width = max(len(k) for k in keys)
    lines = [" " * width + "".join(f"{p:>14}" for p in rows)]
    for k in keys:
        lines.append(f"{k:<{width}}" + "".join(f"{str(rows[p][k]):>14}" for p in rows))
    return "\n".join(lines)
