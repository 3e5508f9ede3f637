"""The package's dependencies, stated three ways that must agree: compatible ranges in pyproject.toml (library users,
any supported Python), the exact versions the stored numbers were made with in constraints.txt (make setup, CI),
and the same exact versions in environment.yml (conda)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        m = re.match(r"\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(d) for d in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]


def test_constraints_pin_every_dependency_inside_its_range():
    pins = _pins((ROOT / "constraints.txt").read_text().splitlines())
    reqs = _requirements()
    assert {r.name.lower() for r in reqs} == set(pins), "constraints.txt pins exactly the declared dependencies"
    for r in reqs:
        assert r.specifier, f"{r.name}: give a range in pyproject.toml (the exact version goes to constraints.txt)"
        assert r.specifier.contains(pins[r.name.lower()]), f"{r.name}=={pins[r.name.lower()]} is outside {r.specifier}"


def test_environment_yml_pins_what_constraints_pin():
    assert _pins((ROOT / "environment.yml").read_text().splitlines()) == _pins((ROOT / "constraints.txt").read_text().splitlines())


def test_python_beyond_3_11_is_allowed():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11", requires


def test_named_packages_are_present():
    yml = _pins((ROOT / "environment.yml").read_text().splitlines())
    for name in ["jupyterlab", "torch", "torchvision", "matplotlib", "seaborn", "papermill", "nbval", "pot", "scikit-learn", "scipy", "tqdm"]:
        assert name in yml, name
