"""The smoke notebooks' numbers, checked against the stored reference run with a tolerance per quantity.

Run by ``make notebooks`` after the smoke notebooks (``pytest tests/smoke_results.py``), not by the unit tests:
it reads what that run wrote to ``results/smoke/``. The references are ``tests/smoke_reference/results/``, written
by ``make refresh-smoke``.

Why tolerances: floating-point results differ in the last digits between CPUs (instruction sets, BLAS and oneDNN
kernels, thread counts), and a few training steps turn that into a sample more or less classified correctly. Exact
equality holds only for what no CPU changes (sizes, seeds, splits, sample counts drawn from seeded generators):
those columns are compared exactly. Every other quantity has a tolerance written down below with its reason,
chosen from what the quantity is (how many samples an accuracy counts, how tightly a solver converges), not from
what a run happened to give. A column that matches no rule fails the check, so a new output is never silently
unchecked. Not compared: wall times (they differ run to run on the same machine), and two quantities derived from
compared ones whose smoke-size values swing on one image (the bootstrap bounds of label repair's restoration ratio,
the name of a yardstick's best method); their rules say why.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "smoke_reference" / "results"
RUN = ROOT / "results" / "smoke"


@dataclass(frozen=True)
class Rule:
    pattern: str  # regular expression on the column name (searched), first matching rule wins
    abs_tol: float | None  # |run - reference| allowed; 0 = exact; None = not compared
    rel_tol: float  # ... or this share of |reference|, whichever is larger
    why: str
    needs: str | None = None  # the rule applies only in files with this column: a Student-t interval's ``n``, whose
    #                           bounds get abs_tol widened by t_bound_tolerance (see below)

    def tolerance(self, reference: float, n: int | None = None) -> float:
        """|run - reference| allowed for one value (``n``: the row's count, for a rule that ``needs`` it)."""
        if self.needs:
            return t_bound_tolerance(self.abs_tol, n)
        return max(self.abs_tol, self.rel_tol * abs(reference))


# The smoke sets are small: forget sets of 12-36 samples, evaluation sets of 60-600. One standard error of an
# accuracy near 0.5 on 100 samples is sqrt(0.25 / 100) = 0.05, which is 2 samples of a 36-sample forget set.
SE_100 = 0.05

RULES = [
    Rule(r"seconds|speedup|_vs_gold|_vs_retrain|^time|wall|peak_mb|search_seconds", None, 0.0,
         "wall time and ratios of it: differ run to run on one machine; budgets are checked by the timing runs"),
    Rule(r"^(seed|split|rep|affected|size|samples|n|n_splits|n_test|n_train|flipped|dims|batches|retain_size|profile|kind|"
         r"parameter|value|chosen|selected|dataset|method|variant|model|name|task|variant|class|c)$", 0, 0.0,
         "sizes, seeds, replicates, splits, rows a removal affects, grid values and labels: set by the profile or drawn "
         "from seeded generators"),
    Rule(r"grad_evals", 0, 0.05,
         "gradient evaluations: fixed by the recipe (epochs x samples), except for methods that stop by a rule "
         "(DLFD's FS threshold, NegGrad's target), which may take a batch more or less: 5 %"),
    Rule(r"perturbed_batches|best_batch|ascent_steps|epochs|rounds", 2, 0.0,
         "steps taken by a rule (perturb while FS is high; stop at a target; repair until nothing is misclassified): "
         "may move by a step or two"),
    Rule(r"images|gap_images", 10, 0.05,
         "counts of test images (restored, lost to the poison): a count of a 600-image smoke test set moves by a few "
         "images when one model differs by a hair; 10 images or 5 %"),
    Rule(r"residual|sigma|eps_at|G_norm|grad_norm|step_norm", 0.0, 0.02,
         "gradient residuals and the certificate's sigma/epsilon: L-BFGS stops at a gradient tolerance, so its "
         "solution moves ~0.1 % between BLAS builds; 2 % is an order above that and far below any method's gap"),
    Rule(r"logppl|exposure|test_loss|loss", 0.1, 0.02,
         "canary log-perplexities, exposure (bits) and losses of a one-epoch LSTM: 0.1 or 2 %"),
    Rule(r"act_dist|js|param_dist|dist", 0.0, 0.10,
         "distances between models (activations, Jensen-Shannon, parameters): 10 % of the value"),
    Rule(r"tau|damping|lr\b|^lr", 0, 0.0,
         "step sizes chosen from a grid: a different choice is a different protocol outcome, compared exactly"),
    Rule(r"^restored_(lo|hi)$", None, 0.0,
         "bootstrap bounds of the share of damage undone: a ratio whose denominator (the test images the poison cost, "
         "13-39 at smoke size) comes near zero in some resamples, so its bounds are heavy-tailed and one image more "
         "or less in a model moves them by more than the point estimate's whole range (seen: -2.24 and -0.48 for the "
         "same lower bound on two CPUs); the point estimate, its per-seed minimum and the image counts are compared"),
    Rule(r"^restored", 0.75, 0.0,
         "share of the poison's damage undone (1 = all of it), and its bootstrap bounds: restored images over the "
         "images the poison cost, which at smoke size is 13-39 test images (02_poisoning_regime.gap_images); the "
         "images rule's 10 images over the smaller gap of 13"),
    Rule(r"_best$", None, 0.0,
         "the method a yardstick ranks first: the argmax of values that are compared themselves (forgetting_yardsticks, "
         "forgetting_quality), which at smoke size often tie within one forget image (Delta moves by 1/120); a tie "
         "broken the other way is not a difference of its own"),
    Rule(r"^quality|at_cap", 0.1, 0.0,
         "forgetting quality (notebook 06): a mean over the forget examples (30 at smoke) of per-example scores in "
         "{1, 1/2, 1/4, ...}, and the share of examples at the epsilon cap; one example moving by a bucket or more "
         "changes it by up to 1/30, so three examples: 0.1"),
    Rule(r"epsilon", 0.5, 0.0, "a median per-example epsilon: one bucket of the competition's score (0.5)"),
    Rule(r"spearman", 0.4, 0.0,
         "a rank correlation over four methods (smoke): one swap of two neighbours moves it by 0.2; two swaps"),
    Rule(r"^(lo|hi)$", SE_100, 0.0,
         "bounds of a Student-t interval over n splits or seeds (the row's n): when each of the n values may move by "
         "one standard error (0.05), the mean moves by at most 0.05 and the half-width by at most "
         "t(0.975, n-1) x 0.05 / sqrt(n-1), so 0.05 x (1 + t/sqrt(n-1)): 0.69 at n = 2, 0.12 at n = 5",
         needs="n"),
    Rule(r"acc|delta|changed|agreement|mia|fs|nomus|restored|gap|easy|auroc|balanced|fit|share|rate|drop|_lo$|_hi$|"
         r"^d_|diff|lo|hi|score|prob|frac|^mean$", SE_100, 0.0,
         "accuracies, shares of samples and the scores built from them (Delta, MIA, FS, NoMUS, AUROC, restoration, "
         "their bootstrap bounds, paired differences and means over splits): one standard error of an accuracy on 100 samples"),
]

# Files not compared: wall times, and notebook 04's claims table, whose rows are verdicts and formatted numbers
# computed from the CSVs above (compared there, each with its own tolerance)
NOT_COMPARED = {"notebook_times.csv", "cell_times.csv", "claims_table.csv"}

BOOL_RULE = "booleans (a claim's verdict, no-op flags, diverged flags): compared exactly"


def rule_for(column: str, columns=()) -> Rule | None:
    """The first rule matching ``column`` in a file with these ``columns`` (a rule that ``needs`` a column the file
    lacks is passed over)."""
    for rule in RULES:
        if re.search(rule.pattern, column) and (rule.needs is None or rule.needs in columns):
            return rule
    return None


def t_bound_tolerance(per_value: float, n: int) -> float:
    """How far a bound of a Student-t interval over ``n`` values can move when each value moves by ``per_value``:
    the mean by ``per_value``, the half-width t(0.975, n-1) s / sqrt(n) by t x per_value / sqrt(n-1) (the sample
    standard deviation moves by at most per_value x sqrt(n / (n-1)))."""
    from scipy.stats import t

    return per_value * (1 + t.ppf(0.975, n - 1) / math.sqrt(n - 1)) if n >= 2 else per_value


def compare(run: pd.DataFrame, ref: pd.DataFrame, where: str = "") -> list[str]:
    """Every difference between ``run`` and ``ref`` beyond the rules' tolerances, as readable lines (empty: they agree)."""
    problems = []
    if list(run.columns) != list(ref.columns):
        return [f"{where}: columns differ: {list(run.columns)} vs reference {list(ref.columns)}"]
    if run.shape != ref.shape:
        return [f"{where}: shape {run.shape} vs reference {ref.shape}"]
    for col in ref.columns:
        a, b = run[col], ref[col]
        if pd.api.types.is_bool_dtype(b) or set(b.dropna().unique()) <= {True, False} and b.dtype == object:
            bad = [i for i in range(len(b)) if str(a.iloc[i]) != str(b.iloc[i])]
            problems += [f"{where}[{i}, {col}]: {a.iloc[i]!r} vs {b.iloc[i]!r} ({BOOL_RULE})" for i in bad]
            continue
        num_a, num_b = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
        if num_b.isna().sum() > b.isna().sum():  # text column: exact, unless a rule says it is not compared
            if (rule := rule_for(col, ref.columns)) is not None and rule.abs_tol is None:
                continue
            bad = [i for i in range(len(b)) if str(a.iloc[i]) != str(b.iloc[i])]
            problems += [f"{where}[{i}, {col}]: {a.iloc[i]!r} vs {b.iloc[i]!r} (text: exact)" for i in bad]
            continue
        rule = rule_for(col, ref.columns)
        if rule is None:
            problems.append(f"{where}: column {col!r} matches no tolerance rule in tests/smoke_results.py; add one")
            continue
        if rule.abs_tol is None:
            continue
        for i, (x, y) in enumerate(zip(num_a.to_numpy(float), num_b.to_numpy(float))):
            if math.isnan(y) or math.isnan(x):
                if math.isnan(x) != math.isnan(y):
                    problems.append(f"{where}[{i}, {col}]: {x} vs {y} (one is NaN)")
                continue
            tol = rule.tolerance(y, int(ref[rule.needs].iloc[i]) if rule.needs else None)
            if abs(x - y) > tol + 1e-12:
                problems.append(f"{where}[{i}, {col}]: {x:.6g} vs reference {y:.6g}, |diff| {abs(x - y):.3g} > {tol:.3g} "
                                f"({rule.why.split(':')[0]})")
    return problems


def reference_files() -> list[Path]:
    return sorted(REFERENCE.glob("*.csv"))


def test_every_reference_file_was_written_again():
    assert reference_files(), f"no references in {REFERENCE}; run make refresh-smoke"
    missing = [p.name for p in reference_files() if not (RUN / p.name).exists()]
    extra = sorted(p.name for p in RUN.glob("*.csv") if not (REFERENCE / p.name).exists() and p.name not in NOT_COMPARED)
    assert not missing, f"the smoke run did not write {missing}"
    assert not extra, f"the smoke run wrote {extra}, which have no reference (make refresh-smoke)"


@pytest.mark.parametrize("name", [p.name for p in reference_files()])
def test_smoke_numbers_within_tolerance(name):
    run, ref = pd.read_csv(RUN / name), pd.read_csv(REFERENCE / name)
    problems = compare(run, ref, name)
    assert not problems, "\n".join(problems[:40]) + (f"\n... {len(problems) - 40} more" if len(problems) > 40 else "")


def describe(rule: Rule) -> str:
    """A rule's tolerance in words."""
    if rule.abs_tol is None:
        return "not compared"
    if rule.needs:
        return f"{rule.abs_tol:g} x (1 + t(0.975, {rule.needs}-1) / sqrt({rule.needs}-1))"
    parts = ([f"{rule.abs_tol:g}"] if rule.abs_tol else []) + ([f"{rule.rel_tol:.0%} of the value"] if rule.rel_tol else [])
    return " or ".join(parts) + (" (the larger)" if len(parts) == 2 else "") if parts else "exact"


def markdown_table() -> str:
    """The tolerance table as the README shows it (``python tests/smoke_results.py`` prints it)."""
    rows = [f"| `{r.pattern.replace('|', '&#124;')}` | {describe(r)} | {r.why} |" for r in RULES]
    return "\n".join(["| columns (regular expression) | tolerance | why |", "|---|---|---|", *rows])


def same_bytes(run: pd.DataFrame, ref: pd.DataFrame) -> tuple[int, int]:
    """How many of the compared values (wall times left out) are exactly the reference's, and how many there are:
    whether two runs made the same numbers, not only numbers within tolerance."""
    same = total = 0
    for col in ref.columns:
        rule = rule_for(col, ref.columns)
        if rule is RULES[0] or col not in run.columns or len(run) != len(ref):
            continue
        a, b = run[col], ref[col]
        same, total = same + int(((a == b) | (a.isna() & b.isna())).sum()), total + len(b)
    return same, total


def report(run_dir: Path = RUN, reference_dir: Path = REFERENCE) -> str:
    """Every difference of a smoke run from the references, file by file (``make notebooks-kernels``), and how many
    values are the same bytes."""
    lines, bad, same, total = [], 0, 0, 0
    refs = sorted(reference_dir.glob("*.csv"))
    for ref in refs:
        run = run_dir / ref.name
        if not run.exists():
            problems = [f"{ref.name}: not written"]
        else:
            a, b = pd.read_csv(run), pd.read_csv(ref)
            problems = compare(a, b, ref.name)
            k, n = same_bytes(a, b)
            same, total = same + k, total + n
        bad += bool(problems)
        lines.append(f"{ref.name}: {'within tolerance' if not problems else f'{len(problems)} values beyond tolerance'}")
        lines += ["    " + p for p in problems]
    lines.append(f"{bad} of {len(refs)} files beyond tolerance; {same} of {total} compared values the same bytes "
                 "(wall times left out)")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="the tolerance table (default), or a smoke run against references")
    ap.add_argument("--report", action="store_true", help="every value beyond tolerance, and how many are the same bytes")
    ap.add_argument("--run", type=Path, default=RUN, help="the run's CSVs (default: results/smoke)")
    ap.add_argument("--reference", type=Path, default=REFERENCE, help="the references (default: tests/smoke_reference/results)")
    args = ap.parse_args()
    print(report(args.run, args.reference) if args.report else markdown_table())
