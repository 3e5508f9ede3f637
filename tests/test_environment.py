"""environment.yml (conda) and pyproject.toml (pip) pin the same packages at the same versions."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        m = re.match(r"\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert _pins(deps) == _pins((ROOT / "environment.yml").read_text().splitlines())
    assert len(_pins(deps)) == len(deps), "every dependency is pinned exactly"


def test_named_packages_are_present():
    yml = _pins((ROOT / "environment.yml").read_text().splitlines())
    for name in ["jupyterlab", "torch", "torchvision", "matplotlib", "seaborn", "papermill", "nbval", "pot", "scikit-learn", "scipy", "tqdm"]:
        assert name in yml, name
