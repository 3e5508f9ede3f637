"""Notebook 01's claims as data (:class:`unlearn.claims.Claim`): what the TMU paper claims, judged on this run.

Results they read (names notebook 01 passes): ``delta_intervals`` (:func:`~.analysis.delta_intervals`),
``agreement`` (:func:`~.analysis.agreement_difference` of TMU and rate-only TMU), ``costs``
(:func:`~.protocol.timings` per seed), ``calibration`` (:func:`~.analysis.calibration_table`) and ``seeds``.
"""

from __future__ import annotations

import numpy as np

from ...claims import INCONCLUSIVE, Claim, against, combine, verdict
from .protocol import BASELINES, PAPER_BASELINES

PAPER = "TMU"


def _delta_decide(r) -> str:
    d = r["delta_intervals"]
    below = [verdict(d.loc[m, "diff_lo"], d.loc[m, "diff_hi"], 0.0, "above") for m in PAPER_BASELINES]
    return combine(verdict(d.loc["TMU", "lo"], d.loc["TMU", "hi"], 0.05, "below"), *below)


def _delta_evidence(r) -> dict:
    d = r["delta_intervals"]
    return ({"delta_tmu": float(d.loc["TMU", "delta"]), "delta_tmu_lo": float(d.loc["TMU", "lo"]),
             "delta_tmu_hi": float(d.loc["TMU", "hi"])}
            | {f"delta_{m}_minus_tmu": float(d.loc[m, "minus_TMU"]) for m in BASELINES}
            | {f"{m}_minus_tmu_lo": float(d.loc[m, "diff_lo"]) for m in PAPER_BASELINES}
            | {f"{m}_minus_tmu_hi": float(d.loc[m, "diff_hi"]) for m in PAPER_BASELINES} | {"seeds": r["seeds"]})


def _agreement_evidence(r) -> dict:
    a = r["agreement"]
    return {"agreement_tmu_minus_rate_only": a["diff"], "lo": a["lo"], "hi": a["hi"], "samples": a["samples"],
            "discordant_samples": a["discordant"]}


def _cost_decide(r) -> str:
    # wall-time ratios have no interval: a part holds when every seed is on the claimed side, fails when every seed
    # is on the other, and is inconclusive when the seeds straddle its threshold
    c = r["costs"]
    return combine(verdict(c["pipeline_vs_gold"].min(), c["pipeline_vs_gold"].max(), 1.0, "above"),
                   verdict(c["request_vs_gold"].min(), c["request_vs_gold"].max(), 3.0, "above"))


def _cost_evidence(r) -> dict:
    c = r["costs"]
    return {"pipeline_speedup_min": float(c["pipeline_vs_gold"].min()),
            "pipeline_speedup_max": float(c["pipeline_vs_gold"].max()),
            "request_speedup_min": float(c["request_vs_gold"].min())}


def _predictor_decide(r) -> str:
    fx = r["calibration"].loc["TMU as run"]
    return verdict(fx["auroc_lo"], fx["auroc_hi"], 0.5, "above") if np.isfinite(fx["auroc_lo"]) else INCONCLUSIVE


def _predictor_evidence(r) -> dict:
    fx = r["calibration"].loc["TMU as run"]
    return {k: float(fx[k]) if np.isfinite(fx[k]) else "undefined (D_f all easy or all hard)"
            for k in ("auroc", "auroc_lo", "auroc_hi", "balanced_acc", "accuracy", "majority_acc")}


def _delta_caveat(n) -> str:
    parts = [against(f"over {n['seeds']} seeds TMU's Delta interval", n["delta_tmu_lo"], n["delta_tmu_hi"], 0.05)]
    for m in PAPER_BASELINES:  # the paper's baselines that come as close to the gold model as TMU
        lo, hi = n[f"{m}_minus_tmu_lo"], n[f"{m}_minus_tmu_hi"]
        if lo <= 0:
            parts.append(f"{m} is {'as close to' if hi >= 0 else 'closer to'} the gold model (its Delta minus "
                         f"TMU's {n[f'delta_{m}_minus_tmu']:+.3f} [{lo:+.3f}, {hi:+.3f}])")
    return "; ".join(parts)


def _cost_caveat(n) -> str:
    lo, hi = n["pipeline_speedup_min"], n["pipeline_speedup_max"]
    where = "straddles" if lo <= 1 <= hi else "is above" if lo > 1 else "is below"
    return (f"the pipeline's speed-up {lo:.2f}x to {hi:.2f}x over seeds {where} 1 (wall time, which varies from run "
            f"to run); one request with the twin reused {n['request_speedup_min']:.1f}x at least")


def _predictor_caveat(n) -> str:
    if isinstance(n["auroc"], str):
        return "undefined: on some seed every forget sample was easy, or every one hard"
    return (f"it ranks well, but as a classifier it is right on {n['accuracy']:.0%} of D_f against {n['majority_acc']:.0%} "
            f"for always guessing the commoner label (balanced accuracy {n['balanced_acc']:.2f})")


CLAIMS = (
    Claim("delta", PAPER,
          "TMU's mean Delta <= 0.05 and below NegGrad's, random label's and Bad Teacher's (paired intervals)",
          "paper and ours: Table 1 compares TMU's Delta with NegGrad's, random label's and Bad Teacher's; the 0.05 bar is ours "
          "(Table 1's TMU rows are within a few points of the gold model)",
          ("delta_intervals", "seeds"), _delta_decide, _delta_evidence,
          bar="interval below 0.05, and below each paper baseline's (paired)", deciding=("delta_tmu", "delta_tmu_lo", "delta_tmu_hi"),
          caveat=_delta_caveat),
    Claim("agreement", PAPER,
          "TMU agrees with the gold model per sample more than rate-only TMU (paired interval above 0)",
          "ours: the paper's point that predicting *which* forget samples stay right matters, tested against a "
          "control that keeps the right number of samples at random",
          ("agreement",), lambda r: verdict(r["agreement"]["lo"], r["agreement"]["hi"], 0.0, "above"),
          _agreement_evidence,
          bar="paired interval above 0", deciding=("agreement_tmu_minus_rate_only", "lo", "hi"),
          caveat=lambda n: f"decided by the {n['discordant_samples']} of {n['samples']} forget samples (over seeds) on "
          "which exactly one of the two agrees with the gold model"),
    Claim("cost", PAPER,
          "TMU's pipeline is no slower than retraining, and >= 3x faster per request (twin reused)",
          "ours: this companion's reading of the paper's cost argument (the paper states no number)",
          ("costs",), _cost_decide, _cost_evidence,
          bar="pipeline above 1x and request above 3x, every seed", caveat=_cost_caveat),
    Claim("predictor", PAPER,
          "the predictor ranks D_f better than chance: AUROC interval above 0.5 (pooled over seeds)",
          "ours: the paper's premise, that the generalization-label predictor tells easy from hard forget samples "
          "(its Table 3 ablates the predictor's features); the bar is chance, AUROC 0.5",
          ("calibration",), _predictor_decide, _predictor_evidence,
          bar="AUROC interval above 0.5", deciding=("auroc", "auroc_lo", "auroc_hi"), caveat=_predictor_caveat),
)
