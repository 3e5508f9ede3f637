"""Independent runs (tasks, seeds, training runs) on Dask distributed: one after another in this process, on a local
cluster of this machine's cores, or on a cluster named by its scheduler's address. The same call serves a laptop and
a cluster; which one is a single setting.

The setting, in this order: the ``scheduler`` argument; the ``UNLEARN_SCHEDULER`` environment variable; ``"serial"``.

- ``"serial"``: in this process, one job after another, with this process's threads.
- ``"local"`` or ``"local:N"``: a ``distributed.LocalCluster`` of N worker processes (default: the machine's cores)
  with one thread each, started for the call and closed after it.
- any Dask address (``"tcp://10.0.0.5:8786"``): that cluster's workers. They must import this package and see the same
  data mirror and model cache paths (a shared filesystem), and be started with the same environment variables.

A job is ``fn(*args, **shared)`` with ``fn`` a module-level function and ``shared`` the objects every job reads (a
model, a data set), sent to each worker once rather than with every job. In a worker it runs with one PyTorch thread and with this
process's file locations (:mod:`unlearn.paths`), so a model it trains lands in the same checkpoint cache as a serial
run's: a rerun, or a larger set of jobs, reuses what exists. Results come back in the order of ``jobs``.

Numbers depend on the thread count a job runs with (floating-point sums split across threads add in another order),
so a serial run in a process limited to one thread equals a cluster run bit for bit (``tests/test_dispatch.py``); a
serial run with two threads differs in the last digits.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Sequence

from . import paths

ENV = "UNLEARN_SCHEDULER"


def setting(scheduler: str | None = None) -> str:
    """The scheduler setting in force: ``scheduler``, else ``$UNLEARN_SCHEDULER``, else ``"serial"``."""
    value = scheduler or os.environ.get(ENV) or "serial"
    if value != "serial" and not value.startswith("local") and "://" not in value:
        raise ValueError(f"unknown scheduler {value!r}: use 'serial', 'local', 'local:N' or a Dask address such as "
                         "'tcp://host:8786'")
    return value


def _local_workers(value: str) -> int:
    if value == "local":
        return os.cpu_count() or 1
    try:
        n = int(value.split(":", 1)[1])
    except ValueError:
        raise ValueError(f"{value!r}: write 'local:N' with N the number of worker processes") from None
    if n < 1:
        raise ValueError(f"{value!r}: a local cluster needs at least one worker")
    return n


def _in_worker(fn: Callable, args: tuple, locations: dict, shared: dict):
    """One job in a worker process: this caller's file locations, one PyTorch thread."""
    import torch

    paths.configure(**locations)
    torch.set_num_threads(1)
    return fn(*args, **shared)


def run(fn: Callable, jobs: Sequence[tuple], *, shared: dict | None = None, scheduler: str | None = None,
        desc: str = "runs", progress: bool = True) -> list:
    """``[fn(*job, **shared) for job in jobs]``, run where :func:`setting` says; a progress bar counts finished
    jobs."""
    from .progress import tqdm

    value = setting(scheduler)
    jobs, shared = [tuple(j) for j in jobs], dict(shared or {})
    if value == "serial":
        return [fn(*job, **shared) for job in tqdm(jobs, desc=desc, disable=not progress)]

    import dask
    from distributed import Client, LocalCluster, as_completed

    locations = paths.locations()
    if value.startswith("local"):
        # one thread per worker: n workers on n cores, none oversubscribed; no dashboard (no port to open).
        # Dask starts workers with MALLOC_TRIM_THRESHOLD_ set, which also fixes glibc's mmap threshold: every large
        # tensor is then mapped and unmapped anew. With it, a DLFD run took 3.7x as long in a worker as serially
        # (most of it system time); unset, glibc's default applies as in a serial run.
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=_local_workers(value), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        cluster, client = None, Client(value)
    try:
        # each shared object travels to every worker once; the jobs refer to it
        sent = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
        futures = [client.submit(_in_worker, fn, job, locations, sent, pure=False) for job in jobs]
        for _ in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} ({value})", disable=not progress):
            pass
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
