"""Every paper claim the notebooks record, evaluated on synthetic results: one where it holds, one where it does not,
and the edge (an interval touching its threshold is inconclusive; a bar met exactly is met)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unlearn import claims
from unlearn.experiments import dlfd, features_labels, tmu

HOLDS, FAILS, INCONCLUSIVE = claims.HOLDS, claims.FAILS, claims.INCONCLUSIVE


def _claim(module, key):
    return next(c for c in module.CLAIMS if c.key == key)


def _verdict(module, key, results):
    return _claim(module, key).evaluate(results)[0]


def test_every_claim_names_its_threshold_source_and_keys_are_unique():
    for module in (tmu, dlfd, features_labels):
        keys = [c.key for c in module.CLAIMS]
        assert len(keys) == len(set(keys))
        for c in module.CLAIMS:
            assert set(c.source.split(":")[0].split(" and ")) <= {"paper", "release", "ours"}, c.source
            assert c.needs and c.text and c.paper in claims.PAPER_ORDER


# --- TMU ----------------------------------------------------------------------------------------------------------
def _dint(tmu_lo, tmu_hi, diff_lo=0.05, diff_hi=0.2):
    rows = {"TMU": {"delta": (tmu_lo + tmu_hi) / 2, "lo": tmu_lo, "hi": tmu_hi, "minus_TMU": 0.0, "diff_lo": 0.0,
                    "diff_hi": 0.0}}
    for m in tmu.BASELINES:
        rows[m] = {"delta": 0.3, "lo": 0.2, "hi": 0.4, "minus_TMU": 0.1, "diff_lo": diff_lo, "diff_hi": diff_hi}
    return pd.DataFrame(rows).T


def test_tmu_delta_claim():
    assert _verdict(tmu, "delta", {"delta_intervals": _dint(0.01, 0.04), "seeds": 3}) == HOLDS
    assert _verdict(tmu, "delta", {"delta_intervals": _dint(0.06, 0.09), "seeds": 3}) == FAILS
    assert _verdict(tmu, "delta", {"delta_intervals": _dint(0.02, 0.05), "seeds": 3}) == INCONCLUSIVE  # touches 0.05
    # below the bar, but one paper baseline's paired interval contains 0: not shown to be better
    assert _verdict(tmu, "delta", {"delta_intervals": _dint(0.01, 0.04, -0.01, 0.1), "seeds": 3}) == INCONCLUSIVE
    numbers = _claim(tmu, "delta").evaluate({"delta_intervals": _dint(0.01, 0.04), "seeds": 3})[1]
    assert numbers["seeds"] == 3 and numbers["delta_tmu_hi"] == 0.04 and "NegGrad_minus_tmu_lo" in numbers


def test_tmu_agreement_cost_and_predictor_claims():
    agree = lambda lo, hi: {"agreement": {"diff": (lo + hi) / 2, "lo": lo, "hi": hi, "samples": 900, "discordant": 40}}
    assert _verdict(tmu, "agreement", agree(0.01, 0.05)) == HOLDS
    assert _verdict(tmu, "agreement", agree(-0.05, -0.01)) == FAILS
    assert _verdict(tmu, "agreement", agree(0.0, 0.05)) == INCONCLUSIVE
    costs = lambda p, q: {"costs": pd.DataFrame({"pipeline_vs_gold": p, "request_vs_gold": q})}
    assert _verdict(tmu, "cost", costs([1.2, 1.5], [4.0, 5.0])) == HOLDS
    assert _verdict(tmu, "cost", costs([0.6, 0.9], [4.0, 5.0])) == FAILS
    assert _verdict(tmu, "cost", costs([0.8, 1.3], [4.0, 5.0])) == INCONCLUSIVE  # the seeds straddle 1
    cal = lambda lo, hi: {"calibration": pd.DataFrame({"TMU as run": {
        "auroc": 0.7, "auroc_lo": lo, "auroc_hi": hi, "balanced_acc": 0.6, "accuracy": 0.6, "majority_acc": 0.65}}).T}
    assert _verdict(tmu, "predictor", cal(0.6, 0.8)) == HOLDS
    assert _verdict(tmu, "predictor", cal(0.3, 0.45)) == FAILS
    assert _verdict(tmu, "predictor", cal(np.nan, np.nan)) == INCONCLUSIVE  # D_f all easy: undefined, said so
    assert _claim(tmu, "predictor").evaluate(cal(np.nan, np.nan))[1]["auroc_lo"].startswith("undefined")


# --- DLFD ---------------------------------------------------------------------------------------------------------
def _over(drop=(0.0, 0.02), fs=(0.05, 0.08), nomus=((0.01, 0.05), (0.02, 0.06))):
    rows = {"test_acc_drop": {"mean": sum(drop) / 2, "lo": drop[0], "hi": drop[1], "n": 5},
            "fs": {"mean": sum(fs) / 2, "lo": fs[0], "hi": fs[1], "n": 5}}
    for name, (lo, hi) in zip(("neggrad", "bad_teacher"), nomus):
        rows[f"nomus_minus_{name}"] = {"mean": (lo + hi) / 2, "lo": lo, "hi": hi, "n": 5}
    return pd.DataFrame(rows).T


SCORES = pd.DataFrame({"original": {"fs": 0.24}, "retrain": {"fs": 0.02}}).T


def test_dlfd_interval_claims():
    r = lambda **kw: {"over": _over(**kw), "scores": SCORES}
    assert _verdict(dlfd, "accuracy", r()) == HOLDS
    assert _verdict(dlfd, "accuracy", r(drop=(0.04, 0.06))) == FAILS
    assert _verdict(dlfd, "accuracy", r(drop=(0.01, 0.03))) == INCONCLUSIVE
    assert _verdict(dlfd, "fs", r()) == HOLDS
    assert _verdict(dlfd, "fs", r(fs=(0.11, 0.14))) == FAILS
    assert _verdict(dlfd, "fs", r(fs=(0.08, 0.12))) == INCONCLUSIVE
    assert _claim(dlfd, "fs").evaluate(r())[1]["fs_original"] == 0.24
    assert _verdict(dlfd, "nomus", r()) == HOLDS
    assert _verdict(dlfd, "nomus", r(nomus=((0.01, 0.05), (-0.05, -0.01)))) == FAILS  # below one method
    assert _verdict(dlfd, "nomus", r(nomus=((-0.01, 0.05), (0.02, 0.06)))) == INCONCLUSIVE
    # the evidence names the method DLFD is least clearly above, with the split count
    numbers = _claim(dlfd, "nomus").evaluate(r(nomus=((0.03, 0.05), (0.01, 0.06))))[1]
    assert numbers["closest"] == "bad_teacher" and numbers["splits"] == 5


def test_dlfd_cost_claim_bar_met_exactly_is_met():
    assert _verdict(dlfd, "cost", {"ratio": {"seconds": 0.1, "grad_evals": 0.05}}) == HOLDS
    assert _verdict(dlfd, "cost", {"ratio": {"seconds": 0.2, "grad_evals": 0.2}}) == HOLDS
    assert _verdict(dlfd, "cost", {"ratio": {"seconds": 0.3, "grad_evals": 0.05}}) == FAILS


# --- Warnecke et al. ----------------------------------------------------------------------------------------------
def _residuals(second=0.1, first=1.0, finetune=2.0, none=3.0):
    idx = pd.MultiIndex.from_tuples([("adult", 100), ("enron", 5)], names=["dataset", "size"])
    return pd.DataFrame({"none": none, "finetune": finetune, "first": first, "second": second}, index=idx)


def test_feature_claims():
    assert _verdict(features_labels, "residual_order", {"residuals": _residuals()}) == HOLDS
    assert _verdict(features_labels, "residual_order", {"residuals": _residuals(first=2.5)}) == FAILS
    assert _verdict(features_labels, "residual_order", {"residuals": _residuals(first=2.0)}) == FAILS  # ties: not <
    assert _verdict(features_labels, "residual_below_none", {"residuals": _residuals()}) == HOLDS
    assert _verdict(features_labels, "residual_below_none", {"residuals": _residuals(second=3.0)}) == FAILS
    idx = pd.MultiIndex.from_tuples([("enron", "second"), ("adult", "second")], names=["dataset", "method"])
    speed = lambda s: {"speed": pd.DataFrame({"speedup": [s, 0.5], "x_at_equal_residual": [s, 0.4]}, index=idx)}
    assert _verdict(features_labels, "speed", speed(1.5)) == HOLDS
    assert _verdict(features_labels, "speed", speed(1.0)) == FAILS  # faster means > 1
    assert set(_claim(features_labels, "speed").evaluate(speed(1.5))[1]) == {
        "speedup_enron", "speedup_adult", "speedup_equal_residual_enron", "speedup_equal_residual_adult"}


def test_canary_and_repair_claims():
    canary = lambda first, second: {"canary": pd.DataFrame({"method": ["none", "first", "second"],
                                                            "exposure": [33.0, first, second]})}
    assert _verdict(features_labels, "canary", canary(31.0, 32.0)) == HOLDS
    assert _verdict(features_labels, "canary", canary(32.0, 32.0)) == HOLDS  # exactly 1 bit
    assert _verdict(features_labels, "canary", canary(31.0, 32.5)) == FAILS
    summary = lambda first, second, speed=50.0: pd.DataFrame({
        "method": ["first", "second", "first_one_step", "second_one_step"],
        "restored": [np.mean(first), np.mean(second), 0.1, 0.1], "restored_lo": [first[0], second[0], 0.0, 0.0],
        "restored_hi": [first[1], second[1], 0.2, 0.2], "speedup": [speed, speed, 90.0, 90.0]})
    diffs = lambda lo, hi: pd.DataFrame({"diff": [(lo + hi) / 2], "lo": [lo], "hi": [hi]}, index=["second - first"])
    rep = lambda first, second, d=(0.05, 0.2), speed=50.0: {"poison_summary": summary(first, second, speed),
                                                             "poison_differences": diffs(*d)}
    assert _verdict(features_labels, "repair", rep((0.2, 0.3), (0.3, 0.4))) == HOLDS
    assert _verdict(features_labels, "repair", rep((0.02, 0.1), (0.3, 0.4))) == FAILS
    assert _verdict(features_labels, "repair", rep((0.1, 0.26), (0.3, 0.4))) == INCONCLUSIVE  # first's contains 0.15
    assert _verdict(features_labels, "repair_speed", rep((0.2, 0.3), (0.3, 0.4), speed=20.0)) == HOLDS
    assert _verdict(features_labels, "repair_speed", rep((0.2, 0.3), (0.3, 0.4), speed=19.0)) == FAILS
    # the caveat names the part whose interval contains its bar, and sets the authors' fine-tuning beside second order
    assert _caveat(features_labels, "repair", rep((0.1, 0.26), (0.3, 0.4))) == "first order's interval [10, 26] % contains the 15 % bar"
    assert _caveat(features_labels, "repair", rep((0.2, 0.3), (0.3, 0.4))) == "every part's interval is above its bar"
    with_ft = rep((0.2, 0.3), (0.3, 0.4))
    with_ft["poison_summary"] = pd.concat([with_ft["poison_summary"], pd.DataFrame(
        {"method": ["finetune"], "restored": [0.38], "restored_lo": [0.3], "restored_hi": [0.45], "speedup": [100.0]})])
    with_ft["poison_differences"].loc["second - finetune"] = [-0.03, -0.08, 0.02]
    assert _caveat(features_labels, "repair", with_ft) == (
        "one pass of fine-tuning restores as much as second order (38%; second minus it [-8.0, +2.0] %) at 2.0x its speed")


# --- evaluation and recording ---------------------------------------------------------------------------------------
def test_a_missing_result_is_one_error_naming_it():
    with pytest.raises(KeyError, match=r"needs the results \['over'\]"):
        _claim(dlfd, "fs").evaluate({"scores": SCORES})
    with pytest.raises(KeyError, match="no claims"):
        claims.record(dlfd.CLAIMS, {}, "cpu", only=("nope",))


def test_record_prints_and_stores_each_selected_claim(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path))
    claims.record(dlfd.CLAIMS, {"ratio": {"seconds": 0.1, "grad_evals": 0.05}}, "cpu", only=("cost",))
    out = capsys.readouterr().out.splitlines()
    assert out == ["[HOLDS] DLFD costs at most 1/5 of retraining (wall time and gradient evaluations)",
                   "    seconds_ratio=0.1000, grad_evals_ratio=0.0500"]  # the evidence on its own, indented line
    rows = json.loads((tmp_path / "cpu" / "claims.json").read_text())
    assert [(r["paper"], r["verdict"]) for r in rows] == [("DLFD", HOLDS)]
    many = {f"number_{k}": 0.123456 for k in range(30)}  # long evidence wraps instead of one 600-character line
    claims.check("X", "a claim", True, many, "cpu")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 3 and all(len(x) <= 110 and x.startswith("    ") for x in lines[1:])


def test_the_record_orders_papers_as_the_notebooks_do_whatever_finishes_first(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path))
    claims.check("DLFD", "d1", True, {}, "smoke")  # notebook 03 finishing before 02 and 01
    claims.check("Warnecke et al. 2023 (NDSS)", "w1", True, {}, "smoke")
    claims.check("TMU", "t1", True, {}, "smoke")
    claims.check("DLFD", "d2", False, {}, "smoke")
    assert [r["claim"] for r in claims.load("smoke")] == ["t1", "w1", "d1", "d2"]


def test_verdict_box_shows_the_deciding_interval_the_bar_and_its_source():
    rows = [{"paper": "DLFD", "claim": _claim(dlfd, "fs").text, "holds": False, "verdict": INCONCLUSIVE,
             "numbers": {"fs_dlfd": 0.128, "fs_lo": 0.0985, "fs_hi": 0.158, "splits": 5}},
            {"paper": "DLFD", "claim": _claim(dlfd, "nomus").text, "holds": False, "verdict": FAILS,
             "numbers": {"closest": "bad_teacher", "diff": -0.0512, "diff_lo": -0.0931, "diff_hi": -0.0093, "splits": 5}},
            {"paper": "DLFD", "claim": _claim(dlfd, "cost").text, "holds": True, "verdict": HOLDS,
             "numbers": {"seconds_ratio": 0.121, "grad_evals_ratio": 0.0495}}]
    rows[0]["numbers"] |= {"fs_original": 0.25, "fs_retrain_split0": 0.01}
    box = claims.verdict_box(rows, dlfd.CLAIMS).splitlines()
    assert box[0].count("|") == 6 and "measured reason or caveat" in box[0]
    assert box[2] == (f"| {_claim(dlfd, 'fs').text} | 0.128 [0.0985, 0.158] | FS interval below 0.10 (release and ours) | "
                      "inconclusive | over 5 splits the FS interval [0.0985, 0.158] contains the 0.1 bar; the original's "
                      "FS is 0.25, retraining's 0.010 (split 0) |")
    assert "| -0.0512 [-0.0931, -0.0093] (bad_teacher) |" in box[3] and "**does not hold**" in box[3]
    assert "bad_teacher scores higher than DLFD: DLFD minus it -0.051 [-0.093, -0.009] over 5 forget splits" in box[3]
    # a claim without one deciding number shows every number of its evidence
    assert "| seconds_ratio = 0.121, grad_evals_ratio = 0.0495 | both ratios at most 0.2 (ours) | holds |" in box[4]


def test_against_says_where_an_interval_lies_against_its_bar():
    assert claims.against("the drop's interval", 0.0035, 0.0393, 0.03, 100, " points") == (
        "the drop's interval [0.35, 3.93] points contains the 3 points bar")
    assert claims.against("FS interval", 0.11, 0.14, 0.10).endswith("[0.11, 0.14] lies above the 0.1 bar")
    assert claims.against("FS interval", 0.05, 0.09, 0.10).endswith("lies below the 0.1 bar")
    assert claims.against("x", 0.0, 0.10, 0.10).endswith("contains the 0.1 bar")  # touching is containing


def _caveat(module, key, results) -> str:
    c = _claim(module, key)
    return claims.caveat_text(c, c.evaluate(results)[1])


def test_every_claim_has_a_one_line_caveat_read_from_its_recorded_numbers():
    for module in (tmu, dlfd, features_labels):
        assert all(c.caveat is not None for c in module.CLAIMS), module.__name__
    recorded = json.loads((Path(__file__).parents[1] / "results" / "cpu" / "claims.json").read_text())
    defined = {c.text: c for m in (tmu, dlfd, features_labels) for c in m.CLAIMS}
    for r in recorded:  # the committed record renders: every key a caveat reads is recorded
        text = claims.caveat_text(defined[r["claim"]], r["numbers"])
        assert text and "\n" not in text and "|" not in text


def test_caveats_say_what_decided_the_verdict():
    # TMU: the paper baseline whose paired interval contains 0 is named, with its numbers
    text = _caveat(tmu, "delta", {"delta_intervals": _dint(0.01, 0.04, -0.01, 0.1), "seeds": 3})
    assert text.startswith("over 3 seeds TMU's Delta interval [0.01, 0.04] lies below the 0.05 bar; NegGrad is as "
                           "close to the gold model (its Delta minus TMU's +0.100 [-0.010, +0.100])")
    assert "; " not in _caveat(tmu, "delta", {"delta_intervals": _dint(0.01, 0.04), "seeds": 3})
    # DLFD: the accuracy drop's interval against its 3-point bar
    r = {"over": _over(drop=(0.01, 0.03)), "scores": SCORES}
    assert _caveat(dlfd, "accuracy", r) == "over 5 forget splits the drop's interval [1, 3] points contains the 3 points bar"
    # Warnecke: exposure falls computed from the record (33 - 32 = 1 bit; 33 - 2 = 31 bits for retraining)
    canary = {"canary": pd.DataFrame({"method": ["none", "finetune", "first", "second", "retrain"],
                                      "exposure": [33.0, 33.5, 31.0, 32.0, 2.0]})}
    assert _caveat(features_labels, "canary", canary) == (
        "second order removes 1.00 and first order 2.00 of the 31.0 bits retraining removes; fine-tuning adds 0.50")
    idx = pd.MultiIndex.from_tuples([("enron", "second"), ("adult", "second")], names=["dataset", "method"])
    speed = {"speed": pd.DataFrame({"speedup": [1.9, 25.0], "x_at_equal_residual": [0.95, np.nan]}, index=idx)}
    assert _caveat(features_labels, "speed", speed) == (
        "0.95x on Enron when retraining stops as soon as it reaches the update's residual "
        "(adult n/a (retraining never got as close))")
