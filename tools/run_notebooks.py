"""Execute notebooks with papermill at one profile; print each one's wall time.

    python tools/run_notebooks.py --profile smoke --out build/smoke notebooks/*.ipynb

Executed copies go to ``--out`` (never back into notebooks/, whose files stay output-free);
``results/<profile>/notebook_times.csv`` records the timings. ``--keep DIR`` also writes a copy with the volatile
metadata stripped (papermill's timings, execution stamps) into DIR, for the repository: ``make reproduce`` keeps
the cpu runs in ``executed/cpu/``, where GitHub renders them.

``--portable`` runs the kernels with portable numerics (``unlearn.numerics``: every library's kernels pinned to
one CPU-independent path, one thread each), the way ``make test`` runs the smoke notebooks; ``--jobs N`` then
runs N notebooks at a time, so that one-thread kernels still use every core.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill as pm
import psutil

import machine_probe  # tools/machine_probe.py: how fast this machine is
import pipeline  # tools/pipeline.py: which notebook runs after which
from unlearn import numerics, paths
from unlearn.paths import results_dir

paths.use_repository()  # data, model cache, results and figures: this repository's folders

ROOT = Path(__file__).resolve().parents[1]


class KernelUsage:
    """Peak resident memory (MB) and CPU time (s, user + system, every thread) of this process's children (the
    notebook's kernel), polled every 0.2 s in a thread. Not getrusage(RUSAGE_CHILDREN): jupyter_client reaps the
    kernel itself, and that figure is the maximum over every child so far, not this notebook's. CPU time against wall
    time says how many cores the kernel kept busy; with the share stolen by the hypervisor
    (:func:`machine_probe.stolen_share`) it tells a slow notebook from a busy host."""

    def __enter__(self):
        self.peak, self._cpu, self._stop = 0.0, {}, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())  # the last reading of each child, ended ones included

    def _poll(self):
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                    t = child.cpu_times()
                    self._cpu[child.pid] = t.user + t.system
                except psutil.Error:  # a child that ended between listing and reading
                    pass
            self.peak = max(self.peak, total / 2**20)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", choices=["smoke", "cpu", "paper", "paper-dry"], required=True)
    ap.add_argument("--out", required=True, help="folder for the executed copies")
    ap.add_argument("--seed", type=int, default=None, help="override each notebook's SEED")
    ap.add_argument("--keep", default=None, help="also write copies without volatile metadata here (for git)")
    ap.add_argument("--portable", action="store_true", help="portable numerics (unlearn.numerics): same results on any CPU")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at a time (with --portable each uses one core)")
    ap.add_argument("--cache-per-notebook", default=None, metavar="DIR",
                    help="each notebook its own model cache, DIR/<notebook>: it trains everything it uses, so it runs "
                         "alone and its time includes that training (no notebook reads another's models)")
    ap.add_argument("--fresh", action="store_true", help="with --cache-per-notebook: empty each notebook's cache first")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    os.environ["UNLEARN_PROGRESS"] = "text"  # the kernels inherit it: text progress bars in stored outputs
    if args.portable:
        os.environ.update(numerics.PINS)  # read by the libraries when each kernel starts
    params = {"PROFILE": args.profile} | ({"SEED": args.seed} if args.seed is not None else {})
    notebooks = list(map(Path, args.notebooks))
    for nb in notebooks:  # a typo in a parameter name is an error, not a warning: check all before running any
        unknown = set(params) - set(pm.inspect_notebook(str(nb)))
        if unknown:
            print(f"{nb.name}: parameters cell lacks {sorted(unknown)}", file=sys.stderr)
            return 2
    times = results_dir(args.profile) / "notebook_times.csv"  # results/<profile>/, or under $UNLEARN_RESULTS
    machine = machine_probe.measure()  # this machine's speed, in every row: runs on two machines compare
    print(f"machine: {machine['cpu']}; speed probe {machine['probe_s']} s (tools/machine_probe.py)", flush=True)
    total, failed, start = 0.0, None, time.perf_counter()
    waiting = list(notebooks)  # submitted only as workers free up, so that a failure leaves the rest unrun
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        running = {}
        while waiting or running:
            while waiting and len(running) < args.jobs and not failed:
                # the first notebook none of whose prerequisites (tools/pipeline.py: 04 after 01-03) is unfinished
                pending = {n.name for n in waiting} | {n.name for n in running.values()}
                nb = next((n for n in waiting if pipeline.ready(n.name, pending - {n.name})), None)
                if nb is None:
                    break  # wait for a running notebook to finish
                waiting.remove(nb)
                cache = ROOT / args.cache_per_notebook / nb.stem if args.cache_per_notebook else None
                if cache is not None and args.fresh:
                    shutil.rmtree(cache, ignore_errors=True)
                running[pool.submit(run_one, nb, out, params, args.keep, cache)] = nb
            if not running:
                break
            done = next(concurrent.futures.as_completed(running))
            nb = running.pop(done)
            seconds, usage, error = done.result()
            if error:  # report which notebook failed and which never ran, then stop
                failed = failed or nb
                print(f"FAILED: {nb.name} after {seconds:.1f} s ({error}); executed copy with the error: "
                      f"{out / nb.name}", file=sys.stderr)
                if waiting:
                    print(f"not run: {', '.join(n.name for n in waiting)}", file=sys.stderr)
                    waiting = []
                continue
            total += seconds
            record_time(times, {"notebook": nb.name, "profile": args.profile, "seconds": round(seconds, 1), **usage,
                                "jobs": args.jobs, **machine})  # at once: a later failure keeps this time
            record_cell_times(times.with_name("cell_times.csv"), nb.name, cell_times(out / nb.name))
            print(f"    {nb.name}: {seconds:.1f} s, kernel peak RSS {usage['peak_rss_mb']} MB, kernel CPU time "
                  f"{usage['cpu_s']} s, {usage['steal_pct']} % of the host's CPU time stolen", flush=True)
    if failed:
        return 1
    # the sum is what the notebooks cost; the wall time, what waiting for them costs (less with --jobs 2)
    print(f"total: {total:.1f} s for {len(notebooks)} notebook(s), {time.perf_counter() - start:.1f} s wall at --jobs {args.jobs}")
    return 0


def run_one(nb: Path, out: Path, params: dict, keep: str | None, cache: Path | None = None) -> tuple[float, dict, str | None]:
    """Execute one notebook (in a worker process, so that its kernel is the only child measured): its wall time, what
    its kernel used (``peak_rss_mb``, ``cpu_s``: :class:`KernelUsage`; ``steal_pct``: the share of the host's CPU
    time stolen by the hypervisor meanwhile, empty where the system does not say) and the error that stopped it, if
    any. ``cache``: the model cache its kernel uses (inherited through the environment)."""
    if cache is not None:
        os.environ["UNLEARN_CACHE"] = str(cache)
    start, ticks = time.perf_counter(), machine_probe.host_ticks()
    print(f"==> {nb.name} (PROFILE={params['PROFILE']})", flush=True)
    error = None
    try:
        with KernelUsage() as kernel:
            pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, kernel_name="python3",
                                cwd=str(nb.resolve().parent), progress_bar=False)
    except Exception as exc:
        error = type(exc).__name__
    seconds, stolen = time.perf_counter() - start, machine_probe.stolen_share(ticks, machine_probe.host_ticks())
    usage = {"peak_rss_mb": round(kernel.peak), "cpu_s": round(kernel.cpu_s, 1),
             "steal_pct": "" if stolen is None else round(100 * stolen, 1)}
    if keep and error is None:
        (ROOT / keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(strip_volatile(nbformat.read(out / nb.name, as_version=4)), ROOT / keep / nb.name)
    return seconds, usage, error


def strip_volatile(nb) -> nbformat.NotebookNode:
    """Drop what changes on every run without changing what a reader sees: papermill's per-cell and per-notebook
    timings and environment, jupyter's execution stamps; progress bars are compacted to their last frame
    (:func:`compact_progress`). Other outputs and execution counts stay."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return compact_progress(nb)


CONTROL = re.compile(r"(\r|\n|\x1b\[[0-9;]*[A-Za-z])")


def screen(text: str) -> str:
    """What a terminal would show after ``text``: carriage returns, newlines and cursor-up escapes (tqdm's nested
    bars) applied, except that blanking writes are skipped, and blank rows dropped. Progress bars thus appear as
    their last frames, including bars that clear themselves when done."""
    rows, r, col = [""], 0, 0
    for token in CONTROL.split(text):
        if not token:
            continue
        if token == "\r":
            col = 0
        elif token == "\n":
            r, col = r + 1, 0
            if r == len(rows):
                rows.append("")
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                r = max(0, r - int(token[2:-1] or 1))
        elif token.strip():  # a bar that clears itself (leave=False) keeps its last frame on the page
            line = rows[r].ljust(col)
            rows[r] = line[:col] + token + line[col + len(token):]
            col += len(token)
    return "\n".join(row.rstrip() for row in rows if row.strip())


def compact_progress(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Merge each cell's consecutive stream outputs of one name and, where they hold carriage returns or cursor
    moves, replace them by the terminal screen they leave (:func:`screen`): a text progress bar stored as dozens of
    outputs becomes its final state ("seeds: 100%|...| 3/3 [05:23<00:00]"), where a notebook front end would show
    the bar cleared or every frame."""
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream" and ("\r" in out.text or "\x1b[" in out.text):
                end = "\n" if out.text.rstrip(" \r").endswith("\n") else ""
                out.text = screen(out.text) + end
        if "outputs" in cell:
            cell.outputs = [o for o in merged if not (o.output_type == "stream" and not o.text.strip())]
    return nb


CALL = re.compile(r"\b((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)\(")  # a dotted call: module.function(
EXPERIMENTS = re.compile(r"^from unlearn\.experiments import ([\w, ]+)", re.M)  # the notebook's experiment modules


def cell_times(executed: Path) -> list[dict]:
    """Each code cell's wall time in an executed notebook (papermill's ``duration``) and what it runs: its first call
    into one of the notebook's experiment modules (``tmu.run_seeds``), else "imports" for the cell that imports them,
    else its first dotted call (empty for none). Where a notebook's time goes."""
    nb = nbformat.read(executed, as_version=4)
    modules = {m.strip() for c in nb.cells if c.cell_type == "code" for found in EXPERIMENTS.findall(c.source) for m in found.split(",")}
    rows = []
    for i, cell in enumerate(nb.cells):
        seconds = cell.metadata.get("papermill", {}).get("duration") if cell.cell_type == "code" else None
        if seconds is None:
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("#"))
        calls = CALL.findall(code)
        ours = [c for c in calls if c.split(".")[0] in modules]
        what = ours[0] if ours else "imports" if EXPERIMENTS.search(code) else calls[0] if calls else ""
        rows.append({"cell": i, "seconds": round(seconds, 1), "call": what})
    return rows


def record_cell_times(path: Path, notebook: str, rows: list[dict]) -> None:
    """Replace ``notebook``'s rows of ``cell_times.csv`` (one per code cell: its index, seconds and first call)."""
    kept = [r for r in csv.DictReader(open(path)) if r["notebook"] != notebook] if path.exists() else []
    kept += [{"notebook": notebook, **r} for r in rows]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["notebook", "cell", "seconds", "call"])
        writer.writeheader()
        writer.writerows(sorted(kept, key=lambda r: (r["notebook"], int(r["cell"]))))


def record_time(times: Path, row: dict) -> None:
    """Add or replace one notebook's row of ``notebook_times.csv`` (so single-notebook runs add to the table)."""
    times.parent.mkdir(parents=True, exist_ok=True)
    kept = {r["notebook"]: r for r in csv.DictReader(open(times))} if times.exists() else {}
    kept[row["notebook"]] = row
    with open(times, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["notebook", "profile", "seconds", "peak_rss_mb", "cpu_s", "steal_pct", "jobs", "cpu",
                                                "probe_s"],
                                restval="")
        writer.writeheader()
        writer.writerows(sorted(kept.values(), key=lambda r: r["notebook"]))


if __name__ == "__main__":
    sys.exit(main())
