import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The lab's offline mirror sits beside the repository; CI sets the variable itself.
if "UNLEARN_DATA_MIRROR" not in os.environ and (ROOT.parent / "shared" / "data").exists():
    os.environ["UNLEARN_DATA_MIRROR"] = str(ROOT.parent / "shared" / "data")

# `make unit` runs two xdist workers: each at one thread, since two at two threads each on two cores ran the suite
# slower than one worker (571 s against 446 s; at one thread each 263 s). Subprocesses (notebooks, clusters) inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

from unlearn import paths  # noqa: E402  (after the mirror is set)

paths.use_repository(ROOT)  # tests are a make target: the data cache is this repository's (model cache: below)

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(config, items):
    """The slow tests first (the order within each kind kept): xdist hands tests out in this order, so the longest
    start while the short ones can still fill the other worker, instead of one worker finishing a long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def own_model_cache(tmp_path_factory):
    """Tests never read or write the user's model cache (a stale or foreign entry cannot pass a test)."""
    path = tmp_path_factory.mktemp("model-cache")
    old = os.environ.get("UNLEARN_CACHE")
    os.environ["UNLEARN_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("UNLEARN_CACHE", None)
    else:
        os.environ["UNLEARN_CACHE"] = old


@pytest.fixture
def isolated_dirs(tmp_path, monkeypatch):
    """Empty data cache, empty mirror, empty model cache; downloads fail as if offline."""
    import torchvision.datasets.utils as tvu

    for var, sub in (("UNLEARN_DATA", "data"), ("UNLEARN_DATA_MIRROR", "mirror"), ("UNLEARN_CACHE", "cache")):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))

    def offline(*a, **k):
        raise OSError("offline (test)")

    monkeypatch.setattr(tvu, "download_url", offline)
    return tmp_path


@pytest.fixture(scope="module")
def lr_data():
    """A small real convex problem (scikit-learn's breast cancer data): standardised, L2-normalised rows,
    labels in {-1, +1}, as the certified-unlearning model needs."""
    import torch
    from sklearn.datasets import load_breast_cancer

    from unlearn.methods.influence import certified

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return certified.normalize_rows(torch.tensor(x)), certified.pm1(torch.tensor(y))


@pytest.fixture(scope="module")
def lr_fit(lr_data):
    """The exact optimum of the L2-regularised (lam = 1) logistic loss on ``lr_data``."""
    from unlearn.methods.influence import certified

    return certified.fit(*lr_data, 1.0, seed=0)
