"""Profiles: the same code at three sizes, and a dry run of the largest.

- ``smoke``: the whole pipeline, tiny (CI; about a minute per notebook).
- ``cpu``: the default, minutes on a 2-core laptop.
- ``paper``: the paper's settings, meant for a GPU.
- ``paper-dry``: the paper profile's models, image sizes and code paths with a handful of steps (:func:`dry_run`:
  every epoch count 1, one seed, data sets cut to a few hundred samples), so that a CPU finds in minutes the shape
  error, device mismatch or missing file a GPU run would otherwise hit after an hour (``make dry-run``; too long for
  CI at one thread per notebook, see the README).

Each experiment keeps its own table (a dict profile -> dataclass instance) in
``unlearn.experiments.<name>``; :func:`pick` validates the profile name in one place.
"""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass, replace
from typing import Mapping, TypeVar

PROFILES = ("smoke", "cpu", "paper", "paper-dry")
# Profiles whose sizes put each paper's effect in reach: the notebooks assert their regime checks only there.
REGIME_PROFILES = ("cpu", "paper")

T = TypeVar("T")


def pick(table: Mapping[str, T], profile: str) -> T:
    """Return ``table[profile]``, raising a clear error for an unknown profile name."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise ValueError(f"profile table lacks {missing}")
    return table[profile]


def regime_checked(profile: str) -> bool:
    """Whether a notebook at ``profile`` asserts its paper's regime (the original memorised D_f, and so on): at cpu
    and paper. A smoke run or a dry run is too small for any effect to appear; it checks that the code runs."""
    return profile in REGIME_PROFILES


def _one_epoch(value, name: str = ""):
    """``value`` with every epoch count (and SCRUB's ``msteps``, epochs too) set to 1, every seed tuple cut to its
    first seed and every fit target (:data:`FIT_TARGETS`) off, in dataclasses and dicts at any depth."""
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _one_epoch(getattr(value, f.name), f.name) for f in fields(value) if f.init})
    if isinstance(value, dict):
        return {k: _one_epoch(v, k) for k, v in value.items()}
    if name.endswith(("epochs", "msteps")) and isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return 1  # msteps: SCRUB's epochs with a max step, at most its epochs
    if name.endswith("epochs") and isinstance(value, tuple):
        return (1,)
    if name.endswith("seeds") and isinstance(value, tuple) and value:
        return value[:1]
    if name in FIT_TARGETS and isinstance(value, float):
        return 0.0  # one epoch fits nothing: a "train until it fits" rule would stop the dry run (a regime check)
    return value


# Training rules that are regime conditions ("train until every training point is fitted"): 0 turns them off
FIT_TARGETS = ("fit", "fit_target", "until_train_acc")


def dry_run(paper: T, **sizes) -> T:
    """The ``paper-dry`` profile of a profile table: ``paper`` with every ``*epochs`` field (in nested dataclasses
    and dicts too) set to 1, every ``*seeds`` tuple cut to its first seed, and ``sizes`` (the experiment's data-set
    sizes and repeat counts, named by the caller) replaced. Models, image sizes and every code path stay the
    paper's."""
    return replace(_one_epoch(paper), **sizes)


def describe(table: Mapping[str, object]) -> str:
    """A small text table of a profile table (the dry run left out), for notebooks to print."""
    rows = {name: asdict(v) if is_dataclass(v) else dict(v) for name, v in table.items() if name != "paper-dry"}
    keys = list(next(iter(rows.values())).keys())
    width = max(len(k) for k in keys)
    lines = [" " * width + "".join(f"{p:>14}" for p in rows)]
    for k in keys:
        lines.append(f"{k:<{width}}" + "".join(f"{str(rows[p][k]):>14}" for p in rows))
    return "\n".join(lines)
