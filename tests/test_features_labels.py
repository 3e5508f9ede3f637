"""Notebook 02's label-repair statistics: restoration fractions, their bootstrap and paired differences,
checked against values computed by hand on small correctness vectors."""

import numpy as np
import pandas as pd
import pytest

from unlearn.experiments import features_labels
from unlearn.experiments.features_labels import poisoning


def fake_result():
    n = 10
    clean = np.array([1] * 8 + [0] * 2, bool)  # 0.8
    correct = {("all", "clean"): clean}
    rows = []
    for seed, (p_ok, a_ok, b_ok) in {0: (4, 6, 5), 1: (3, 6, 6)}.items():
        correct[(seed, "poisoned")] = np.arange(n) < p_ok
        correct[(seed, "a")] = np.arange(n) < a_ok
        correct[(seed, "b")] = np.arange(n) < b_ok
        for m, k in (("a", a_ok), ("b", b_ok)):
            rows.append({"seed": seed, "method": m, "test_acc": k / n, "restored": (k - p_ok) / (8 - p_ok),
                         "images": k - p_ok, "seconds": 1.0, "grad_evals": 1, "speedup": 10.0,
                         "changed": float(k != p_ok) * 0.1})
    return {"runs": pd.DataFrame(rows), "correct": correct, "n_test": n}


def test_restoration_summary_by_hand():
    res = fake_result()
    s = features_labels.poison_summary(res, n_boot=200, seed=0).set_index("method")
    # seed 0: a restores (6-4)/(8-4) = 0.5, seed 1: (6-3)/(8-3) = 0.6 -> mean 0.55
    assert s.loc["a", "restored"] == pytest.approx(0.55)
    assert s.loc["b", "restored"] == pytest.approx(((5 - 4) / 4 + (6 - 3) / 5) / 2)
    assert s.loc["a", "restored_min_seed"] == pytest.approx(0.5) and s.loc["a", "images"] == pytest.approx(2.5)
    assert s.loc["a", "restored_lo"] <= s.loc["a", "restored"] <= s.loc["a", "restored_hi"]
    assert not s["no_op"].any()


def test_paired_difference_is_exact_for_identical_methods_and_signed_otherwise():
    res = fake_result()
    same = features_labels.poison_difference(res, "a", "a", n_boot=100)
    assert same == {"diff": 0.0, "lo": 0.0, "hi": 0.0}
    d = features_labels.poison_difference(res, "a", "b", n_boot=300, seed=1)
    assert d["diff"] == pytest.approx(0.55 - ((1 / 4) + (3 / 5)) / 2)
    assert d["lo"] <= d["hi"]



def test_every_replicate_resamples_the_same_images_for_all_models():
    """A method identical to the poisoned model restores exactly 0 and one identical to the clean model exactly 1
    in every replicate (a replicate whose draw shows no gap is undefined: nan), which holds only if each
    replicate scores every model on the same images."""
    res = fake_result()
    rows = []
    for seed in (0, 1):
        res["correct"][(seed, "none")] = res["correct"][(seed, "poisoned")]
        res["correct"][(seed, "gold")] = res["correct"][("all", "clean")]
        rows += [{"seed": seed, "method": m, "restored": float(m == "gold")} for m in ("none", "gold")]
    res["runs"] = pd.concat([res["runs"], pd.DataFrame(rows)], ignore_index=True)
    reps = features_labels.poison_replicates(res, 300, seed=2)
    ok = np.isfinite(reps["none"])
    assert ok.mean() > 0.9 and len(reps["none"]) == 300
    assert np.all(reps["none"][ok] == 0) and np.allclose(reps["gold"][ok], 1)


def test_head_only_updates_are_scored_from_the_original_models_test_features():
    """Notebook 02 scores head-only updates on the poisoned model's cached test features; that must equal
    scoring the updated model itself."""
    import torch

    from unlearn import models
    from unlearn.data import ArrayDataset
    from unlearn.methods import influence
    from unlearn.methods.tmu import features as tmu_features

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(120, 3, 16, 16, generator=g), torch.randint(0, 10, (120,), generator=g)
    data = ArrayDataset(x, y)
    torch.manual_seed(0)
    model = models.build("vgg", width=4, hidden=16).eval()
    new, _ = influence.first_order(model, (x[:40], y[:40]), (x[:40], (y[:40] + 1) % 10), 0.5, params="head")
    fast = poisoning._head_correct(new, tmu_features.penultimate(model, data), data)
    assert np.array_equal(fast, poisoning._correct(new, data))
    with torch.no_grad():
        assert not torch.allclose(new(x), model(x))  # the update did change the outputs


def test_replicates_redraw_the_poisoned_seeds():
    """A method that restores nothing on seed 0 and everything on seed 1: a bootstrap over test images alone would
    always average the two (0.5); redrawing the seeds also gives replicates of 0 and 1."""
    res = fake_result()
    res["correct"][(0, "x")] = res["correct"][(0, "poisoned")]
    res["correct"][(1, "x")] = res["correct"][("all", "clean")]
    res["runs"] = pd.concat([res["runs"], pd.DataFrame([{"seed": s, "method": "x", "restored": float(s)} for s in (0, 1)])],
                            ignore_index=True)
    reps = features_labels.poison_replicates(res, 400, seed=3)["x"]
    values = set(np.round(reps[np.isfinite(reps)], 9))
    assert values == {0.0, 0.5, 1.0}
