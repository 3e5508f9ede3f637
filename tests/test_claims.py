"""Three-valued verdicts from intervals, the portable-check tolerances, and TMU's paired intervals."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unlearn import claims, stats
from unlearn.experiments import tmu

sys.path.insert(0, str(Path(__file__).parent))
import smoke_results  # noqa: E402


@pytest.mark.parametrize("lo,hi,threshold,better,expected", [
    (0.01, 0.02, 0.03, "below", "holds"),  # the whole interval below
    (0.04, 0.06, 0.03, "below", "does not hold"),  # the whole interval above
    (0.009, 0.065, 0.03, "below", "inconclusive"),  # DLFD's drop at cpu: [0.9, 6.5] points against 3
    (0.0, 0.03, 0.03, "below", "inconclusive"),  # touching the threshold is not clearly below it
    (0.73, 0.81, 0.5, "above", "holds"),
    (0.2, 0.4, 0.5, "above", "does not hold"),
    (0.0, 0.0, 0.0, "above", "inconclusive"),  # a difference of exactly 0 is not "above 0"
])
def test_verdict_from_an_interval(lo, hi, threshold, better, expected):
    assert claims.verdict(lo, hi, threshold, better) == expected


def test_verdict_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="lo <= hi"):
        claims.verdict(0.5, 0.4, 0.1, "below")
    with pytest.raises(ValueError, match="finite"):
        claims.verdict(float("nan"), 0.4, 0.1, "below")
    with pytest.raises(ValueError, match="'below' or 'above'"):
        claims.verdict(0.1, 0.2, 0.1, "under")


def test_combine_parts():
    assert claims.combine("holds", "holds") == "holds"
    assert claims.combine("holds", "inconclusive") == "inconclusive"
    assert claims.combine("inconclusive", "does not hold", "holds") == "does not hold"


def test_check_records_the_verdict(monkeypatch, tmp_path):
    monkeypatch.setattr(claims.paths, "results_dir", lambda profile: tmp_path)
    claims.check("P", "c1", "inconclusive", {"x": 0.5}, "cpu")
    claims.check("P", "c2", True, {"x": 0.5}, "cpu")
    rows = {r["claim"]: r for r in claims.load("cpu")}
    assert rows["c1"]["verdict"] == "inconclusive" and rows["c1"]["holds"] is False
    assert rows["c2"]["verdict"] == "holds" and rows["c2"]["holds"] is True
    with pytest.raises(ValueError, match="verdict must be"):
        claims.check("P", "c3", "maybe", {}, "cpu")


# --- TMU's intervals on synthetic per-sample results with a known answer -------------------------------
def _correct(rng, n, rates):
    return {m: rng.random(n) < p for m, p in rates.items()}


def test_delta_intervals_hand_values_and_pairing():
    gold = np.array([1, 1, 0, 0], bool)
    per = {"retrain (gold)": gold, "TMU": np.array([1, 1, 1, 0], bool), "NegGrad": np.zeros(4, bool)}
    d = tmu.delta_intervals({0: per}, n_boot=500, seed=0)
    assert d.loc["TMU", "delta"] == pytest.approx(0.25) and d.loc["NegGrad", "delta"] == pytest.approx(0.5)
    assert d.loc["retrain (gold)", "hi"] == 0.0  # gold against itself: 0 in every replicate
    assert d.loc["NegGrad", "minus_TMU"] == pytest.approx(0.25)
    assert d.loc["TMU", "diff_lo"] == d.loc["TMU", "diff_hi"] == 0.0  # TMU minus itself, paired: exactly 0


def test_delta_intervals_separate_a_clear_gap_and_not_a_null_one():
    rng = np.random.default_rng(1)
    per = {s: _correct(rng, 400, {"retrain (gold)": 0.65, "TMU": 0.65, "NegGrad": 0.0}) for s in range(3)}
    for s in per:  # TMU = gold on most samples (aligned), NegGrad at 0
        per[s]["TMU"] = per[s]["retrain (gold)"].copy()
        per[s]["TMU"][:10] = ~per[s]["TMU"][:10]
    d = tmu.delta_intervals(per, n_boot=1000, seed=0)
    assert claims.verdict(d.loc["NegGrad", "diff_lo"], d.loc["NegGrad", "diff_hi"], 0.0, "above") == "holds"
    assert claims.verdict(d.loc["TMU", "lo"], d.loc["TMU", "hi"], 0.05, "below") == "holds"


def test_agreement_difference_paired():
    gold = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
    per = {0: {"retrain (gold)": gold, "a": gold.copy(), "b": ~gold}}
    r = tmu.agreement_difference(per, "a", "b", n_boot=200)
    assert r["diff"] == 1.0 and r["lo"] == 1.0 and r["discordant"] == 8


# --- the smoke checks' tolerances -----------------------------------------------------------------------
def test_every_rule_has_a_reason_and_only_timings_and_derived_quantities_go_uncompared():
    assert all(len(r.why) > 30 for r in smoke_results.RULES)
    uncompared = [r.pattern for r in smoke_results.RULES if r.abs_tol is None]
    assert uncompared == [smoke_results.RULES[0].pattern, r"^restored_(lo|hi)$", r"_best$"]
    # what those two are derived from is compared: the restoration's point estimate and the yardsticks' values
    assert smoke_results.rule_for("restored").abs_tol == 0.75 and smoke_results.rule_for("restored_min_seed").abs_tol
    assert all(smoke_results.rule_for(c).abs_tol for c in ("delta", "fs", "nomus", "quality"))
    assert smoke_results.rule_for("train_seconds").abs_tol is None
    assert smoke_results.rule_for("seed").abs_tol == 0 and smoke_results.rule_for("samples").abs_tol == 0
    assert smoke_results.rule_for("forget_acc").abs_tol == smoke_results.SE_100


def test_compare_passes_within_and_fails_beyond_the_tolerance():
    ref = pd.DataFrame({"method": ["a", "b"], "seed": [0, 0], "forget_acc": [0.5, 0.9], "residual": [2.0, 4.0],
                        "seconds": [1.0, 2.0], "no_op": [False, True]})
    ok = ref.assign(forget_acc=[0.54, 0.86], residual=[2.03, 3.95], seconds=[9.0, 0.1])
    assert smoke_results.compare(ok, ref) == []
    bad = ref.assign(forget_acc=[0.56, 0.9])  # a 0.06 move: more than one standard error on 100 samples
    assert any("forget_acc" in p for p in smoke_results.compare(bad, ref))
    assert any("seed" in p for p in smoke_results.compare(ref.assign(seed=[0, 1]), ref))  # exact
    assert any("residual" in p for p in smoke_results.compare(ref.assign(residual=[2.1, 4.0]), ref))  # 5 % > 2 %
    assert any("no_op" in p for p in smoke_results.compare(ref.assign(no_op=[True, True]), ref))
    assert any("method" in p for p in smoke_results.compare(ref.assign(method=["a", "c"]), ref))
    assert "columns differ" in smoke_results.compare(ref.drop(columns="residual"), ref)[0]
    assert "matches no tolerance rule" in smoke_results.compare(ref.assign(xyzzy=1.0), ref.assign(xyzzy=1.0))[0]
    nan = ref.assign(forget_acc=[np.nan, 0.9])
    assert smoke_results.compare(nan, nan) == [] and smoke_results.compare(nan, ref) != []


def test_readme_shows_the_tolerance_table_of_the_code():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert smoke_results.markdown_table() in readme, "README's tolerance table is stale: print `python tests/smoke_results.py`"


def test_cluster_bootstrap_redraws_seeds_then_samples():
    from unlearn import stats

    reps = list(stats.cluster_bootstrap([3, 5], 400, np.random.default_rng(0)))
    assert all(len(r) == 2 for r in reps)
    assert all(len(i) == (3, 5)[c] and i.max() < (3, 5)[c] for r in reps for c, i in r)
    drawn = {tuple(sorted(c for c, _ in r)) for r in reps}
    assert drawn == {(0, 0), (0, 1), (1, 1)}  # the seeds themselves are redrawn
    with pytest.raises(ValueError, match="at least one sample"):
        next(stats.cluster_bootstrap([3, 0], 1, np.random.default_rng(0)))


def test_delta_interval_covers_the_spread_between_seeds():
    # three seeds whose models differ (TMU's Delta 0.05, 0.15, 0.25 against gold) with many samples each: a
    # bootstrap over samples only would give a narrow interval around 0.15; redrawing seeds spans the models
    rng = np.random.default_rng(0)
    per = {}
    for s, gap in enumerate((0.05, 0.15, 0.25)):
        gold = rng.random(2000) < 0.6
        tmu_c = gold.copy()
        flip = rng.choice(np.flatnonzero(gold), int(gap * 2000), replace=False)
        tmu_c[flip] = False
        per[s] = {"retrain (gold)": gold, "TMU": tmu_c}
    d = tmu.delta_intervals(per, n_boot=2000, seed=0)
    assert d.loc["TMU", "delta"] == pytest.approx(0.15, abs=1e-9)
    assert d.loc["TMU", "lo"] < 0.09 and d.loc["TMU", "hi"] > 0.21


def test_t_interval_bounds_get_what_one_standard_error_per_value_can_move_them_by():
    # n = 2: t(0.975, 1) = 12.71, so 0.05 x 13.71 = 0.686; n = 5: 0.05 x (1 + 2.776 / 2) = 0.119
    ref = pd.DataFrame({"mean": [0.0, 0.0], "lo": [-0.5, -0.1], "hi": [0.5, 0.1], "n": [2, 5]})
    assert smoke_results.compare(ref.assign(lo=[-1.15, -0.21]), ref) == []
    assert any("[0, lo]" in p for p in smoke_results.compare(ref.assign(lo=[-1.2, -0.1]), ref))
    assert any("[1, hi]" in p for p in smoke_results.compare(ref.assign(hi=[0.5, 0.23]), ref))
    # two values moving 0.05 towards each other (the interval narrows) stay within the bound
    x = np.array([0.1, 0.3])
    lo = lambda v: stats.t_interval(v)["lo"]
    assert abs(lo(x + [0.05, -0.05]) - lo(x)) <= smoke_results.t_bound_tolerance(0.05, 2) + 1e-12
    # a file without n (bootstrap bounds of a paired difference) keeps the accuracies' rule
    boot = pd.DataFrame({"diff": [0.0], "lo": [-0.1], "hi": [0.1]})
    assert any("lo" in p for p in smoke_results.compare(boot.assign(lo=[-0.2]), boot))
    assert smoke_results.rule_for("lo", boot.columns).abs_tol == smoke_results.SE_100


def test_same_bytes_counts_exact_values_and_leaves_wall_times_out():
    ref = pd.DataFrame({"method": ["a", "b"], "forget_acc": [0.5, 0.9], "mia": [np.nan, 0.6], "seconds": [1.0, 2.0]})
    run = ref.assign(forget_acc=[0.5, 0.9000001], mia=[np.nan, np.nan], seconds=[3.0, 4.0])
    assert smoke_results.same_bytes(run, ref) == (4, 6)  # NaN where the reference has NaN counts as the same


def test_a_name_picked_as_best_is_not_compared_but_other_text_is():
    ref = pd.DataFrame({"its_best": ["neggrad"], "method": ["tmu"]})
    assert smoke_results.compare(ref.assign(its_best=["influence_first_order"]), ref) == []
    assert smoke_results.compare(ref.assign(method=["scrub"]), ref)
