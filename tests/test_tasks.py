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
    with pytest.raises(ValueError, match="unknown task .mnist.; available: cifar10, cifar10-poisoning, digits, utkface"):
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


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_the_benchmarks_cifar10_task_is_notebook_01s_protocol_on_cifar10(profile):
    """Notebook 04 imports no experiment; its cifar10 task and budgets are written out in its profiles. They must
    stay TMU's protocol (notebook 01's profile, on CIFAR-10's class 3) wherever TMU has that profile."""
    import dataclasses

    from unlearn.experiments import benchmark, tmu

    P = benchmark.PROFILES[profile]
    Pt = dataclasses.replace(tmu.PROFILES[profile], dataset="cifar10", forget_class=3)
    assert benchmark.task("cifar10", P) == tmu.task(Pt)
    ours = {k: v for k, v in benchmark.budgets("cifar10", P).items() if k != "dlfd"}
    assert ours == {"finetune": {"epochs": Pt.unlearn_epochs}, "neggrad": {"epochs": Pt.neggrad_epochs},
                    "random_label": {"epochs": Pt.unlearn_epochs}, "bad_teacher": {"epochs": Pt.bad_teacher_epochs},
                    "scrub": {"epochs": Pt.scrub_epochs, "msteps": Pt.scrub_msteps}, "tmu": tmu.tmu_config(Pt)}


@pytest.mark.parametrize("profile,sizes", [("smoke", {}), ("paper", {}), (
    "cpu", {"n_train": 1000, "n_test": 300, "n_unseen": 400, "width": 16,  # the benchmark's smaller UTKFace task
            "dlfd": {"monitor_every": 2, "monitor_samples": 180, "val_samples": 300}})])
def test_the_benchmarks_utkface_task_is_notebook_03s_protocol(profile, sizes):
    import dataclasses

    from unlearn.experiments import benchmark, dlfd

    P = benchmark.PROFILES[profile]
    Pd = dataclasses.replace(dlfd.PROFILES[profile], **sizes)
    assert benchmark.task("utkface", P) == dlfd.task(Pd)
    assert benchmark.budgets("utkface", P) == dlfd.RELEASE_SETTINGS | {"dlfd": dlfd.dlfd_config(Pd)}


def test_the_benchmark_imports_no_other_experiment():
    import ast
    from pathlib import Path

    import unlearn.experiments.benchmark as b

    tree = ast.parse(Path(b.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1 and not n.module
                 for a in n.names]
    assert not [m for m in imported if m in ("tmu", "dlfd", "features_labels", "tour") or ".experiments" in m]


def test_a_label_flip_task_gives_poisoned_forget_points_and_their_corrections():
    t = tasks.get("cifar10-poisoning", dataset="digits", model_kw={}, fraction=0.2,
                  subsets=tasks.RandomSubsets(train=300, val=100, test=50))
    s = t.sets(seed=0, split_seed=7)
    assert (len(s.train), len(s.val), len(s.test)) == (300, 100, 50)
    flips = s.split.forget
    y_true, y_seen = s.clean.y, s.train.y
    assert len(flips) == 60 and (y_seen[flips] == 9 - y_true[flips]).all()  # pairwise, c -> 9 - c
    rest = s.split.retain
    assert (y_seen[rest] == y_true[rest]).all() and not set(flips) & set(rest)
    assert [s.corrected[i][1] for i in range(3)] == [int(y_true[j]) for j in flips[:3]]
    again = t.sets(seed=0, split_seed=8)  # another poison draw, the same subsets
    assert torch.equal(again.clean.x, s.clean.x) and not np.array_equal(again.split.forget, flips)
    with pytest.raises(ValueError, match="sets\\(seed, split_seed"):
        s.resplit(3)
