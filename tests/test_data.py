import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn.data import DatasetNotFoundError, age_group, load_dataset
from unlearn.data.sources import fetch

HAS_MIRROR = bool(os.environ.get("UNLEARN_DATA_MIRROR")) and Path(os.environ["UNLEARN_DATA_MIRROR"]).exists()
needs_mirror = pytest.mark.skipif(not HAS_MIRROR, reason="offline mirror (UNLEARN_DATA_MIRROR) not present")


def test_unknown_name_raises_one_clear_error():
    with pytest.raises(DatasetNotFoundError, match="unknown dataset 'nope'.*UNLEARN_DATA_MIRROR"):
        load_dataset("nope")


@pytest.mark.parametrize("name", ["alice", "utkface", "mnist", "enron"])
def test_missing_everywhere_names_dataset_variables_and_source(isolated_dirs, name):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name)
    text = str(err.value)
    assert name in text and "UNLEARN_DATA" in text and "UNLEARN_DATA_MIRROR" in text
    assert "upstream" in text or "download" in text


def test_digits_needs_nothing(isolated_dirs):
    b = load_dataset("digits")
    assert (len(b.train), len(b.test), b.num_classes) == (1347, 450, 10)
    x, y = b.train[0]
    assert x.shape == (1, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_mirror_copy_is_checksummed_and_mirror_untouched(isolated_dirs):
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir()
    (mirror / "toy" / "a.txt").write_text("hello")
    (mirror / "SHA256SUMS").write_text("0" * 64 + "  toy/a.txt\n")
    with pytest.raises(OSError, match="SHA-256"):
        fetch("toy", "toy/a.txt")
    assert not (isolated_dirs / "data" / "toy" / "a.txt").exists()  # nothing half-copied
    import hashlib

    (mirror / "SHA256SUMS").write_text(hashlib.sha256(b"hello").hexdigest() + "  toy/a.txt\n")
    assert fetch("toy", "toy/a.txt").read_text() == "hello"
    assert sorted(p.name for p in mirror.rglob("*")) == ["SHA256SUMS", "a.txt", "toy"]


def test_age_groups_are_mufac():
    assert [age_group(a) for a in (0, 6, 7, 12, 13, 19, 20, 30, 31, 45, 46, 55, 56, 66, 67, 80)] == [
        0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    with pytest.raises(ValueError):
        age_group(81)


@needs_mirror
@pytest.mark.parametrize(
    "name, n_train, n_test, n_classes",
    [("mnist", 60000, 10000, 10), ("fashion_mnist", 60000, 10000, 10), ("olivetti", 280, 120, 40),
     ("adult", 30162, 15060, 2), ("diabetes", 576, 192, 2)],
)
def test_real_datasets_from_mirror(name, n_train, n_test, n_classes):
    b = load_dataset(name)
    assert (len(b.train), len(b.test), b.num_classes) == (n_train, n_test, n_classes)


@needs_mirror
def test_text_and_bag_of_words():
    alice = load_dataset("alice")
    x, y = alice.train[0]
    assert torch.equal(x[1:], y[:-1]) and "Alice" in alice.extra["text"]
    enron = load_dataset("enron", max_features=2000)
    assert enron.train.x.shape[1] == 2000 and set(enron.train.y.tolist()) == {0, 1}
    assert enron.extra["feature_names"][enron.extra["vocabulary"]["enron"]] == "enron"
    adult = load_dataset("adult")
    assert "marital-status=Never-married" in adult.extra["feature_names"]


def _mirror_file(mirror, rel: str, data: bytes) -> None:
    import hashlib

    (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
    (mirror / rel).write_bytes(data)
    with open(mirror / "SHA256SUMS", "a") as fh:
        fh.write(f"{hashlib.sha256(data).hexdigest()}  {rel}\n")


def test_damaged_cache_files_are_fetched_again_or_refused_by_name(isolated_dirs):
    mirror = isolated_dirs / "mirror"
    _mirror_file(mirror, "toy/corpus.txt", b"alice " * 1000)
    path = fetch("toy", "toy/corpus.txt")
    path.write_bytes(path.read_bytes()[:100])  # a truncated cache file: half a corpus
    with pytest.warns(UserWarning, match="no longer matches the SHA-256"):
        again = fetch("toy", "toy/corpus.txt")
    assert again.read_bytes() == b"alice " * 1000
    # without a mirror to heal it, the damaged file is refused with its name
    again.write_bytes(b"garbage")
    (mirror / "toy" / "corpus.txt").unlink()
    with pytest.warns(UserWarning), pytest.raises(OSError, match=r"corpus.txt is damaged .* restore the file"):
        fetch("toy", "toy/corpus.txt")
    # a mirror file with no SHA256SUMS line is refused by name
    (mirror / "toy" / "unlisted.txt").write_text("?")
    with pytest.raises(OSError, match="unlisted.txt has no line in .*SHA256SUMS"):
        fetch("toy", "toy/unlisted.txt")


def test_interrupted_extraction_and_damaged_conversions_are_redone(isolated_dirs):
    import io
    import tarfile

    from unlearn.data.sources import converted, extract, save_converted

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(5):
            info = tarfile.TarInfo(f"pack/item{i}.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    _mirror_file(isolated_dirs / "mirror", "toy/pack.tar.gz", buf.getvalue())
    archive = fetch("toy", "toy/pack.tar.gz")
    # an earlier run was interrupted after two files: the marker folder exists but no stamp does
    (archive.parent / "pack").mkdir()
    (archive.parent / "pack" / "item0.txt").write_text("x")
    assert len(list(extract(archive, "pack").iterdir())) == 5
    assert not any(p.name.startswith(".extract-") for p in archive.parent.iterdir())  # no temporary left
    # damage after the stamp was written: files removed or changed in the extracted folder are noticed
    # (the stamp is a manifest of every file's SHA-256) and the archive is unpacked again
    for f in sorted((archive.parent / "pack").iterdir())[:2]:
        f.unlink()
    with pytest.warns(UserWarning, match=r"does not match what its extraction wrote \(2 of 5 files missing"):
        assert len(list(extract(archive, "pack").iterdir())) == 5
    (archive.parent / "pack" / "item4.txt").write_text("overwritten")
    with pytest.warns(UserWarning, match="0 of 5 files missing, 1 changed"):
        extract(archive, "pack")
    assert (archive.parent / "pack" / "item4.txt").read_text() == "x"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # intact: no warning, nothing unpacked
        extract(archive, "pack")
    npz = archive.parent / "pack.npz"
    save_converted(npz, a=np.arange(5))
    assert converted(npz)
    npz.write_bytes(npz.read_bytes()[:50])
    with pytest.warns(UserWarning, match="damaged"):
        assert not converted(npz)  # removed, so the loader rebuilds it from the raw files
    assert not npz.exists()


def test_images_decode_without_deprecation_warnings(tmp_path):
    """JPEGs are decoded by Pillow (torchvision's decoders are deprecated and warned once per image: 120,080
    warnings in one test run); the pixels are Pillow's, channels first."""
    from PIL import Image

    from unlearn.data.images import read_rgb

    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = read_rgb(tmp_path / "a.jpg")
    assert x.dtype == torch.uint8 and x.shape == (3, 12, 10)
    assert torch.equal(x, torch.from_numpy(np.array(Image.open(tmp_path / "a.jpg").convert("RGB"))).permute(2, 0, 1))



def test_bag_of_words_breaks_ties_at_the_cut_alphabetically_on_any_cpu():
    # 400 words in 2-5 of 40 training documents; the cut falls inside the words in 4. CountVectorizer's own
    # max_features ranks with numpy's unstable argsort, whose order of tied counts depends on the CPU's sort
    # kernels (it picks other words on an AVX-512 machine): the rule must not (the first ones alphabetically win).
    from unlearn.data.tabular import bag_of_words

    rng = np.random.default_rng(0)
    words = [f"w{chr(97 + i // 26 % 26)}{chr(97 + i % 26)}" for i in range(400)]
    df = dict(zip(words, rng.integers(2, 6, len(words)).tolist()))
    docs = [["common", "often", "usual"] for _ in range(40)]
    for w in rng.permutation(words):
        for d in rng.choice(40, df[w], replace=False):
            docs[d].append(w)
    docs[0] += ["usual"] * 3  # binary: repeats in one document do not count
    fours = sorted(w for w in words if df[w] == 4)
    k = 3 + sum(v == 5 for v in df.values()) + len(fours) // 2
    xtr, xte, names = bag_of_words([" ".join(d) for d in docs], ["common wab zzz", "often"], max_features=k)
    expected = sorted(["common", "often", "usual", *(w for w in words if df[w] == 5), *fours[: len(fours) // 2]])
    assert list(names) == expected  # columns alphabetical, as CountVectorizer orders them
    assert xtr.shape == (40, k) and set(np.unique(xtr)) == {0, 1}
    assert (xtr.sum(0) == [40 if w in ("common", "often", "usual") else df[w] for w in names]).all()
    assert xte.sum() == 2 + ("wab" in names) and xte[1, names.tolist().index("often")] == 1
