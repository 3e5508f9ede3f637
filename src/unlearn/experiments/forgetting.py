"""Notebook 06: which methods forget like retraining, by the strongest test the field has.

The test is the evaluation of the first NeurIPS unlearning competition (Triantafillou et al. 2024, "Are we making
progress in unlearning?", arXiv 2406.09073), implemented in :mod:`unlearn.metrics`: K originals, each trained with its
own seed, every method run on each of them, and K models retrained without the forget set; per forget example, the
distribution of the K unlearned models' logit-scaled confidences on its label is compared with the K retrained
models' by every threshold attack, giving an (epsilon, delta)-style epsilon per example; the forgetting quality is
the mean of 2^-bucket(epsilon) over the examples (1: no example told apart from retraining).

The task: scikit-learn's digits with a tenth of the training images relabelled (pairwise flips c -> 9 - c), the
relabelled images being the forget set. Only memorised points can be detected at all: on a random tenth of clean
digits the retrained models predict the forgotten images as surely as the original does, and the test has nothing to
find (``tests/test_metrics.py``). The forget set is the same for every seed (the competition's setting: one request,
many training runs); each seed trains its own original, gold model and control.

Controls bound the score: retraining against an independent retraining (the floor: indistinguishable by
construction, so its quality is what K models can resolve) and the original without unlearning (the ceiling).
Every (seed) run is an independent job for :mod:`unlearn.dispatch`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import methods, metrics, profiles, stats, tasks
from ..data import targets_of
from ..train import TrainConfig, predict

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure

# every registered method that applies to removing mislabelled points with no extra data but a monitoring set
# (TMU needs held-out images of a forgotten class; SISA is a way of training, not of unlearning a trained model)
METHODS = ("finetune", "neggrad", "neggrad_plus", "random_label", "bad_teacher", "scrub", "cf_k", "eu_k", "unsir",
           "salun", "dlfd", "influence_first_order", "influence_second_order")
CONTROLS = ("original", "retrain again")
# each method's budget on this task: notebook 04's digits epochs (two where a method has epochs; DLFD monitors 100 images, not 200), the influence
# updates on the head at their defaults
BUDGETS = {"finetune": {"epochs": 2}, "neggrad": {"epochs": 2}, "neggrad_plus": {"epochs": 2},
           "random_label": {"epochs": 2}, "bad_teacher": {"epochs": 1}, "scrub": {"epochs": 2, "msteps": 1},
           "cf_k": {"epochs": 2}, "eu_k": {"epochs": 2}, "unsir": {}, "salun": {"epochs": 2},
           "dlfd": {"monitor_every": 4, "monitor_samples": 40, "val_samples": 100},
           "influence_first_order": {"params": "head"}, "influence_second_order": {"params": "head"}}


@dataclass(frozen=True)
class ForgettingProfile:
    models: int  # K: originals, retrained models and controls, each with its own seed
    train: int  # training images drawn from digits' training split
    fraction: float  # share of them relabelled (the forget set)
    epochs: int  # training epochs of every original and retrained model (with ``fit``, the cap)
    width: int  # small CNN width (its dense layer has 4 x width units)
    fit: float  # train until this training accuracy (a rule: 1.0 = every point fitted, the relabelled ones too; 0: no target)
    k_grid: tuple  # numbers of models the stability check recomputes the score with
    bootstrap: int  # replicates over forget examples for the intervals
    methods: tuple = METHODS


PROFILES = {
    "smoke": ForgettingProfile(models=4, train=300, fraction=0.1, epochs=5, width=4, fit=0.0, k_grid=(3, 4),
                               bootstrap=50, methods=("finetune", "neggrad", "dlfd", "influence_first_order")),
    # 1,000 images (100 relabelled), Adam until every training image is fitted (20 epochs of SGD left the originals at
    # 0.18 on their relabelled points: nothing memorised, nothing to forget); 16 models of each kind (the stability
    # check shows how the ranking settles from 4 to 16)
    "cpu": ForgettingProfile(models=16, train=1000, fraction=0.1, epochs=300, width=16, fit=1.0, k_grid=(4, 8, 12, 16),
                             bootstrap=1000),
    # the competition's scale: 512 models of each kind (their evaluation); digits stays the task
    "paper": ForgettingProfile(models=512, train=1000, fraction=0.1, epochs=300, width=16, fit=1.0,
                               k_grid=(8, 16, 32, 64, 128, 256, 512), bootstrap=1000),
}
PROFILES["paper-dry"] = profiles.dry_run(PROFILES["paper"], models=3, k_grid=(3,), bootstrap=20)


def task(P: ForgettingProfile) -> tasks.Task:
    """Digits with a tenth of the training images relabelled c -> 9 - c (the registry's label-flip split)."""
    return tasks.get("cifar10-poisoning", dataset="digits", model="small_cnn",
                     model_kw=dict(in_channels=1, num_classes=10, width=P.width, hidden=4 * P.width),
                     train=TrainConfig(epochs=P.epochs, batch_size=64, lr=2e-3, optimizer="adam", weight_decay=0.0,
                                       schedule="constant", until_train_acc=P.fit), fraction=P.fraction,
                     tag="forgetting-quality", subsets=tasks.RandomSubsets(train=P.train, val=100))


def seed_run(seed: int, P: ForgettingProfile) -> dict:
    """One seed: its original, gold model and independent retraining (seed + 10,000), every method on the original.
    Returns per model the logit-scaled confidences on the forget set's (relabelled) labels, and one row of the
    papers' own yardsticks (accuracies, Delta, loss-MIA, FS, NoMUS) and cost. A job for :mod:`unlearn.dispatch`."""
    from ..evaluate import evaluate

    t = task(P)
    run = t.build(seed=seed, split_seed=0)  # one forget set for every seed
    labels = targets_of(run.forget).numpy()  # the labels the original was trained with
    again = methods.get("retrain")(run.original, run.forget, run.retain, config=dataclasses.asdict(t.train),
                                   seed=seed + 10_000)
    models = {"retrain": (run.gold, run.gold_record), "original": (run.original, None), "retrain again": again}
    for name in P.methods:
        extra = {"monitor": run.val} if name == "dlfd" else {}
        models[name] = methods.get(name)(run.original, run.forget, run.retain, config=BUDGETS.get(name), seed=seed,
                                         **extra)
    confs, rows = {}, []
    gold_forget = predict(run.gold, run.forget)
    for name, (model, record) in models.items():
        confs[name] = metrics.logit_scaled_confidence(predict(model, run.forget).logits.numpy(), labels)
        r = evaluate(methods.Unlearned(model, record), forget=run.forget, retain=run.retain, test=run.test,
                     gold=run.gold, seed=seed, gold_forget=gold_forget)
        rows.append({"seed": seed, "method": name, **{k: r.get(k, np.nan) for k in
                     ("retain_acc", "forget_acc", "test_acc", "delta", "mia", "fs", "nomus", "seconds")}})
    return {"seed": seed, "confs": confs, "rows": rows}


def run(P: ForgettingProfile, base_seed: int = 0, scheduler: str | None = None) -> list[dict]:
    """:func:`seed_run` for seeds ``base_seed`` .. ``base_seed + K - 1``, where ``scheduler`` says."""
    from .. import dispatch

    return dispatch.run(seed_run, [(base_seed + k,) for k in range(P.models)], shared=dict(P=P), scheduler=scheduler,
                        desc="seeds")


def confidences(runs: list[dict], name: str, k: int | None = None) -> np.ndarray:
    """[models, forget examples] confidences of ``name`` over the first ``k`` seeds (all by default)."""
    return np.stack([r["confs"][name] for r in runs[:k]])


def quality(runs: list[dict], names, k: int | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per model: forgetting quality against the retrained models (first ``k`` seeds), a percentile interval over
    forget examples (the per-example points resampled, the same draws for every model, so differences are paired),
    the median epsilon and the share of examples at the cap."""
    ref = confidences(runs, "retrain", k)
    points, out = {}, {}
    kk = ref.shape[0]
    for name in names:
        q, eps = metrics.forgetting_quality(confidences(runs, name, k), ref)
        points[name] = np.array([metrics.quality_from_epsilons([e], kk) for e in eps])
        out[name] = {"quality": q, "median_epsilon": float(np.nanmedian(eps)),
                     "at_cap": float(np.mean(eps >= metrics.FQ_EPSILON_CAP))}
    draws = list(stats.resample((ref.shape[1],), n_boot, np.random.default_rng(seed)))
    for name in names:
        reps = [points[name][ix].mean() for (ix,) in draws]
        out[name]["quality_lo"], out[name]["quality_hi"] = stats.quantiles(reps, 0.95) if reps else (np.nan, np.nan)
    return pd.DataFrame(out).T[["quality", "quality_lo", "quality_hi", "median_epsilon", "at_cap"]]


def stability(runs: list[dict], names, k_grid) -> pd.DataFrame:
    """Forgetting quality of every model recomputed with the first K seeds, for each K of ``k_grid``: one column per
    K. The competition found rankings settle with far fewer models than its 512."""
    return pd.DataFrame({f"quality_K{k}": quality(runs, names, k, n_boot=0)["quality"] for k in k_grid if k <= len(runs)})


def yardsticks(runs: list[dict]) -> pd.DataFrame:
    """The three papers' own yardsticks per model, mean over seeds: TMU's Delta, DLFD's FS and NoMUS, the accuracies
    and the wall time."""
    df = pd.DataFrame([row for r in runs for row in r["rows"]])
    return df.drop(columns="seed").groupby("method", sort=False).mean()


def agreement(q: pd.DataFrame, ys: pd.DataFrame) -> pd.DataFrame:
    """Does each paper's yardstick rank the methods as the forgetting-quality test does? Spearman's rank correlation
    over the methods (controls left out) between forgetting quality (higher is better) and -Delta, -FS and NoMUS
    (each oriented so that higher is better), with the method each one ranks first."""
    from scipy.stats import spearmanr

    names = [n for n in q.index if n not in ("retrain", *CONTROLS)]
    fq = q.loc[names, "quality"].astype(float)
    out = {}
    for col, sign, paper in (("delta", -1, "TMU"), ("fs", -1, "DLFD"), ("nomus", 1, "DLFD")):
        v = sign * ys.loc[names, col].astype(float)
        rho = spearmanr(fq, v).statistic
        out[f"{col} ({paper})"] = {"spearman_with_quality": float(rho), "its_best": v.idxmax(),
                                   "quality_best": fq.idxmax()}
    return pd.DataFrame(out).T


def quality_figure(q: pd.DataFrame, stab: pd.DataFrame) -> Figure:
    """Left: forgetting quality per method with its interval, floor and ceiling marked. Right: the score as K grows."""
    import matplotlib.pyplot as plt

    from ..plotting import KIND_COLOURS, method_kind

    names = [n for n in q.sort_values("quality").index if n not in CONTROLS]
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1.3, 1]})
    y = np.arange(len(names))
    qq = q.loc[names].astype(float)
    a.errorbar(qq["quality"], y, xerr=[qq["quality"] - qq["quality_lo"], qq["quality_hi"] - qq["quality"]], fmt="none",
               ecolor="grey")
    a.scatter(qq["quality"], y, c=[KIND_COLOURS[method_kind(n)] for n in names], zorder=3)
    a.set_yticks(y, names)
    for name, ls in (("retrain again", "--"), ("original", ":")):
        a.axvline(float(q.loc[name, "quality"]), color="k", ls=ls, lw=1,
                  label=f"{'floor: an independent retraining' if name == 'retrain again' else 'ceiling: the original'}")
    a.set(xlabel="forgetting quality (1 = indistinguishable from retraining)", xlim=(-0.02, None),
          title="Per-example test against K retrained models (95 % interval over examples)")
    a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    ks = [int(c.removeprefix("quality_K")) for c in stab.columns]
    for name in stab.index:
        style = dict(color="k", ls="--" if name == "retrain again" else ":") if name in CONTROLS else \
            dict(color=KIND_COLOURS[method_kind(name)], alpha=0.8)
        b.plot(ks, stab.loc[name].astype(float), marker="o", ms=3, lw=1, label=name, **style)
    b.set(xlabel="K (models of each kind)", ylabel="forgetting quality", title="The score as K grows", xticks=ks)
    b.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return fig
