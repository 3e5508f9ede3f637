"""Notebook 06's analysis on synthetic runs with a known answer (no training): the per-example test against K
retrained models, its interval, the K stability table and the agreement with the papers' yardsticks."""

import numpy as np
import pandas as pd
import pytest

from unlearn.experiments import forgetting


def _runs(k=16, n=40, seed=0):
    """K seeds whose confidences are drawn as: retrained and 'retrain again' and method 'a' from one distribution,
    'b' shifted by 3 sd, the original by 8 (far apart); yardsticks that rank 'a' above 'b'."""
    rng = np.random.default_rng(seed)
    shift = {"retrain": 0.0, "retrain again": 0.0, "a": 0.0, "b": 3.0, "original": 8.0}
    runs = []
    for s in range(k):
        confs = {name: rng.normal(m, 1.0, n) for name, m in shift.items()}
        rows = [{"seed": s, "method": name, "retain_acc": 0.9, "forget_acc": 0.1, "test_acc": 0.9,
                 "delta": 0.05 * m, "mia": 0.5, "fs": 0.02 * m, "nomus": 0.9 - 0.01 * m, "seconds": 1.0}
                for name, m in shift.items()]
        runs.append({"seed": s, "confs": confs, "rows": rows})
    return runs


def test_quality_orders_the_floor_a_shift_and_the_ceiling():
    q = forgetting.quality(_runs(), ["retrain again", "a", "b", "original"], n_boot=200)
    assert q.loc["original", "quality"] == 0.0  # every example told apart
    assert q.loc["b", "quality"] < min(q.loc["a", "quality"], q.loc["retrain again", "quality"]) / 2
    assert abs(q.loc["a", "quality"] - q.loc["retrain again", "quality"]) < 0.15  # indistinguishable, as the floor
    assert (q["quality_lo"] <= q["quality"]).all() and (q["quality"] <= q["quality_hi"]).all()


def test_stability_recomputes_with_the_first_k_seeds():
    runs = _runs(k=8)
    stab = forgetting.stability(runs, ["a", "original"], (4, 8, 16))
    assert list(stab.columns) == ["quality_K4", "quality_K8"]  # no more seeds than runs
    assert stab.loc["original"].tolist() == [0.0, 0.0]
    assert stab.loc["a", "quality_K8"] == forgetting.quality(runs, ["a"], n_boot=0).loc["a", "quality"]


def test_agreement_reads_each_yardstick_in_its_better_direction():
    runs = _runs()
    q = forgetting.quality(runs, ["retrain again", "a", "b", "original"], n_boot=0)
    ag = forgetting.agreement(q, forgetting.yardsticks(runs))
    assert set(ag.index) == {"delta (TMU)", "fs (DLFD)", "nomus (DLFD)"}
    assert (ag["its_best"] == "a").all() and (ag["quality_best"] == "a").all()
    assert ag["spearman_with_quality"].astype(float).tolist() == pytest.approx([1.0] * 3)  # both put a first


def test_a_paper_dry_run_of_this_notebook_is_tiny_and_the_paper_profile_is_the_competitions_scale():
    assert forgetting.PROFILES["paper"].models == 512
    assert forgetting.PROFILES["paper-dry"].models == 3 and forgetting.PROFILES["paper-dry"].epochs == 1
    with pytest.raises(ValueError, match="at least 3 models"):
        forgetting.quality(_runs(k=2), ["a"], n_boot=0)
    assert isinstance(forgetting.yardsticks(_runs(k=3)), pd.DataFrame)
