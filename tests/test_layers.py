"""The package's imports run one way: from the experiments down to the data, never back up (read from the source
with ``ast``, so an import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "unlearn"

# lowest first; a module may import only from its own layer's modules or from lower layers
LAYERS = [
    {"numerics", "paths", "seed", "progress", "stats", "dispatch"},
    {"data"},
    {"splits", "models"},
    {"metrics"},
    {"train"},
    {"cache"},
    {"methods"},
    {"evaluate"},
    {"tasks"},
    {"claims", "plotting", "profiles"},
    {"experiments"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level unit of the package) for every import of the package in ``path``."""
    here = path.relative_to(PACKAGE).parent.parts
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative: climb level - 1 packages from this file's package
            base = list(here[: len(here) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            units = [target[0]] if target else [a.name for a in node.names]
        elif node.module and node.module.split(".")[0] == "unlearn":
            parts = node.module.split(".")[1:]
            units = [parts[0]] if parts else [a.name for a in node.names]
        else:
            continue
        out += [(node.lineno, u) for u in units]
    return out


def test_every_unit_of_the_package_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.name != "__init__.py"}
    assert units == set(LEVEL), f"give these a layer: {sorted(units - set(LEVEL))}; gone: {sorted(set(LEVEL) - units)}"


def test_no_import_runs_back_up():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue
        me = rel.parts[0].removesuffix(".py")
        for line, unit in _imports(path):
            if unit != me and unit in LEVEL and LEVEL[unit] > LEVEL[me]:
                upward.append(f"{rel}:{line} imports {unit} (layer {LEVEL[unit]} above {me}'s {LEVEL[me]})")
    assert not upward, "\n".join(upward)
