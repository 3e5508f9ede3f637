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
    with pytest.raises(ValueError, match="unknown task 'mnist'; available: digits"):
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
    assert run.gold.unlearning_record.method == "retrain"
    again = t.build(seed=1)  # the same seed repeats the same models (the original from the cache)
    assert again.original_meta["cached"]
    assert all(torch.equal(a, b) for a, b in zip(run.gold.state_dict().values(), again.gold.state_dict().values()))
