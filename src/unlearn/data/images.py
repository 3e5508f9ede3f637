"""Image datasets as in-memory ArrayDatasets of (C, H, W) inputs in [0, 1]; no mean/std
normalisation, so pixel-space budgets (PGD eps = 4/255, Gaussian input noise) mean what they say."""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .. import paths
from .arrays import ArrayDataset, DataBundle
from .sources import DatasetNotFoundError, converted, extract, fetch, save_converted

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# MUFAC's eight age groups (Choi & Na, "Towards Machine Unlearning Benchmarks").
AGE_GROUPS = [(0, 6), (7, 12), (13, 19), (20, 30), (31, 45), (46, 55), (56, 66), (67, 80)]
# MD5 of decompressed files, for archives whose gzip bytes differ from upstream's (mirror rebuilds)
RAW_MD5 = {"train-images-idx3-ubyte.gz": ("6bbc9ace898e44ae57da46a324031adb",)}
SPLIT_SEED = 0  # fixed train/test split where a dataset has none: part of the data set, not the run


def read_rgb(path: Path, size: int | None = None) -> torch.Tensor:
    """One image file as a (3, H, W) uint8 tensor, decoded by Pillow; ``size`` resizes it to size x size.

    Decoding: torchvision's decoders are deprecated (one warning per image: 120,080 in a test run); Pillow's libjpeg
    gives the same pixels for the mirror's JPEGs (``tests/test_data.py`` checks it against a stored digest).
    Resizing is Pillow's antialiased bilinear filter, the one torchvision's ``resize(antialias=True)`` imitates, because
    Pillow computes it in fixed-point integers: the same pixels on every CPU. torchvision's uint8 kernel has an AVX2
    path and a generic one that round differently, so a data cache made under one instruction set differed from one
    made under another by 1 in some pixels, and every model trained on it differed (``tests/test_data.py``)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
        return torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous()


def age_group(age: int) -> int:
    """Index of the MUFAC age group holding ``age``; ValueError outside 0-80."""
    for k, (lo, hi) in enumerate(AGE_GROUPS):
        if lo <= age <= hi:
            return k
    raise ValueError(f"age {age} lies outside the MUFAC groups 0-80")


def _split(x: torch.Tensor, y: torch.Tensor, test_size: float) -> tuple[ArrayDataset, ArrayDataset]:
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y.numpy(), random_state=SPLIT_SEED)
    tr, te = torch.as_tensor(np.sort(tr)), torch.as_tensor(np.sort(te))
    return ArrayDataset(x[tr], y[tr]), ArrayDataset(x[te], y[te])


def load_digits() -> DataBundle:
    """scikit-learn's bundled 8x8 digits (1,797 images): 75/25 stratified split."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.tensor(d.target)
    train, test = _split(x, y, 0.25)
    return DataBundle("digits", train, test, [str(i) for i in range(10)])


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _md5_gunzip(path: Path) -> str:
    with gzip.open(path, "rb") as fh:
        return hashlib.md5(fh.read()).hexdigest()


def _torchvision_mnist(name: str, cls_name: str, folder: str) -> DataBundle:
    import torchvision

    cls = getattr(torchvision.datasets, cls_name)
    root = paths.data_dir() / name
    for fname, md5 in cls.resources:
        try:
            gz = fetch(f"{name}/{cls_name}/raw", f"{folder}/{fname}")  # SHA-256 checked against the mirror
        except DatasetNotFoundError:
            continue  # torchvision downloads (and MD5-checks) what the mirror lacks
        raw = gz.with_suffix("")
        if not raw.exists():
            # The mirror rebuilt one archive losslessly: its gzip bytes differ from upstream but the
            # decompressed bytes are identical, so torchvision's archive MD5 is checked only where it
            # applies and we decompress ourselves; torchvision then finds the raw files and skips its download.
            if _md5(gz) != md5 and _md5_gunzip(gz) not in RAW_MD5.get(fname, ()):
                raise OSError(f"{gz} matches neither torchvision's MD5 nor the known raw MD5")
            tmp = raw.with_suffix(".part")
            with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(raw)
    try:
        tr = cls(str(root), train=True, download=True)
        te = cls(str(root), train=False, download=True)
    except Exception as exc:
        raise DatasetNotFoundError(
            f"dataset {name!r} was found neither in the data cache ({root}, UNLEARN_DATA) nor in an offline "
            f"mirror (UNLEARN_DATA_MIRROR={paths.mirror_dir() or 'unset'}), and torchvision's download "
            f"from {cls.mirrors[0]} failed: {exc}"
        ) from exc
    mk = lambda ds: ArrayDataset(ds.data.unsqueeze(1).clone(), ds.targets.clone())  # (N, 1, 28, 28) uint8
    return DataBundle(name, mk(tr), mk(te), list(tr.classes))


def load_mnist() -> DataBundle:
    """MNIST through torchvision (official archives, MD5 checked)."""
    return _torchvision_mnist("mnist", "MNIST", "mnist")


def load_fashion_mnist() -> DataBundle:
    """Fashion-MNIST through torchvision (official archives, MD5 checked)."""
    return _torchvision_mnist("fashion_mnist", "FashionMNIST", "fashion-mnist")


def _decode_folder(root: Path, classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for k, c in enumerate(classes):
        for f in sorted((root / c).glob("*.jpg")):
            xs.append(read_rgb(f))
            ys.append(k)
    return torch.stack(xs), torch.tensor(ys)  # (N, 3, 32, 32) uint8


def load_cifar10() -> DataBundle:
    """CIFAR-10: torchvision's class when the official pickles are in the cache or downloadable;
    otherwise the mirror's JPEG re-encodes (class folders), decoded once into a uint8 cache."""
    import torchvision

    root = paths.data_dir() / "cifar10"
    npz = root / "cifar10_jpg_uint8.npz"
    if not converted(npz):
        try:
            archive = fetch("cifar10", "cifar10-jpg/cifar10-jpg.tar.gz")
        except DatasetNotFoundError:
            archive = None
        if archive is None:  # no mirror: the official pickles through torchvision
            try:
                tr = torchvision.datasets.CIFAR10(str(root), train=True, download=True)
                te = torchvision.datasets.CIFAR10(str(root), train=False, download=True)
            except Exception as exc:
                raise DatasetNotFoundError(
                    f"dataset 'cifar10' is in neither the cache ({root}) nor the mirror "
                    f"(UNLEARN_DATA_MIRROR={paths.mirror_dir() or 'unset'}), and torchvision's "
                    f"download from {torchvision.datasets.CIFAR10.url} failed: {exc}"
                ) from exc
            mk = lambda d: ArrayDataset(torch.tensor(d.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(d.targets))
            return DataBundle("cifar10", mk(tr), mk(te), list(tr.classes), {"source": "official"})
        base = extract(archive, "cifar10-jpg")
        xtr, ytr = _decode_folder(base / "train", CIFAR10_CLASSES)
        xte, yte = _decode_folder(base / "test", CIFAR10_CLASSES)
        save_converted(npz, xtr=xtr.numpy(), ytr=ytr.numpy(), xte=xte.numpy(), yte=yte.numpy())
    z = np.load(npz)
    train = ArrayDataset(torch.from_numpy(z["xtr"]), torch.from_numpy(z["ytr"]))
    test = ArrayDataset(torch.from_numpy(z["xte"]), torch.from_numpy(z["yte"]))
    return DataBundle("cifar10", train, test, list(CIFAR10_CLASSES), {"source": "mirror-jpeg"})


def load_olivetti() -> DataBundle:
    """Olivetti / AT&T faces: 40 identities x 10 images (64x64 grey); 7 train / 3 test each."""
    from scipy.io import loadmat

    mat = fetch("olivetti", "olivetti/olivettifaces.mat", url="https://cs.nyu.edu/~roweis/data/olivettifaces.mat")
    faces = loadmat(mat)["faces"]  # (4096, 400): image i is column i, stored transposed
    x = torch.tensor(faces.T.reshape(400, 64, 64).transpose(0, 2, 1).copy(), dtype=torch.float32)
    x = (x / 255.0 if x.max() > 1 else x).unsqueeze(1)  # (400, 1, 64, 64)
    y = torch.arange(400) // 10
    train, test = _split(x, y, 0.3)
    return DataBundle("olivetti", train, test, [f"person {i}" for i in range(40)])


def load_utkface(resolution: int = 64, test_size: float = 0.2) -> DataBundle:
    """UTKFace (the mirror's 9,780-image aligned-cropped subset) labelled with the 8 MUFAC age
    groups; faces older than 80 fall outside the groups and are dropped. Images are resized to
    ``resolution`` once and cached. No identity labels exist, so splits cannot be identity-disjoint."""
    root = paths.data_dir() / "utkface"
    npz = root / f"utkface_{resolution}px_pillow.npz"  # "_pillow": caches resized by torchvision are not reused
    if not converted(npz):
        labels = fetch("utkface", "utkface/utkface_subset_labels.csv")
        archive = fetch("utkface", "utkface/utkface_subset_9780.tar.gz")
        images = extract(archive, "utkface_subset/images")
        rows = [r for r in csv.DictReader(open(labels)) if int(r["age"]) <= AGE_GROUPS[-1][1]]
        xs = [read_rgb(images / r["file"], resolution) for r in rows]
        ages = np.array([int(r["age"]) for r in rows])
        gender = np.array([int(r["gender"]) for r in rows])
        save_converted(npz, x=torch.stack(xs).numpy(), age=ages, gender=gender, names=np.array([r["file"] for r in rows]))
    z = np.load(npz)
    ages = torch.from_numpy(z["age"])
    y = torch.tensor([age_group(int(a)) for a in ages])
    x = torch.from_numpy(z["x"])  # (N, 3, R, R) uint8
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y.numpy(), random_state=SPLIT_SEED)
    tr, te = np.sort(tr), np.sort(te)
    classes = [f"{lo}-{hi}" for lo, hi in AGE_GROUPS]
    extra = {"age_train": ages[tr], "age_test": ages[te], "files_train": z["names"][tr], "files_test": z["names"][te]}
    return DataBundle("utkface", ArrayDataset(x[tr], y[tr]), ArrayDataset(x[te], y[te]), classes, extra)
