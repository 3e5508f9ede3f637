"""Paper claims, checked against this run's numbers and recorded.

``check`` evaluates a claim, prints a one-line verdict with the numbers behind it, and appends
it to ``results/<profile>/claims.json``, from which notebook 04 builds its claims table (never
typed). A claim that does not hold is reported, not hidden: the notebook keeps running so the
reader sees every verdict, and ``failed()`` lists the ones that did not hold.

At the ``smoke`` profile the data are too small for a paper's effect to be expected, so verdicts
there are informational; nbval still checks that they repeat exactly.
"""

from __future__ import annotations

import json
import math

from . import paths


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def check(paper: str, claim: str, holds: bool, numbers: dict, profile: str) -> None:
    """Record and print whether ``claim`` of ``paper`` ``holds``; ``numbers`` are the evidence. Returns nothing, so
    a check as a cell's last line adds no stray ``True`` / ``False`` to the notebook."""
    bad = [k for k, v in numbers.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise ValueError(f"claim {claim!r}: non-finite evidence {bad}")
    holds = bool(holds)
    path = paths.results_dir(profile) / "claims.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    rows = [r for r in rows if not (r["paper"] == paper and r["claim"] == claim)]
    rows.append({"paper": paper, "claim": claim, "holds": holds, "numbers": numbers, "profile": profile})
    path.write_text(json.dumps(rows, indent=1, default=float))
    verdict = "HOLDS" if holds else "DOES NOT HOLD at this scale"
    print(f"[{verdict}] {claim}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in numbers.items()))


def reset(paper: str, profile: str) -> None:
    """Drop every verdict recorded for ``paper`` at ``profile``, so that claims a notebook no
    longer checks (renamed or removed) do not linger in the record; call before its checks."""
    path = paths.results_dir(profile) / "claims.json"
    if path.exists():
        rows = [r for r in json.loads(path.read_text()) if r["paper"] != paper]
        path.write_text(json.dumps(rows, indent=1, default=float))


def load(profile: str) -> list[dict]:
    """Every claim recorded at ``profile``."""
    path = paths.results_dir(profile) / "claims.json"
    return json.loads(path.read_text()) if path.exists() else []


def failed(profile: str) -> list[dict]:
    return [r for r in load(profile) if not r["holds"]]
