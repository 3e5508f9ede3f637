"""Where data files come from: the project's cache, the offline mirror, or upstream.

Order: ``data_dir()/<dataset>/<file>`` (the cache) -> ``$UNLEARN_DATA_MIRROR/<folder>/<file>``
(copied into the cache after its SHA-256 is checked against the mirror's SHA256SUMS; the mirror
is never written) -> an upstream URL (torchvision's ``download_url``). A file found nowhere
raises :class:`DatasetNotFoundError`, which names the dataset, the variables and the source.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

from .. import paths


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in neither the cache nor the mirror, and could not be downloaded."""


def _help(dataset: str, upstream: str | None) -> str:
    return (
        f"dataset {dataset!r} was found neither in the data cache ({paths.data_dir()}, set by "
        f"UNLEARN_DATA) nor in an offline mirror (UNLEARN_DATA_MIRROR="
        f"{paths.mirror_dir() or 'unset'}); upstream source: {upstream or 'none known'}"
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _mirror_checksum(mirror: Path, relpath: str) -> str | None:
    sums = mirror / "SHA256SUMS"
    if not sums.exists():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*").lstrip("./") == relpath:
            return parts[0]
    return None


def fetch(dataset: str, mirror_relpath: str, url: str | None = None, md5: str | None = None) -> Path:
    """Return a local path to one file of ``dataset``, copying or downloading it into the cache.

    ``mirror_relpath`` is the file's path inside the mirror (``mnist/train-images-idx3-ubyte.gz``);
    in the cache it lives at ``data_dir()/<dataset>/<basename>``.
    """
    target = paths.data_dir() / dataset / Path(mirror_relpath).name
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    mirror = paths.mirror_dir()
    if mirror is not None and (mirror / mirror_relpath).exists():
        source = mirror / mirror_relpath
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(source, tmp)
        expected = _mirror_checksum(mirror, mirror_relpath)
        if expected is not None and sha256(tmp) != expected:
            tmp.unlink()
            raise OSError(f"{source} does not match its SHA-256 in {mirror / 'SHA256SUMS'}")
        tmp.replace(target)  # atomic: a half-copied file never looks complete
        return target
    if url is not None:
        from torchvision.datasets.utils import download_url

        try:
            download_url(url, str(target.parent), filename=target.name, md5=md5)
        except Exception as exc:  # no network, moved file, checksum mismatch
            raise DatasetNotFoundError(_help(dataset, url) + f" (download failed: {exc})") from exc
        return target
    raise DatasetNotFoundError(_help(dataset, url))


def extract(archive: Path, marker: str) -> Path:
    """Extract a tar archive beside itself once; ``marker`` is a path that exists afterwards."""
    out = archive.parent
    if not (out / marker).exists():
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")
    return out / marker
