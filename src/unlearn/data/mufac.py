"""MUFAC (Machine Unlearning for Facial Age Classifier; Choi & Na, "Towards Machine Unlearning
Benchmarks: Forgetting the Personal Identities in Facial Recognition Systems", 2023) from a local
copy in the benchmark's own layout. The data (Korean family photographs from AI Hub) cannot be
redistributed, so there is no mirror or download: point ``root`` (or ``$UNLEARN_MUFAC``) at the
unzipped ``custom_korean_family_dataset_resolution_128`` folder::

    root/
      custom_train_dataset.csv   train_images/   -> D_train  (families F0001-F0299, 10,025 images)
      custom_val_dataset.csv     val_images/     -> D_test   (F0801-F0850, 1,539; monitoring)
      custom_test_dataset.csv    test_images/    -> D_unseen (F0851-F0900, 1,504; final accuracy, MIA non-members)

Each CSV has (at least) the columns ``image_path`` (a file name inside the matching image folder)
and ``age_class`` (a letter ``a``-``h`` for the eight age groups 0-6, 7-12, 13-19, 20-30, 31-45,
46-55, 56-66, 67-80). The three parts are disjoint by household, so no person is in two of them.
The benchmark forgets the first 1,500 rows of the training CSV (``MUFAC_loader.py`` in the DLFD
release and the benchmark notebooks: ``image_age_list[:1500]``); :func:`unlearn.splits.mufac_split` returns that
split. The role renaming (val CSV -> "test", test CSV -> "unseen") follows those notebooks.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch

from .. import paths
from .arrays import ArrayDataset, DataBundle
from .images import AGE_GROUPS
from .sources import DatasetNotFoundError

AGE_CLASS_LETTERS = "abcdefgh"  # age_class letter -> label index (MUFAC's alpha2idx)
PARTS = {  # our role: (CSV, image folder)
    "train": ("custom_train_dataset.csv", "train_images"),
    "test": ("custom_val_dataset.csv", "val_images"),
    "unseen": ("custom_test_dataset.csv", "test_images"),
}
FORGET_COUNT = 1500  # the benchmark forgets the first 1,500 rows of the training CSV
_FAMILY = re.compile(r"^(F\d+)")


def mufac_root(root: str | os.PathLike | None = None) -> Path:
    """The local MUFAC folder: ``root``, else ``$UNLEARN_MUFAC``, else ``<data>/mufac``; checked."""
    path = Path(root or os.environ.get("UNLEARN_MUFAC") or paths.data_dir() / "mufac").expanduser()
    missing = [name for csv_name, folder in PARTS.values() for name in (csv_name, folder) if not (path / name).exists()]
    if missing:
        raise DatasetNotFoundError(
            f"MUFAC is not at {path} (missing {', '.join(missing)}). It cannot be redistributed: download "
            "custom_korean_family_dataset_resolution_128.zip from the benchmark's page "
            "(github.com/ndb796/MachineUnlearning), unzip it, and pass its folder as root= or set UNLEARN_MUFAC."
        )
    return path


def _rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{csv_path} has no rows")
    for col in ("image_path", "age_class"):
        if col not in rows[0]:
            raise ValueError(f"{csv_path} lacks the column {col!r} (has {sorted(rows[0])})")
    return rows


def _label(letter: str, where: str) -> int:
    letter = letter.strip().lower()
    if len(letter) != 1 or letter not in AGE_CLASS_LETTERS:
        raise ValueError(f"{where}: age_class {letter!r} is not one of {list(AGE_CLASS_LETTERS)}")
    return AGE_CLASS_LETTERS.index(letter)


def _family(row: dict) -> str:
    if row.get("family_id"):
        return str(row["family_id"])
    m = _FAMILY.match(Path(row["image_path"]).name)
    return m.group(1) if m else ""


def _decode(folder: Path, rows: list[dict], resolution: int) -> torch.Tensor:
    from .images import read_rgb

    out = torch.empty((len(rows), 3, resolution, resolution), dtype=torch.uint8)
    for i, r in enumerate(rows):
        f = folder / r["image_path"]
        if not f.exists():
            raise FileNotFoundError(f"MUFAC image {f} (row {i + 2} of its CSV) does not exist")
        out[i] = read_rgb(f, resolution)
    return out


def _load_part(root: Path, part: str, resolution: int) -> tuple[ArrayDataset, list[dict]]:
    csv_name, folder = PARTS[part]
    rows = _rows(root / csv_name)
    y = torch.tensor([_label(r["age_class"], f"{csv_name} row {i + 2}") for i, r in enumerate(rows)])
    # decoded once per (CSV contents, resolution) into the data cache
    digest = hashlib.sha256((root / csv_name).read_bytes()).hexdigest()[:16]
    cache = paths.data_dir() / "mufac" / f"{part}_{resolution}px_{digest}_pillow.npy"
    if cache.exists():
        x = torch.from_numpy(np.load(cache))
    else:
        x = _decode(root / folder, rows, resolution)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, x.numpy())
        os.replace(tmp, cache)
    return ArrayDataset(x, y), rows


def load_mufac(root: str | os.PathLike | None = None, resolution: int = 128) -> DataBundle:
    """MUFAC's three parts as uint8 ArrayDatasets at ``resolution`` (128 = the benchmark's).
    ``train`` is D_train, ``test`` is D_test (the val CSV: monitoring), ``extra["unseen"]`` is
    D_unseen (the test CSV); ``extra`` also holds each part's family ids and file names."""
    base = mufac_root(root)
    train, rows_tr = _load_part(base, "train", resolution)
    test, rows_te = _load_part(base, "test", resolution)
    unseen, rows_un = _load_part(base, "unseen", resolution)
    extra = {"unseen": unseen, "root": str(base)}
    for part, rows in (("train", rows_tr), ("test", rows_te), ("unseen", rows_un)):
        extra[f"family_{part}"] = np.array([_family(r) for r in rows])
        extra[f"files_{part}"] = np.array([r["image_path"] for r in rows])
    classes = [f"{lo}-{hi}" for lo, hi in AGE_GROUPS]
    return DataBundle("mufac", train, test, classes, extra)
