"""Paper claims as data, checked against this run's numbers and recorded.

A :class:`Claim` holds a paper's claim: its text, where its threshold comes from (the paper, the release, or this
companion), the results it reads, and two pure functions of those results: the verdict (holds / does not hold /
inconclusive) and the numbers printed and recorded beside it. Each experiment keeps its claims next to its protocol
(``unlearn.experiments.<paper>.claims``), where unit tests evaluate them on synthetic results; a notebook calls
:func:`record` with its results. ``check`` prints a one-line verdict with the numbers behind it and writes it into
``results/<profile>/claims.json``, from which notebook 04 and the README's findings build their tables (never
typed). A claim that does not hold is reported, not hidden: the notebook keeps running so the reader sees every
verdict, and ``failed()`` lists the ones that did not hold.

At the ``smoke`` profile the data are too small for a paper's effect to be expected, so verdicts
there are informational; nbval still checks that they repeat exactly.
"""

from __future__ import annotations

import fcntl
import json
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from . import paths


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def verdict(lo: float, hi: float, threshold: float, better: str) -> str:
    """Three-valued verdict of a claim "the quantity is ``better`` ("below" or "above") ``threshold``" from its
    interval [lo, hi]: it holds when the whole interval is on the claimed side, does not hold when the whole interval
    is on the other side, and is inconclusive when the interval contains or touches the threshold (the data cannot
    tell, and a last-digit difference between machines could flip a point estimate either way)."""
    if better not in ("below", "above"):
        raise ValueError(f"better must be 'below' or 'above', got {better!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"need a finite interval lo <= hi, got [{lo}, {hi}]")
    holds, fails = (hi < threshold, lo > threshold) if better == "below" else (lo > threshold, hi < threshold)
    return HOLDS if holds else FAILS if fails else INCONCLUSIVE


def combine(*verdicts: str) -> str:
    """A claim made of parts: it holds when every part holds, fails when any part fails, else inconclusive."""
    return FAILS if FAILS in verdicts else HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, as data. ``decide`` and ``evidence`` are pure functions of the results named in
    ``needs`` (DataFrames, dicts and numbers an experiment computed): the verdict, and the numbers printed and
    recorded beside it. ``source`` says where the threshold comes from: ``paper: ...``, ``release: ...`` or
    ``ours: ...`` (a bar this companion set, and why), or two of them joined by "and" (``paper and ours: ...``: the
    paper makes the comparison, this companion sets the number)."""

    key: str  # short name, unique within its paper (what a notebook selects with ``only=``)
    paper: str
    text: str
    source: str
    needs: tuple[str, ...]
    decide: Callable[[Mapping], str | bool]
    evidence: Callable[[Mapping], dict]
    bar: str = ""  # the threshold in a few words, as a verdict box shows it ("interval below 0.10")
    deciding: tuple[str, ...] = ()  # evidence keys of the deciding number: (point, lo, hi), (lo, hi) or (point,)
    # the measured reason or caveat in one line, a pure function of the recorded evidence (so that a verdict box
    # rebuilt from claims.json says it, and it cannot go stale): what decided the verdict, or what a "holds" hides
    caveat: Callable[[Mapping], str] | None = None

    def evaluate(self, results: Mapping) -> tuple[str, dict]:
        """(verdict, numbers) on ``results``; a missing result is one error naming it."""
        missing = [k for k in self.needs if k not in results]
        if missing:
            raise KeyError(f"claim {self.key!r} ({self.paper}) needs the results {missing}; given {sorted(results)}")
        v = self.decide(results)
        return (v if isinstance(v, str) else HOLDS if v else FAILS), self.evidence(results)


def deciding_text(claim: Claim | None, numbers: dict) -> str:
    """The deciding number of a recorded claim as a verdict box shows it: ``0.138 [0.117, 0.159]`` (point and
    interval), ``0.68 to 2.11`` (a range over seeds) or one number; without ``deciding`` keys, every number of the
    evidence (none is left out: the one that decides must be visible)."""
    keys = [k for k in (claim.deciding if claim else ()) if k in numbers]
    f = lambda v: (f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}") if isinstance(v, float) else str(v)
    names = "".join(f" ({v})" for v in numbers.values() if isinstance(v, str))  # e.g. the closest method's name
    if len(keys) == 3:
        return f"{f(numbers[keys[0]])} [{f(numbers[keys[1]])}, {f(numbers[keys[2]])}]{names}"
    if len(keys) == 2:
        return f"{f(numbers[keys[0]])} to {f(numbers[keys[1]])}"
    if len(keys) == 1:
        return f(numbers[keys[0]])
    return ", ".join(f"{k} = {f(v)}" for k, v in numbers.items())


def against(label: str, lo: float, hi: float, bar: float, scale: float = 1.0, unit: str = "") -> str:
    """Where the interval [lo, hi] lies against ``bar``, in words, for a caveat: ``against("first order's interval",
    0.104, 0.258, 0.15, 100, " %")`` is "first order's interval [10.4, 25.8] % contains the 15 % bar". ``scale``
    multiplies every number shown (100 for percentages)."""
    f = lambda v: f"{v * scale:.3g}"
    where = "contains" if lo <= bar <= hi else "lies above" if lo > bar else "lies below"
    return f"{label} [{f(lo)}, {f(hi)}]{unit} {where} the {f(bar)}{unit} bar"


def caveat_text(claim: Claim | None, numbers: Mapping) -> str:
    """A recorded claim's one-line reason or caveat (empty for a claim without one, or no longer defined)."""
    return claim.caveat(numbers).replace("|", "/") if claim is not None and claim.caveat is not None else ""


def verdict_box(rows: list[dict], defined: Iterable[Claim]) -> str:
    """A markdown table of recorded verdicts (``rows`` from :func:`load`, one paper's or all): claim, deciding
    number with its interval, the bar it is judged against and where the bar comes from, the verdict, and the measured
    reason or caveat in one line (from the recorded numbers)."""
    by_text = {(c.paper, c.text): c for c in defined}
    label = {HOLDS: "holds", FAILS: "**does not hold**", INCONCLUSIVE: "inconclusive"}
    # five columns, so that the box fits a book page: the bar's source (paper, release, ours) goes with the bar
    out = ["| claim | number [95 % interval] | bar (set by) | verdict | measured reason or caveat |", "|---|---|---|---|---|"]
    for r in rows:
        c = by_text.get((r["paper"], r["claim"]))
        verdict = r.get("verdict", HOLDS if r["holds"] else FAILS)
        bar = f"{c.bar} ({c.source.split(':')[0]})" if c else ""
        out.append(f"| {r['claim'].replace('|', '/')} | {deciding_text(c, r['numbers'])} | {bar} | "
                   f"{label[verdict]} | {caveat_text(c, r['numbers'])} |")
    return "\n".join(out)


def record(claims_: Iterable[Claim], results: Mapping, profile: str, only: Iterable[str] | None = None) -> None:
    """Evaluate each claim (those whose ``key`` is in ``only``, when given) on ``results``; print and record its
    verdict with :func:`check`. Returns nothing, so a notebook cell shows only the verdict lines."""
    chosen = list(claims_)
    if only is not None:
        keys = list(only)
        unknown = set(keys) - {c.key for c in chosen}
        if unknown:
            raise KeyError(f"no claims {sorted(unknown)}; known: {[c.key for c in chosen]}")
        chosen = [c for c in chosen if c.key in keys]
    for c in chosen:
        v, numbers = c.evaluate(results)
        check(c.paper, c.text, v, numbers, profile)


def check(paper: str, claim: str, holds, numbers: dict, profile: str) -> None:
    """Record and print whether ``claim`` of ``paper`` holds: ``holds`` is a bool or a :func:`verdict` (holds /
    does not hold / inconclusive); ``numbers`` are the evidence. Returns nothing, so a check as a cell's last line
    adds no stray ``True`` / ``False`` to the notebook."""
    bad = [k for k, v in numbers.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"claim {claim!r}: non-finite evidence {bad}")
    result = holds if isinstance(holds, str) else (HOLDS if holds else FAILS)
    if result not in (HOLDS, FAILS, INCONCLUSIVE):
        raise ValueError(f"claim {claim!r}: verdict must be a bool or one of {HOLDS!r}, {FAILS!r}, {INCONCLUSIVE!r}")
    row = {"paper": paper, "claim": claim, "holds": result == HOLDS, "verdict": result, "numbers": numbers,
           "profile": profile}
    _update(profile, lambda rows: [r for r in rows if not (r["paper"] == paper and r["claim"] == claim)] + [row])
    label = {HOLDS: "HOLDS", FAILS: "DOES NOT HOLD at this scale", INCONCLUSIVE: "INCONCLUSIVE (the interval contains the threshold)"}
    # the verdict and the claim on one line, the evidence wrapped below it (a notebook's output stays readable)
    print(f"[{label[result]}] {claim}\n" + textwrap.fill(", ".join(f"{k}={_fmt(v)}" for k, v in numbers.items()), width=110,
                                                          initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False))


def reset(paper: str, profile: str) -> None:
    """Drop every verdict recorded for ``paper`` at ``profile``, so that claims a notebook no
    longer checks (renamed or removed) do not linger in the record; call before its checks."""
    _update(profile, lambda rows: [r for r in rows if r["paper"] != paper])


# the record lists the papers in the notebooks' order (01, 02, 03), each paper's claims in the order its notebook
# checks them: notebooks run side by side, so the order in which they finish must not order the record
PAPER_ORDER = ("TMU", "Warnecke et al. 2023 (NDSS)", "DLFD")


def _ordered(rows: list[dict]) -> list[dict]:
    rank = {p: i for i, p in enumerate(PAPER_ORDER)}
    return sorted(rows, key=lambda r: (rank.get(r["paper"], len(rank)), r["paper"] if r["paper"] not in rank else ""))


def _update(profile: str, change) -> None:
    """Rewrite the record through ``change(rows)`` under a lock: notebooks run side by side (``--jobs 2``) record
    their claims into the same file, and an unlocked read-modify-write would drop one notebook's rows."""
    path = paths.results_dir(profile) / "claims.json"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(path.read_text()) if path.exists() else []
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_ordered(change(rows)), indent=1, default=float))
        tmp.replace(path)


def load(profile: str) -> list[dict]:
    """Every claim recorded at ``profile``."""
    path = paths.results_dir(profile) / "claims.json"
    return json.loads(path.read_text()) if path.exists() else []


def failed(profile: str) -> list[dict]:
    return [r for r in load(profile) if not r["holds"]]
