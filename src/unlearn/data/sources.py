"""Where data files come from: the project's cache, the offline mirror, or upstream.

Order: ``data_dir()/<dataset>/<file>`` (the cache) -> ``$UNLEARN_DATA_MIRROR/<folder>/<file>``
(copied into the cache after its SHA-256 is checked against the mirror's SHA256SUMS; a mirror file
without a SHA256SUMS line is refused; the mirror is never written) -> an upstream URL
(torchvision's ``download_url``). A file found nowhere raises :class:`DatasetNotFoundError`, which
names the dataset, the variables and the source.

Integrity: every file this module puts in the cache gets a ``<file>.sha256`` record, checked on
every later use; a damaged file (truncated, overwritten) is fetched again from the mirror or
upstream, or refused with an error naming it. Archives are extracted into a temporary folder and
renamed into place, with a stamp written last, so an interrupted extraction is never mistaken for a
complete one. :func:`dataset_lock` serialises first loads across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tarfile
import warnings
from pathlib import Path
from typing import Iterator

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


def _record(path: Path) -> Path:
    """Write ``<path>.sha256`` for a file just placed in the cache."""
    side = path.with_name(path.name + ".sha256")
    side.write_text(sha256(path) + "\n")
    return path


def intact(path: Path) -> bool:
    """Whether a cached file still has the SHA-256 recorded when it was placed (False when damaged or
    when no record exists)."""
    side = path.with_name(path.name + ".sha256")
    return path.exists() and side.exists() and side.read_text().strip() == sha256(path)


def _discard(path: Path, why: str, then: str = "fetching it again") -> None:
    warnings.warn(f"{path} {why}; {then}")
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)


def fetch(dataset: str, mirror_relpath: str, url: str | None = None, md5: str | None = None) -> Path:
    """Return a local path to one file of ``dataset``, copying or downloading it into the cache.

    ``mirror_relpath`` is the file's path inside the mirror (``mnist/train-images-idx3-ubyte.gz``);
    in the cache it lives at ``data_dir()/<dataset>/<basename>``, with its SHA-256 record beside it.
    """
    target = paths.data_dir() / dataset / Path(mirror_relpath).name
    mirror = paths.mirror_dir()
    in_mirror = mirror is not None and (mirror / mirror_relpath).exists()
    if target.exists():
        if intact(target):
            return target
        if not target.with_name(target.name + ".sha256").exists():  # placed by hand or by an older version
            expected = _mirror_checksum(mirror, mirror_relpath) if in_mirror else None
            if expected is None or sha256(target) == expected:
                return _record(target)  # nothing to check it against, or it matches the mirror
            _discard(target, "differs from the mirror's SHA-256")
        else:
            _discard(target, "no longer matches the SHA-256 recorded when it was cached (truncated or overwritten)")
        if not in_mirror and url is None:
            raise OSError(f"{target} is damaged and there is no mirror or download to fetch it again from; "
                          f"restore the file (see the README's Data section)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if in_mirror:
        source = mirror / mirror_relpath
        expected = _mirror_checksum(mirror, mirror_relpath)
        if expected is None:
            raise OSError(f"{source} has no line in {mirror / 'SHA256SUMS'}, so it cannot be checked; add one "
                          f"(sha256sum {mirror_relpath} >> SHA256SUMS, in the mirror) or remove the file")
        tmp = target.with_suffix(target.suffix + f".{os.getpid()}.part")
        shutil.copyfile(source, tmp)
        if sha256(tmp) != expected:
            tmp.unlink()
            raise OSError(f"{source} does not match its SHA-256 in {mirror / 'SHA256SUMS'}")
        tmp.replace(target)  # atomic: a half-copied file never looks complete
        return _record(target)
    if url is not None:
        from torchvision.datasets.utils import download_url

        try:
            download_url(url, str(target.parent), filename=target.name, md5=md5)
        except Exception as exc:  # no network, moved file, checksum mismatch
            raise DatasetNotFoundError(_help(dataset, url) + f" (download failed: {exc})") from exc
        return _record(target)
    raise DatasetNotFoundError(_help(dataset, url))


def _manifest(out: Path, entries: list[str]) -> dict[str, str]:
    """``relative path -> SHA-256`` of every file below the top-level ``entries`` of ``out``."""
    files = sorted(f for e in entries for f in ([out / e] if (out / e).is_file() else (out / e).rglob("*")) if f.is_file())
    return {str(f.relative_to(out)): sha256(f) for f in files}


def extract(archive: Path, marker: str) -> Path:
    """Extract a tar archive beside itself once; ``marker`` is a path that exists afterwards. The
    archive is unpacked into a temporary folder, its top-level entries renamed into place, and a stamp
    written last: without the stamp (an interrupted run) the entries are removed and unpacked again.

    The stamp is a manifest of what the extraction wrote (every file's path and SHA-256). Each later call checks
    the extracted files against it, so a folder damaged after extraction (files removed, truncated or
    overwritten) is unpacked again with a warning, never read with rows missing."""
    out = archive.parent
    stamp = out / f".{archive.name}.extracted"
    if stamp.exists() and (out / marker).exists():
        try:
            recorded = json.loads(stamp.read_text())
            found = _manifest(out, recorded["entries"])
            if found == recorded["files"]:
                return out / marker
            lost = len(set(recorded["files"]) - set(found))
            changed = sum(found.get(k) not in (None, v) for k, v in recorded["files"].items())
            why = f"{lost} of {len(recorded['files'])} files missing, {changed} changed, {len(set(found) - set(recorded['files']))} extra"
        except (ValueError, KeyError, TypeError):
            why = "its stamp predates file manifests or is unreadable"
        warnings.warn(f"the extracted {archive.name} in {out} does not match what its extraction wrote ({why}); "
                      "extracting it again")
    tmp = out / f".extract-{archive.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        entries = sorted(e.name for e in tmp.iterdir())
        for name in entries:
            dest = out / name
            if dest.is_dir():
                shutil.rmtree(dest)  # left by an interrupted extraction, or damaged
            elif dest.exists():
                dest.unlink()
            os.replace(tmp / name, dest)
        stamp.write_text(json.dumps({"archive_sha256": sha256(archive), "entries": entries,
                                     "files": _manifest(out, entries)}) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / marker


def converted(path: Path) -> bool:
    """Whether a converted cache file (an ``.npz`` decoded from the raw files) exists intact; a damaged
    one is removed so that the caller rebuilds it."""
    if path.exists() and not intact(path):
        _discard(path, "is damaged or was written without a record", "rebuilding it from the raw files")
    return path.exists()


def save_converted(path: Path, **arrays) -> Path:
    """Write arrays to ``path`` (an ``.npz``) atomically, with its SHA-256 record."""
    import numpy as np

    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return _record(path)


@contextlib.contextmanager
def dataset_lock(name: str) -> Iterator[None]:
    """An exclusive lock on ``data_dir()/.locks/<name>.lock`` for the duration of a load, so two
    processes loading a data set for the first time do not race on its files."""
    locks = paths.data_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
