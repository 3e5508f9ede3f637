"""Property-based checks of the input validation (hypothesis): whatever a user passes, a method's
config, a split amount or a label vector is either accepted as what it means or refused with one
clear error naming it; and two processes loading a data set for the first time do not race."""

import math
import multiprocessing as mp

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from unlearn import methods, splits
from unlearn.data import ArrayDataset
from unlearn.methods.finetune import FinetuneConfig

anything = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                     st.text(max_size=4), st.lists(st.integers(), max_size=3))


@settings(max_examples=300, deadline=None)
@given(epochs=anything, lr=anything)
def test_a_config_is_valid_as_built_or_refused_with_the_field_named(epochs, lr):
    try:
        cfg = methods.make_config(FinetuneConfig, {"epochs": epochs, "lr": lr})
    except ValueError as exc:
        assert "FinetuneConfig.epochs" in str(exc) or "FinetuneConfig.lr" in str(exc)
        return
    # accepted: exactly the meaningful values, converted to the field's type
    assert type(cfg.epochs) is int and cfg.epochs > 0 and cfg.epochs == epochs and not isinstance(epochs, bool)
    assert type(cfg.lr) is float and math.isfinite(cfg.lr) and cfg.lr > 0 and cfg.lr == lr and not isinstance(lr, bool)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 500), fraction=st.floats(0.001, 0.999), dtype=st.sampled_from([float, np.float32, np.float64]))
def test_a_fraction_of_any_float_type_means_a_fraction(n, fraction, dtype):
    value = dtype(fraction)
    k = int(round(float(value) * n))
    if not 0 < k < n:
        with pytest.raises(ValueError, match="forget count"):
            splits.random_instances(n, value)
        return
    split = splits.random_instances(n, value)
    assert len(split.forget) == k and len(split.forget) + len(split.retain) == n


@settings(max_examples=200, deadline=None)
@given(labels=st.lists(st.one_of(st.floats(-3, 12), st.integers(0, 9).map(float), st.sampled_from([math.nan, math.inf])),
                       min_size=1, max_size=20))
def test_float_labels_are_kept_only_when_whole(labels):
    y = torch.tensor(labels, dtype=torch.float64)
    whole = bool(torch.isfinite(y).all()) and bool((y == y.round()).all())
    if whole:
        assert ArrayDataset(torch.zeros(len(labels), 2), y).y.tolist() == [int(v) for v in labels]
    else:
        with pytest.raises(ValueError, match="whole class indices"):
            ArrayDataset(torch.zeros(len(labels), 2), y)


def _first_load(args):
    data, mirror, q = args
    import os

    os.environ["UNLEARN_DATA"], os.environ["UNLEARN_DATA_MIRROR"] = data, mirror
    from unlearn.data.sources import dataset_lock, extract, fetch

    with dataset_lock("toy"):
        root = extract(fetch("toy", "toy/pack.tar.gz"), "pack")
        q.put(sorted(p.name for p in root.iterdir()))


def test_two_first_loads_at_once_do_not_race(isolated_dirs):
    import hashlib
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(300):
            data = bytes(2000)
            info = tarfile.TarInfo(f"pack/m{i:03d}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    mirror = isolated_dirs / "mirror"
    (mirror / "toy").mkdir()
    (mirror / "toy" / "pack.tar.gz").write_bytes(buf.getvalue())
    (mirror / "SHA256SUMS").write_text(f"{hashlib.sha256(buf.getvalue()).hexdigest()}  toy/pack.tar.gz\n")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_first_load, args=((str(isolated_dirs / "data"), str(mirror), q),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    seen = [q.get(timeout=5) for _ in procs]
    assert seen[0] == seen[1] and len(seen[0]) == 300  # both saw the complete folder, never half of it
