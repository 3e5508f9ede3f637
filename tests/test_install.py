"""The package as a user installs it (built into a wheel and installed into a fresh folder, not this checkout) writes
nothing it was not told to: importing it and running every registered method, including the two that train models
the notebooks cache (retrain's gold model, TMU's twin and curriculum models), leaves every folder as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = textwrap.dedent("""
    import sys

    import torch
    from torch.utils.data import Subset

    import unlearn
    from unlearn import methods, models
    from unlearn.data import ArrayDataset

    assert unlearn.__file__.startswith(sys.argv[1]), f"imported {unlearn.__file__}, not the installed wheel"
    torch.manual_seed(0)
    y = torch.arange(160) % 3
    data = ArrayDataset(torch.rand(160, 1, 8, 8), y)
    zeros = torch.nonzero(y == 0).ravel().tolist()  # D_f: part of class 0 (TMU forgets part of one class)
    forget, extra = Subset(data, zeros[:10]), Subset(data, zeros[10:20])  # extra: TMU's D_h, DLFD's monitor
    retain = Subset(data, [i for i in range(160) if i not in zeros[:20]])
    model = models.build("small_cnn", in_channels=1, num_classes=3, width=4, hidden=8)
    tiny = {  # seconds, not minutes: the point is what each method writes, not how well it forgets
        "retrain": {"epochs": 1},
        "sisa": {"epochs": 1, "shards": 2},
        "tmu": {"twin_epochs": 1, "curriculum_epochs": 1, "predictor_epochs": 2, "epochs": 1},
        "occlusion": {"features": [0, 1, 2]},
    }
    data_for = {"tmu": {"holdout": extra}, "dlfd": {"monitor": extra}}
    for name in methods.available():
        _, record = methods.get(name)(model, forget, retain, config=tiny.get(name), seed=0, **data_for.get(name, {}))
        assert record.method == name
    print("ran", len(methods.available()), "methods")
""")


def _files(*roots: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for r in roots for p in r.rglob("*")}


@pytest.mark.alone  # compares the checkout before and after: another test writing the data cache meanwhile would fail it
def test_a_wheel_install_imports_and_unlearns_without_writing_a_file(tmp_path):
    src = tmp_path / "source"  # built from a copy: building in the checkout would write build/ and egg-info there
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "src"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(src)], check=True, env=os.environ | {"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert not (site / "unlearn" / "__editable__").exists() and (site / "unlearn" / "paths.py").exists()
    shutil.rmtree(src)
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNLEARN_", "XDG_"))}
    env |= {"PYTHONPATH": str(site), "HOME": str(home), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    (tmp_path / "mpl").mkdir()
    before, repo_before = _files(tmp_path), _files(*(ROOT / d for d in ("results", "figures", ".cache", "data") if (ROOT / d).exists()))
    run = subprocess.run([sys.executable, "-c", USER_SCRIPT, str(site)], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ran" in run.stdout
    new = {f for f in set(_files(tmp_path)) - set(before) if "__pycache__" not in f and "/mpl/" not in f}
    assert not new, f"files written unasked: {sorted(new)[:10]}"
    repo_after = _files(*(ROOT / d for d in ("results", "figures", ".cache", "data") if (ROOT / d).exists()))
    assert repo_after == repo_before, "the installed package wrote into this checkout"
