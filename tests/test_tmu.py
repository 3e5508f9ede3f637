"""Twin Machine Unlearning: its features, clipping, twin labels, predictor, and the whole pipeline."""

import copy
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from unlearn import methods, metrics, models, splits
from unlearn.data import ArrayDataset, load_dataset, targets_of
from unlearn.methods.tmu import features as tmu_features
from unlearn.train import TrainConfig, fit, predict


# --- DF -----------------------------------------------------------------------------------------
def test_distance_feature_known_neighbours():
    # reference points on the unit circle at 0, 90, 180, 270 degrees; the query at 0 degrees
    ref = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    q = torch.tensor([[3.0, 0.0]])  # normalised to (1, 0): distances 0, sqrt2, 2, sqrt2
    assert tmu_features.distance_feature(q, ref, k=1).item() == pytest.approx(0.0, abs=1e-7)
    assert tmu_features.distance_feature(q, ref, k=3).item() == pytest.approx((0 + 2 * math.sqrt(2)) / 3, rel=1e-6)
    assert tmu_features.distance_feature(q, ref, k=4).item() == pytest.approx((0 + 2 * math.sqrt(2) + 2) / 4, rel=1e-6)
    # only directions matter: scaling the reference features changes nothing
    assert tmu_features.distance_feature(q, 7 * ref, k=3).item() == pytest.approx((2 * math.sqrt(2)) / 3, rel=1e-6)


def test_distance_feature_many_queries_and_errors():
    ref = torch.eye(3)
    q = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    d = tmu_features.distance_feature(q, ref, k=2)
    # second query, normalised (1,1,0)/sqrt2: distance to e1 and e2 is sqrt(2 - sqrt2) each
    assert d[0].item() == pytest.approx(math.sqrt(2) / 2, rel=1e-6)
    assert d[1].item() == pytest.approx(math.sqrt(2 - math.sqrt(2)), rel=1e-6)
    with pytest.raises(ValueError, match="k must lie"):
        tmu_features.distance_feature(q, ref, k=4)
    with pytest.raises(ValueError, match="need"):
        tmu_features.distance_feature(q, torch.ones(3, 2), k=1)


# --- IQR clipping and scaling --------------------------------------------------------------------
def test_iqr_clip_hand_values():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])  # Q1 = 2, Q3 = 4, IQR = 2 -> fences (-1, 7)
    assert tmu_features.iqr_bounds(x) == pytest.approx((-1.0, 7.0))
    assert tmu_features.iqr_clip(x).tolist() == [1.0, 2.0, 3.0, 4.0, 7.0]
    assert tmu_features.iqr_clip(torch.tensor([-9.0, 0.0]), bounds=(-1.0, 7.0)).tolist() == [-1.0, 0.0]


def test_scaler_uses_twin_statistics_on_both_problems():
    twin = {"df": torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])}
    sc = tmu_features.FeatureScaler().fit(twin)
    t = sc.transform(twin)["df"]
    assert t.tolist() == pytest.approx([0.0, 1 / 6, 2 / 6, 3 / 6, 1.0])  # clipped to 7, then (x - 1) / 6
    o = sc.transform({"df": torch.tensor([100.0, -5.0, 4.0])})["df"]
    assert o.tolist() == pytest.approx([1.0, -1 / 3, 0.5])  # the twin fences and range, not D_f's own
    with pytest.raises(ValueError, match="not fitted"):
        sc.transform({"af": torch.zeros(2)})


# --- twin labels, AF, CF ---------------------------------------------------------------------------
class Fixed(nn.Module):
    """A "model" whose logits are its input: predictions are known in advance."""

    num_classes = 3

    def forward(self, x):
        return x.flatten(1)

    def features(self, x):
        return x.flatten(1)


def test_twin_labels_from_known_predictions():
    x = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0]])
    y = torch.tensor([0, 1, 1, 2])  # right, right, wrong, wrong
    assert tmu_features.twin_labels(Fixed(), ArrayDataset(x, y)).tolist() == [1, 1, 0, 0]


def test_adversarial_feature_is_clean_entropy_at_zero_radius_and_grows_with_it():
    torch.manual_seed(0)
    x = torch.rand(8, 3)
    ds = ArrayDataset(x, torch.randint(0, 3, (8,)))
    p = x.softmax(-1)
    entropy = -(p * p.log()).sum(-1)
    af0 = tmu_features.adversarial_feature(Fixed(), ds, eps=0.0, clamp=None)
    assert af0.tolist() == pytest.approx(entropy.tolist(), rel=1e-5)
    af = tmu_features.adversarial_feature(Fixed(), ds, eps=0.2, clamp=None)
    assert (af >= af0 - 1e-6).all() and (af > af0 + 1e-4).any()


def test_curriculum_feature_is_per_sample_cross_entropy():
    x = torch.tensor([[2.0, 0, 0], [0, 1.0, 0]])
    y = torch.tensor([0, 2])
    expected = torch.nn.functional.cross_entropy(x, y, reduction="none")
    assert tmu_features.curriculum_feature(Fixed(), ArrayDataset(x, y)).tolist() == pytest.approx(expected.tolist())


# --- predictor and relabelling ----------------------------------------------------------------------
def test_predictor_learns_a_separable_rule_and_is_seeded():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g)
    y = (x[:, 0] < 0.5).long()  # easy when the first feature is small
    p1 = tmu_features.train_predictor(x, y, epochs=60, seed=3)
    p2 = tmu_features.train_predictor(x, y, epochs=60, seed=3)
    acc = ((p1.scores(x) >= 0.5).long() == y).float().mean().item()
    assert acc > 0.95
    assert torch.equal(p1.scores(x), p2.scores(x))
    with pytest.raises(ValueError):
        tmu_features.train_predictor(x, y[:10])


def test_majority_accuracy():
    assert tmu_features.majority_accuracy([1, 1, 0], [1, 0, 0, 0]) == 0.25
    assert tmu_features.majority_accuracy([0, 0, 1], [1, 0, 0, 0]) == 0.75


def test_relabel_hard_changes_only_hard_labels_to_other_classes():
    y = torch.arange(10) % 4
    hard = torch.tensor([True, False] * 5)
    new = tmu_features.relabel_hard(y, hard, num_classes=4, seed=1)
    assert torch.equal(new[~hard], y[~hard])
    assert (new[hard] != y[hard]).all() and new.max() < 4
    assert torch.equal(new, tmu_features.relabel_hard(y, hard, num_classes=4, seed=1))


def test_concat_arrays_keeps_order_and_dtype():
    a = ArrayDataset(torch.zeros(2, 1, dtype=torch.uint8), torch.tensor([0, 1]))
    b = ArrayDataset(torch.full((3, 1), 255, dtype=torch.uint8), torch.tensor([2, 2, 2]))
    c = tmu_features.concat_arrays(Subset(a, [1]), b)
    assert c.x.dtype == torch.uint8 and c.y.tolist() == [1, 2, 2, 2]
    assert c.take(torch.tensor([1]))[0].item() == 1.0  # uint8 still scaled to [0, 1]


# --- the whole pipeline on digits -------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_problem(tmp_path_factory):
    import os

    old = os.environ.get("UNLEARN_CACHE")
    os.environ["UNLEARN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    data = load_dataset("digits")
    c = 3
    split = splits.class_fraction(targets_of(data.train), c, 0.1, seed=0)
    forget, retain = split.subsets(data.train)
    holdout = Subset(data.test, torch.nonzero(targets_of(data.test) == c).ravel().tolist())
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05)
    torch.manual_seed(0)
    original = fit(models.build("small_cnn", in_channels=1, num_classes=10, width=8, hidden=32), data.train, cfg, 0, progress=False)
    gold, _ = methods.get("retrain")(original, forget, retain, config=vars(cfg), seed=0)
    yield {"data": data, "forget": forget, "retain": retain, "holdout": holdout, "original": original, "gold": gold, "c": c}
    if old is None:
        os.environ.pop("UNLEARN_CACHE", None)
    else:
        os.environ["UNLEARN_CACHE"] = old


SMALL = {"twin_epochs": 1, "twin_lr": 1e-3, "curriculum_epochs": 2, "curriculum_lr": 1e-3, "predictor_epochs": 30, "epochs": 1}


def test_tmu_pipeline_on_digits_gives_a_model_and_finite_delta(digits_problem):
    P = digits_problem
    before = [p.clone() for p in P["original"].parameters()]
    u = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, P["original"].parameters()))  # caller's model untouched
    delta = metrics.delta_to_gold(predict(u.model, P["forget"]).accuracy, predict(P["gold"], P["forget"]).accuracy)
    assert math.isfinite(delta) and 0 <= delta <= 1
    info = u.record.info
    n = len(P["forget"])
    assert info.forget_class == P["c"]
    assert info.easy_mask.shape == (n,) and info.scores.shape == (n,)
    assert ((info.scores >= 0.5) == info.easy_mask).all()
    for key in ("features", "features_raw"):
        assert set(getattr(info, key)) == {"df", "af", "cf"} and all(np.isfinite(v).all() and v.shape == (n,) for v in getattr(info, key).values())
    assert all(v.shape == (len(P["holdout"]),) for v in info.twin_features.values())
    # twin features are min-max scaled on themselves, so they span exactly [0, 1]
    assert all(v.min() == pytest.approx(0) and v.max() == pytest.approx(1) for v in info.twin_features.values())
    # twin labels are the original model's correctness on D_h
    assert np.array_equal(info.twin_labels, predict(P["original"], P["holdout"]).correct.long().numpy())
    # predicted-easy samples kept their labels, predicted-hard ones got another class
    y = targets_of(P["forget"]).numpy()
    assert (info.new_labels[info.easy_mask] == y[info.easy_mask]).all()
    assert (info.new_labels[~info.easy_mask] != y[~info.easy_mask]).all()
    assert u.record.grad_evals > 0


def test_tmu_is_deterministic_and_reuses_cached_twin(digits_problem):
    P = digits_problem
    a = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=1)
    b = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=1)
    assert b.record.info.twin_cached and b.record.info.curriculum_cached
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert np.array_equal(a.record.info.scores, b.record.info.scores)


def test_tmu_noise_changes_the_result(digits_problem):
    P = digits_problem
    on = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"noise_sigma": 0.5}, seed=0)
    off = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"noise_sigma": 0.0}, seed=0)
    assert np.array_equal(on.record.info.easy_mask, off.record.info.easy_mask)  # same prediction
    assert any(not torch.equal(p, q) for p, q in zip(on.model.parameters(), off.model.parameters()))


def test_tmu_refuses_bad_inputs(digits_problem):
    P = digits_problem
    tmu = methods.get("tmu")
    with pytest.raises(ValueError, match="held-out set D_h"):
        tmu(P["original"], P["forget"], P["retain"], config=SMALL)
    with pytest.raises(ValueError, match=r"tmu got val=; its one extra data set is holdout="):  # one name per input
        tmu(P["original"], P["forget"], P["retain"], val=P["holdout"], config=SMALL)
    with pytest.raises(ValueError, match=r"neggrad got holdout=; it takes no extra data set"):
        methods.get("neggrad")(P["original"], P["forget"], P["retain"], holdout=P["holdout"])
    ytest = targets_of(P["data"].test)
    wrong = Subset(P["data"].test, torch.nonzero(ytest == 5).ravel().tolist())
    with pytest.raises(ValueError, match="only class-3"):
        tmu(P["original"], P["forget"], P["retain"], holdout=wrong, config=SMALL)
    ytrain = targets_of(P["data"].train)
    two = [int(torch.nonzero(ytrain == 3)[0]), int(torch.nonzero(ytrain == 4)[0])]  # classes 3 and 4
    mixed = Subset(P["data"].train, two)
    retain = Subset(P["data"].train, [i for i in range(len(ytrain)) if i not in two])
    with pytest.raises(ValueError, match="sub-class forgetting"):
        tmu(P["original"], mixed, retain, holdout=P["holdout"], config=SMALL)
    with pytest.raises(ValueError, match="noise_on"):
        tmu(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"noise_on": "retain"})
    with pytest.raises(ValueError, match="features"):
        tmu(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"features": ("xx",)})


# --- reuse across requests, calibration, controls ------------------------------------------
def test_a_second_request_of_the_class_reuses_the_twin_and_curriculum_models(digits_problem):
    """The twin and curriculum models depend on D and D_h, not on which class-c samples are forgotten."""
    P = digits_problem
    from unlearn.methods.tmu import training_set

    other = splits.class_fraction(targets_of(P["data"].train), P["c"], 0.1, seed=5)  # another D_f of class 3
    f2, r2 = other.subsets(P["data"].train)
    assert not np.array_equal(other.forget, np.asarray(P["forget"].indices))
    d1, d2 = training_set(P["forget"], P["retain"]), training_set(f2, r2)
    assert torch.equal(d1.x, d2.x) and torch.equal(d1.y, d2.y)  # the same D, in the root data set's order
    methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=2)
    b = methods.get("tmu")(P["original"], f2, r2, holdout=P["holdout"], config=SMALL, seed=2)
    info = b.record.info
    assert info.twin_cached and info.curriculum_cached
    assert info.request_seconds < info.pipeline_seconds


def test_decision_thresholds_of_each_calibration():
    from unlearn.methods.tmu import TMUConfig, decision_threshold

    scores = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])  # 25 % easy
    assert decision_threshold(TMUConfig(calibration="fixed"), scores, labels) == 0.5
    # the default is the release's: its raw output (a logit) against 0.5
    assert decision_threshold(TMUConfig(), scores, labels) == pytest.approx(1 / (1 + math.exp(-0.5)))
    t = decision_threshold(TMUConfig(calibration="base_rate"), scores, labels)
    assert float((scores >= t).float().mean()) == pytest.approx(0.25)  # the predicted-easy rate equals the base rate


def test_tmu_refuses_unknown_calibration_and_scaling(digits_problem):
    P = digits_problem
    for bad, msg in (({"calibration": "platt"}, "calibration must be"), ({"scaling": "global"}, "scaling must be")):
        with pytest.raises(ValueError, match=msg):
            methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | bad)


def test_controls_share_tmus_fine_tuning(digits_problem):
    """TMU's step 4 given TMU's own easy mask reproduces TMU's model exactly: the controls differ only in the mask."""
    import copy

    from unlearn.methods.tmu import TMUConfig, finetune_with_labels

    P = digits_problem
    u = methods.get("tmu")(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=3)
    m = copy.deepcopy(P["original"])
    y_new = finetune_with_labels(m, P["forget"], P["retain"], torch.as_tensor(u.record.info.easy_mask),
                                 methods.make_config(TMUConfig, SMALL), seed=3)
    assert np.array_equal(y_new.numpy(), u.record.info.new_labels)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), u.model.parameters()))
    with pytest.raises(ValueError, match="one flag per forget sample"):
        finetune_with_labels(m, P["forget"], P["retain"], torch.ones(3, dtype=torch.bool), TMUConfig(), 0)


def test_a_diverged_method_is_recorded_for_its_seed_not_a_crash(monkeypatch, tmp_path):
    """A method whose loss turns non-finite is a row marked 'diverged' (NaN metrics) in Table 1 and the regime
    says so; the other methods' rows are scored as usual."""
    import dataclasses

    from unlearn.experiments import tmu
    from unlearn.train import Diverged

    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path))
    real_get = methods.get

    def get(name):
        if name != "neggrad":
            return real_get(name)

        def exploding(*args, **kw):
            raise Diverged("neggrad diverged: the loss is inf (not finite)", method="neggrad")
        return exploding

    monkeypatch.setattr(tmu.protocol.methods, "get", get)
    P = dataclasses.replace(tmu.PROFILES["smoke"], seeds=(0,))
    runs = tmu.run_seeds(P, progress=False)
    t = runs["table"].set_index("method")
    assert t.loc["NegGrad", "status"] == "diverged" and np.isnan(float(t.loc["NegGrad", "delta"]))
    assert (t.drop(index="NegGrad")["status"] == "ok").all() and t.drop(index="NegGrad")["delta"].notna().all()
    assert bool(runs["regime"]["neggrad_diverged"].iloc[0]) and np.isnan(runs["regime"]["neggrad_forget_acc"].iloc[0])


def test_a_class_out_of_regime_is_a_row_naming_the_failure_not_a_crash(monkeypatch):
    """tools/tmu_other_classes.py on a class whose twin does not fit within its cap: that class is one row carrying
    the NotFitted message, and the next class is still run and scored."""
    import pandas as pd

    from unlearn.experiments import tmu
    from unlearn.train import NotFitted

    def run_seeds(P, base_seed=0, progress=True):
        if P.forget_class == 2:
            raise NotFitted("tmu-twin: training accuracy 0.9939 after 100 epochs, below until_train_acc=1.0")
        table = pd.DataFrame({"seed": [0, 0, 0], "method": ["original", "retrain (gold)", "TMU"], "delta": [0.4, 0.0, 0.1]})
        regime = pd.DataFrame([{"seed": 0, **{c: 1.0 for c in tmu.OTHER_CLASS_COLUMNS}}])
        return {"table": table, "regime": regime}

    monkeypatch.setattr(tmu.studies, "run_seeds", run_seeds)
    df = tmu.other_classes(tmu.PROFILES["smoke"], [2, 4])
    failed, ok = df[df["class"] == 2].iloc[0], df[df["class"] == 4].iloc[0]
    assert "after 100 epochs" in failed["regime_failed"] and np.isnan(failed["gold_forget_acc"])
    assert ok["regime_failed"] == "" and ok["delta_TMU"] == 0.1 and ok["seed"] == 0
    assert set(tmu.OTHER_CLASS_COLUMNS) <= set(df.columns)
    # every class out of regime: the columns the notebook prints are still there
    monkeypatch.setattr(tmu.studies, "run_seeds", lambda P, *a, **k: (_ for _ in ()).throw(NotFitted("gold: cap")))
    assert set(tmu.OTHER_CLASS_COLUMNS) <= set(tmu.other_classes(tmu.PROFILES["smoke"], [2]).columns)



def test_other_classes_summary_judges_each_row_by_the_notebooks_regime_checks(tmp_path, monkeypatch):
    """The stored table read back from CSV: a failed fit is out of regime and named, a seed whose NegGrad diverged
    or whose original missed D_f is out of regime, and Delta is averaged over the seeds in regime only."""
    import pandas as pd

    from unlearn.experiments import tmu

    base = {"original_forget_acc": 1.0, "gold_forget_acc": 0.6, "twin_holdout_acc": 1.0, "neggrad_forget_acc": 0.0,
            "neggrad_diverged": False, "tmu_predicted_easy": 0.7, "true_easy": 0.6, "regime_failed": ""}
    rows = [{"class": 2, "regime_failed": "tmu-twin: training accuracy 0.99 after 100 epochs; raise epochs"},
            {"class": 4, "seed": 0, **base, "delta_TMU": 0.1},
            {"class": 4, "seed": 1, **base, "delta_TMU": 0.3},
            {"class": 4, "seed": 2, **base, "neggrad_diverged": True, "delta_TMU": 0.9},
            {"class": 4, "seed": 3, **base, "original_forget_acc": 0.995, "delta_TMU": 0.9}]
    (tmp_path / "smoke").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "smoke" / "tmu_other_classes.csv", index=False)
    monkeypatch.setattr(tmu.studies, "results_dir", lambda profile: tmp_path / profile)
    regime, deltas = tmu.other_classes_summary(tmu.stored_other_classes("smoke"))
    assert regime["in_regime"].tolist() == [False, True, True, False, False]
    assert regime["regime_failed"].tolist() == ["tmu-twin: training accuracy 0.99 after 100 epochs", "", "", "", ""]
    assert deltas.loc[(4, "TMU")].to_dict() == {"mean": 0.2, "min": 0.1, "max": 0.3, "seeds": 2}
    assert 2 not in deltas.index.get_level_values("class")

def test_noise_falls_on_the_kept_forget_samples_only(digits_problem, monkeypatch):
    # the paper's noise protects the samples whose labels stay (they would be fitted again, visible to an attacker);
    # on the relabelled ones it would only fight their forgetting
    import unlearn.methods.tmu as tmu_mod

    P = digits_problem
    seen = {}
    monkeypatch.setattr(tmu_mod, "noisy_finetune", lambda model, data, noisy, cfg, seed: seen.setdefault(cfg.noise_on, noisy))
    easy = torch.zeros(len(P["forget"]), dtype=torch.bool)
    easy[::3] = True
    n_r = len(P["retain"])
    for where in ("kept", "forget", "all"):
        cfg = methods.make_config(tmu_mod.TMUConfig, SMALL | {"noise_on": where})
        tmu_mod.finetune_with_labels(copy.deepcopy(P["original"]), P["forget"], P["retain"], easy, cfg, 0)
    assert not seen["kept"][:n_r].any() and torch.equal(seen["kept"][n_r:], easy)
    assert not seen["forget"][:n_r].any() and seen["forget"][n_r:].all()
    assert seen["all"].all()


def test_release_start_fine_tunes_the_twin_not_the_original(digits_problem, monkeypatch):
    P = digits_problem
    tmu = methods.get("tmu")
    tmu_module = sys.modules["unlearn.methods.tmu"]
    started = {}
    real = tmu_module.finetune_with_labels

    def record(model, forget, retain, easy, cfg, seed, num_classes=None):  # the model step 4 starts from
        started[cfg.start] = copy.deepcopy(model.state_dict())
        return real(model, forget, retain, easy, cfg, seed, num_classes)

    monkeypatch.setattr(tmu_module, "finetune_with_labels", record)
    tmu(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL, seed=1)
    from_t = tmu(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"start": "twin"}, seed=1)
    original = P["original"].state_dict()
    assert all(torch.equal(started["original"][k], original[k]) for k in original)
    assert any(not torch.equal(started["twin"][k], original[k]) for k in original)  # the twin saw D_h: it moved
    assert from_t.record.info.start == "twin"
    with pytest.raises(ValueError, match="start must be"):
        tmu(P["original"], P["forget"], P["retain"], holdout=P["holdout"], config=SMALL | {"start": "gold"})
