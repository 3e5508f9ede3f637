"""Where the package reads and writes files. Importing it, or unlearning a model with it, writes nothing.

A location is, in this order: its environment variable; what :func:`use_repository` (the notebooks, make targets and
tools of this repository) or :func:`configure` set; otherwise there is none, and

- models are trained every time and never stored (no checkpoint cache),
- result tables, figures and claim records cannot be saved (one clear error names the fix),
- named data sets (``load_dataset``), which must be converted somewhere, go to the user's cache
  (``$XDG_CACHE_HOME/unlearn/data``, by default ``~/.cache/unlearn/data``), as torchvision's and Hugging Face's do.

Environment variables:
- ``UNLEARN_DATA``: the data cache, where loaders extract and convert files.
- ``UNLEARN_DATA_MIRROR``: a read-only offline mirror of upstream files (e.g. ``../shared/data``).
- ``UNLEARN_CACHE``: the trained-model checkpoint cache.
- ``UNLEARN_RESULTS``, ``UNLEARN_FIGURES``, ``UNLEARN_SMOKE_FIGURES``: result tables (``<results>/<profile>/``),
  figures of the cpu and paper profiles, figures of the smoke profile.
"""

from __future__ import annotations

import os
from pathlib import Path

# src/unlearn/paths.py -> parents[2]: the repository root of a source checkout (meaningless for a wheel install,
# where it is site-packages' parent; use_repository() refuses it there)
_SOURCE_ROOT = Path(__file__).resolve().parents[2]

_LOCATIONS = ("data", "models", "results", "figures", "smoke_figures")
_ENV = {"data": "UNLEARN_DATA", "models": "UNLEARN_CACHE", "results": "UNLEARN_RESULTS", "figures": "UNLEARN_FIGURES",
        "smoke_figures": "UNLEARN_SMOKE_FIGURES"}
_configured: dict[str, Path | None] = dict.fromkeys(_LOCATIONS)
_repository: Path | None = None


class NoLocation(RuntimeError):
    """A file was to be written where no location was given."""


def _is_checkout(root: Path) -> bool:
    project = root / "pyproject.toml"
    return project.exists() and 'name = "unlearn"' in project.read_text() and (root / "notebooks").is_dir()


def use_repository(root: str | Path | None = None) -> Path:
    """Use this repository's folders (``root``: the source checkout, found from the package when omitted):
    ``data/``, ``.cache/models/``, ``results/``, ``figures/`` and ``build/smoke/figures/``. The notebooks, make
    targets and tools call it first; environment variables still take precedence. Returns the root."""
    global _repository
    root = Path(root).resolve() if root is not None else _SOURCE_ROOT
    if not _is_checkout(root):
        raise NoLocation(f"{root} is not a checkout of this repository (no pyproject.toml naming 'unlearn' beside "
                         "notebooks/): pass use_repository(root=...) or call configure(...) with your own folders")
    _repository = root
    configure(data=root / "data", models=root / ".cache" / "models", results=root / "results",
              figures=root / "figures", smoke_figures=root / "build" / "smoke" / "figures")
    return root


def configure(**locations: str | Path | None) -> None:
    """Set locations by name (``data``, ``models``, ``results``, ``figures``, ``smoke_figures``); None unsets one."""
    unknown = set(locations) - set(_LOCATIONS)
    if unknown:
        raise ValueError(f"unknown locations {sorted(unknown)}; known: {list(_LOCATIONS)}")
    for name, value in locations.items():
        _configured[name] = Path(value).expanduser() if value is not None else None


def locations() -> dict[str, Path | None]:
    """Every location now in force (environment or configured), by name: what :func:`configure` takes, for a worker
    process (:mod:`unlearn.dispatch`) to read and write where this one does."""
    return {name: _location(name) for name in _LOCATIONS}


def _location(name: str) -> Path | None:
    value = os.environ.get(_ENV[name])
    return Path(value).expanduser() if value else _configured[name]


def _required(name: str, what: str) -> Path:
    path = _location(name)
    if path is None:
        raise NoLocation(f"nowhere to write {what}: set {_ENV[name]}, call unlearn.paths.configure({name}=...), or, in "
                         "this repository, unlearn.paths.use_repository()")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The data cache, where loaders extract and convert files (created: a loader is about to write there)."""
    path = _location("data")
    if path is None:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "unlearn" / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dir() -> Path | None:
    """The offline mirror named by ``UNLEARN_DATA_MIRROR``, or None. Only ever read."""
    value = os.environ.get("UNLEARN_DATA_MIRROR")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        # relative values are read against the repository root, as the README writes them, when there is one
        path = path.resolve() if path.exists() or _repository is None else _repository / path
    return path


def model_cache_dir() -> Path | None:
    """Where original and gold checkpoints are stored, keyed by a hash of their recipe; None: no cache (train every
    time, store nothing)."""
    return _location("models")


def figures_dir(profile: str = "cpu") -> Path:
    """``figures/`` for the cpu and paper profiles; smoke runs and the paper dry run (CI) write beside their notebooks,
    never into ``figures/``."""
    if profile in ("smoke", "paper-dry"):
        return _required("smoke_figures", f"the {profile} profile's figures")
    return _required("figures", f"the {profile} profile's figures")


def results_dir(profile: str = "cpu") -> Path:
    """``<results>/<profile>/``: result tables (CSV/JSON) written by notebooks and benchmarks."""
    path = _required("results", f"the {profile} profile's results") / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def repository() -> Path:
    """The checkout :func:`use_repository` chose (for tools that read its files)."""
    if _repository is None:
        raise NoLocation("no repository in use: call unlearn.paths.use_repository() first")
    return _repository
