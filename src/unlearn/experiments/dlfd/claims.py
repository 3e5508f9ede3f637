"""Notebook 03's claims as data (:class:`unlearn.claims.Claim`): what the DLFD paper claims, judged on this run.

Results they read (names notebook 03 passes): ``over`` (:func:`~.analysis.split_claims`: one value per forget split,
t-intervals over the splits, NoMUS differences paired split by split), ``scores`` (:func:`~.protocol.table1`'s
scores on the first split) and ``ratio`` (:func:`~.analysis.cost_ratio`).
"""

from __future__ import annotations

from ...claims import Claim, against, combine, verdict

PAPER = "DLFD"


def _splits(r) -> int:
    return int(r["over"].loc["fs", "n"])  # splits every interval rests on


def _accuracy_evidence(r) -> dict:
    d = r["over"].loc["test_acc_drop"]
    return {"drop": float(d["mean"]), "drop_lo": float(d["lo"]), "drop_hi": float(d["hi"]), "splits": _splits(r)}


def _fs_evidence(r) -> dict:
    f, scores = r["over"].loc["fs"], r["scores"]
    return {"fs_dlfd": float(f["mean"]), "fs_lo": float(f["lo"]), "fs_hi": float(f["hi"]), "splits": _splits(r),
            "fs_original": float(scores.loc["original", "fs"]), "fs_retrain_split0": float(scores.loc["retrain", "fs"])}


def _versus(r):
    over = r["over"]
    return over.loc[[i for i in over.index if i.startswith("nomus_minus_")]]


def _nomus_decide(r) -> str:
    return combine(*[verdict(row.lo, row.hi, 0.0, "above") for row in _versus(r).itertuples()])


def _nomus_evidence(r) -> dict:
    vs = _versus(r)
    closest = vs["lo"].astype(float).idxmin()  # the approximate method DLFD is least clearly above
    return {"closest": closest.removeprefix("nomus_minus_"), "diff": float(vs.loc[closest, "mean"]),
            "diff_lo": float(vs.loc[closest, "lo"]), "diff_hi": float(vs.loc[closest, "hi"]), "splits": _splits(r)}


def _nomus_caveat(n) -> str:
    lo, hi = n["diff_lo"], n["diff_hi"]
    how = ("cannot be told apart from DLFD" if lo <= 0 <= hi else "scores higher than DLFD" if hi < 0
           else "scores lower, as every other method does")
    return (f"{n['closest']} {how}: DLFD minus it {n['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] over {n['splits']} "
            "forget splits")


# verdicts from intervals over the splits: holds / does not hold when the whole interval is on one side, inconclusive
# when it contains the threshold (then another split, or another machine, could flip a point estimate)
CLAIMS = (
    Claim("accuracy", PAPER, "DLFD's test accuracy stays within 3 points of the original's",
          "ours: the paper's claim that DLFD keeps utility (its Table 1: 0.633 -> 0.624 on MUFAC), as a 3-point bar",
          ("over",), lambda r: verdict(r["over"].loc["test_acc_drop", "lo"], r["over"].loc["test_acc_drop", "hi"],
                                       0.03, "below"), _accuracy_evidence,
          bar="drop interval below 0.03", deciding=("drop", "drop_lo", "drop_hi"),
          caveat=lambda n: against(f"over {n['splits']} forget splits the drop's interval", n["drop_lo"], n["drop_hi"], 0.03, 100,
                           " points")),
    Claim("fs", PAPER, "DLFD's forgetting score is at most 0.10",
          "release and ours: DLFD keeps a checkpoint only when its FS is <= 0.09 on the monitor (MUFAC notebook); 0.10 on "
          "evaluation is ours", ("over", "scores"),
          lambda r: verdict(r["over"].loc["fs", "lo"], r["over"].loc["fs", "hi"], 0.10, "below"), _fs_evidence,
          bar="FS interval below 0.10", deciding=("fs_dlfd", "fs_lo", "fs_hi"),
          caveat=lambda n: against(f"over {n['splits']} splits the FS interval", n["fs_lo"], n["fs_hi"], 0.10) + "; the original's FS "
          f"is {n['fs_original']:.2f}, retraining's {n['fs_retrain_split0']:.3f} (split 0)"),
    Claim("nomus", PAPER, "DLFD's NoMUS is above every other approximate method's (paired 95 % interval above 0)",
          "paper: Table 1, DLFD's NoMUS is the highest of the approximate methods on MUFAC",
          ("over",), _nomus_decide, _nomus_evidence,
          bar="every paired interval above 0 (the closest method shown)", deciding=("diff", "diff_lo", "diff_hi"),
          caveat=_nomus_caveat),
    Claim("cost", PAPER, "DLFD costs at most 1/5 of retraining (wall time and gradient evaluations)",
          "ours: the paper's cost argument (one epoch of unlearning against a retraining of many), as a 1/5 bar",
          ("ratio",), lambda r: r["ratio"]["seconds"] <= 0.2 and r["ratio"]["grad_evals"] <= 0.2,
          lambda r: {"seconds_ratio": r["ratio"]["seconds"], "grad_evals_ratio": r["ratio"]["grad_evals"]},
          bar="both ratios at most 0.2",
          caveat=lambda n: f"gradient evaluations (the same on any machine) {n['grad_evals_ratio']:.3f} of retraining's; "
          f"wall time {n['seconds_ratio']:.2f}, one run on split 0"),
)
