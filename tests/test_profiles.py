"""The profiles: one name checked in one place, and the paper dry run keeps the paper's models and shapes."""

from dataclasses import dataclass, field, fields, is_dataclass

import pytest

from unlearn import profiles
from unlearn.experiments import benchmark, dlfd, features_labels, forgetting, tmu, tour

TABLES = {"tour": tour.PROFILES, "tmu": tmu.PROFILES, "features_labels": features_labels.PROFILES,
          "dlfd": dlfd.PROFILES, "benchmark": benchmark.PROFILES, "forgetting": forgetting.PROFILES}
# what makes a run "the paper's": its networks, their widths and the input sizes
SHAPES = {"tour": ("width",), "tmu": ("model", "width", "dataset", "batch_size"),
          "features_labels": ("enron_features", "lstm_hidden", "lstm_layers", "seq_len", "cnn_width", "cnn_hidden"),
          "dlfd": ("resolution", "width", "batch_size", "augment", "stem"), "benchmark": ("tasks",),
          "forgetting": ("train", "width", "fraction")}


def _walk(value, name=""):
    """(name, value) of every field in nested dataclasses and dicts."""
    if is_dataclass(value):
        for f in fields(value):
            yield from _walk(getattr(value, f.name), f.name)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    else:
        yield name, value


@pytest.mark.parametrize("name", TABLES)
def test_every_table_has_every_profile(name):
    for profile in profiles.PROFILES:
        assert profiles.pick(TABLES[name], profile) is TABLES[name][profile]


@pytest.mark.parametrize("name", TABLES)
def test_the_dry_run_keeps_the_papers_shapes_with_one_epoch_and_one_seed(name):
    paper, dry = TABLES[name]["paper"], TABLES[name]["paper-dry"]
    for f in SHAPES[name]:
        assert getattr(dry, f) == getattr(paper, f), f
    walked = list(_walk(dry))
    epochs = [(k, v) for k, v in walked if k.endswith("epochs")]
    assert epochs and all(v in (1, (1,)) for _, v in epochs), epochs
    assert all(len(v) == 1 for k, v in walked if k.endswith("seeds") and isinstance(v, tuple))
    # one epoch fits nothing: "train until fitted" rules are off (notebook 06's dry run stopped at one)
    assert all(v == 0 for k, v in walked if k in profiles.FIT_TARGETS and isinstance(v, float)), walked


def test_the_benchmark_dry_run_keeps_its_tasks_networks():
    paper, dry = benchmark.PROFILES["paper"], benchmark.PROFILES["paper-dry"]
    for task in ("cifar10", "utkface"):
        assert benchmark.task(task, dry).model_kw == benchmark.task(task, paper).model_kw
    assert benchmark.task("utkface", dry).dataset_kw == benchmark.task("utkface", paper).dataset_kw
    c = benchmark.task("cifar10", dry)
    assert c.per_class == 20 and benchmark.task("cifar10", paper).per_class == 0
    # DLFD's membership attack takes at least 10 forget images: the dry run's class-3 fraction must give them
    assert int(c.per_class * c.fraction) >= 10


def test_dry_run_replaces_named_sizes_and_reaches_nested_epochs():
    @dataclass(frozen=True)
    class Inner:
        epochs: int = 30
        until_train_acc: float = 1.0

    @dataclass(frozen=True)
    class P:
        n: int = 1000
        twin_epochs: int = 10
        ft_epochs: tuple = (1, 10)
        seeds: tuple = (3, 4, 5)
        train: Inner = field(default_factory=Inner)
        budgets: dict = field(default_factory=lambda: {"tmu": {"epochs": 5, "lr": 0.1}})
        verbose: bool = True

    d = profiles.dry_run(P(), n=10)
    assert d == P(n=10, twin_epochs=1, ft_epochs=(1,), seeds=(3,), train=Inner(1, 0.0),
                  budgets={"tmu": {"epochs": 1, "lr": 0.1}})


def test_regime_checks_run_at_cpu_and_paper_only():
    assert [p for p in profiles.PROFILES if profiles.regime_checked(p)] == ["cpu", "paper"]
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        profiles.pick(tour.PROFILES, "gpu")
