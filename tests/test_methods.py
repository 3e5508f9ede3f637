"""The unlearning baselines behind one API, on digits at smoke size.

For every baseline in BASELINES (a list this file controls, so methods other modules register later
do not change what is tested here): it runs on CPU, leaves its input untouched, changes the
parameters (occlusion: wraps them unchanged), moves forget accuracy in the direction its docstring
promises, and is deterministic for a fixed seed. Retrain is spied on to prove it never receives a
forget sample; SISA retrains exactly the shards that held forget samples and then equals an ensemble
trained from scratch without them; every bad input raises ValueError.

The forget set is the whole class 3 (gold forget accuracy ~0, so "forget accuracy decreases" is a
real, measurable promise); the retain set is a 400-sample subset of the other classes, for speed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler, Subset, SubsetRandomSampler

from unlearn import cache, methods, models, splits, train
from unlearn.data import ArrayDataset, load_dataset, targets_of
from unlearn.methods.cf_k import last_k, layers
from unlearn.methods.sisa import SISAConfig, SISAEnsemble

BASELINES = ["retrain", "finetune", "neggrad", "neggrad_plus", "random_label", "bad_teacher", "scrub",
             "cf_k", "eu_k", "unsir", "salun", "sisa", "occlusion"]

ORIG_CFG = train.TrainConfig(epochs=8, batch_size=64, lr=0.05)
ARCH = dict(in_channels=1, num_classes=10, width=8, hidden=32)
# central 4x6 block of the 8x8 digit (the strokes live there): flattened pixel indices
CENTER = [r * 8 + c for r in range(1, 7) for c in range(2, 6)]
SISA_CFG = SISAConfig(epochs=15, batch_size=32, lr=0.05, shards=3)

# Small-model settings where the default would be slow; every other method runs with its defaults.
TEST_CONFIGS = {
    "retrain": ORIG_CFG,
    "sisa": SISAConfig(epochs=8, batch_size=32, lr=0.05, shards=3),  # plain model: builds the ensemble first
    "occlusion": {"features": CENTER},
}
# How much forget accuracy must at least drop (absolute) for each method, whole-class forgetting.
MIN_DROP = {"finetune": 0.05, "cf_k": 0.02, "occlusion": 0.1}
DEFAULT_DROP = 0.3


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is as fast, and far faster on a shared, loaded CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def setup():
    bundle = load_dataset("digits")
    y = targets_of(bundle.train).numpy()
    model = models.build("small_cnn", **ARCH)
    original, _ = cache.train_or_load(model, bundle.train, ORIG_CFG, 0, tag="test-methods-original", progress=False)
    split = splits.whole_class(y, 3)
    retain_idx = np.sort(np.random.default_rng(0).choice(split.retain, 400, replace=False))
    forget = Subset(bundle.train, split.forget.tolist())
    retain = Subset(bundle.train, retain_idx.tolist())
    return bundle, original, forget, retain


def test_available_lists_every_baseline():
    assert set(BASELINES) <= set(methods.available())
    for name in BASELINES:
        assert methods.get(name).method_name == name


def test_original_is_competent(setup):
    _, original, forget, retain = setup
    assert train.accuracy_on(original, forget) > 0.9 and train.accuracy_on(original, retain) > 0.9


@pytest.mark.parametrize("name", BASELINES)
def test_method_contract(setup, name):
    _, original, forget, retain = setup
    before = _params(original)
    method = methods.get(name)
    cfg = TEST_CONFIGS.get(name)
    out, rec = method(original, forget, retain, config=cfg, seed=0)
    again, _ = method(original, forget, retain, config=cfg, seed=0)
    assert _same(before, _params(original)), f"{name} mutated the model it was given"
    assert out is not original and not out.training
    assert not hasattr(out, "unlearning_record") and not hasattr(out, "unlearning_info")  # nothing stuck on the model
    assert rec.method == name and rec.seconds > 0
    # parameters: changed (occlusion: the very same values, wrapped)
    if name == "occlusion":
        assert _same(before, _params(out.model))
        assert rec.grad_evals == 0
    elif name == "sisa":
        assert len(out.models) == 3 and rec.grad_evals > 0
        assert rec.info.retrained_shards == [0, 1, 2]  # a whole class lies in every shard
    else:
        after = _params(out)
        assert after.keys() == before.keys()
        changed = [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
        assert changed, f"{name} changed no parameter"
        assert rec.grad_evals > 0
    # the promised direction: forget accuracy decreases (docstrings say so for every baseline)
    acc0, acc1 = train.accuracy_on(original, forget), train.accuracy_on(out, forget)
    assert "decreases" in method.__doc__
    assert acc1 <= acc0 - MIN_DROP.get(name, DEFAULT_DROP), f"{name}: forget accuracy {acc0:.3f} -> {acc1:.3f}"
    # deterministic for a fixed seed
    assert _same(_params(out), _params(again)), f"{name} is not deterministic for a fixed seed"
    assert torch.equal(train.predict(out, forget).logits, train.predict(again, forget).logits)


# the methods BASELINES leaves out, with the one extra data set each names (test_tmu, test_dlfd and test_influence
# check what they promise); small settings where a default would take minutes
EXTRA_CONFIGS = {
    "tmu": {"twin_epochs": 1, "curriculum_epochs": 1, "predictor_epochs": 5, "epochs": 1},
    "dlfd": {"val_samples": 60, "monitor_samples": 60},
    "influence_first_order": {"tau": 1e-3},
    "influence_second_order": {"cg_iters": 5, "l2": 1.0},
}


@pytest.mark.parametrize("name", methods.available())
def test_every_registered_method_keeps_the_call_shape(setup, name):
    """Every method the registry lists: the input model untouched, a new model in eval mode returned, its record
    naming the method with a cost, and the same numbers again for the same seed."""
    bundle, original, forget, retain = setup
    y_test = targets_of(bundle.test).numpy()
    extra = {"tmu": {"holdout": Subset(bundle.test, np.flatnonzero(y_test == 3).tolist())},
             "dlfd": {"monitor": Subset(bundle.test, list(range(120)))}}.get(name, {})
    if name == "tmu":  # sub-class forgetting: a third of class 3 forgotten, the rest of it retained
        cut = len(forget.indices) // 3
        forget, retain = (Subset(bundle.train, forget.indices[:cut]),
                          Subset(bundle.train, sorted(retain.indices + forget.indices[cut:])))
    cfg = {**TEST_CONFIGS, **EXTRA_CONFIGS}.get(name)
    before = _params(original)
    method = methods.get(name)
    out, rec = method(original, forget, retain, config=cfg, seed=0, **extra)
    again, _ = method(original, forget, retain, config=cfg, seed=0, **extra)
    assert _same(before, _params(original)), f"{name} mutated the model it was given"
    assert out is not original and not out.training
    assert not hasattr(out, "unlearning_record") and not hasattr(out, "unlearning_info")  # nothing stuck on the model
    assert rec.method == name and rec.seconds > 0 and rec.grad_evals >= 0
    assert rec.info is None or isinstance(rec.info, methods.Report)  # the method's own report is typed
    assert torch.equal(train.predict(out, forget).logits, train.predict(again, forget).logits), f"{name}: seed 0 twice"


@pytest.mark.parametrize("name", ["finetune", "neggrad_plus", "random_label", "unsir", "salun"])
def test_seed_matters(setup, name):
    _, original, forget, retain = setup
    a, _ = methods.get(name)(original, forget, retain, seed=0)
    b, _ = methods.get(name)(original, forget, retain, seed=1)
    assert not _same(_params(a), _params(b))


def test_retrain_never_sees_a_forget_sample(setup, monkeypatch):
    import unlearn.methods.retrain as rt

    _, original, forget, retain = setup
    seen = []
    real = rt.train_or_load

    def spy(model, dataset, *args, **kwargs):
        seen.append(dataset)
        return real(model, dataset, *args, **kwargs)

    monkeypatch.setattr(rt, "train_or_load", spy)
    gold, _ = methods.get("retrain")(original, forget, retain, config=ORIG_CFG)
    assert len(seen) == 1
    given = seen[0]
    assert isinstance(given, Subset) and given.dataset is forget.dataset
    assert not set(given.indices) & set(forget.indices)
    assert sorted(given.indices) == sorted(retain.indices)
    assert train.accuracy_on(gold, forget) < 0.1  # class 3 never seen: gold forgets it


# --- cf_k / eu_k: what "the last k layers" means ----------------------------------------------------
def test_layers_definition():
    cnn = models.build("small_cnn", **ARCH)
    names = [[n for n, _ in layer] for layer in layers(cnn)]
    assert names == [["body.0", "body.1"], ["body.3", "body.4"], ["body.7", "body.8"], ["body.12"], ["head"]]
    assert [n for n, _ in last_k(cnn, 2)] == ["body.12", "head"]
    res = models.build("resnet18", num_classes=10, width=4)
    assert len(layers(res)) == 21 and [n for n, _ in last_k(res, 1)] == ["head"]
    dl = models.build("dlfd", num_classes=8, width=4)
    assert len(layers(dl)) == 23 and [n for n, _ in last_k(dl, 3)] == ["head.0", "head.3", "head.6"]
    with pytest.raises(ValueError, match="k must be"):
        last_k(cnn, 6)


def test_cf_k_changes_only_the_last_k_layers(setup):
    _, original, forget, retain = setup
    for name in ("cf_k", "eu_k"):
        out, _ = methods.get(name)(original, forget, retain, config={"k": 2, "epochs": 1})
        before, after = _params(original), _params(out)
        moved = {k.rsplit(".", 1)[0] for k in before if not torch.equal(before[k], after[k])}
        assert moved == {"body.12", "head"}, (name, moved)
        assert all(p.requires_grad for p in out.parameters())  # frozen flags restored


# --- SISA ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sisa_setup(setup):
    bundle, *_ = setup
    idx = np.sort(np.random.default_rng(1).choice(len(bundle.train), 450, replace=False))
    data = Subset(bundle.train, idx.tolist())
    template = models.build("small_cnn", **ARCH)
    ens = SISAEnsemble.fit(template, data, SISA_CFG, seed=0)
    return bundle, idx, template, ens


def _sisa_forget(bundle, idx, ens, shards, per_shard=4):
    chosen = np.concatenate([ens.members[s][:per_shard] for s in shards])
    forget = Subset(bundle.train, np.sort(chosen).tolist())
    retain = Subset(bundle.train, np.setdiff1d(idx, chosen).tolist())
    return forget, retain


@pytest.mark.parametrize("shards", [[1], [0, 2]])
def test_sisa_retrains_exactly_the_touched_shards_and_equals_scratch(sisa_setup, shards):
    bundle, idx, template, ens = sisa_setup
    assert sorted(np.concatenate(ens.members).tolist()) == idx.tolist()  # shards partition the data
    forget, retain = _sisa_forget(bundle, idx, ens, shards)
    before = [_params(m) for m in ens.models]
    out, rec = methods.get("sisa")(ens, forget, retain)
    assert all(_same(b, _params(m)) for b, m in zip(before, ens.models))  # input untouched
    assert rec.info.retrained_shards == shards
    for s, m in enumerate(out.models):
        assert _same(before[s], _params(m)) == (s not in shards), f"shard {s}"
    assert not set(np.concatenate(out.members).tolist()) & set(forget.indices)
    scratch = SISAEnsemble.fit(template, retain, SISA_CFG, seed=0)
    for a, b in zip(out.models, scratch.models):
        assert _same(_params(a), _params(b))
    assert torch.equal(train.predict(out, bundle.test).logits, train.predict(scratch, bundle.test).logits)


def test_sisa_vote_is_a_distribution_with_majority_argmax(sisa_setup):
    bundle, _, _, ens = sisa_setup
    x, _ = bundle.test.take(torch.arange(50))
    logp = ens(x)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(50), atol=1e-5)
    votes = torch.stack([m(x).argmax(-1) for m in ens.models])
    counts = torch.nn.functional.one_hot(votes, 10).sum(0)
    assert (counts.gather(1, logp.argmax(-1, keepdim=True)).squeeze(1) == counts.max(1).values).all()
    assert train.accuracy_on(ens, bundle.test) > 0.8


def test_sisa_refuses_a_forget_set_from_another_dataset(sisa_setup):
    bundle, _, _, ens = sisa_setup
    other = Subset(bundle.test, [0, 1, 2])
    with pytest.raises(ValueError, match="not drawn from the dataset"):
        methods.get("sisa")(ens, other, Subset(bundle.test, [3, 4]))


# --- occlusion --------------------------------------------------------------------------------------
def test_occlusion_zeroes_exactly_the_named_features(setup):
    bundle, original, forget, retain = setup
    out, _ = methods.get("occlusion")(original, forget, retain, config={"features": [0, 9, 63]})
    x, _ = bundle.test.take(torch.arange(4))
    z = out.occlude(x).flatten(1)
    assert (z[:, [0, 9, 63]] == 0).all()
    keep = [i for i in range(64) if i not in (0, 9, 63)]
    assert torch.equal(z[:, keep], x.flatten(1)[:, keep])
    assert torch.equal(out(x), original(out.occlude(x)))
    with pytest.raises(ValueError, match="at least one feature"):
        methods.get("occlusion")(original, forget, retain)
    with pytest.raises(ValueError, match="feature indices"):
        methods.get("occlusion")(original, forget, retain, config={"features": [64]})


# --- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BASELINES)
def test_bad_inputs_raise(setup, name):
    bundle, original, forget, retain = setup
    m = methods.get(name)
    cfg = TEST_CONFIGS.get(name)
    with pytest.raises(ValueError, match="empty"):
        m(original, Subset(bundle.train, []), retain, config=cfg)
    overlap = Subset(bundle.train, list(retain.indices[:5]))
    with pytest.raises(ValueError, match="share"):
        m(original, overlap, retain, config=cfg)
    five = models.build("small_cnn", **{**ARCH, "num_classes": 5})
    with pytest.raises(ValueError, match="classes"):
        m(five, forget, retain, config=cfg)
    with pytest.raises(ValueError, match="no option"):
        m(original, forget, retain, config={"not_a_field": 1})
    # the whole training set as retain: it contains the forget set
    with pytest.raises(ValueError, match="whole dataset"):
        m(original, forget, bundle.train, config=cfg)
    # NaN inputs are named, not trained on
    x = bundle.train.x[retain.indices].clone()
    x[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="retain set has 1 samples with NaN"):
        m(original, forget, ArrayDataset(x, bundle.train.y[retain.indices]), config=cfg)


@pytest.mark.parametrize("name", [n for n in BASELINES if n not in ("occlusion", "sisa")])
def test_config_fields_are_type_and_range_checked(setup, name):
    _, original, forget, retain = setup
    m = methods.get(name)
    fields = {f.name for f in dataclasses.fields(m.config_cls)}
    epochs = "epochs" if "epochs" in fields else min(f for f in fields if f.endswith("_epochs"))
    for bad, match in (("2", "must be a number"), (-1, "must be positive"), (2.5, "must be a whole number"),
                       (True, "must be a number")):
        with pytest.raises(ValueError, match=rf"{m.config_cls.__name__}\.{epochs} {match}"):
            m(original, forget, retain, config={epochs: bad})
    lr = "lr" if "lr" in fields else next(f for f in sorted(fields) if f.endswith("_lr"))
    for bad, match in ((float("nan"), "must be finite"), (0.0, "must be positive"), ("0.1", "must be a number")):
        with pytest.raises(ValueError, match=rf"\.{lr} {match}"):
            m(original, forget, retain, config={lr: bad})
    # numpy scalars are numbers: accepted and converted
    assert methods.make_config(m.config_cls, {epochs: np.int64(1)}).__dict__[epochs] == 1


def test_a_dataloader_sampler_is_honoured_or_refused(setup):
    bundle, original, forget, retain = setup
    chosen = list(forget.indices[:41])
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=8, sampler=SubsetRandomSampler(chosen))
    _, rec = methods.get("neggrad")(original, loader, retain, config={"epochs": 1})
    assert rec.grad_evals == 41  # ascended on the 41 sampled images, not all 1,347
    twice = torch.utils.data.DataLoader(bundle.train, batch_size=8, sampler=RandomSampler(forget, replacement=True, num_samples=50))
    with pytest.raises(ValueError, match="sampler repeats samples"):
        methods.get("neggrad")(original, twice, retain)


def test_overlap_by_content_across_datasets(setup):
    bundle, original, forget, retain = setup
    copy_of_forget = ArrayDataset(bundle.train.x[forget.indices].clone(), bundle.train.y[forget.indices].clone())
    mixed = ArrayDataset(torch.cat([bundle.train.x[retain.indices], copy_of_forget.x[:7]]),
                         torch.cat([bundle.train.y[retain.indices], copy_of_forget.y[:7]]))
    with pytest.raises(ValueError, match="7 forget samples also occur in the retain set"):
        methods.get("neggrad")(original, copy_of_forget, mixed)
    # the same inputs with corrected labels (label repair) are other samples
    relabelled = ArrayDataset(mixed.x, torch.cat([mixed.y[:-7], (mixed.y[-7:] + 1) % 10]))
    methods.get("neggrad")(original, copy_of_forget, relabelled)


def test_fit_stops_on_a_non_finite_loss():
    x = torch.randn(32, 1, 8, 8)
    x[5] = float("inf")
    model = models.build("small_cnn", **ARCH)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(train.Diverged, match="step 1 of 1 .*the loss is nan"):
        train.fit(model, ArrayDataset(x, torch.randint(0, 10, (32,))), train.TrainConfig(epochs=1, batch_size=32), progress=False)
    # the step was refused: no NaN written into the weights (BatchNorm's running statistics saw the forward pass)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


class PlainDataset(torch.utils.data.Dataset):
    """A user's own dataset: items one at a time, nothing the package can slice."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


@pytest.mark.parametrize("name", BASELINES)
def test_non_finite_inputs_are_refused_whatever_the_dataset_type(setup, name):
    bundle, original, forget, retain = setup
    x, y = bundle.train.x[retain.indices].clone(), bundle.train.y[retain.indices]
    x[7, 0, 1, 1] = float("inf")
    with pytest.raises(ValueError, match="the retain set has 1 samples with NaN or infinite inputs"):
        methods.get(name)(original, forget, PlainDataset(x, y), config=TEST_CONFIGS.get(name))
    xf = bundle.train.x[forget.indices].clone()
    xf[:2] = float("nan")
    with pytest.raises(ValueError, match="the forget set has 2 samples with NaN"):
        methods.get(name)(original, PlainDataset(xf, bundle.train.y[forget.indices]), retain, config=TEST_CONFIGS.get(name))


def test_a_named_extra_set_is_checked_too(setup):
    bundle, original, forget, retain = setup
    xh = bundle.train.x[forget.indices].clone()
    xh[0] = float("nan")
    with pytest.raises(ValueError, match="the corrected set has 1 samples with NaN"):
        methods.get("influence_first_order")(original, forget, retain, corrected=PlainDataset(xh, bundle.train.y[forget.indices]))


def test_neggrad_divergence_is_stopped_and_named(setup):
    _, original, forget, retain = setup
    with pytest.raises(train.Diverged, match="neggrad diverged: .*not finite") as err:
        methods.get("neggrad")(original, forget, retain, config={"epochs": 20, "lr": 1e30})
    assert err.value.method == "neggrad"


def test_neggrad_ascends_until_its_target_and_records_the_steps(setup):
    _, original, forget, retain = setup
    out, rec = methods.get("neggrad")(original, forget, retain, config={"epochs": 50, "target_acc": 0.0, "lr": 0.01})
    assert rec.info.reached and train.accuracy_on(out, forget) == 0.0
    steps_per_epoch = -(-len(forget) // 64)
    assert 1 <= rec.info.ascent_steps < 50 * steps_per_epoch  # stopped by the target, long before the cap


def test_fit_until_the_training_set_is_fitted(setup):
    bundle, _, _, retain = setup
    model = models.build("small_cnn", **ARCH)
    cfg = train.TrainConfig(epochs=60, batch_size=64, lr=0.05, until_train_acc=0.95, schedule="constant")
    out = train.fit(model, retain, cfg, seed=0, progress=False)
    assert out.fit_epochs < 60 and train.accuracy_on(out, retain) >= 0.95
    if out.fit_epochs > 1:  # one epoch fewer (the same trajectory: constant rate) does not fit: it stopped at the first that does
        with pytest.raises(train.NotFitted):
            train.fit(models.build("small_cnn", **ARCH), retain, dataclasses.replace(cfg, epochs=out.fit_epochs - 1),
                      seed=0, progress=False)
    with pytest.raises(train.NotFitted, match="after 1 epochs, below until_train_acc=1.0; raise epochs"):
        train.fit(models.build("small_cnn", **ARCH), retain, dataclasses.replace(cfg, epochs=1, until_train_acc=1.0),
                  seed=0, progress=False)


@pytest.mark.parametrize("name,config,match", [
    ("cf_k", {"k": 0}, "k must be"),
    ("eu_k", {"k": 99}, "k must be"),
    ("salun", {"mask_ratio": 0.0}, "mask_ratio"),
    ("scrub", {"msteps": 9, "epochs": 2}, "msteps"),
    ("neggrad_plus", {"beta": 1.5}, "beta"),
    ("random_label", {"retain_fraction": 0.0}, "retain_fraction"),
    ("bad_teacher", {"retain_fraction": 2.0}, "retain_fraction"),
])
def test_bad_method_settings_raise(setup, name, config, match):
    _, original, forget, retain = setup
    with pytest.raises(ValueError, match=match):
        methods.get(name)(original, forget, retain, config=config)


def test_scrub_release_form_is_the_dlfd_releases_loss(setup, monkeypatch):
    # the DLFD release's SCRUB: per epoch, ascend CE + 2 KL (T = 1) over D_f, then descend the same sum over D_r
    from unlearn.methods import scrub as scrub_mod

    _, original, forget, retain = setup
    seen = []
    real = scrub_mod.step
    monkeypatch.setattr(scrub_mod, "step", lambda opt, loss, n: (seen.append(float(loss.detach())), real(opt, loss, n))[1])
    cfg = {"epochs": 1, "msteps": 1, "lr": 5e-4, "batch_size": 200, "forget_batch_size": 200, "form": "release"}
    methods.get("scrub")(original, forget, retain, config=cfg)
    n_f, n_r = -(-len(forget) // 200), -(-len(retain) // 200)
    assert len(seen) == n_f + n_r and all(v < 0 for v in seen[:n_f]) and all(v > 0 for v in seen[n_f:])
    paper, _ = methods.get("scrub")(original, forget, retain, config=cfg | {"form": "paper"})
    release, _ = methods.get("scrub")(original, forget, retain, config=cfg)
    assert not _same(_params(paper), _params(release))
    with pytest.raises(ValueError, match="form must be"):
        methods.get("scrub")(original, forget, retain, config=cfg | {"form": "tf"})


def test_neggrad_can_ascend_on_augmented_images(setup):
    _, original, forget, retain = setup
    plain, _ = methods.get("neggrad")(original, forget, retain, config={"lr": 1e-3}, seed=0)
    augmented, _ = methods.get("neggrad")(original, forget, retain, config={"lr": 1e-3, "augment": True}, seed=0)
    again, _ = methods.get("neggrad")(original, forget, retain, config={"lr": 1e-3, "augment": True}, seed=0)
    assert not _same(_params(plain), _params(augmented)) and _same(_params(augmented), _params(again))  # crops and flips are drawn from the seed
