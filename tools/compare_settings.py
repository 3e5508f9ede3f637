"""Compare the claims of two cpu runs made under different kernel settings: is every verdict the same, and is each
run's deciding number inside the other run's interval?

Floating-point results differ in their last digits between CPUs; over hundreds of training epochs that becomes a
different model. A verdict that flips between two kernel settings on one machine would flip between two machines, so
``make reproduce-kernels`` re-runs the notebooks that decide claims under a second setting (results in
``build/kernels-b/results``) and this script writes the table the README and the closing notes quote:

    python tools/compare_settings.py results build/kernels-b/results [--out build/kernels-b/verdicts.md]
        [--save results/cpu/claims_kernels_b.json]

The same comparison against the committed cpu run that later reruns on other machines replaced (``--papers`` keeps
only the papers both runs computed, when a rerun covered some notebooks only) names the other run's machine;
``results/cpu/claims_previous_machine.json`` was written so, against 637c713 (01-03, 05 and 06 since rerun):

    git show 637c713:results/cpu/claims.json > /tmp/prev/cpu/claims.json   # the run before the reruns
    git show 637c713:results/cpu/dlfd_ablation_splits.csv > /tmp/prev/cpu/dlfd_ablation_splits.csv
    python tools/compare_settings.py results /tmp/prev --names "this run,<what the other run was>" \
        --machine "<its CPU>" --save results/cpu/claims_previous_machine.json

Notebook 05 (the DLFD ablation) records no claim; its verdicts (each variant against DLFD on NoMUS, FS and test
accuracy, paired over the forget splits) are compared the same way when both runs hold ``dlfd_ablation_splits.csv``,
and kept in the saved file beside the claims.

Exit status 1 when a verdict differs (the claim lacks power: its protocol needs fixing, not its threshold).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path


def machine() -> str:
    """The CPU this ran on (its model name), for the saved comparison."""
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()

def load(results: Path, profile: str) -> dict[tuple[str, str], dict]:
    path = results / profile / "claims.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run the cpu notebooks with UNLEARN_RESULTS={results} first")
    return {(r["paper"], r["claim"]): r for r in json.loads(path.read_text())}


def intervals(numbers: dict) -> list[tuple[str, str, str]]:
    """(point, lo, hi) keys of every interval in a claim's numbers: ``x_lo``/``x_hi`` around ``x`` (or the first key
    that starts with ``x``, or the claim's first number for bare ``lo``/``hi``)."""
    out = []
    for key in numbers:
        if key == "lo" or key.endswith("_lo"):
            prefix = key[:-3] if key != "lo" else ""
            hi = "hi" if key == "lo" else prefix + "_hi"
            if hi not in numbers:
                continue
            point = prefix if prefix in numbers else next(
                (k for k in numbers if k.startswith(prefix) and k not in (key, hi)), None)
            if point is not None:
                out.append((point, key, hi))
    return out


def inside(a: dict, b: dict) -> list[str]:
    """Each of ``a``'s deciding numbers that lies outside ``b``'s interval for it, as a readable line."""
    bad = []
    for point, lo, hi in intervals(b["numbers"]):
        x = a["numbers"].get(point)
        if isinstance(x, (int, float)) and not b["numbers"][lo] <= x <= b["numbers"][hi]:
            bad.append(f"{point} {x:.3g} outside [{b['numbers'][lo]:.3g}, {b['numbers'][hi]:.3g}]")
    return bad


def _fmt_interval(numbers: dict) -> str:
    parts = [f"{p} {numbers[p]:.3g} [{numbers[lo]:.3g}, {numbers[hi]:.3g}]" for p, lo, hi in intervals(numbers)]
    if parts:
        return "; ".join(parts)
    return "; ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in list(numbers.items())[:3])


def table(a: dict, b: dict, names: tuple[str, str]) -> tuple[str, int]:
    """A markdown table of every claim in either run, and how many verdicts differ."""
    lines = [f"| paper | claim | verdict ({names[0]}) | verdict ({names[1]}) | deciding numbers ({names[0]}) | "
             f"deciding numbers ({names[1]}) | each inside the other's interval |", "|---|---|---|---|---|---|---|"]
    differ = 0
    for key in sorted(set(a) | set(b)):
        ra, rb = a.get(key), b.get(key)
        va, vb = (r["verdict"] if r else "not run" for r in (ra, rb))
        differ += va != vb
        if ra and rb:
            misses = inside(ra, rb) + inside(rb, ra)
            overlap = "yes" if intervals(ra["numbers"]) and not misses else "no: " + "; ".join(misses) if misses else "(no interval)"
        else:
            overlap = "-"
        same = "" if va == vb else " **(differs)**"
        lines.append(f"| {key[0]} | {key[1]} | {va} | {vb}{same} | {_fmt_interval(ra['numbers']) if ra else '-'} | "
                     f"{_fmt_interval(rb['numbers']) if rb else '-'} | {overlap} |")
    return "\n".join(lines), differ


ABLATION_METRICS = ("nomus", "fs", "test_acc")


def ablation_verdicts(per_split) -> dict[tuple[str, str], dict]:
    """(variant, metric) -> notebook 05's verdict of that variant against DLFD, with the paired difference and its
    interval, from the per-split ablation table."""
    import pandas as pd

    from unlearn.experiments import dlfd

    summary = dlfd.ablation_summary(pd.DataFrame(per_split))
    return {(name, m): {k: (v if k == "verdict" else float(v)) for k, v in r.items()}
            for m in ABLATION_METRICS for name, r in dlfd.ablation_verdicts(summary, m).iterrows()}


def ablation_table(per_split_a: list[dict], per_split_b: list[dict], names: tuple[str, str]) -> tuple[str, int, int]:
    """A markdown table of notebook 05's verdicts (:func:`ablation_verdicts`) under both settings, from each
    setting's per-split ablation rows; with how many verdicts differ and how many there are."""
    a, b = ablation_verdicts(per_split_a), ablation_verdicts(per_split_b)
    lines = [f"| variant | metric | verdict ({names[0]}) | verdict ({names[1]}) | variant - DLFD ({names[0]}) | "
             f"variant - DLFD ({names[1]}) | each inside the other's interval |", "|---|---|---|---|---|---|---|"]
    differ = 0
    for key in a:
        ra, rb = a[key], b.get(key)
        if rb is None:
            continue
        differ += ra["verdict"] != rb["verdict"]
        d = f"d_{key[1]}"
        inside_both = rb["lo"] <= ra[d] <= rb["hi"] and ra["lo"] <= rb[d] <= ra["hi"]
        same = "" if ra["verdict"] == rb["verdict"] else " **(differs)**"
        lines.append(f"| {key[0]} | {key[1]} | {ra['verdict']} | {rb['verdict']}{same} | {ra[d]:.3g} [{ra['lo']:.3g}, "
                     f"{ra['hi']:.3g}] | {rb[d]:.3g} [{rb['lo']:.3g}, {rb['hi']:.3g}] | {'yes' if inside_both else 'no'} |")
    return "\n".join(lines), differ, len(a)


def load_ablation(results: Path, profile: str) -> list[dict] | None:
    import pandas as pd

    path = results / profile / "dlfd_ablation_splits.csv"
    return pd.read_csv(path).to_dict("records") if path.exists() else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="results root of setting A (holds <profile>/claims.json)")
    ap.add_argument("b", type=Path, help="results root of setting B")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--names", default="A,B", help="the two settings' names for the table's header")
    ap.add_argument("--out", type=Path, help="also write the table here")
    ap.add_argument("--papers", nargs="+", help="compare only these papers' claims (the notebooks both runs ran)")
    ap.add_argument("--machine", help="the CPU setting B ran on, when not this one (default: this machine's model name)")
    ap.add_argument("--save", type=Path, help="also keep setting B's claims here, with its name (for the README: "
                    "results/cpu/claims_kernels_b.json, which tools/findings.py reads)")
    args = ap.parse_args(argv)
    names = tuple(args.names.split(","))
    a, b = load(args.a, args.profile), load(args.b, args.profile)
    if args.papers:
        a, b = ({k: v for k, v in run.items() if k[0] in args.papers} for run in (a, b))
    text, differ = table(a, b, names)
    saved = {"setting": names[1], "claims": list(b.values()), "machine": args.machine or machine(),
             "compared_with": hashlib.sha256((args.a / args.profile / "claims.json").read_bytes()).hexdigest()[:16]}
    abl_a, abl_b = load_ablation(args.a, args.profile), load_ablation(args.b, args.profile)
    if abl_a and abl_b:
        abl_text, abl_differ, _ = ablation_table(abl_a, abl_b, names)
        text += "\n\nNotebook 05 (DLFD ablation; each variant against DLFD, paired over forget splits):\n\n" + abl_text
        differ += abl_differ
        saved["ablation_splits"] = abl_b
    if args.save:
        args.save.write_text(json.dumps(saved, indent=1))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    print(f"\n{differ} verdict(s) differ between the two settings", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
