"""Execute notebooks with papermill at one profile; print each one's wall time.

    python tools/run_notebooks.py --profile smoke --out build/smoke notebooks/*.ipynb

Executed copies go to ``--out`` (never back into notebooks/, whose files stay output-free);
``results/<profile>/notebook_times.csv`` records the timings.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]


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
        pm.execute_notebook(str(nb), str(out / nb.name), parameters=params, kernel_name="python3",
                            cwd=str(nb.resolve().parent), progress_bar=False)
        seconds = time.perf_counter() - start
        rows.append({"notebook": nb.name, "profile": args.profile, "seconds": round(seconds, 1)})
        print(f"    {nb.name}: {seconds:.1f} s", flush=True)
    results = ROOT / "results" / args.profile
    results.mkdir(parents=True, exist_ok=True)
    times = results / "notebook_times.csv"
    # keep the latest time of every notebook, so single-notebook runs add to the table
    kept = {r["notebook"]: r for r in csv.DictReader(open(times))} if times.exists() else {}
    kept.update({r["notebook"]: r for r in rows})
    with open(times, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["notebook", "profile", "seconds"])
        writer.writeheader()
        writer.writerows(sorted(kept.values(), key=lambda r: r["notebook"]))
    print(f"total: {sum(r['seconds'] for r in rows):.1f} s for {len(rows)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
