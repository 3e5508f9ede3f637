import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The lab's offline mirror sits beside the repository; CI sets the variable itself.
if "UNLEARN_DATA_MIRROR" not in os.environ and (ROOT.parent / "shared" / "data").exists():
    os.environ["UNLEARN_DATA_MIRROR"] = str(ROOT.parent / "shared" / "data")


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
