"""DLFD (Choi & Na 2024): the OT term, its gradient, the CE schedule, the method end to end, and
the MUFAC loader on a fixture in the benchmark's layout."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import ot
import pandas as pd
import pytest
import torch
from torch.utils.data import Subset

from unlearn import methods, metrics, models
from unlearn.data import ArrayDataset, load_dataset
from unlearn.data.mufac import load_mufac, mufac_root
from unlearn.data.sources import DatasetNotFoundError
from unlearn.methods.dlfd import RELEASE, DLFDConfig, cosine_cost, ot_loss, perturb, perturbation_objective, perturbed_input, retain_weight
from unlearn.splits import mufac_split
from unlearn.train import TrainConfig, fit, predict


# --- the OT term ------------------------------------------------------------------------------
def test_cosine_cost_hand_values():
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    expected = torch.tensor([[0.0, 2.0, 1 - 2**-0.5], [1.0, 1.0, 1 - 2**-0.5]])
    assert torch.allclose(cosine_cost(x, y), expected, atol=1e-6)


def test_sinkhorn_cost_approaches_exact_emd_as_epsilon_shrinks():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    exact = float(ot.emd2(torch.full((6,), 1 / 6, dtype=torch.float64), torch.full((5,), 1 / 5, dtype=torch.float64),
                          cosine_cost(x, y)))
    gaps = [abs(float(ot_loss(x, y, reg, num_iter=5000)) - exact) for reg in (0.1, 0.03, 0.01, 0.003)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])), gaps  # monotone convergence to the exact cost
    assert gaps[0] > 1e-3 and gaps[-1] < 1e-6, gaps
    # an entropic plan is never cheaper than the optimal one
    assert float(ot_loss(x, y, 0.1, num_iter=5000)) >= exact - 1e-9
    # identical point clouds: zero cost at small epsilon
    assert float(ot_loss(x, x, 0.003, num_iter=5000)) < 1e-6


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return models.build("small_cnn", in_channels=1, num_classes=10, width=4, hidden=16).eval()


def _pair(seed, n, shape, classes):
    """A retain batch (x_r, y_r) and a forget batch x_f of random images."""
    g = torch.Generator().manual_seed(seed)
    x_r, x_f = torch.rand(n, *shape, generator=g), torch.rand(n, *shape, generator=g)
    return x_r, torch.randint(0, classes, (n,), generator=g), x_f


@pytest.mark.parametrize("space", ["logits", "features"])
def test_gradient_reaches_delta_through_ot_only_in_the_paper_form(space):
    model = _tiny_model()
    x_r, y_r, x_f = _pair(1, 8, (1, 8, 8), 10)
    delta = torch.zeros_like(x_r, requires_grad=True)
    with torch.no_grad():
        target = model(x_f) if space == "logits" else model.features(x_f)
        clean = model(x_r) if space == "logits" else model.features(x_r)
    paper = DLFDConfig(ot_space=space, ot_target="perturbed")
    _, ot_term, _ = perturbation_objective(model, x_r + 0.25, y_r, delta, target, 3.0, 0.0, paper)
    (grad,) = torch.autograd.grad(ot_term, delta)
    assert grad.abs().sum() > 0
    # w_r = 0: the perturbation is driven by the OT term alone, and it raises the OT cost
    before = float(ot_term.detach())
    loss, _, _ = perturbation_objective(model, x_r + 0.25, y_r, delta, target, 3.0, 0.0, paper)
    (g_total,) = torch.autograd.grad(loss, delta)
    assert torch.allclose(g_total, 3.0 * grad)
    stepped = (0.05 * g_total.sign()).detach()
    _, after, _ = perturbation_objective(model, x_r + 0.25, y_r, stepped, target, 3.0, 0.0, paper)
    assert float(after.detach()) > before
    # the release's form compares f(x_r), not f(x_r + delta): no gradient reaches delta from OT
    released = DLFDConfig(ot_space=space, ot_target="clean")
    _, ot_clean, _ = perturbation_objective(model, x_r, y_r, delta, target, 3.0, 0.0, released, clean=clean)
    assert not ot_clean.requires_grad or torch.autograd.grad(ot_clean, delta, allow_unused=True)[0] is None


# --- the perturbation is an attack on a fixed model ------------------------------------------------
def _bn_dropout_model(seed=0):
    torch.manual_seed(seed)
    return models.build("dlfd", num_classes=4, width=4)  # ResNet-18 (BatchNorm) + MLP head with dropout


@pytest.mark.parametrize("ot_target", ["perturbed", "clean"])
def test_perturbation_leaves_weights_buffers_and_grads_bit_identical(ot_target):
    model = _bn_dropout_model()
    x_r, y_r, x_f = _pair(2, 6, (3, 16, 16), 4)
    cfg = DLFDConfig(perturb_steps=4, ot_target=ot_target)
    model.eval()  # the paper form builds delta in eval mode
    before = {k: v.clone() for k, v in model.state_dict().items()}  # weights and every BN buffer
    x = perturb(model, x_r, y_r, x_f, 0.5, cfg)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), [k for k in before if not torch.equal(before[k], after[k])]
    assert all(p.grad is None for p in model.parameters())
    assert not model.training
    assert x.shape == x_r.shape and not x.requires_grad and 0 <= x.min() and x.max() <= 1
    assert (x - x_r).abs().max() <= 4 * cfg.perturb_step_size + 1e-6 and not torch.equal(x, x_r)
    # the same perturbation in train mode would move the BatchNorm statistics: the reason for eval mode
    model.train()
    perturb(model, x_r, y_r, x_f, 0.5, cfg)
    assert not torch.equal(before["body.bn1.running_mean"], model.state_dict()["body.bn1.running_mean"])


def test_release_arm_units_and_its_zero_first_delta():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 4, 4, generator=g)
    cfg = DLFDConfig(**RELEASE)
    # delta = 0 still clamps in normalised units: pixels end in [mean, mean + std] per channel
    out = perturbed_input(x, torch.zeros_like(x), cfg)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(out, x.clamp(mean, mean + std), atol=1e-6)
    # a step of 0.4 normalised units is 0.4 * std pixels
    moved = perturbed_input(torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.4), cfg)
    assert torch.allclose(moved - 0.5, 0.4 * std.view(1, 3, 1, 1), atol=1e-6)
    # with the release's clean-output OT and w_r(0) = 0 the objective has no gradient in delta: delta stays 0
    model = _bn_dropout_model().eval()
    x_r, y_r, x_f = _pair(4, 4, (3, 16, 16), 4)
    assert torch.allclose(perturb(model, x_r, y_r, x_f, 0.0, cfg), perturbed_input(x_r, torch.zeros_like(x_r), cfg))
    # the paper form at w_r = 0 is a pure OT ascent: delta is not 0
    assert not torch.equal(perturb(model, x_r, y_r, x_f, 0.0, DLFDConfig(perturb_steps=2)), x_r)


# --- the classification-weight schedule ---------------------------------------------------------
def test_the_paper_profiles_network_is_the_releases_resnet18():
    """The DLFD release builds torchvision's resnet18(pretrained=False) with its fc replaced by an MLP head
    (model.py): at the paper profile the backbone has torchvision's stem and its weights' shapes, and 128-pixel faces
    reach the last stage at 4 x 4. The cpu profile keeps the 3x3 stem for its 32-pixel faces."""
    import torchvision

    from unlearn.experiments import dlfd as dlfd_exp

    P = dlfd_exp.PROFILES["paper"]
    net = models.build("dlfd", **P.model_kw)
    ref = torchvision.models.resnet18(weights=None)
    ref.fc = torch.nn.Identity()
    assert {k: v.shape for k, v in net.body.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    x = torch.rand(2, 3, 128, 128)
    assert net.body.layer4(net.body.layer3(net.body.layer2(net.body.layer1(net.body.maxpool(
        net.body.relu(net.body.bn1(net.body.conv1(x)))))))).shape == (2, 512, 4, 4)
    assert net(x).shape == (2, 8)
    assert "stem" not in dlfd_exp.PROFILES["cpu"].model_kw  # unchanged cache keys for the stored cpu models
    assert isinstance(models.build("dlfd", **dlfd_exp.PROFILES["cpu"].model_kw).body.maxpool, torch.nn.Identity)
    with pytest.raises(ValueError, match="stem must be one of"):
        models.build("dlfd", num_classes=8, width=4, stem="vgg")


def test_retain_weight_schedule():
    assert retain_weight(0, 5, 0.0, 1.0) == 0.0
    assert retain_weight(4, 5, 0.0, 1.0) == 1.0
    assert retain_weight(2, 5, 0.0, 1.0) == pytest.approx(0.5)
    assert retain_weight(1, 5, 0.2, 1.0) == pytest.approx(0.4)
    assert retain_weight(0, 1, 0.0, 1.0) == 1.0
    ws = [retain_weight(t, 7, 0.0, 1.0) for t in range(7)]
    assert np.allclose(np.diff(ws), 1 / 6)
    with pytest.raises(ValueError):
        retain_weight(5, 5, 0.0, 1.0)


# --- the method -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overfit_digits():
    """An overfitted digits model: the forget set's losses are clearly below unseen ones. Digits
    generalise so well that a clean model leaves FS near the attack's noise (about 0.1 on 60
    samples, and which way it moves depends on the thread count); 30 % of the training labels are
    flipped, and the memorised flips make membership plainly visible (FS about 0.2)."""
    b = load_dataset("digits")
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(b.train), 300, replace=False))
    y = b.train.y[idx].clone()
    flip = torch.as_tensor(rng.random(300) < 0.3)
    y[flip] = torch.as_tensor(rng.integers(0, 10, int(flip.sum())))
    train = ArrayDataset(b.train.x[idx], y)
    forget, retain = Subset(train, list(range(60))), Subset(train, list(range(60, 300)))
    test = ArrayDataset(b.test.x[:200], b.test.y[:200])
    unseen = ArrayDataset(b.test.x[200:], b.test.y[200:])
    torch.manual_seed(0)
    model = models.build("small_cnn", in_channels=1, num_classes=10, width=8, hidden=32)
    fit(model, train, TrainConfig(epochs=60, batch_size=32, lr=0.05), seed=0, progress=False)
    return model, forget, retain, test, unseen


def _fs(model, forget, unseen):
    return metrics.forgetting_score(metrics.mia_score(predict(model, forget).losses, predict(model, unseen).losses, seed=0))


def test_dlfd_lowers_fs_keeps_accuracy_and_counts_gradients(overfit_digits):
    model, forget, retain, test, unseen = overfit_digits
    fs_before, acc_before = _fs(model, forget, unseen), predict(model, unseen).accuracy
    # the release's MUFAC settings (lr, thresholds, w_f, schedule), with batch, K and monitoring sized for
    # 240 retain digits of 8x8 pixels
    cfg = {"batch_size": 16, "perturb_steps": 3, "perturb_step_size": 0.1, "monitor_every": 2, "monitor_samples": 60}
    out, rec = methods.get("dlfd")(model, forget, retain, monitor=test, config=cfg, seed=0)
    fs_after, acc_after = _fs(out, forget, unseen), predict(out, unseen).accuracy
    assert fs_before > 0.15, fs_before  # the fixture really is overfitted
    # FS falls by far more than the attack's noise (measured 0.225 -> 0.083 on 1 thread). Unseen accuracy:
    # 0.784 -> 0.772 on 1 thread but 0.800 -> 0.688 on 2 (the fixture itself differs by thread count): on
    # 240 retain digits with 30 % noisy labels, which checkpoint passes FS <= 0.09 decides the accuracy, so
    # only a collapse is asserted here; notebook 03 measures the kept accuracy at MUFAC's size
    assert fs_after < fs_before - 0.08, (fs_before, fs_after)
    assert acc_after > acc_before - 0.15, (acc_before, acc_after)
    info = rec.info
    assert info.batches == 15 and 1 <= info.perturbed_batches <= 15
    # gradient evaluations: every retain sample once, plus K = 3 passes to delta in each perturbed batch
    assert rec.grad_evals == len(retain) + 3 * 16 * info.perturbed_batches
    # the caller's model is untouched and the run is deterministic for a fixed seed
    again, _ = methods.get("dlfd")(model, forget, retain, monitor=test, config=cfg, seed=0)
    for a, b in zip(out.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_dlfd_refuses_bad_input(overfit_digits):
    model, forget, retain, test, _ = overfit_digits
    dlfd = methods.get("dlfd")
    with pytest.raises(ValueError, match="monitor="):
        dlfd(model, forget, retain, config={"perturb_steps": 1})
    with pytest.raises(ValueError, match="ot_target"):
        dlfd(model, forget, retain, monitor=test, config={"ot_target": "sideways"})
    with pytest.raises(ValueError, match="no option"):
        dlfd(model, forget, retain, monitor=test, config={"epsilon": 0.1})
    with pytest.raises(ValueError, match="model_mode"):
        dlfd(model, forget, retain, monitor=test, config={"model_mode": "eval"})
    with pytest.raises(ValueError, match="input_norm"):
        dlfd(model, forget, retain, monitor=test, config={"input_norm": "cifar"})


# --- MUFAC loader on a fixture in the benchmark's layout -------------------------------------------
def _write_part(root, csv_name, folder, rows):
    from PIL import Image

    (root / folder).mkdir(parents=True)
    with open(root / csv_name, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["family_id", "person_id", "age_class", "image_path"])
        for fam, person, letter, colour in rows:
            name = f"{fam}_AGE_{person}_{letter}1.png"
            img = torch.tensor(colour, dtype=torch.uint8).view(1, 1, 3).expand(12, 10, 3).contiguous()
            Image.fromarray(img.numpy()).save(root / folder / name)  # (H, W, 3), as Pillow takes it
            w.writerow([fam, person, letter, name])


@pytest.fixture()
def mufac_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "cache"))
    root = tmp_path / "custom_korean_family_dataset_resolution_128"
    train = [("F0001", "D", "a", (255, 0, 0)), ("F0001", "S", "c", (0, 255, 0)), ("F0002", "D", "h", (0, 0, 255)),
             ("F0002", "M", "e", (10, 20, 30)), ("F0003", "G", "g", (200, 100, 50))]
    _write_part(root, "custom_train_dataset.csv", "train_images", train)
    _write_part(root, "custom_val_dataset.csv", "val_images", [("F0801", "D", "b", (1, 2, 3)), ("F0801", "S", "d", (4, 5, 6))])
    _write_part(root, "custom_test_dataset.csv", "test_images", [("F0851", "D", "f", (7, 8, 9))])
    return root


def test_mufac_loader_reads_the_benchmark_layout(mufac_dir):
    b = load_mufac(mufac_dir, resolution=8)
    assert (len(b.train), len(b.test), len(b.extra["unseen"])) == (5, 2, 1)
    assert b.train.y.tolist() == [0, 2, 7, 4, 6]  # letters a..h -> 0..7
    assert b.test.y.tolist() == [1, 3] and b.extra["unseen"].y.tolist() == [5]
    assert b.classes[0] == "0-6" and b.classes[7] == "67-80" and b.num_classes == 8
    assert b.train.x.shape == (5, 3, 8, 8) and b.train.x.dtype == torch.uint8
    assert b.train.x[0, :, 3, 3].tolist() == [255, 0, 0]  # a flat colour survives the resize
    x, y = b.train[2]
    assert torch.allclose(x[:, 0, 0], torch.tensor([0.0, 0.0, 1.0])) and int(y) == 7
    assert b.extra["family_train"].tolist() == ["F0001", "F0001", "F0002", "F0002", "F0003"]
    assert set(b.extra["family_train"]).isdisjoint(b.extra["family_test"])  # household-disjoint parts
    split = mufac_split(b, forget_count=2)
    assert split.forget.tolist() == [0, 1] and split.retain.tolist() == [2, 3, 4]
    # decoded once, then read from the cache, identically
    again = load_mufac(mufac_dir, resolution=8)
    assert torch.equal(again.train.x, b.train.x)
    assert load_dataset("mufac", root=mufac_dir, resolution=8).train.y.tolist() == [0, 2, 7, 4, 6]


def test_mufac_loader_errors(mufac_dir, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="custom_train_dataset.csv"):
        mufac_root(tmp_path / "nowhere")
    b = load_mufac(mufac_dir, resolution=8)
    with pytest.raises(ValueError, match="forget_count"):
        mufac_split(b, forget_count=5)
    # an unknown age letter is named with its row
    rows = (mufac_dir / "custom_test_dataset.csv").read_text().replace(",f,", ",z,")
    (mufac_dir / "custom_test_dataset.csv").write_text(rows)
    with pytest.raises(ValueError, match="age_class 'z'"):
        load_mufac(mufac_dir, resolution=8)


# --- the ablation's paired summary ------------------------------------------------------------------
def test_ablation_summary_pairs_by_split_with_a_t_interval():
    import pandas as pd
    from scipy import stats

    from unlearn.experiments.dlfd import ablation_summary, ablation_verdicts

    ref = [0.60, 0.62, 0.58, 0.61]
    var = [0.55, 0.60, 0.50, 0.58]  # lower on every split, by 0.05, 0.02, 0.08, 0.03
    rows = [{"split": k, "variant": "DLFD (paper)", "nomus": r} for k, r in enumerate(ref)]
    rows += [{"split": k, "variant": "no OT term", "nomus": v} for k, v in reversed(list(enumerate(var)))]  # order must not matter
    out = ablation_summary(pd.DataFrame(rows), metrics_=("nomus",))
    d = np.array(var) - np.array(ref)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2  # sqrt(4) = 2
    row = out.loc["no OT term"]
    assert row["n_splits"] == 4 and row["nomus"] == pytest.approx(np.mean(var))
    assert row["d_nomus"] == pytest.approx(-0.045) and row["d_nomus_lo"] == pytest.approx(-0.045 - half)
    assert row["d_nomus_hi"] == pytest.approx(-0.045 + half) and row["d_nomus_hi"] < 0
    assert ablation_verdicts(out).loc["no OT term", "verdict"] == "DLFD higher"


def test_bootstrap_is_paired_and_repeats(overfit_digits):
    from unlearn.experiments.dlfd import bootstrap, intervals, paired_difference
    from unlearn.tasks import TaskSets

    model, forget, retain, test, unseen = overfit_digits
    other, _ = methods.get("finetune")(model, forget, retain, config={"epochs": 1}, seed=0)
    data = TaskSets(task=None, data=None, train=None, split=None, forget=forget, retain=retain, holdout=None,
                    class_test=None, test=unseen, val=test)
    reps = bootstrap({"a": model, "a again": model, "b": other}, data, n_boot=12, seed=3)
    assert len(reps) == 36
    # the same draws for every model: a model against itself differs by exactly 0 in every replicate
    assert paired_difference(reps, "a", "a again") == {"diff": 0.0, "lo": 0.0, "hi": 0.0}
    ci = intervals(reps)
    acc = predict(model, unseen).accuracy
    assert ci.loc["a", "test_acc_lo"] <= acc <= ci.loc["a", "test_acc_hi"]
    assert reps.equals(bootstrap({"a": model, "a again": model, "b": other}, data, n_boot=12, seed=3))


def test_split_claims_pair_methods_split_by_split():
    import warnings

    import pandas as pd

    from unlearn.experiments.dlfd import mean_interval, split_claims

    rows = []
    for k, (acc_o, acc_d, fs_d, nm_d, nm_b) in enumerate([(0.60, 0.58, 0.05, 0.70, 0.66), (0.60, 0.57, 0.07, 0.68, 0.65),
                                                          (0.60, 0.59, 0.06, 0.71, 0.66)]):
        rows += [{"split": k, "method": "original", "test_acc": acc_o, "fs": 0.2, "nomus": 0.5},
                 {"split": k, "method": "dlfd", "test_acc": acc_d, "fs": fs_d, "nomus": nm_d},
                 {"split": k, "method": "bad_teacher", "test_acc": 0.5, "fs": 0.1, "nomus": nm_b}]
    out = split_claims(pd.DataFrame(rows))
    assert out.loc["test_acc_drop", "mean"] == pytest.approx(0.02) and out.loc["fs", "mean"] == pytest.approx(0.06)
    assert out.loc["nomus_minus_bad_teacher", "mean"] == pytest.approx((0.04 + 0.03 + 0.05) / 3)
    assert out.loc["nomus_minus_bad_teacher", "lo"] > 0 and set(out["n"]) == {3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # identical values: a zero-width interval, no precision warning
        assert mean_interval([0.0375, 0.0375]) == {"mean": 0.0375, "lo": 0.0375, "hi": 0.0375, "n": 2}


def test_a_diverged_variant_or_method_is_a_row_and_the_runs_go_on(monkeypatch):
    """Notebook 05 under the second kernel setting: the release arm's losses turned non-finite on one split before any
    checkpoint. That run is one row marked diverged; the others are scored, and the paired summaries rest on the
    splits where both sides were scored (n counts them)."""
    from unlearn.experiments import dlfd
    from unlearn.methods import Unlearned, UnlearningRecord
    from unlearn.methods.dlfd import DLFDReport
    from unlearn.tasks import TaskSets
    from unlearn.train import Diverged

    x = torch.randn(60, 3, 4, 4)
    P = dataclasses.replace(dlfd.PROFILES["smoke"], ablation_splits=3, claim_splits=3, baselines=("finetune",))
    data = TaskSets(task=dlfd.task(P), data=None, train=ArrayDataset(x, torch.arange(60) % 3), split=None, forget=None,
                    retain=None, holdout=None, class_test=None, test=None, val=None)
    calls = []

    def method(name):
        def run(original, forget, retain, config=None, seed=0, **inputs):
            calls.append((name, seed))
            if seed == 1 and (name == "finetune" or (config or {}).get("perturb_step_size") == dlfd.protocol.DLFD_RELEASE.get("perturb_step_size")):
                raise Diverged(f"{name} diverged: non-finite losses")
            report = DLFDReport(diverged_at=None, curve=[], batches=2, perturbed_batches=1, selected="last",
                                best_batch=None, best_val_acc=None)
            return Unlearned(torch.nn.Linear(1, 1), UnlearningRecord(name, 0.1, 10, {}, report))
        return run

    monkeypatch.setattr(dlfd.protocol.methods, "get", method)
    monkeypatch.setattr(dlfd.protocol, "score", lambda m, d, seed=0, original=None, reference=None: {
        "test_acc": 0.5, "fs": 0.1 + 0.01 * seed, "nomus": 0.6 + 0.01 * seed, "fs_retain": 0.1})
    monkeypatch.setattr(dlfd.protocol, "reference_labels", lambda original, d: None)
    per_split = dlfd.run_ablation(None, P, data, seed=0)
    assert len(per_split) == 15 and len(calls) == 15
    bad = per_split[per_split["selected"] == "diverged"]
    assert bad[["split", "variant"]].values.tolist() == [[1, "release arm"]] and bad["nomus"].isna().all()
    summary = dlfd.ablation_summary(per_split)
    assert summary.loc["release arm", "n_splits"] == 2 and summary.loc["no OT term", "n_splits"] == 3
    assert summary.loc["release arm", "d_nomus"] == pytest.approx(0.0)  # equal on the two scored splits
    calls.clear()  # one new variant alone (notebook 05's exercise): only its runs, with its own config
    half = dlfd.run_ablation(None, P, data, seed=0, variants={"half step": {"perturb_step_size": 0.045}})
    assert half["variant"].unique().tolist() == ["half step"] and len(calls) == 3
    both = dlfd.ablation_summary(pd.concat([per_split[per_split["variant"] == "DLFD (paper)"], half]))
    assert both.index.tolist() == ["DLFD (paper)", "half step"] and both.loc["half step", "n_splits"] == 3
    runs = dlfd.run_splits(None, P, data, seed=0)  # notebook 03's five-split section, the same rule
    assert runs[(runs["method"] == "finetune") & (runs["split"] == 1)]["nomus"].isna().all()
    claims = dlfd.split_claims(runs)
    assert claims.loc["nomus_minus_finetune", "n"] == 2 and claims.loc["fs", "n"] == 3


def test_the_stored_memorisation_check_is_a_table_or_names_the_command_that_makes_it(tmp_path, monkeypatch):
    from unlearn.experiments import dlfd

    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tools/dlfd_profile_check.py --profile cpu"):
        dlfd.stored_memorisation_check("cpu")
    (tmp_path / "cpu" / "dlfd_profile_check.csv").write_text(",train_acc,fs\naugment=True,0.63333,0.05\n")
    table = dlfd.stored_memorisation_check("cpu")
    assert table.loc["augment=True", "train_acc"] == 0.6333 and list(table.columns) == ["train_acc", "fs"]
