"""Notebook 03: Distribution-Level Feature Distancing (Choi & Na 2024) on facial-age data.

UTKFace (the mirror's aligned-cropped subset, 8 MUFAC age groups) stands in for MUFAC, whose
images cannot be redistributed: train = forget (a seeded random share) + retain; UTKFace's test
split is halved into D_test (monitoring during unlearning, checkpoint selection) and D_unseen
(final accuracy, and the non-members of the membership-inference attack). UTKFace has no identity
labels, so unlike MUFAC the parts cannot be made identity-disjoint.

Functions here do the work; the notebook calls them and tells the story.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from scipy import stats
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import Subset

from .. import methods, metrics, models, splits
from ..cache import train_or_load
from ..data import ArrayDataset, load_dataset, targets_of
from ..evaluate import evaluate
from ..methods.dlfd import RELEASE as DLFD_RELEASE
from ..plotting import adjust_labels
from ..progress import tqdm
from ..train import Diverged, TrainConfig, predict

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure

# Baselines of the paper's Table 1, in its order, each at the DLFD release's MUFAC settings
# (age_cls_experiments.ipynb and unlearn/*.py of github.com/Dasol-Choi/DLFD). Where the release's
# code is not the method (EU-k re-initialises nothing and trains only `bn2` affine weights; Bad
# Teacher never reads the forget set; SCRUB ignores msteps and the temperature), the method's own
# form is kept with the release's budget, learning rate and batch size.
BASELINES = ("finetune", "cf_k", "eu_k", "neggrad", "unsir", "bad_teacher", "scrub")
RELEASE_SETTINGS = {
    # SGD 0.001, 2 epochs, batch 32 (the release's cosine T_max=2 stepped per batch cycles every 4 batches;
    # the shared cosine-to-0 schedule has the same mean rate)
    "finetune": {"epochs": 2, "lr": 0.001, "batch_size": 32},
    # only the MLP head trains (DLFDNet's 3 Linear layers), SGD 0.001 without weight decay, 2 epochs
    "cf_k": {"k": 3, "epochs": 2, "lr": 0.001, "batch_size": 32, "weight_decay": 0.0},
    # the head re-initialised and retrained (Goel et al.) for the release's 2 epochs at batch 32; the
    # from-scratch rate (0.05) as the release's 0.001 cannot train a re-initialised head in 2 epochs
    "eu_k": {"k": 3, "epochs": 2, "batch_size": 32},
    # gradient ascent on the forget set: SGD 0.001, momentum 0.9, 1 epoch, batch 32, on the augmented forget images
    # (age_cls_experiments.ipynb cell 19 passes data_loaders['forget_train'], which crops and flips; unlearn/neg_grad.py)
    "neggrad": {"epochs": 1, "lr": 0.001, "batch_size": 32, "augment": True},
    # noise: one batch of 32 per class, 8 Adam steps at 0.1; impair 1 and repair 2 epochs (Adam 0.001) on
    # the whole retain set, batch 128
    "unsir": {"noise_batch": 32, "noise_steps": 8, "noise_lr": 0.1, "impair_lr": 0.001, "repair_lr": 0.001,
              "impair_epochs": 1, "repair_epochs": 2, "retain_per_class": 0, "batch_size": 128},
    # Adam 0.001, 2 epochs, batch 32, KL temperature 4
    "bad_teacher": {"epochs": 2, "lr": 0.001, "batch_size": 32},
    # SGD 5e-4, 2 epochs, batch 32 for both sets, in the release's own form (see ScrubConfig.form): the paper's form
    # (KL maximised at T = 4, scaled by T^2 = 16) collapsed this model's test accuracy to 0.27 (release: 0.646)
    "scrub": {"epochs": 2, "msteps": 2, "lr": 5e-4, "batch_size": 32, "forget_batch_size": 32, "lr_decay_epochs": (),
              "form": "release"},
}
ERROR_MAXIMISING = ("neggrad", "unsir", "bad_teacher", "scrub")  # push forget samples towards errors

ABLATIONS = {  # name -> DLFDConfig overrides (notebook 05's ablation)
    "DLFD (paper)": {},
    "no OT term": {"forget_weight": 0.0},
    "release arm": dict(DLFD_RELEASE),
    "no CE schedule": {"retain_weight_start": 1.0, "retain_weight_end": 1.0},
    "no dynamic stop": {"fs_threshold": 0.0},
}


@dataclass
class DLFDProfile:
    resolution: int  # UTKFace images are resized to resolution x resolution pixels
    width: int  # base width of the ResNet-18 backbone (64 = the standard network)
    n_train: int | None  # training images used (forget + retain), seeded subset; None = all 7,547
    n_test: int | None  # D_test (monitoring) images; None = all of its half of UTKFace's test split
    n_unseen: int | None  # D_unseen images; None = all of the other half
    forget_fraction: float  # share of the training images to forget (MUFAC: 1,500 of 10,025 = 15 %)
    epochs: int  # training epochs of the original and the retrained model (release: 100)
    lr: float  # peak SGD learning rate of that training (cosine schedule)
    batch_size: int  # batch size of that training
    augment: bool  # random crop and flip while training the original and the retrained model
    dlfd: dict = field(default_factory=dict)  # DLFDConfig overrides (e.g. monitoring cadence on a CPU)
    baselines: tuple = BASELINES  # baselines of Table 1
    ablation_splits: int = 5  # forget splits (seeds) of the ablation, all unlearned from the one original
    claim_splits: int = 5  # forget splits the claims are judged over (every approximate method on each)
    bootstrap: int = 100  # replicates of Table 1's paired bootstrap over forget and unseen samples
    tsne_points: int = 300  # forget and retain samples each in the t-SNE figure

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, optimizer="sgd", momentum=0.9,
                           weight_decay=5e-4, schedule="cosine", augment=self.augment)


PROFILES = {
    "smoke": DLFDProfile(resolution=16, width=4, n_train=240, n_test=100, n_unseen=100, forget_fraction=0.15,
                         epochs=2, lr=0.05, batch_size=64, augment=False,
                         dlfd={"monitor_every": 3, "monitor_samples": 36, "val_samples": 100, "perturb_steps": 3},
                         ablation_splits=2, claim_splits=2, bootstrap=20, tsne_points=60),
    # MUFAC-sized: all 7,547 training images (1,132 forgotten), 943 + 944 test images, batch 32, so
    # DLFD's epoch is ~200 batches as in the release (~266). No augmentation: see memorisation_check.
    "cpu": DLFDProfile(resolution=32, width=8, n_train=None, n_test=None, n_unseen=None, forget_fraction=0.15,
                       epochs=30, lr=0.05, batch_size=64, augment=False,
                       dlfd={"monitor_every": 10, "monitor_samples": 400, "val_samples": None},
                       ablation_splits=5, tsne_points=200),
    "paper": DLFDProfile(resolution=128, width=64, n_train=None, n_test=None, n_unseen=None, forget_fraction=0.15,
                         epochs=100, lr=0.01, batch_size=32, augment=True, dlfd={}, bootstrap=1000, tsne_points=1000),
}


@dataclass
class Data:
    train: ArrayDataset  # forget + retain
    forget: Subset
    retain: Subset
    test: ArrayDataset  # D_test: monitoring during unlearning
    unseen: ArrayDataset  # D_unseen: final accuracy and MIA non-members
    split: splits.Split
    classes: list


def _subset(ds: ArrayDataset, n: int | None, seed: int) -> ArrayDataset:
    if n is None or n >= len(ds):
        return ds
    idx, _ = train_test_split(np.arange(len(ds)), train_size=n, stratify=ds.y.numpy(), random_state=seed)
    idx = torch.as_tensor(np.sort(idx))
    return ArrayDataset(ds.x[idx], ds.y[idx])


def load_data(P: DLFDProfile, seed: int = 0) -> Data:
    """UTKFace as a MUFAC-like task (see the module docstring). Stratified, seeded subsets; the
    forget split is drawn with ``seed`` too (:func:`with_forget_split` redraws only that)."""
    bundle = load_dataset("utkface", resolution=P.resolution)
    train = _subset(bundle.train, P.n_train, seed)
    te = bundle.test
    a, b = train_test_split(np.arange(len(te)), test_size=0.5, stratify=te.y.numpy(), random_state=seed)
    a, b = torch.as_tensor(np.sort(a)), torch.as_tensor(np.sort(b))
    test = _subset(ArrayDataset(te.x[a], te.y[a]), P.n_test, seed)
    unseen = _subset(ArrayDataset(te.x[b], te.y[b]), P.n_unseen, seed)
    split = splits.random_instances(len(train), P.forget_fraction, seed)
    forget, retain = split.subsets(train)
    return Data(train, forget, retain, test, unseen, split, bundle.classes)


def with_forget_split(data: Data, P: DLFDProfile, seed: int) -> Data:
    """The same training set, D_test and D_unseen with another seeded forget split. The original
    is trained on forget + retain = the whole training set, so one original serves every split."""
    split = splits.random_instances(len(data.train), P.forget_fraction, seed)
    forget, retain = split.subsets(data.train)
    return Data(data.train, forget, retain, data.test, data.unseen, split, data.classes)


def memorisation_check(P: DLFDProfile, data: Data, seed: int = 0) -> pd.DataFrame:
    """Why the cpu profile trains without augmentation: the original trained with and without random
    crops and flips (same width, epochs and schedule), and whether it memorised its training set
    (training accuracy, unseen accuracy, FS of forget vs unseen). Run by ``tools/dlfd_profile_check.py``;
    notebook 03 prints the stored table."""
    rows = {}
    for augment in (True, False):
        Pa = dataclasses.replace(P, augment=augment)
        model, meta = train_original(Pa, data, seed)
        pf, pu, pr = predict(model, data.forget), predict(model, data.unseen), predict(model, data.retain)
        mia = metrics.mia_score(pf.losses, pu.losses, seed=seed)
        train_acc = (pf.accuracy * len(data.forget) + pr.accuracy * len(data.retain)) / len(data.train)
        rows[f"augment={augment}"] = {"train_acc": train_acc, "unseen_acc": pu.accuracy, "fs": metrics.forgetting_score(mia),
                                      "train_seconds": meta["train_seconds"]}
    return pd.DataFrame(rows).T


def stored_memorisation_check(profile: str = "cpu") -> str:
    """The table :func:`memorisation_check` stored for ``profile``, as text, or how to produce it."""
    from .. import paths

    path = paths.results_dir(profile) / "dlfd_profile_check.csv"
    if not path.exists():
        return f"no stored check at {profile}: run  python tools/dlfd_profile_check.py --profile {profile}"
    return pd.read_csv(path, index_col=0).round(4).to_string()


def describe_data(data: Data) -> pd.DataFrame:
    rows = {}
    for name in ("train", "forget", "retain", "test", "unseen"):
        y = targets_of(getattr(data, name))
        rows[name] = {"n": len(y), **{c: int((y == k).sum()) for k, c in enumerate(data.classes)}}
    return pd.DataFrame(rows).T


def build_model(P: DLFDProfile, data: Data) -> nn.Module:
    return models.build("dlfd", num_classes=len(data.classes), width=P.width)


def train_original(P: DLFDProfile, data: Data, seed: int = 0) -> tuple[nn.Module, dict]:
    """The original model (forget + retain), through the checkpoint cache: (model, meta)."""
    return train_or_load(build_model(P, data), data.train, P.train_config, seed, tag="dlfd-original", progress=False)


def dlfd_config(P: DLFDProfile, **overrides) -> dict:
    return {**P.dlfd, **overrides}


def unlearn(name: str, original, P: DLFDProfile, data: Data, seed: int = 0) -> nn.Module:
    """One method of Table 1 on ``data``'s forget split: retrain (the original's recipe), a baseline at its release
    settings, or DLFD (monitoring on D_test)."""
    fn = methods.get(name)
    if name == "retrain":
        return fn(original, data.forget, data.retain, config=P.train_config, seed=seed)
    if name == "dlfd":
        return fn(original, data.forget, data.retain, monitor=data.test, config=dlfd_config(P), seed=seed)
    return fn(original, data.forget, data.retain, config=RELEASE_SETTINGS.get(name), seed=seed)


def run_methods(original, P: DLFDProfile, data: Data, seed: int = 0) -> dict:
    """Retrain, every baseline and DLFD on the first forget split; returns name -> unlearned model."""
    names = ["retrain", *P.baselines, "dlfd"]
    return {name: unlearn(name, original, P, data, seed) for name in tqdm(names, desc="methods", leave=False)}


def run_splits(original, P: DLFDProfile, data: Data, seed: int = 0, first: dict | None = None) -> pd.DataFrame:
    """Every approximate method (the baselines and DLFD; retraining is the target, not a competitor) on
    ``P.claim_splits`` forget splits (seeds ``seed``, ``seed + 1``, ...), all from the one original: one row per
    (split, method) of :func:`score`, the original's own scores included. ``first`` (name -> model) reuses the
    first split's models of :func:`run_methods`."""
    names = ["original", *P.baselines, "dlfd"]
    jobs = [(k, name) for k in range(P.claim_splits) for name in names]
    rows = []
    for k, name in tqdm(jobs, desc="methods x splits", leave=False):
        d = data if k == 0 else with_forget_split(data, P, seed + k)
        if name == "original":
            m = original
        elif k == 0 and first is not None and name in first:
            m = first[name]
        else:
            try:
                m = unlearn(name, original, P, d, seed + k)
            except Diverged:  # its loss turned non-finite on this split: a row of NaN, the other runs go on
                rows.append({"split": seed + k, "method": name})
                continue
        rows.append({"split": seed + k, "method": name, **score(m, d, seed + k, original)})
    return pd.DataFrame(rows)


def mean_interval(values, level: float = 0.95) -> dict:
    """Mean of per-split values and its Student-t interval (few splits: a bootstrap of five values would be too
    narrow); ``n`` is how many splits it rests on (splits whose value is NaN, a diverged run, are left out)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]  # a split on which a method diverged (NaN) is left out of its pairs
    if len(x) < 2:
        return {"mean": float(x.mean()), "lo": np.nan, "hi": np.nan, "n": len(x)}
    # by hand rather than ttest_1samp, which warns on identical values (a variant equal to DLFD on every split)
    half = stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return {"mean": float(x.mean()), "lo": float(x.mean() - half), "hi": float(x.mean() + half), "n": len(x)}


def split_claims(runs: pd.DataFrame, method: str = "dlfd", level: float = 0.95) -> pd.DataFrame:
    """What the DLFD claims rest on, over the splits of :func:`run_splits`: the test-accuracy drop from the
    original and FS (each split one value), and NoMUS minus every other approximate method's, paired split by
    split. One row per quantity: mean, t-interval, number of splits."""
    wide = {m: runs.pivot(index="split", columns="method", values=m) for m in ("test_acc", "fs", "nomus")}
    rows = {"test_acc_drop": mean_interval(wide["test_acc"]["original"] - wide["test_acc"][method], level),
            "fs": mean_interval(wide["fs"][method], level)}
    for other in (c for c in wide["nomus"].columns if c not in ("original", method)):
        rows[f"nomus_minus_{other}"] = mean_interval(wide["nomus"][method] - wide["nomus"][other], level)
    return pd.DataFrame(rows).T


def score(model, data: Data, seed: int = 0, original=None) -> dict:
    """Accuracies, loss-MIA (forget vs D_unseen), FS and NoMUS, as MUFAC reports them; the same attack
    on retain vs D_unseen (``fs_retain``: a method that lowers FS by un-memorising the whole training
    set lowers this too, while the retrained model keeps it); with ``original``, how far the model
    moved from it (``changed``: share of forget and unseen predictions that differ; ``param_dist``)."""
    r = evaluate(model, forget=data.forget, retain=data.retain, test=data.unseen, extra={"monitor": data.test}, seed=seed)
    out = {k: r[k] for k in ("test_acc", "forget_acc", "retain_acc", "monitor_acc", "mia", "fs", "nomus")}
    out["fs_retain"] = metrics.forgetting_score(
        metrics.mia_score(predict(model, data.retain).losses, predict(model, data.unseen).losses, seed=seed))
    if original is not None:
        pairs = [(predict(model, ds).logits.argmax(1), predict(original, ds).logits.argmax(1)) for ds in (data.forget, data.unseen)]
        out["changed"] = float(torch.cat([a != b for a, b in pairs]).float().mean())
        out["param_dist"] = metrics.param_distance(model, original)
    return out


def table1(original, original_meta, unlearned: dict, P: DLFDProfile, data: Data, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, costs): one row per model; test_acc is accuracy on D_unseen."""
    rows, costs = {}, {}
    rows["original"] = score(original, data, seed, original)
    costs["original"] = {"seconds": original_meta["train_seconds"], "grad_evals": P.epochs * len(data.train)}
    for name, m in unlearned.items():
        rows[name] = score(m, data, seed, original)
        rec = m.unlearning_record
        costs[name] = {"seconds": rec.seconds, "grad_evals": rec.grad_evals}
    return pd.DataFrame(rows).T, pd.DataFrame(costs).T


def bootstrap(named_models: dict, data: Data, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Replicates of test accuracy, FS and NoMUS for every model, each replicate resampling the forget
    and unseen samples with replacement, with the *same* draws for every model (so differences between
    models are paired). One row per (replicate, model)."""
    rng = np.random.default_rng(seed)
    preds = {name: (predict(m, data.forget).losses.numpy(), predict(m, data.unseen)) for name, m in named_models.items()}
    nf, nu = len(data.forget), len(data.unseen)
    rows = []
    for b in tqdm(range(n_boot), desc="bootstrap", leave=False):
        fi, ui = rng.integers(0, nf, nf), rng.integers(0, nu, nu)
        for name, (lf, pu) in preds.items():
            acc = float(pu.correct.numpy()[ui].mean())
            mia = metrics.mia_score(lf[fi], pu.losses.numpy()[ui], seed=seed)
            rows.append({"rep": b, "method": name, "test_acc": acc, "fs": metrics.forgetting_score(mia),
                         "nomus": metrics.nomus(acc, mia)})
    return pd.DataFrame(rows)


def intervals(reps: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Percentile intervals of each model's test accuracy, FS and NoMUS from :func:`bootstrap`."""
    q = [(1 - level) / 2, (1 + level) / 2]
    out = {}
    for name, g in reps.groupby("method", sort=False):
        out[name] = {f"{m}_{s}": float(v) for m in ("test_acc", "fs", "nomus") for s, v in zip(("lo", "hi"), g[m].quantile(q))}
    return pd.DataFrame(out).T


def paired_difference(reps: pd.DataFrame, a: str, b: str, metric: str = "nomus", level: float = 0.95) -> dict:
    """``a`` minus ``b`` on ``metric``: the bootstrap mean and percentile interval of the paired difference."""
    wide = reps.pivot(index="rep", columns="method", values=metric)
    d = (wide[a] - wide[b]).to_numpy()
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return {"diff": float(d.mean()), "lo": float(lo), "hi": float(hi)}


def versus(reps: pd.DataFrame, method: str, others, metric: str = "nomus") -> pd.DataFrame:
    """``method`` minus each of ``others`` on ``metric``, paired over bootstrap replicates."""
    return pd.DataFrame({o: paired_difference(reps, method, o, metric) for o in others}).T


def memorisation(scores: pd.DataFrame) -> dict:
    """The regime DLFD needs: the original fits its training data far better than unseen data, and
    its FS is high enough that DLFD's stop rule lets it perturb."""
    o = scores.loc["original"]
    return {"forget_acc": float(o["forget_acc"]), "unseen_acc": float(o["test_acc"]),
            "gap": float(o["forget_acc"] - o["test_acc"]), "fs": float(o["fs"]), "fs_retrain": float(scores.loc["retrain", "fs"])}


def changes(scores: pd.DataFrame, min_changed: float = 0.01) -> pd.DataFrame:
    """Did each method change the model? Share of forget + unseen predictions that differ from the
    original's, parameter distance, and a flag for methods that changed fewer than ``min_changed``
    of the predictions (their rows say nothing about unlearning)."""
    df = scores.drop(index="original")[["changed", "param_dist"]].copy()
    df["no_op"] = df["changed"] < min_changed
    return df


def cost_ratio(costs: pd.DataFrame, method: str = "dlfd", reference: str = "retrain") -> dict:
    """A method's cost as a fraction of retraining: wall time and gradient evaluations."""
    return {"seconds": float(costs.loc[method, "seconds"] / costs.loc[reference, "seconds"]),
            "grad_evals": float(costs.loc[method, "grad_evals"] / costs.loc[reference, "grad_evals"])}


def correlation_collapse(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy lost relative to the original, and forget accuracy, for the error-maximising
    methods and DLFD (the paper's "correlation collapse": forgetting by pushing samples towards
    errors also destroys the feature-label correlation that test accuracy relies on)."""
    names = [n for n in (*ERROR_MAXIMISING, "dlfd") if n in df.index]
    base = df.loc["original", "test_acc"]
    return pd.DataFrame({
        "test_acc": df.loc[names, "test_acc"],
        "test_acc_drop": base - df.loc[names, "test_acc"],
        "forget_acc": df.loc[names, "forget_acc"],
        "fs": df.loc[names, "fs"],
    })


def run_ablation(original, P: DLFDProfile, data: Data, seed: int = 0, full=None) -> pd.DataFrame:
    """DLFD and its variants (``ABLATIONS``) on ``P.ablation_splits`` forget splits (seeds ``seed``,
    ``seed + 1``, ...), all from the one original: one row per (split, variant). ``full`` reuses an
    already-computed default DLFD run on the first split (``data``'s own). A variant that diverges on a split gets a
    row with ``selected = "diverged"`` and no scores."""
    rows = []
    jobs = [(k, name) for k in range(P.ablation_splits) for name in ABLATIONS]
    for k, name in tqdm(jobs, desc="ablation runs", leave=False):
        d = data if k == 0 else with_forget_split(data, P, seed + k)
        if k == 0 and name == "DLFD (paper)" and full is not None:
            m = full
        else:
            try:
                m = methods.get("dlfd")(original, d.forget, d.retain, monitor=d.test,
                                        config=dlfd_config(P, **ABLATIONS[name]), seed=seed + k)
            except Diverged:  # non-finite losses before any checkpoint: recorded, not scored; the other runs go on
                rows.append({"split": seed + k, "variant": name, "selected": "diverged"})
                continue
        info, rec = m.unlearning_record.info, m.unlearning_record
        rows.append({"split": seed + k, "variant": name, **score(m, d, seed + k),
                     "perturbed_batches": info["perturbed_batches"], "batches": info["batches"],
                     "selected": info["selected"], "seconds": rec.seconds, "grad_evals": rec.grad_evals})
    return pd.DataFrame(rows)


def without_timings(df: pd.DataFrame) -> pd.DataFrame:
    """The table without its wall-time column, which varies run to run (nbval checks the rest)."""
    return df.drop(columns=[c for c in ("seconds",) if c in df.columns])


def ablation_summary(per_split: pd.DataFrame, metrics_=("test_acc", "fs", "nomus", "fs_retain"), reference: str = "DLFD (paper)",
                     level: float = 0.95) -> pd.DataFrame:
    """Per variant: the mean of each metric over splits, and its paired difference from ``reference``
    (variant minus reference, split by split) with a Student-t interval (few splits: a bootstrap of
    5 values would be too narrow). ``n_splits`` says on how many splits the variant was scored (a diverged run is
    not); its paired differences rest on the splits where both it and the reference were."""
    rows = {}
    ref = per_split[per_split["variant"] == reference].set_index("split")
    for name, g in per_split.groupby("variant", sort=False):
        g = g.set_index("split")
        row = {"n_splits": int(g["nomus"].notna().sum())}  # splits scored (a diverged run is not)
        for m in metrics_:
            row[m] = g[m].mean()
            if name == reference:
                continue
            d = mean_interval((g[m] - ref.loc[g.index, m]).to_numpy(dtype=float), level)
            row[f"d_{m}"], row[f"d_{m}_lo"], row[f"d_{m}_hi"] = d["mean"], d["lo"], d["hi"]
        rows[name] = row
    out = pd.DataFrame(rows).T
    return out[["n_splits", *[c for c in out.columns if c != "n_splits"]]]


def monitor_curve(model) -> pd.DataFrame:
    """DLFD's monitored validation accuracy and FS through its epoch."""
    return pd.DataFrame(model.unlearning_record.info["curve"])


# --- figures ---------------------------------------------------------------------------------
def loss_histograms(named_models: dict, data: Data) -> Figure:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(named_models), figsize=(3.6 * len(named_models), 3), sharey=True)
    for ax, (name, m) in zip(np.atleast_1d(axes), named_models.items()):
        lf, lu = predict(m, data.forget).losses.numpy(), predict(m, data.unseen).losses.numpy()
        bins = np.linspace(0, max(np.percentile(np.r_[lf, lu], 99), 1e-3), 30)
        ax.hist(np.clip(lf, 0, bins[-1]), bins, alpha=0.6, density=True, label="forget")
        ax.hist(np.clip(lu, 0, bins[-1]), bins, alpha=0.6, density=True, label="unseen")
        ax.set_title(name)
        ax.set_xlabel("cross-entropy loss")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    return fig


@torch.no_grad()
def _features(model, ds) -> np.ndarray:
    from ..train import batches

    model.eval()
    return torch.cat([model.features(x) for x, _ in batches(ds, 256)]).numpy()


def tsne_figure(before, after, data: Data, n: int, seed: int = 0) -> Figure:
    """t-SNE of penultimate features of n forget and n retain samples, before and after unlearning."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    fi = np.sort(rng.choice(len(data.forget), min(n, len(data.forget)), replace=False)).tolist()
    ri = np.sort(rng.choice(len(data.retain), min(n, len(data.retain)), replace=False)).tolist()
    f_ds, r_ds = Subset(data.forget, fi), Subset(data.retain, ri)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (title, m) in zip(axes, (("original", before), ("DLFD", after))):
        z = np.concatenate([_features(m, f_ds), _features(m, r_ds)])
        e = TSNE(2, perplexity=min(30, (len(z) - 1) / 3), random_state=seed, init="pca").fit_transform(z)
        k = len(fi)
        ax.scatter(*e[k:].T, s=6, alpha=0.5, label="retain")
        ax.scatter(*e[:k].T, s=6, alpha=0.7, label="forget")
        ax.set_title(f"{title}: penultimate features (t-SNE)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend()
    fig.tight_layout()
    return fig


def tradeoff_figure(df: pd.DataFrame, lam: float = 0.5) -> Figure:
    """Test accuracy against FS for every model, with NoMUS contour lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    fs = np.linspace(0, max(0.3, df["fs"].max() * 1.1), 100)
    acc = np.linspace(max(0, df["test_acc"].min() - 0.1), min(1, df["test_acc"].max() + 0.1), 100)
    F_, A_ = np.meshgrid(fs, acc)
    cs = ax.contour(F_, A_, lam * A_ + (1 - lam) * (1 - 2 * F_), levels=10, colors="grey", linewidths=0.6)
    ax.clabel(cs, fontsize=7, fmt="%.2f")
    texts = []
    for name, r in df.iterrows():
        ax.scatter(r["fs"], r["test_acc"], s=40, marker="*" if name == "dlfd" else "o")
        texts.append(ax.text(r["fs"], r["test_acc"], name, fontsize=8))
    adjust_labels(ax, texts)
    ax.set_xlabel("forgetting score FS = |MIA - 0.5| (lower is better)")
    ax.set_ylabel("test (unseen) accuracy")
    ax.set_title("utility vs forgetting; grey lines: NoMUS")
    fig.tight_layout()
    return fig


def monitor_figure(model) -> Figure:
    import matplotlib.pyplot as plt

    c = monitor_curve(model)
    cfg = model.unlearning_record.config
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(c["batch"], c["val_acc"], marker=".", label="D_test accuracy")
    ax.plot(c["batch"], c["fs"], marker=".", label="FS (monitor sample)")
    ax.axhline(cfg["fs_threshold"], ls="--", c="grey", lw=0.8, label="stop-perturbing threshold")
    ax.axhline(cfg["save_threshold"], ls=":", c="grey", lw=0.8, label="save threshold")
    ax.set_xlabel("retain batch")
    ax.legend(fontsize=7)
    ax.set_title("DLFD's single epoch")
    fig.tight_layout()
    return fig


def ablation_figure(per_split: pd.DataFrame, reference: str = "DLFD (paper)") -> Figure:
    """Per variant, test accuracy and FS on each forget split (dots, joined per split to the
    reference's) and the mean: the paired design at a glance."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(per_split["variant"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, m, label in zip(axes, ("test_acc", "fs", "nomus"), ("unseen accuracy", "FS (lower is better)", "NoMUS")):
        wide = per_split.pivot(index="split", columns="variant", values=m)[names]
        for _, row in wide.iterrows():
            ax.plot(range(len(names)), row.to_numpy(), color="grey", lw=0.6, alpha=0.6, marker="o", ms=3)
        ax.plot(range(len(names)), wide.mean().to_numpy(), color="C3", marker="D", lw=0, ms=7, label="mean over splits")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"DLFD ablation: each grey line is one forget split ({len(wide)} splits)", fontsize=10)
    fig.tight_layout()
    return fig


def ablation_verdicts(summary: pd.DataFrame, metric: str = "nomus", reference: str = "DLFD (paper)") -> pd.DataFrame:
    """For each variant: is the reference better, worse, or not distinguishable on ``metric``
    (the paired 95 % interval of variant - reference excludes 0 or not)."""
    rows = {}
    for name, r in summary.drop(index=reference).iterrows():
        lo, hi = float(r[f"d_{metric}_lo"]), float(r[f"d_{metric}_hi"])
        verdict = "DLFD higher" if hi < 0 else "DLFD lower" if lo > 0 else "not distinguishable"
        rows[name] = {f"d_{metric}": float(r[f"d_{metric}"]), "lo": lo, "hi": hi, "verdict": verdict}
    return pd.DataFrame(rows).T


def profile_table() -> pd.DataFrame:
    return pd.DataFrame({k: {f: (str(v) if isinstance(v, (dict, tuple)) else v) for f, v in asdict(p).items()}
                         for k, p in PROFILES.items()})
