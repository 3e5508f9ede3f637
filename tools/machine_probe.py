"""How fast this machine trains, measured the same way in every timing run, so that wall times from two runs (or two
machines) can be told apart from a change in the code. Shared machines differ: on 2026-12-02 one "AMD EPYC" host ran
the same notebooks 2.3 times as slowly as another, and nothing in the timings said so.

    python tools/machine_probe.py        # prints {"cpu": ..., "probe_s": ...}

The probe: 5 SGD steps of a small convolutional network (the library's small CNN at width 32) on batches of 64
random 32x32 images, with PyTorch's default threads, the best of three tries (seconds). It runs in a child process of
``tools/run_notebooks.py`` before the first notebook; its result goes into every row of ``notebook_times.csv``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def cpu() -> str:
    """The CPU's model name, its widest vector instructions and the cores this process may use."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "avx" if "avx" in flags else "sse"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {isa}, {cores} cores"


def probe(steps: int = 5, tries: int = 3) -> float:
    import torch

    from unlearn.models import build as build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=3, num_classes=10, width=32, hidden=128)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        best = min(best, time.perf_counter() - start)
    return best


def host_ticks() -> tuple[int, int]:
    """(stolen, all) clock ticks of every CPU since boot, from /proc/stat's first line: "steal" is time the hypervisor
    ran another guest while this one wanted the CPU. Two readings around a run give the share of it that was stolen,
    which a busy shared host shows and an idle one does not; (0, 0) where /proc/stat does not exist."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0, 0
    fields = [int(x) for x in stat.read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already counted in user
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def stolen_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of all CPU time between two :func:`host_ticks` readings that the hypervisor gave to other guests."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else None


def measure() -> dict:
    """Run the probe in a child process (this process may fork workers later; no threads started here)."""
    out = subprocess.run([sys.executable, __file__], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps({"cpu": cpu(), "probe_s": round(probe(), 2)}))
