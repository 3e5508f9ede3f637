"""unlearn.stats, the one place that resamples and computes intervals, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearn import stats


def test_quantiles_interpolate_linearly_between_order_statistics():
    # four values: the 2.5 % point sits 0.075 of the way from the 1st to the 2nd value, the 97.5 % point 0.925 of the
    # way from the 3rd to the 4th
    assert stats.quantiles([4.0, 1.0, 3.0, 2.0]) == pytest.approx((1.075, 3.925))
    assert stats.quantiles([0.0, 1.0], level=0.5) == pytest.approx((0.25, 0.75))


def test_t_interval_by_hand_and_with_a_diverged_run_left_out():
    # mean 2, sd 1, n 3: half-width t(0.975; 2 df) / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    out = stats.t_interval([1.0, 2.0, float("nan"), 3.0])
    assert out["n"] == 3 and out["mean"] == 2.0
    assert out["lo"] == pytest.approx(2 - 2.484138, abs=1e-6) and out["hi"] == pytest.approx(2 + 2.484138, abs=1e-6)
    one = stats.t_interval([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["lo"]) and one["n"] == 1
    same = stats.t_interval([0.0375, 0.0375])
    assert same == {"mean": 0.0375, "lo": 0.0375, "hi": 0.0375, "n": 2}


def test_paired_difference_is_the_mean_and_interval_of_the_differences():
    out = stats.paired_difference([1.0, 2.0, 3.0, 4.0, 9.0], [0.0, 0.0, 0.0, 0.0, float("nan")])
    assert out == pytest.approx({"diff": 2.5, "lo": 1.075, "hi": 3.925})  # the NaN replicate is left out
    assert stats.paired_difference([0.3, 0.5], [0.3, 0.5]) == {"diff": 0.0, "lo": 0.0, "hi": 0.0}


def test_sign_test_is_the_binomial_tail():
    assert stats.sign_test(5, 5) == pytest.approx(1 / 32)
    assert stats.sign_test(4, 5) == pytest.approx(6 / 32)  # P(X >= 4) = (5 + 1) / 32
    assert math.isnan(stats.sign_test(0, 0))


def test_resample_draws_each_set_in_turn_with_replacement():
    draws = list(stats.resample((5, 3), 4, np.random.default_rng(7)))
    rng = np.random.default_rng(7)
    for f, u in draws:
        assert np.array_equal(f, rng.integers(0, 5, 5)) and np.array_equal(u, rng.integers(0, 3, 3))


def test_crossed_bootstrap_chunks_items_then_clusters():
    chunks = list(stats.crossed_bootstrap(6, 3, 250, np.random.default_rng(1), chunk=100))
    assert [c[0].shape for c in chunks] == [(100, 6), (100, 6), (50, 6)]
    assert [c[1].shape for c in chunks] == [(3, 100), (3, 100), (3, 50)]
    rng = np.random.default_rng(1)
    first_items, first_clusters = rng.integers(0, 6, (100, 6)), rng.integers(0, 3, (3, 100))
    assert np.array_equal(chunks[0][0], first_items) and np.array_equal(chunks[0][1], first_clusters)
    assert all(c[0].max() < 6 and c[1].max() < 3 for c in chunks)
