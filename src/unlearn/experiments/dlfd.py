"""Notebook 03: Distribution-Level Feature Distancing (Choi & Na 2024) on facial-age data.

UTKFace (the mirror's aligned-cropped subset, 8 MUFAC age groups) stands in for MUFAC, whose
images cannot be redistributed: train = forget (a seeded random share) + retain; UTKFace's test
split is halved into D_test (monitoring during unlearning, checkpoint selection) and D_unseen
(final accuracy, and the non-members of the membership-inference attack). UTKFace has no identity
labels, so unlike MUFAC the parts cannot be made identity-disjoint.

Functions here do the work; the notebook calls them and tells the story.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Subset

from .. import methods, models, splits
from ..cache import train_or_load
from ..data import ArrayDataset, load_dataset, targets_of
from ..evaluate import evaluate
from ..train import TrainConfig, predict

# Baselines of the paper's Table 1, in its order. Budgets: the DLFD release runs each baseline
# for 2 epochs on MUFAC (fine-tune, CF-k, EU-k, Bad Teacher, SCRUB), NegGrad 1 epoch, UNSIR 1
# impair + 2 repair epochs; the other hyper-parameters are each method's own defaults.
BASELINES = ("finetune", "cf_k", "eu_k", "neggrad", "unsir", "bad_teacher", "scrub")
RELEASE_BUDGETS = {
    "finetune": {"epochs": 2},
    "cf_k": {"epochs": 2},
    "eu_k": {"epochs": 2},
    "bad_teacher": {"epochs": 2},
    "scrub": {"epochs": 2, "msteps": 2},
}
ERROR_MAXIMISING = ("neggrad", "unsir", "bad_teacher", "scrub")  # push forget samples towards errors

ABLATIONS = {  # name -> DLFDConfig overrides (notebook 03's ablation)
    "DLFD (paper OT form)": {},
    "no OT term": {"forget_weight": 0.0},
    "no CE schedule": {"retain_weight_start": 1.0, "retain_weight_end": 1.0},
    "no dynamic stop": {"fs_threshold": 0.0},
    "released OT form": {"ot_target": "clean"},
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
    dlfd: dict = field(default_factory=dict)  # DLFDConfig overrides (e.g. monitoring cadence on a CPU)
    baselines: tuple = BASELINES  # baselines of Table 1
    tsne_points: int = 300  # forget and retain samples each in the t-SNE figure

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(self.epochs, self.batch_size, self.lr, "sgd", 0.9, 5e-4, "cosine")


PROFILES = {
    "smoke": DLFDProfile(resolution=16, width=4, n_train=240, n_test=100, n_unseen=100, forget_fraction=0.15,
                         epochs=2, lr=0.05, batch_size=64,
                         dlfd={"monitor_every": 3, "monitor_samples": 36, "val_samples": 100, "perturb_steps": 3},
                         tsne_points=60),
    # The original must have memorised its training set, as MUFAC's 100-epoch original has, or there
    # is nothing to forget: width 8 and 12 epochs left FS at 0.07, below DLFD's 0.2 threshold from the
    # first batch on, so it perturbed one batch only. Width 16 and 30 epochs fit the 1,200 images.
    "cpu": DLFDProfile(resolution=32, width=16, n_train=1200, n_test=300, n_unseen=400, forget_fraction=0.15,
                       epochs=30, lr=0.05, batch_size=64,
                       dlfd={"monitor_every": 1, "monitor_samples": 180, "val_samples": 300},
                       tsne_points=180),
    "paper": DLFDProfile(resolution=128, width=64, n_train=None, n_test=None, n_unseen=None, forget_fraction=0.15,
                         epochs=100, lr=0.01, batch_size=32, dlfd={}, tsne_points=1000),
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
    """UTKFace as a MUFAC-like task (see the module docstring). Stratified, seeded subsets."""
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


def describe_data(data: Data) -> pd.DataFrame:
    rows = {}
    for name in ("train", "forget", "retain", "test", "unseen"):
        y = targets_of(getattr(data, name))
        rows[name] = {"n": len(y), **{c: int((y == k).sum()) for k, c in enumerate(data.classes)}}
    return pd.DataFrame(rows).T


def build_model(P: DLFDProfile, data: Data):
    return models.build("dlfd", num_classes=len(data.classes), width=P.width)


def train_original(P: DLFDProfile, data: Data, seed: int = 0):
    """The original model (forget + retain), through the checkpoint cache: (model, meta)."""
    return train_or_load(build_model(P, data), data.train, P.train_config, seed, tag="dlfd-original", progress=False)


def dlfd_config(P: DLFDProfile, **overrides) -> dict:
    return {**P.dlfd, **overrides}


def run_methods(original, P: DLFDProfile, data: Data, seed: int = 0) -> dict:
    """Retrain, every available baseline and DLFD; returns name -> unlearned model. Baselines not
    in the registry are skipped with a message (the table then lacks their rows)."""
    out = {}
    out["retrain"] = methods.get("retrain")(original, data.forget, data.retain, config=P.train_config, seed=seed)
    for name in P.baselines:
        if name not in methods.available():
            print(f"{name}: not in the method registry (unlearn.methods); skipped")
            continue
        fn = methods.get(name)
        out[name] = fn(original, data.forget, data.retain, val=data.test, config=RELEASE_BUDGETS.get(name), seed=seed)
    out["dlfd"] = methods.get("dlfd")(original, data.forget, data.retain, val=data.test, config=dlfd_config(P), seed=seed)
    return out


def score(model, data: Data, seed: int = 0) -> dict:
    """Accuracies, loss-MIA (forget vs D_unseen), FS and NoMUS, as MUFAC reports them."""
    r = evaluate(model, forget=data.forget, retain=data.retain, test=data.unseen, extra={"monitor": data.test}, seed=seed)
    return {k: r[k] for k in ("test_acc", "forget_acc", "retain_acc", "monitor_acc", "mia", "fs", "nomus")}


def table1(original, original_meta, unlearned: dict, P: DLFDProfile, data: Data, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, costs): one row per model; test_acc is accuracy on D_unseen."""
    rows, costs = {}, {}
    rows["original"] = score(original, data, seed)
    costs["original"] = {"seconds": original_meta["train_seconds"], "grad_evals": P.epochs * len(data.train)}
    for name, m in unlearned.items():
        rows[name] = score(m, data, seed)
        rec = m.unlearning_record
        costs[name] = {"seconds": rec.seconds, "grad_evals": rec.grad_evals}
    return pd.DataFrame(rows).T, pd.DataFrame(costs).T


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


def run_ablation(original, P: DLFDProfile, data: Data, seed: int = 0, full=None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """DLFD with one ingredient removed at a time (and the released OT form): (scores, costs, models).
    ``full`` reuses an already-computed default DLFD run."""
    rows, costs, out = {}, {}, {}
    for name, over in ABLATIONS.items():
        m = full if (not over and full is not None) else methods.get("dlfd")(
            original, data.forget, data.retain, val=data.test, config=dlfd_config(P, **over), seed=seed)
        out[name] = m
        info = m.unlearning_record.info
        rows[name] = {**score(m, data, seed), "perturbed_batches": info["perturbed_batches"], "batches": info["batches"],
                      "selected": info["selected"]}
        costs[name] = {"seconds": m.unlearning_record.seconds, "grad_evals": m.unlearning_record.grad_evals}
    return pd.DataFrame(rows).T.infer_objects(), pd.DataFrame(costs).T, out


def monitor_curve(model) -> pd.DataFrame:
    """DLFD's monitored validation accuracy and FS through its epoch."""
    return pd.DataFrame(model.unlearning_record.info["curve"])


# --- figures ---------------------------------------------------------------------------------
def loss_histograms(named_models: dict, data: Data):
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


def tsne_figure(before, after, data: Data, n: int, seed: int = 0):
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


def tradeoff_figure(df: pd.DataFrame, lam: float = 0.5):
    """Test accuracy against FS for every model, with NoMUS contour lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    fs = np.linspace(0, max(0.3, df["fs"].max() * 1.1), 100)
    acc = np.linspace(max(0, df["test_acc"].min() - 0.1), min(1, df["test_acc"].max() + 0.1), 100)
    F_, A_ = np.meshgrid(fs, acc)
    cs = ax.contour(F_, A_, lam * A_ + (1 - lam) * (1 - 2 * F_), levels=10, colors="grey", linewidths=0.6)
    ax.clabel(cs, fontsize=7, fmt="%.2f")
    for name, r in df.iterrows():
        ax.scatter(r["fs"], r["test_acc"], s=40, marker="*" if name == "dlfd" else "o")
        ax.annotate(name, (r["fs"], r["test_acc"]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("forgetting score FS = |MIA - 0.5| (lower is better)")
    ax.set_ylabel("test (unseen) accuracy")
    ax.set_title("utility vs forgetting; grey lines: NoMUS")
    fig.tight_layout()
    return fig


def monitor_figure(model):
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


def profile_table() -> pd.DataFrame:
    return pd.DataFrame({k: {f: (str(v) if isinstance(v, (dict, tuple)) else v) for f, v in asdict(p).items()}
                         for k, p in PROFILES.items()})
