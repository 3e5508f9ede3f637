import numpy as np
import pytest
import torch

from unlearn import splits
from unlearn.data import ArrayDataset


def test_random_instances_seeded_and_disjoint(tmp_path):
    a, b = splits.random_instances(100, 0.1, seed=3), splits.random_instances(100, 0.1, seed=3)
    assert np.array_equal(a.forget, b.forget) and len(a.forget) == 10
    assert not set(a.forget) & set(a.retain) and len(a.forget) + len(a.retain) == 100
    assert not np.array_equal(a.forget, splits.random_instances(100, 0.1, seed=4).forget)
    assert len(splits.random_instances(100, 7).forget) == 7
    back = splits.Split.load(a.save(tmp_path / "split.json"))
    assert np.array_equal(back.forget, a.forget) and back.params == a.params


def test_class_fraction_and_whole_class():
    y = np.repeat(np.arange(5), 20)
    s = splits.class_fraction(y, 2, 0.1, seed=0, test_targets=np.repeat(np.arange(5), 4))
    assert len(s.forget) == 2 and (y[s.forget] == 2).all()
    assert (s.test == np.arange(8, 12)).all()
    w = splits.whole_class(y, 4)
    assert (y[w.forget] == 4).all() and (y[w.retain] != 4).all()


def test_label_flips_change_every_flipped_label():
    y = np.repeat(np.arange(10), 30)
    s, poisoned = splits.label_flips(y, 0.2, 10, seed=1)
    assert len(s.forget) == 60
    assert (poisoned.numpy()[s.forget] != y[s.forget]).all()
    assert (poisoned.numpy()[s.retain] == y[s.retain]).all()


def test_pairwise_label_flips_send_each_class_to_its_mirror_in_equal_numbers():
    y = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 30))
    s, poisoned = splits.label_flips(y, 0.2, 10, seed=1, pairwise=True)
    p = poisoned.numpy()
    assert (p[s.forget] == 9 - y[s.forget]).all() and (p[s.retain] == y[s.retain]).all()
    assert np.bincount(y[s.forget], minlength=10).tolist() == [6] * 10  # budget / 10 of every class
    again, _ = splits.label_flips(y, 0.2, 10, seed=1, pairwise=True)
    assert np.array_equal(again.forget, s.forget) and s.params["pairwise"]
    with pytest.raises(ValueError, match="even"):
        splits.label_flips(np.arange(9) % 3, 3, 3, pairwise=True)


def test_feature_subset_and_canary():
    names = [f"f{i}" for i in range(10)]
    assert len(splits.feature_subset(names, 3, seed=0)) == 3
    assert splits.feature_subset(names, ["f7", "f2"]).tolist() == [2, 7]
    text = "line one\nline two\nline three\n"
    new, offsets = splits.insert_canary(text, "CANARY", 2, seed=0)
    assert new.count("CANARY") == 2 and all(new[o : o + 6] == "CANARY" for o in offsets)
    assert new.replace("CANARY\n", "") == text


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: splits.Split(np.array([], int), np.arange(5), 5, "x"), "empty"),
        (lambda: splits.Split(np.array([1, 2]), np.array([2, 3]), 5, "x"), "share"),
        (lambda: splits.Split(np.array([7]), np.array([0]), 5, "x"), "out of range"),
        (lambda: splits.random_instances(10, 0.0), "fraction"),
        (lambda: splits.class_fraction(np.zeros(5, int), 3, 0.1), "does not occur"),
        (lambda: splits.label_flips(np.array([0, 1, 12]), 1, 10), "labels must lie"),
        (lambda: splits.feature_subset(["a"], ["b"]), "not among"),
        (lambda: splits.insert_canary("a\n", "c", 0), "at least 1"),
    ],
)
def test_bad_requests_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_amounts_labels_and_classes_are_checked():
    split = splits.random_instances(100, np.float32(0.1), seed=0)
    assert len(split.forget) == 10  # a numpy float is a fraction, not a count of 0
    assert len(splits.random_instances(100, np.int64(7), seed=0).forget) == 7
    with pytest.raises(ValueError, match="fraction .* or a count"):
        splits.random_instances(100, "0.1")
    y = np.repeat(np.arange(10), 10)
    with pytest.raises(ValueError, match="cls must be a class index .* got str '3'"):
        splits.class_fraction(y, "3", 0.5)
    with pytest.raises(ValueError, match="whole class indices"):
        splits.label_flips(np.array([1.5, 0.0, 2.0, 1.0]), 1, num_classes=3)
    assert splits.label_flips(np.array([1.0, 0.0, 2.0, 1.0]), 1, num_classes=3)[1].dtype == torch.int64
    with pytest.raises(ValueError, match="truncated"):
        ArrayDataset(torch.zeros(2, 3), torch.tensor([2.7, 0.5]))
    assert ArrayDataset(torch.zeros(2, 3), [2.0, 0.0]).y.tolist() == [2, 0]
