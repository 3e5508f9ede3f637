"""Execute notebooks with papermill at one profile; print each one's wall time.

    python tools/run_notebooks.py --profile smoke --out build/smoke notebooks/*.ipynb

Executed copies go to ``--out`` (never back into notebooks/, whose files stay output-free);
``results/<profile>/notebook_times.csv`` records the timings.
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
import time
from pathlib import Path

import papermill as pm
import psutil

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS:
    """Peak resident memory (MB) of this process's children (the notebook's kernel), polled every
    0.2 s in a thread. Not getrusage(RUSAGE_CHILDREN): jupyter_client reaps the kernel itself, and
    that figure is the maximum over every child so far, not this notebook's."""

    def __enter__(self):
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # a child that ended between listing and reading
                    pass
            self.peak = max(self.peak, total / 2**20)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", choices=["smoke", "cpu", "paper"], required=True)
    ap.add_argument("--out", required=True, help="folder for the executed copies")
    ap.add_argument("--seed", type=int, default=None, help="override each notebook's SEED")
    ap.add_argument("notebooks", nargs="+")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    params = {"PROFILE": args.profile} | ({"SEED": args.seed} if args.seed is not None else {})
    rows = []
    for nb in map(Path, args.notebooks):
        declared = pm.inspect_notebook(str(nb))  # a typo in a parameter name is an error, not a warning
        unknown = set(params) - set(declared)
        if unknown:
            print(f"{nb.name}: parameters cell lacks {sorted(unknown)}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        print(f"==> {nb.name} (PROFILE={args.profile})", flush=True)
        with PeakRSS() as rss:
            pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, kernel_name="python3",
                                cwd=str(nb.resolve().parent), progress_bar=False)
        seconds = time.perf_counter() - start
        rows.append({"notebook": nb.name, "profile": args.profile, "seconds": round(seconds, 1),
                     "peak_rss_mb": round(rss.peak)})
        print(f"    {nb.name}: {seconds:.1f} s, kernel peak RSS {rss.peak:.0f} MB", flush=True)
    results = ROOT / "results" / args.profile
    results.mkdir(parents=True, exist_ok=True)
    times = results / "notebook_times.csv"
    # keep the latest time of every notebook, so single-notebook runs add to the table
    kept = {r["notebook"]: r for r in csv.DictReader(open(times))} if times.exists() else {}
    kept.update({r["notebook"]: r for r in rows})
    with open(times, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["notebook", "profile", "seconds", "peak_rss_mb"], restval="")
        writer.writeheader()
        writer.writerows(sorted(kept.values(), key=lambda r: r["notebook"]))
    print(f"total: {sum(r['seconds'] for r in rows):.1f} s for {len(rows)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
