"""The task registry builds a task's split, original and gold model the way the experiments did before it existed."""

import numpy as np
import pytest
import torch

from unlearn import splits, tasks
from unlearn.data import load_dataset, targets_of
from unlearn.train import TrainConfig


def test_forget_split_follows_the_recipe():
    y = targets_of(load_dataset("digits").train)
    t = tasks.get("digits", split="class_fraction", forget_class=3, fraction=0.3)
    assert np.array_equal(t.forget_split(y, 5).forget, splits.class_fraction(y, 3, 0.3, seed=5).forget)
    r = tasks.get("digits", fraction=0.1).forget_split(y, 2)
    assert np.array_equal(r.forget, splits.random_instances(len(y), 0.1, seed=2).forget)
    w = tasks.get("digits", split="whole_class", forget_class=7).forget_split(y, 0)
    assert set(y[torch.as_tensor(w.forget)].tolist()) == {7} and len(w.forget) == int((y == 7).sum())


def test_bad_task_requests_name_the_fix():
    with pytest.raises(ValueError, match="unknown task .mnist.; available: cifar10, digits"):
        tasks.get("mnist")
    y = targets_of(load_dataset("digits").train)
    with pytest.raises(ValueError, match="needs forget_class"):
        tasks.get("digits", split="class_fraction").forget_split(y, 0)
    with pytest.raises(ValueError, match="split must be one of"):
        tasks.get("digits", split="half").forget_split(y, 0)


def test_stratified_indices_draw_class_by_class():
    y = np.repeat(np.arange(3), [5, 2, 8])
    got = tasks.stratified_indices(y, 3, np.random.default_rng(0))
    g = np.random.default_rng(0)  # by hand: class 0 draws 3 of 5, class 1 keeps both, class 2 draws 3 of 8
    want = np.sort(np.concatenate([g.choice(np.arange(0, 5), 3, replace=False), np.arange(5, 7),
                                   g.choice(np.arange(7, 15), 3, replace=False)]))
    assert np.array_equal(got, want)
    only_2 = np.sort(np.random.default_rng(0).choice(np.arange(7, 15), 3, replace=False))  # a fresh generator
    assert np.array_equal(tasks.stratified_indices(y, 3, np.random.default_rng(0), classes=[2]), only_2)


@pytest.mark.slow
def test_build_gives_disjoint_sets_and_a_gold_model_trained_on_retain_only():
    t = tasks.get("digits", split="class_fraction", forget_class=3, fraction=0.5, train=TrainConfig(epochs=2, batch_size=64, lr=0.05))
    run = t.build(seed=1)
    f, r = set(run.split.forget.tolist()), set(run.split.retain.tolist())
    assert not f & r and len(f | r) == len(run.data.train)
    assert run.gold_record.method == "retrain" and run.gold is run.retrained.model
    again = t.build(seed=1)  # the same seed repeats the same models (the original from the cache)
    assert again.original_meta["cached"]
    assert all(torch.equal(a, b) for a, b in zip(run.gold.state_dict().values(), again.gold.state_dict().values()))


def test_class_test_sets_split_the_forget_class_test_images_in_halves():
    t = tasks.get("digits", split="class_fraction", forget_class=3, fraction=0.3, per_class=50,
                  class_test=tasks.ClassTest(holdout=20, class_test=15, per_class=10))
    s = t.sets(seed=4)
    y_test = targets_of(s.data.test).numpy()
    c_test = np.flatnonzero(y_test == 3)
    h, ct, te = (np.asarray(x.indices) for x in (s.holdout, s.class_test, s.test))
    assert len(c_test) == 46  # digits' test set: 46 threes, halves of 23
    assert len(h) == 20 and len(ct) == 15 and set(y_test[h]) == set(y_test[ct]) == {3}
    assert not set(h) & set(te) and not set(h) & set(ct)  # D_h is never scored
    assert (set(h) | set(ct)) <= set(c_test)
    counts = np.bincount(y_test[te], minlength=10)
    assert counts[3] == 10 and all(counts[k] == 10 for k in range(10) if k != 3)
    assert np.bincount(targets_of(s.train).numpy(), minlength=10).tolist() == [50] * 10  # the training subset
    again = t.sets(seed=4)  # one seed, one set of samples; another seed, others
    assert list(again.holdout.indices) == list(s.holdout.indices) and list(again.test.indices) == list(s.test.indices)
    assert list(t.sets(seed=5).holdout.indices) != list(s.holdout.indices)
    with pytest.raises(ValueError, match="class_test needs forget_class"):
        tasks.get("digits", class_test=tasks.ClassTest()).sets(0)


def test_linear_task_rows_are_a_seeded_subset_of_the_normalised_rows():
    full = tasks.linear_task("diabetes")
    part = tasks.linear_task("diabetes", seed=3, rows=100)
    keep = np.sort(np.random.default_rng(3).choice(len(full.y), 100, replace=False))
    assert torch.equal(part.x, full.x[keep]) and torch.equal(part.y, full.y[keep])
    assert torch.allclose(part.x.norm(dim=1), torch.ones(100, dtype=part.x.dtype)) and set(part.y.tolist()) <= {-1.0, 1.0}
    assert torch.equal(tasks.linear_task("diabetes", rows=10**9).x, full.x)  # more rows than there are: all
    with pytest.raises(ValueError, match="unknown linear task 'iris'; use one of enron, adult, diabetes"):
        tasks.linear_task("iris")
