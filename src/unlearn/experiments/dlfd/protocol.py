"""Notebook 03's and 05's protocol: the profiles, UTKFace as a MUFAC-like task, the original, every method of Table 1
at the release's settings, their scores on one or several forget splits, and DLFD's ablation."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field

import pandas as pd
import torch
from torch import nn

from ... import methods, metrics, models, profiles, tasks
from ...cache import train_or_load
from ...data import targets_of
from ...evaluate import scores
from ...methods import Unlearned
from ...methods.dlfd import RELEASE as DLFD_RELEASE
from ...progress import tqdm
from ...tasks import TaskSets
from ...train import Diverged, TrainConfig, predict

# Baselines of the paper's Table 1, in its order, each at the DLFD release's MUFAC settings (RELEASE_SETTINGS, kept
# with the utkface task in unlearn.tasks, where each setting's source is written down)
BASELINES = ("finetune", "cf_k", "eu_k", "neggrad", "unsir", "bad_teacher", "scrub")


RELEASE_SETTINGS = tasks.TASKS["utkface"].budgets  # each baseline at the DLFD release's MUFAC settings (unlearn.tasks)


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
    stem: str = "cifar"  # the backbone's stem (models.STEMS): "imagenet" is the release's, for 128-pixel faces

    @property
    def model_kw(self) -> dict:
        """The network's settings (the stem named only where it is not the default, so that the cpu and smoke
        models keep their cache keys)."""
        return {"num_classes": 8, "width": self.width} | ({"stem": self.stem} if self.stem != "cifar" else {})

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
                         epochs=100, lr=0.01, batch_size=32, augment=True, dlfd={}, bootstrap=1000, tsne_points=1000,
                         stem="imagenet"),
}
# The paper profile's network at 128 px, one epoch, 120 training faces (18 forgotten: enough for the MIA's ten
# stratified folds), two splits, one perturbation step per batch (profiles.dry_run)
PROFILES["paper-dry"] = profiles.dry_run(PROFILES["paper"], n_train=120, n_test=40, n_unseen=40, bootstrap=20,
                                         tsne_points=30, claim_splits=2, ablation_splits=2, dlfd={"perturb_steps": 1})


def task(P: DLFDProfile) -> tasks.Task:
    """The registry's UTKFace task (MUFAC's protocol) at this profile's sizes."""
    return tasks.get("utkface", dataset_kw={"resolution": P.resolution}, model_kw=P.model_kw,
                     train=P.train_config, fraction=P.forget_fraction, subset=P.n_train,
                     halved_test=tasks.HalvedTest(val=P.n_test, test=P.n_unseen))


def load_data(P: DLFDProfile, seed: int = 0) -> TaskSets:
    """UTKFace as a MUFAC-like task (see the module docstring): the registry's ``utkface`` task at this profile,
    its sets drawn with ``seed`` (stratified, seeded subsets; the forget split too, :func:`with_forget_split`
    redraws only that). ``val`` is MUFAC's D_test (monitoring), ``test`` its D_unseen."""
    return task(P).sets(seed)


def with_forget_split(data: TaskSets, P: DLFDProfile, seed: int) -> TaskSets:
    """The same training set, D_test and D_unseen with another seeded forget split. The original
    is trained on forget + retain = the whole training set, so one original serves every split."""
    return data.resplit(seed)


def memorisation_check(P: DLFDProfile, data: TaskSets, seed: int = 0) -> pd.DataFrame:
    """Why the cpu profile trains without augmentation: the original trained with and without random
    crops and flips (same width, epochs and schedule), and whether it memorised its training set
    (training accuracy, unseen accuracy, FS of forget vs unseen). Run by ``tools/dlfd_profile_check.py``;
    notebook 03 prints the stored table."""
    rows = {}
    for augment in (True, False):
        Pa = dataclasses.replace(P, augment=augment)
        model, meta = train_original(Pa, data, seed)
        pf, pu, pr = predict(model, data.forget), predict(model, data.test), predict(model, data.retain)
        mia = metrics.mia_score(pf.losses, pu.losses, seed=seed)
        train_acc = (pf.accuracy * len(data.forget) + pr.accuracy * len(data.retain)) / len(data.train)
        rows[f"augment={augment}"] = {"train_acc": train_acc, "unseen_acc": pu.accuracy, "fs": metrics.forgetting_score(mia),
                                      "train_seconds": meta["train_seconds"]}
    return pd.DataFrame(rows).T


def stored_memorisation_check(profile: str = "cpu") -> pd.DataFrame:
    """The table :func:`memorisation_check` stored for ``profile``; a missing one says how to produce it."""
    from ... import paths

    path = paths.results_dir(profile) / "dlfd_profile_check.csv"
    if not path.exists():
        raise FileNotFoundError(f"no stored check at {profile}: run  python tools/dlfd_profile_check.py --profile {profile}")
    return pd.read_csv(path, index_col=0).round(4)


def describe_data(data: TaskSets) -> pd.DataFrame:
    rows = {}
    # MUFAC's names: D_test (monitoring, the sets' val) and D_unseen (the sets' test)
    for name, ds in (("train", data.train), ("forget", data.forget), ("retain", data.retain), ("test", data.val),
                     ("unseen", data.test)):
        y = targets_of(ds)
        rows[name] = {"n": len(y), **{c: int((y == k).sum()) for k, c in enumerate(data.classes)}}
    return pd.DataFrame(rows).T


def build_model(P: DLFDProfile, data: TaskSets) -> nn.Module:
    return models.build("dlfd", **(P.model_kw | {"num_classes": len(data.classes)}))


def train_original(P: DLFDProfile, data: TaskSets, seed: int = 0) -> tuple[nn.Module, dict]:
    """The original model (forget + retain), through the checkpoint cache: (model, meta)."""
    return train_or_load(build_model(P, data), data.train, P.train_config, seed, tag="dlfd-original", progress=False)


def dlfd_config(P: DLFDProfile, **overrides) -> dict:
    return {**P.dlfd, **overrides}


def unlearn(name: str, original, P: DLFDProfile, data: TaskSets, seed: int = 0) -> Unlearned:
    """One method of Table 1 on ``data``'s forget split: retrain (the original's recipe), a baseline at its release
    settings, or DLFD (monitoring on D_test)."""
    fn = methods.get(name)
    if name == "retrain":
        return fn(original, data.forget, data.retain, config=P.train_config, seed=seed)
    if name == "dlfd":
        return fn(original, data.forget, data.retain, monitor=data.val, config=dlfd_config(P), seed=seed)
    return fn(original, data.forget, data.retain, config=RELEASE_SETTINGS.get(name), seed=seed)


def run_methods(original, P: DLFDProfile, data: TaskSets, seed: int = 0) -> dict[str, Unlearned]:
    """Retrain, every baseline and DLFD on the first forget split; returns name -> unlearned model and record."""
    names = ["retrain", *P.baselines, "dlfd"]
    return {name: unlearn(name, original, P, data, seed) for name in tqdm(names, desc="methods", leave=False)}


def _split_job(k: int, name: str, *, original, P: DLFDProfile, data: TaskSets, seed: int, done=None) -> dict:
    """One (split, method) row of :func:`run_splits` (a job for :mod:`unlearn.dispatch`); ``done``: a model the
    caller already has for it."""
    d = data if k == 0 else with_forget_split(data, P, seed + k)
    if name == "original":
        m = original
    elif done is not None:
        m = done
    else:
        try:
            m = unlearn(name, original, P, d, seed + k).model
        except Diverged:  # its loss turned non-finite on this split: a row of NaN, the other runs go on
            return {"split": seed + k, "method": name}
    return {"split": seed + k, "method": name, **score(m, d, seed + k, original)}


def run_splits(original, P: DLFDProfile, data: TaskSets, seed: int = 0, first: dict | None = None,
               scheduler: str | None = None) -> pd.DataFrame:
    """Every approximate method (the baselines and DLFD; retraining is the target, not a competitor) on
    ``P.claim_splits`` forget splits (seeds ``seed``, ``seed + 1``, ...), all from the one original: one row per
    (split, method) of :func:`score`, the original's own scores included. ``first`` (name -> Unlearned) reuses the
    first split's runs of :func:`run_methods`. The (split, method) runs are independent jobs, run where
    ``scheduler`` says (:mod:`unlearn.dispatch`); the rows keep their order either way."""
    from ... import dispatch

    names = ["original", *P.baselines, "dlfd"]
    reused = {name: u.model for name, u in (first or {}).items() if name in names}
    fresh = [(k, name) for k in range(P.claim_splits) for name in names if not (k == 0 and name in reused)]
    rows = dict(zip(fresh, dispatch.run(_split_job, fresh, shared=dict(original=original, P=P, data=data, seed=seed),
                                        scheduler=scheduler, desc="methods x splits")))
    rows |= {(0, name): _split_job(0, name, original=original, P=P, data=data, seed=seed, done=m) for name, m in reused.items()}
    return pd.DataFrame([rows[(k, name)] for k in range(P.claim_splits) for name in names])


def score(model, data: TaskSets, seed: int = 0, original=None, reference: torch.Tensor | None = None) -> dict:
    """Accuracies, loss-MIA (forget vs D_unseen), FS and NoMUS, as MUFAC reports them; the same attack
    on retain vs D_unseen (``fs_retain``: a method that lowers FS by un-memorising the whole training
    set lowers this too, while the retrained model keeps it); with ``original``, how far the model
    moved from it (``changed``: share of forget and unseen predictions that differ; ``param_dist``).
    ``reference``: :func:`reference_labels` of ``original`` on this split, when the caller scores several models
    against it. Each set is predicted once per model (scoring was a quarter of notebook 03's five-split section)."""
    pf, pr, pu = predict(model, data.forget), predict(model, data.retain), predict(model, data.test)
    s = scores(pf, pr, pu, seed=seed)
    out = {k: s[k] for k in ("test_acc", "forget_acc", "retain_acc")}
    out["monitor_acc"] = predict(model, data.val).accuracy
    out.update({k: s[k] for k in ("mia", "fs", "nomus")})
    out["fs_retain"] = metrics.forgetting_score(metrics.mia_score(pr.losses, pu.losses, seed=seed))
    if original is not None:
        ref = reference_labels(original, data) if reference is None else reference
        out["changed"] = float((torch.cat([pf.logits.argmax(1), pu.logits.argmax(1)]) != ref).float().mean())
        out["param_dist"] = metrics.param_distance(model, original)
    return out


def reference_labels(original, data: TaskSets) -> torch.Tensor:
    """The original's predicted labels on ``data``'s forget set, then its unseen set (what :func:`score`'s
    ``changed`` compares with), made once per split rather than once per scored method."""
    return torch.cat([predict(original, ds).logits.argmax(1) for ds in (data.forget, data.test)])


def table1(original, original_meta, unlearned: dict, P: DLFDProfile, data: TaskSets, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, costs): one row per model; test_acc is accuracy on D_unseen."""
    rows, costs = {}, {}
    ref = reference_labels(original, data)
    rows["original"] = score(original, data, seed, original, ref)
    costs["original"] = {"seconds": original_meta["train_seconds"], "grad_evals": P.epochs * len(data.train)}
    for name, (m, rec) in unlearned.items():
        rows[name] = score(m, data, seed, original, ref)
        costs[name] = {"seconds": rec.seconds, "grad_evals": rec.grad_evals}
    return pd.DataFrame(rows).T, pd.DataFrame(costs).T


def _ablation_job(k: int, name: str, *, original, P: DLFDProfile, data: TaskSets, seed: int, variants: dict | None = None,
                  done=None) -> dict:
    """One (split, variant) row of :func:`run_ablation` (a job for :mod:`unlearn.dispatch`); ``variants``: name ->
    config overrides (``ABLATIONS`` when None); ``done``: a run the caller already has for it."""
    d = data if k == 0 else with_forget_split(data, P, seed + k)
    if done is not None:
        m, rec = done
    else:
        try:
            m, rec = methods.get("dlfd")(original, d.forget, d.retain, monitor=d.val,
                                         config=dlfd_config(P, **(ABLATIONS if variants is None else variants)[name]),
                                         seed=seed + k)
        except Diverged:  # non-finite losses before any checkpoint: recorded, not scored; the other runs go on
            return {"split": seed + k, "variant": name, "selected": "diverged"}
    info = rec.info
    return {"split": seed + k, "variant": name, **score(m, d, seed + k),
            "perturbed_batches": info.perturbed_batches, "batches": info.batches,
            "selected": info.selected, "seconds": rec.seconds, "grad_evals": rec.grad_evals}


def run_ablation(original, P: DLFDProfile, data: TaskSets, seed: int = 0, full=None,
                 scheduler: str | None = None, variants: dict | None = None) -> pd.DataFrame:
    """DLFD and its variants (``ABLATIONS``) on ``P.ablation_splits`` forget splits (seeds ``seed``,
    ``seed + 1``, ...), all from the one original: one row per (split, variant). ``full`` reuses an
    already-computed default DLFD run (an Unlearned) on the first split (``data``'s own). A variant that diverges on a
    split gets a row with ``selected = "diverged"`` and no scores. The runs are independent jobs, run where
    ``scheduler`` says (:mod:`unlearn.dispatch`); the rows keep their order either way. ``variants`` (name -> config
    overrides) runs those instead of ``ABLATIONS``, e.g. one new variant to set beside rows already computed."""
    from ... import dispatch

    variants = ABLATIONS if variants is None else variants
    jobs = [(k, name) for k in range(P.ablation_splits) for name in variants]
    shared = dict(original=original, P=P, data=data, seed=seed, variants=variants)
    fresh = [j for j in jobs if not (full is not None and j == (0, "DLFD (paper)"))]
    rows = dict(zip(fresh, dispatch.run(_ablation_job, fresh, shared=shared, scheduler=scheduler, desc="ablation runs")))
    if full is not None and "DLFD (paper)" in variants:
        rows[(0, "DLFD (paper)")] = _ablation_job(0, "DLFD (paper)", **shared, done=full)
    return pd.DataFrame([rows[j] for j in jobs])


def profile_table() -> pd.DataFrame:
    return pd.DataFrame({k: {f: (str(v) if isinstance(v, (dict, tuple)) else v) for f, v in asdict(p).items()}
                         for k, p in PROFILES.items() if k != "paper-dry"})
