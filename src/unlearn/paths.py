"""Filesystem locations, anchored to the repository root (never the current directory).

Environment variables:
- ``UNLEARN_DATA``: the project's data cache (default ``<repo>/data``).
- ``UNLEARN_DATA_MIRROR``: a read-only offline mirror of upstream files (e.g. ``../shared/data``).
- ``UNLEARN_CACHE``: trained-model checkpoint cache (default ``<repo>/.cache/models``).
"""

from __future__ import annotations

import os
from pathlib import Path

# src/unlearn/paths.py -> parents[2] is the repository root for an editable install.
REPO_ROOT = Path(__file__).resolve().parents[2]


def _dir(env: str, default: Path) -> Path:
    path = Path(os.environ.get(env, default)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The project's own data cache, where loaders extract and convert files."""
    return _dir("UNLEARN_DATA", REPO_ROOT / "data")


def mirror_dir() -> Path | None:
    """The offline mirror named by ``UNLEARN_DATA_MIRROR``, or None. Only ever read."""
    value = os.environ.get("UNLEARN_DATA_MIRROR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        # relative values are read against the repository root, as the README writes them
        path = (REPO_ROOT / path) if not path.exists() else path.resolve()
    return path


def model_cache_dir() -> Path:
    """Where original and gold checkpoints are stored, keyed by a hash of their recipe."""
    return _dir("UNLEARN_CACHE", REPO_ROOT / ".cache" / "models")


def figures_dir(profile: str = "cpu") -> Path:
    """``figures/`` for the cpu and paper profiles; smoke runs (CI) write beside their notebooks."""
    if profile == "smoke":
        return _dir("UNLEARN_SMOKE_FIGURES", REPO_ROOT / "build" / "smoke" / "figures")
    return _dir("UNLEARN_FIGURES", REPO_ROOT / "figures")


def results_dir(profile: str = "cpu") -> Path:
    """``results/<profile>/``: result tables (CSV/JSON) written by notebooks and benchmarks."""
    root = Path(os.environ.get("UNLEARN_RESULTS", REPO_ROOT / "results"))
    path = root / profile
    path.mkdir(parents=True, exist_ok=True)
    return path
