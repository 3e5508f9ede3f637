"""unlearn.dispatch: the same jobs give the same numbers serially and on a local two-worker cluster."""

import dataclasses

import pytest
import torch

from unlearn import dispatch
from unlearn.experiments import benchmark

TIMINGS = ["seconds", "speedup", "search_seconds"]  # wall times: never equal twice


@pytest.fixture
def one_thread():
    """A serial run with one PyTorch thread, as every cluster worker runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_a_local_cluster_gives_a_serial_runs_numbers_bit_for_bit(one_thread, tmp_path, monkeypatch):
    P = dataclasses.replace(benchmark.PROFILES["smoke"], tasks=("digits",), seeds=(0, 1))
    # each run from its own empty model cache, so that both train everything (the workers write where the caller
    # reads: the cluster's cache is not empty afterwards)
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "serial"))
    serial = benchmark.run(P, "smoke", progress=False, scheduler="serial")
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cluster"))
    cluster = benchmark.run(P, "smoke", progress=False, scheduler="local:2")
    assert any((tmp_path / "cluster").iterdir())
    assert len(serial) == 2 * 16 and serial.seed.tolist() == cluster.seed.tolist()
    a, b = serial.drop(columns=TIMINGS), cluster.drop(columns=TIMINGS)
    assert a.equals(b), a.compare(b)


def test_the_setting_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(dispatch.ENV, raising=False)
    assert dispatch.setting() == "serial"
    monkeypatch.setenv(dispatch.ENV, "local:3")
    assert dispatch.setting() == "local:3" and dispatch._local_workers("local:3") == 3
    assert dispatch.setting("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    with pytest.raises(ValueError, match="unknown scheduler 'gpu'"):
        dispatch.setting("gpu")
    with pytest.raises(ValueError, match="local:N"):
        dispatch._local_workers("local:two")


def test_serial_jobs_keep_their_order():
    assert dispatch.run(pow, [(2, 3), (3, 2), (10, 0)], scheduler="serial", progress=False) == [8, 9, 1]


def _environment(name: str):
    import os

    return os.environ.get(name)


def test_local_workers_keep_glibcs_own_memory_thresholds():
    """Dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which fixes glibc's mmap threshold: each large tensor is then
    mapped and unmapped anew (a DLFD run took 3.7 times as long in a worker, benchmarks/dispatch_overhead.py).
    The local clusters of unlearn.dispatch leave it unset; the one-thread setting stays."""
    got = dispatch.run(_environment, [("MALLOC_TRIM_THRESHOLD_",), ("OMP_NUM_THREADS",)], scheduler="local:1",
                       progress=False)
    assert got == [None, "1"]
