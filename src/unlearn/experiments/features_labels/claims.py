"""Notebook 02's claims as data (:class:`unlearn.claims.Claim`): what Warnecke et al. claim, judged on this run.

Results they read (names notebook 02 passes): ``residuals`` (:func:`~.linear.residual_table`), ``speed``
(:func:`~.linear.speed_table`), ``canary`` (:func:`~.canary.run_canary`'s table), ``poison_summary``
(:func:`~.poisoning.poison_summary`) and ``poison_differences`` (a table of :func:`~.poisoning.poison_difference`
rows named ``"a - b"``).
"""

from __future__ import annotations

import math

from ...claims import Claim, against, combine, verdict
from .profile import PAPER


def _ordered(r) -> bool:
    t = r["residuals"]
    # fine-tune = the authors' baseline (rate tau); the tuned row is reported beside it, not claimed against
    return all(bool(((g["second"] < g["first"]) & (g["first"] < g["finetune"])).all())
               for _, g in t.groupby(level="dataset"))


def _below_none(r):
    return r["residuals"].dropna(subset=["second"])


def _canary_falls(r) -> bool:
    ex = r["canary"].set_index("method")["exposure"]
    return bool(ex["none"] - ex["first"] >= 1 and ex["none"] - ex["second"] >= 1)


def _repair_decide(r) -> str:
    st, diffs = r["poison_summary"].set_index("method"), r["poison_differences"]
    return combine(verdict(st.loc["second", "restored_lo"], st.loc["second", "restored_hi"], 0.25, "above"),
                   verdict(st.loc["first", "restored_lo"], st.loc["first", "restored_hi"], 0.15, "above"),
                   verdict(diffs.loc["second - first", "lo"], diffs.loc["second - first", "hi"], 0.0, "above"))


def _repair_evidence(r) -> dict:
    st, diffs = r["poison_summary"].set_index("method"), r["poison_differences"]
    return ({f"{m}_{k}": float(st.loc[m, k]) for m in ("first", "second") for k in ("restored", "restored_lo", "restored_hi")}
            | {"second_minus_first_lo": float(diffs.loc["second - first", "lo"]),
               "second_minus_first_hi": float(diffs.loc["second - first", "hi"])}
            # the authors' fine-tuning baseline beside them (not claimed against: the caveat a reader needs)
            | ({"finetune_restored": float(st.loc["finetune", "restored"]),
                "second_minus_finetune_lo": float(diffs.loc["second - finetune", "lo"]),
                "second_minus_finetune_hi": float(diffs.loc["second - finetune", "hi"]),
                "speedup_finetune_over_second": float(st.loc["finetune", "speedup"] / st.loc["second", "speedup"])}
               if "finetune" in st.index and "second - finetune" in diffs.index else {}))


def _rows(n) -> dict:
    """{"adult@1000": {"finetune": .., "first": .., "second": ..}} from the ordering claim's evidence."""
    out: dict = {}
    for k, v in n.items():
        row, m = k.rsplit(":", 1)
        out.setdefault(row, {})[m] = v
    return out


def _order_caveat(n) -> str:
    rows = _rows(n)
    broken = [f"{row}: first {g['first']:.2f}, fine-tune {g['finetune']:.2f}, second {g['second']:.2f}"
              for row, g in rows.items() if not g["second"] < g["first"] < g["finetune"]]
    if broken:
        return "out of order: " + "; ".join(broken)
    row, g = max(rows.items(), key=lambda kv: kv[1]["first"] / kv[1]["finetune"])
    return (f"the closest step is {row}: first order {g['first']:.2f} against fine-tune's {g['finetune']:.2f} "
            "(gradient residuals)")


def _speed_caveat(n) -> str:
    # retraining timed only until it reached the update's residual (nan: it never got that close)
    eq = {k.removeprefix("speedup_equal_residual_"): v for k, v in n.items() if k.startswith("speedup_equal_residual_")}
    f = lambda v: f"{v:.2f}x" if math.isfinite(v) else "n/a (retraining never got as close)"
    others = ", ".join(f"{d} {f(v)}" for d, v in eq.items() if d != "enron")
    return (f"{f(eq['enron'])} on Enron when retraining stops as soon as it reaches the update's residual"
            + (f" ({others})" if others else ""))


def _canary_caveat(n) -> str:
    gone = n["exposure_none"] - n["exposure_retrain"]
    ft = n["exposure_none"] - n["exposure_finetune"]
    return (f"second order removes {n['exposure_none'] - n['exposure_second']:.2f} and first order "
            f"{n['exposure_none'] - n['exposure_first']:.2f} of the {gone:.1f} bits retraining removes; fine-tuning "
            + (f"removes {ft:.2f}" if ft >= 0 else f"adds {-ft:.2f}"))


def _repair_caveat(n) -> str:
    parts = [against(f"{name}'s interval", n[f"{m}_restored_lo"], n[f"{m}_restored_hi"], bar, 100, " %")
             for name, m, bar in (("second order", "second", 0.25), ("first order", "first", 0.15))
             if not n[f"{m}_restored_lo"] > bar]
    if not n["second_minus_first_lo"] > 0:
        parts.append(against("the interval of second minus first", n["second_minus_first_lo"], n["second_minus_first_hi"], 0, 100, " %"))
    if "finetune_restored" in n:
        lo, hi = n["second_minus_finetune_lo"], n["second_minus_finetune_hi"]
        how = "as much as" if lo <= 0 <= hi else "more than" if hi < 0 else "less than"
        parts.append(f"one pass of fine-tuning restores {how} second order ({n['finetune_restored']:.0%}; second minus "
                     f"it [{lo * 100:+.1f}, {hi * 100:+.1f}] %) at {n['speedup_finetune_over_second']:.1f}x its speed")
    return "; ".join(parts) if parts else "every part's interval is above its bar"


def _repair_speed(r) -> bool:
    st = r["poison_summary"].set_index("method")
    return bool(st.loc["first", "speedup"] >= 20 and st.loc["second", "speedup"] >= 20)


CLAIMS = (
    Claim("residual_order", PAPER, "LR: second-order residual < first-order < fine-tune (every data set and size)",
          "paper: the feature-removal results (release's Enron notebook: 6.01 first, 0.23 second, 10.20 fine-tune "
          "for 10 names); fine-tune as the authors run it (one pass, rate tau)",
          ("residuals",), _ordered,
          lambda r: {f"{d}@{s}:{m}": float(r["residuals"].loc[(d, s), m]) for d, s in r["residuals"].index
                     for m in ("finetune", "first", "second")},
          bar="second < first < fine-tune in every row", caveat=_order_caveat),
    Claim("residual_below_none", PAPER, "LR: second-order residual below no update on every data set",
          "paper: the second-order update removes most of the gradient residual (release: 7.60 -> 0.23)",
          ("residuals",), lambda r: bool((_below_none(r)["second"] < _below_none(r)["none"]).all()),
          lambda r: {f"{d}@{s}": float(_below_none(r).loc[(d, s), "second"]) for d, s in _below_none(r).index},
          bar="second < none in every row",
          caveat=lambda n: "the largest residual left: {} ({:.2f})".format(*max(n.items(), key=lambda kv: kv[1]))),
    Claim("speed", PAPER, "LR: second order is faster than retraining (Enron)",
          "paper: unlearning is cheaper than retraining; retraining is the authors' L-BFGS-B call",
          ("speed",), lambda r: bool(r["speed"].xs("second", level="method").loc["enron", "speedup"] > 1),
          lambda r: ({f"speedup_{d}": float(v) for d, v in r["speed"].xs("second", level="method")["speedup"].items()}
                     | {f"speedup_equal_residual_{d}": float(v) for d, v in
                        r["speed"].xs("second", level="method")["x_at_equal_residual"].items()}),
          bar="Enron speed-up above 1", deciding=("speedup_enron",),
          caveat=_speed_caveat),
    # a fall worth the name: at least 1 bit (the canary's rank among random candidates at least halves)
    Claim("canary", PAPER, "canary exposure falls by >= 1 bit after first- and second-order unlearning",
          "paper and ours: the canary's exposure falls after unlearning (release notebook: log-perplexity 12.9 -> 157); "
          "1 bit is ours", ("canary",), _canary_falls,
          lambda r: {f"exposure_{m}": float(v) for m, v in r["canary"].set_index("method")["exposure"].items()},
          bar="falls of at least 1 bit from none", caveat=_canary_caveat),
    Claim("repair", PAPER,
          "label repair: second order restores >= 25 %, first order >= 15 %, second above first, intervals above 0",
          "release and ours: the stored poisoning run restores 31.91 % (second order) and 21.65 % (first order); the bars are "
          "ours, a few points below", ("poison_summary", "poison_differences"), _repair_decide, _repair_evidence,
          bar="second's interval above 0.25, first's above 0.15, their difference's above 0", caveat=_repair_caveat),
    Claim("repair_speed", PAPER, "label repair: both orders >= 20x faster than training the poisoned model (same run)",
          "release and ours: 37.5 s (first) and 85.2 s (second) against 1,237 s of training; 20x is ours",
          ("poison_summary",), _repair_speed,
          lambda r: {f"speedup_{m}": float(r["poison_summary"].set_index("method").loc[m, "speedup"])
                     for m in ("first", "second", "first_one_step", "second_one_step")},
          bar="both speed-ups at least 20",
          caveat=lambda n: f"second order {n['speedup_second']:.0f}x and first order {n['speedup_first']:.0f}x as fast as "
          "training the poisoned model, both timed in the same run"),
)
