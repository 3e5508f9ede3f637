"""What a local Dask cluster costs against a serial run, on DLFD's heaviest job.

    python benchmarks/dispatch_overhead.py --scheduler serial     # then: --scheduler local:2

Runs notebook 05's "no dynamic stop" variant (DLFD perturbing every batch) on ``--jobs`` forget splits of a
``--faces``-image UTKFace subset at the cpu profile's resolution and width, from an untrained network (the cost of a
run that perturbs every batch does not depend on the weights), through :func:`unlearn.dispatch.run`. Prints the wall
time and each job's own seconds. On 2026-12-02 (AMD EPYC, two cores, idle, 2,000 faces, two jobs): serial with two
threads 118.6 s (57 s a job); local:2 117.8 s (95 s a job at one thread); local:2 before ``unlearn.dispatch`` unset
Dask's ``MALLOC_TRIM_THRESHOLD_`` 242.7 s (214 s a job, most of it system time). Writes nothing but the data cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from unlearn import dispatch, paths
from unlearn.experiments import dlfd
from unlearn.experiments.dlfd import protocol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scheduler", default="serial", help="serial, local, local:N or a Dask address")
    ap.add_argument("--jobs", type=int, default=2, help="forget splits, one DLFD run each")
    ap.add_argument("--faces", type=int, default=2000, help="training images of the UTKFace subset")
    args = ap.parse_args()
    paths.use_repository()
    P = dataclasses.replace(dlfd.PROFILES["cpu"], n_train=args.faces)
    data = dlfd.load_data(P, 0)
    torch.manual_seed(0)
    original = dlfd.build_model(P, data)
    jobs = [(k, "no dynamic stop") for k in range(args.jobs)]
    start = time.perf_counter()
    rows = dispatch.run(protocol._ablation_job, jobs, shared=dict(original=original, P=P, data=data, seed=0),
                        scheduler=args.scheduler, progress=False)
    print(f"{args.scheduler}: {time.perf_counter() - start:.1f} s for {args.jobs} jobs; each job "
          + ", ".join(f"{r['seconds']:.1f} s" for r in rows))


if __name__ == "__main__":  # a local cluster's workers import this file
    main()
