"""Write the README's findings from the recorded results, never by hand: the headline figure, the claims table
(from ``results/cpu/claims.json``, which notebooks 01-03 and 05 write) and each notebook's cpu runtime and peak
memory (from ``results/cpu/notebook_times.csv``, which ``tools/run_notebooks.py`` writes). The same runtimes go
into each notebook's "at a glance" cell, and each paper notebook's verdicts into the verdict box there. ``make
reproduce`` runs it last.

    python tools/findings.py           # rewrite README.md between its findings markers, the notebooks' runtime lines
    python tools/findings.py --check   # exit 1 if either is out of date (a unit test runs this)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import nbformat

from unlearn import claims

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- findings:start (written by tools/findings.py) -->", "<!-- findings:end -->"
HEADLINE = ("01_tmu_delta_seeds", "02_poisoning_restoration", "03_accuracy_vs_fs")  # one result per paper
BUDGET_S = {"00": 60}  # every other notebook: 15 minutes at the cpu profile


def _fmt(v) -> str:
    if isinstance(v, bool) or not isinstance(v, float):
        return str(v)
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _defined_claims() -> tuple[list, dict]:
    """Every claim the notebooks record (the experiments' claims as data) and notebook stem -> paper name."""
    from unlearn.experiments import dlfd, features_labels, tmu

    stems = {"01_twin_machine_unlearning": tmu.claims.PAPER, "02_unlearning_features_and_labels": features_labels.PAPER,
             "03_distribution_level_feature_distancing": dlfd.claims.PAPER}
    return [*tmu.CLAIMS, *features_labels.CLAIMS, *dlfd.CLAIMS], stems


def _recorded(root: Path) -> list[dict]:
    path = root / "results" / "cpu" / "claims.json"
    return json.loads(path.read_text()) if path.exists() else []


def claims_table(root: Path = ROOT) -> str:
    rows = _recorded(root)
    if not rows:
        return "No claims recorded at the cpu profile yet: run `make reproduce`."
    held = sum(r["holds"] for r in rows)
    unsure = sum(r.get("verdict") == "inconclusive" for r in rows)
    defined, stems = _defined_claims()
    out = [f"**{held} of {len(rows)} claims hold at the cpu profile, {unsure} inconclusive.** Each row is checked by its "
           "notebook against the numbers that run computed (`results/cpu/claims.json`); a claim that does not hold is "
           "reported with the same numbers, not dropped; one whose interval contains its threshold is inconclusive. "
           "The bar, the rule and the source of each threshold (the paper, its release, or this companion) are data "
           "next to each experiment (`src/unlearn/experiments/<paper>/claims.py`)."]
    notebook = {paper: stem for stem, paper in stems.items()}
    for paper in dict.fromkeys(r["paper"] for r in rows):  # the record's order: the notebooks' (claims.PAPER_ORDER)
        stem = notebook.get(paper)
        where = f" ([notebook {stem[:2]}](executed/cpu/{stem}.ipynb))" if stem else ""
        out += ["", f"**{paper}**{where}", "", claims.verdict_box([r for r in rows if r["paper"] == paper], defined)]
    return "\n".join(out)


def notebook_box(stem: str, root: Path = ROOT) -> str | None:
    """The verdict box of a paper notebook's last cpu run (None for a notebook that records no claims)."""
    defined, stems = _defined_claims()
    if stem not in stems:
        return None
    mine = [r for r in _recorded(root) if r["paper"] == stems[stem]]
    if not mine:
        return "no verdicts recorded at the cpu profile yet: run `make reproduce`"
    return ("\n\n" + claims.verdict_box(mine, defined) + "\n\n*Section \"The paper's claims\" below computes each "
            "of these on this run; `results/cpu/claims.json` holds the last cpu run's.*\n\n")


def _csv(root: Path, name: str, index: bool = True):
    import pandas as pd

    path = root / "results" / "cpu" / name
    return pd.read_csv(path, index_col=0 if index else None) if path.exists() else None


def tmu_outcome(root: Path = ROOT) -> str | None:
    """Notebook 01's "what this run shows" in plain statements, from the last cpu run's result files (None before
    one exists): where TMU's Delta stands against its oracle and the baselines, whether the predictor keeps the right
    number and the right samples, the other classes, and Table 4's noise."""
    t1, cal, t4 = (_csv(root, f) for f in ("tmu_table1.csv", "tmu_calibration.csv", "tmu_table4.csv"))
    seeds, other = _csv(root, "tmu_table1_seeds.csv", index=False), _csv(root, "tmu_other_classes.csv", index=False)
    agree = next((r for r in _recorded(root) if r["paper"] == "TMU" and "agrees" in r["claim"]), None)
    if t1 is None or cal is None or seeds is None or agree is None:
        return None
    d = t1["delta"].astype(float)
    per_seed = agree["numbers"]["samples"] // seeds["seed"].nunique()  # |D_f| of one seed
    image = 1 / per_seed
    tmu, oracle, rate = d["TMU"], d["TMU (oracle)"], d["TMU (rate-only)"]
    step = ("even the oracle, which keeps exactly the samples the gold model gets right, is no closer"
            if oracle >= tmu - image else f"the oracle is closer by {tmu - oracle:.3f}, so the predictor costs part of it")
    base = {m: d[m] for m in ("random label", "Bad Teacher", "NegGrad") if m in d}
    closer = [m for m, v in base.items() if v <= tmu]
    lines = [f"* **Table 1.** TMU's mean $\\Delta$ is {tmu:.3f} ({tmu * per_seed:.0f} of {per_seed} forget images a "
             f"seed) and {step} ({oracle:.3f})"
             + (": at this size the fine-tuning step, not the prediction, keeps $\\Delta$ above 0.05. "
                if oracle >= tmu - image and oracle > 0.05 else ". ")
             + "The paper's baselines: " + ", ".join(f"{m} {v:.3f}" for m, v in base.items()) + "; "
             + (f"{' and '.join(closer)} {'is' if len(closer) == 1 else 'are'} as close to the gold model as TMU or "
                "closer (the verdict box gives the paired interval)." if closer else "TMU is closer than each.")]
    n = agree["numbers"]
    lines.append(f"* **Per-sample prediction matters.** Rate-only TMU, which keeps as many samples but chosen blind, "
                 f"ends at $\\Delta$ {rate:.3f} against TMU's {tmu:.3f}, and TMU agrees with the gold model on "
                 f"{n['agreement_tmu_minus_rate_only']:+.3f} more of $D_f$ [{n['lo']:.3f}, {n['hi']:.3f}], decided by "
                 f"{n['discordant_samples']} of {n['samples']} samples.")
    run = cal.iloc[0]
    lines.append(f"* **The predictor** ({cal.index[0]}) calls {run['predicted_easy']:.0%} of $D_f$ easy against a true "
                 f"{run['true_easy']:.0%}: a hard sample it calls easy keeps its label and stays fitted, an easy one it "
                 "calls hard is relabelled and forgotten, and either moves the forget accuracy away from the gold "
                 "model's.")
    if other is not None:
        parts = []
        for c, g in other.groupby("class"):
            m = {k: g[f"delta_{k}"].mean() for k in ("TMU", "random label", "Bad Teacher")}
            below = m["TMU"] < min(m["random label"], m["Bad Teacher"])
            parts.append(f"class {c}: TMU {m['TMU']:.3f}, random label {m['random label']:.3f}, Bad Teacher "
                         f"{m['Bad Teacher']:.3f} ({'TMU lowest' if below else 'TMU not below both'}, "
                         f"{len(g)} seeds)")
        lines.append("* **Off the class it was sized on** (`tools/tmu_other_classes.py`): " + "; ".join(parts) + ".")
    if t4 is not None and len(t4) == 2:
        gold = seeds[seeds["method"] == "retrain (gold)"].iloc[0]  # Table 4 runs the first seed
        sd = seeds[seeds["method"] == "TMU"]["delta"].std(ddof=1)
        (a, ra), (b, rb) = t4.iterrows()
        diff = abs(ra["delta"] - rb["delta"])
        lines.append(f"* **Table 4** (one seed): $\\Delta$ {ra['delta']:.3f} ({a}) against {rb['delta']:.3f} ({b}), "
                     f"{diff * per_seed:.0f} images apart, against a seed-to-seed sd of TMU's $\\Delta$ of {sd:.3f}; "
                     f"`mia_easy` {ra['mia_easy']:.3f} and {rb['mia_easy']:.3f} against the gold model's "
                     f"{gold['mia_easy']:.3f}. " + ("The noise has no effect this run can measure."
                                                    if diff < sd else "The difference exceeds the spread between seeds."))
    return "\n\n" + "\n".join(lines) + "\n\n"


OUTCOMES = {"01_twin_machine_unlearning": tmu_outcome}  # notebook -> its "what this run shows" block


# the comparisons the README shows beside the cpu run's verdicts: (file under results/cpu/, the other run's name, how it
# was made); each is written by ``tools/compare_settings.py --save``
COMPARISONS = (
    ("claims_kernels_b.json", "second setting", "**Under a second kernel setting** (`{setting}`, `make reproduce-kernels`, "
     "the notebooks that record claims run again from an empty model cache; {when})"),
    ("claims_previous_machine.json", "previous machine", "**On another machine** ({setting}; {when})"),
)


def settings_table(root: Path = ROOT) -> str:
    """Every claim's verdict in this cpu run and in each other run of :data:`COMPARISONS` that exists (a second kernel
    setting, ``make reproduce-kernels``; the previous machine's run); empty when none does."""
    main = root / "results" / "cpu" / "claims.json"
    if not main.exists():
        return ""
    sys.path.insert(0, str(Path(__file__).parent))
    import compare_settings

    a = {(r["paper"], r["claim"]): r for r in json.loads(main.read_text())}
    out = []
    for file, name, head in COMPARISONS:
        path = root / "results" / "cpu" / file
        if not path.exists():
            continue
        other = json.loads(path.read_text())
        b = {(r["paper"], r["claim"]): r for r in other["claims"]}
        names = ("this run", name)
        text, _ = compare_settings.table({k: a[k] for k in b if k in a}, b, names)
        verdict = lambda r: r.get("verdict", "holds" if r["holds"] else "does not hold")
        both = set(a) & set(b)  # a run of some notebooks only compares their claims
        same = sum(verdict(a[k]) == verdict(b[k]) for k in both)
        current = other.get("compared_with") == hashlib.sha256(main.read_bytes()).hexdigest()[:16]
        when = (f"on {other['machine']}" if current else
                "made against an earlier cpu run than this one, so the two columns differ in machine and code as well as "
                "in the setting")
        out += ["" if out else None, head.format(setting=other["setting"], when=when)
                + f": {same} of {len(both)} verdicts are the same, {len(both) - same} differ. The two runs train different models "
                "(their numbers differ beyond the last digits); a verdict that survives both does not depend on the "
                "machine.", "", text]
        abl_a = compare_settings.load_ablation(root / "results", "cpu")
        if abl_a and other.get("ablation_splits"):
            abl_text, abl_differ, n = compare_settings.ablation_table(abl_a, other["ablation_splits"], names)
            out += ["", f"Notebook 05's ablation (no claim of the paper; each variant against DLFD on "
                    f"{', '.join(compare_settings.ABLATION_METRICS)}, paired over the forget splits) in both runs: "
                    f"{n - abl_differ} of {n} verdicts the same.", "", abl_text]
    return "\n".join(x for x in out if x is not None)


def times(root: Path = ROOT) -> dict[str, dict]:
    path = root / "results" / "cpu" / "notebook_times.csv"
    return {r["notebook"]: r for r in csv.DictReader(open(path))} if path.exists() else {}


def runtime_text(row: dict | None) -> str | None:
    if not row:
        return None
    s = float(row["seconds"])
    t = f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"
    where = f", {row['cpu']}, speed probe {row['probe_s']} s" if row.get("cpu") else ""  # which machine, how fast
    return f"`cpu` {t} from an empty cache (peak memory {float(row['peak_rss_mb']) / 1024:.1f} GiB{where})"


def runtime_table(root: Path = ROOT) -> str:
    rows = times(root)
    probed = any(r.get("cpu") for r in rows.values())
    used = any(r.get("cpu_s") for r in rows.values())  # runs since the runner read the kernel's CPU time
    out = ["| notebook | cpu wall time, empty cache | budget | peak memory |" + (" kernel CPU time (host's time stolen) |" if used else "")
           + (" machine (speed probe) |" if probed else ""),
           "|---|---|---|---|" + ("---|" if used else "") + ("---|" if probed else "")]
    for name, r in sorted(rows.items()):
        s = float(r["seconds"])
        budget = BUDGET_S.get(name[:2], 900)
        flag = "" if s <= budget else " (**over**)"
        cpu = ""
        if used:  # CPU time near 2x the wall time: both cores busy; a large stolen share: a busy host, not slow code
            stolen = f" ({float(r['steal_pct']):.1f} % stolen)" if r.get("steal_pct") else ""
            cpu = f" {float(r['cpu_s']) / 60:.1f} min{stolen} |" if r.get("cpu_s") else " not measured (an earlier run) |"
        # runs since tools/machine_probe.py say which machine and how fast it was (a larger probe is slower)
        machine = (f" {r['cpu']} ({r['probe_s']} s) |" if r.get("cpu") else " not probed (an earlier machine) |") if probed else ""
        out.append(f"| `{name}` | {s / 60:.1f} min{flag} | {budget / 60:.0f} min | {float(r['peak_rss_mb']) / 1024:.1f} GiB |"
                   + cpu + machine)
    if probed:
        out += ["", "Speed probe: `tools/machine_probe.py`, a fixed small-CNN training run at the notebook's threads; "
                "times from machines with different probes do not compare."]
    if used:
        out += ["", "Kernel CPU time: user and system time of the notebook's kernel and its workers, every thread (about twice "
                "the wall time when both cores are busy); stolen: the share of the host's CPU time the hypervisor gave "
                "to other guests during the notebook (`/proc/stat`), so a shared host's slow run shows as such."]
    return "\n".join(out)


def time_breakdown(root: Path = ROOT, share: float = 0.05) -> str:
    """Where each notebook's cpu time goes: the cells that take at least ``share`` of it, by the call each makes
    first (``results/cpu/cell_times.csv``, which the runner writes beside the notebook times), and the share of its
    work that would fit its budget at the same speed. Empty where no notebook's cells were timed."""
    path = root / "results" / "cpu" / "cell_times.csv"
    if not path.exists():
        return ""
    cells: dict[str, list] = {}
    for r in csv.DictReader(open(path)):
        cells.setdefault(r["notebook"], []).append((float(r["seconds"]), r["call"] or f"cell {r['cell']}"))
    rows, totals = times(root), []
    out = ["| notebook | wall time | cells with 5 % of it or more (seconds, share) | work that fits the budget at this speed |",
           "|---|---|---|---|"]
    for name, cs in sorted(cells.items()):
        wall = float(rows[name]["seconds"]) if name in rows else sum(c for c, _ in cs)
        big = sorted((c for c in cs if c[0] >= share * wall), reverse=True)
        budget = BUDGET_S.get(name[:2], 900)
        fits = "all of it" if wall <= budget else f"{budget / wall:.0%}"
        out.append(f"| `{name}` | {wall:,.0f} s | " + "; ".join(f"`{call}` {c:,.0f} s ({c / wall:.0%})" for c, call in big)
                   + f" | {fits} |")
        totals.append(name)
    missing = sorted(set(rows) - set(totals))
    if missing:
        out += ["", "Cells not timed (run before the runner recorded cell times): " + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(out)


def headline_figure(root: Path = ROOT) -> Path | None:
    """The three papers' result figures side by side, from the PNGs the last cpu run saved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [root / "figures" / f"{n}.png" for n in HEADLINE]
    if not all(p.exists() for p in paths):
        return None
    fig, axes = plt.subplots(1, 3, figsize=(21, 5.2), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    # each panel keeps its own figure's title; above it only which notebook and paper it comes from
    for ax, p, title in zip(axes, paths, ("notebook 01, TMU", "notebook 02, influence updates", "notebook 03, DLFD")):
        ax.imshow(plt.imread(p))
        ax.set_title(title, fontsize=13, fontweight="bold")
        ax.axis("off")
    fig.tight_layout()
    out = root / "figures" / "headline.png"
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out


def findings(root: Path = ROOT) -> str:
    fig = "![The three papers' main results at the cpu profile](figures/headline.png)\n\n" \
        if (root / "figures" / "headline.png").exists() else ""
    settings = settings_table(root)
    return "\n".join([START, "", fig + claims_table(root), "", *([settings, ""] if settings else []), "Per notebook, measured by `make reproduce` on two "
                      "cores (`results/cpu/notebook_times.csv`):", "", runtime_table(root), "",
                      *(["Where that time goes, cell by cell (`results/cpu/cell_times.csv`, the same runs):", "", breakdown, ""]
                        if (breakdown := time_breakdown(root)) else []), END])


def updated_readme(root: Path = ROOT) -> str:
    text = (root / "README.md").read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START!r} ... {END!r}")
    head, rest = text.split(START, 1)
    return head + findings(root) + rest.split(END, 1)[1]


def _fill(source: str, name: str, text: str) -> str:
    """``source`` with the text between ``<!-- name -->`` and ``<!-- /name -->`` replaced by ``text``."""
    head, rest = source.split(f"<!-- {name} -->", 1)
    return head + f"<!-- {name} -->" + text + f"<!-- /{name} -->" + rest.split(f"<!-- /{name} -->", 1)[1]


def _authored(nb) -> list:
    """A notebook's cells as its author wrote them: papermill's injected-parameters cell left out."""
    return [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


def _prose_from_source(executed, source) -> None:
    """Give an executed copy its source notebook's current text (markdown cells), when its code is the source's: the
    prose can then be corrected without a rerun, and never on a copy that ran other code (that needs the rerun)."""
    mine, theirs = _authored(executed), _authored(source)
    if [(c.cell_type, c.source if c.cell_type == "code" else "") for c in mine] != \
            [(c.cell_type, c.source if c.cell_type == "code" else "") for c in theirs]:
        return
    for cell, src in zip(mine, theirs):
        if cell.cell_type == "markdown":
            cell.source = src.source


def updated_notebooks(root: Path = ROOT) -> dict[Path, str]:
    """Each notebook's text with its runtime line set from notebook_times.csv and, in the paper notebooks, its
    verdict box from claims.json (only notebooks that change): the clean sources and the cpu executed copies, which
    were run from the sources as they stood before their own run recorded its time and claims, and which take the
    sources' current prose (:func:`_prose_from_source`)."""
    rows, out = times(root), {}
    for path in sorted([*(root / "notebooks").glob("[0-9][0-9]_*.ipynb"), *(root / "executed" / "cpu").glob("[0-9][0-9]_*.ipynb")]):
        text, box = runtime_text(rows.get(path.name)), notebook_box(path.stem, root)
        outcome = OUTCOMES[path.stem](root) if path.stem in OUTCOMES else None
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        source = root / "notebooks" / path.name
        if path.parent != source.parent and source.exists():
            _prose_from_source(nb, nbformat.read(source, as_version=4))
        for cell in nb.cells:
            if text is not None and "<!-- runtime -->" in cell.source:
                cell.source = _fill(cell.source, "runtime", text)
            if box is not None and "<!-- verdicts -->" in cell.source:
                cell.source = _fill(cell.source, "verdicts", box)
            if outcome is not None and "<!-- outcome -->" in cell.source:
                cell.source = _fill(cell.source, "outcome", outcome)
        after = nbformat.writes(nb)
        if after != before:
            out[path] = after
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only report whether README.md and the notebooks are current")
    args = ap.parse_args(argv)
    if not args.check:
        headline_figure()
    readme = updated_readme()
    stale = ([] if readme == (ROOT / "README.md").read_text() else ["README.md"])
    notebooks = updated_notebooks()
    stale += [str(p.relative_to(ROOT)) for p in notebooks]
    if args.check:
        print("out of date: " + ", ".join(stale) if stale else "README.md and notebooks are current")
        return 1 if stale else 0
    (ROOT / "README.md").write_text(readme)
    for p, text in notebooks.items():
        nbformat.write(nbformat.reads(text, as_version=4), p)
    print("rewrote: " + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
