"""Paper claims, checked against this run's numbers and recorded.

``check`` evaluates a claim, prints a one-line verdict with the numbers behind it, and appends
it to ``results/<profile>/claims.json``, from which notebook 04 builds its claims table (never
typed). A claim that does not hold is reported, not hidden: the notebook keeps running so the
reader sees every verdict, and ``failed()`` lists the ones that did not hold.

At the ``smoke`` profile the data are too small for a paper's effect to be expected, so verdicts
there are informational; nbval still checks that they repeat exactly.
"""

from __future__ import annotations

import fcntl
import json
import math

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
    print(f"[{label[result]}] {claim}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in numbers.items()))


def reset(paper: str, profile: str) -> None:
    """Drop every verdict recorded for ``paper`` at ``profile``, so that claims a notebook no
    longer checks (renamed or removed) do not linger in the record; call before its checks."""
    _update(profile, lambda rows: [r for r in rows if r["paper"] != paper])


def _update(profile: str, change) -> None:
    """Rewrite the record through ``change(rows)`` under a lock: notebooks run side by side (``--jobs 2``) record
    their claims into the same file, and an unlocked read-modify-write would drop one notebook's rows."""
    path = paths.results_dir(profile) / "claims.json"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(path.read_text()) if path.exists() else []
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(change(rows), indent=1, default=float))
        tmp.replace(path)


def load(profile: str) -> list[dict]:
    """Every claim recorded at ``profile``."""
    path = paths.results_dir(profile) / "claims.json"
    return json.loads(path.read_text()) if path.exists() else []


def failed(profile: str) -> list[dict]:
    return [r for r in load(profile) if not r["holds"]]
