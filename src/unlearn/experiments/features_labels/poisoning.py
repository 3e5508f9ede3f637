"""Part 3 of notebook 02: label poisoning on CIFAR-10 and its repair."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

from ... import methods, metrics, models, stats, tasks
from ...cache import train_or_load
from ...methods.influence import FirstOrderReport, RoundsReport, SecondOrderReport
from ...train import Timer, TrainConfig, counting, penultimate, predict
from .profile import Profile, corrected_data

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


def task(P: Profile) -> tasks.Task:
    """The registry's CIFAR-10 label-poisoning task at this profile's sizes (the network and its recipe too)."""
    return tasks.get("cifar10-poisoning", model_kw=dict(in_channels=3, num_classes=10, width=P.cnn_width, hidden=P.cnn_hidden),
                     train=cnn_config(P), fraction=P.flip_budget,
                     subsets=tasks.RandomSubsets(train=P.cifar_train, val=P.cifar_val, test=P.cifar_test))


def poison_data(P: Profile, seed: int = 0, poison_seed: int | None = None) -> tasks.TaskSets:
    """A seeded CIFAR-10 training subset (``clean``, true labels), a disjoint validation subset of the other training
    images (``val``), the test set (all of it unless ``P.cifar_test``), and the flips of ``poison_seed`` (default: the
    profile's first): ``train`` with the poisoned labels, ``forget`` the flipped points, ``corrected`` their true
    labels, ``retain`` the rest."""
    return task(P).sets(seed, split_seed=P.poison_seeds[0] if poison_seed is None else poison_seed)


def poison_data_figure(P: Profile, seed: int = 0) -> Figure:
    """A picture of the poisoned training set (:func:`poison_data`, nothing trained): flipped images titled with the
    label the model is trained on (class c shown as 9 - c), and kept images with their true label."""
    from ...plotting import samples_figure

    d = poison_data(P, seed)
    fig = samples_figure({"flipped\n(label as\ntrained)": d.forget, "kept": d.retain}, classes=d.data.classes, seed=seed)
    fig.suptitle(f"{len(d.forget):,} of {len(d.train):,} training images relabelled c -> 9 - c", fontsize=10)
    fig.tight_layout()
    return fig


def cnn(P: Profile) -> nn.Module:
    return models.build("vgg", in_channels=3, num_classes=10, width=P.cnn_width, hidden=P.cnn_hidden)


def cnn_config(P: Profile) -> TrainConfig:
    """Adam without weight decay, as the authors (amsgrad aside), for long enough to fit the flipped labels."""
    return TrainConfig(epochs=P.cnn_epochs, batch_size=64, lr=P.cnn_lr, optimizer="adam", weight_decay=0.0, schedule="cosine")


def influence_configs(P: Profile, tau: float, damping: float) -> dict:
    """The four influence updates compared: the authors' repair loop (``P.poison_steps`` rounds over at most
    ``P.poison_points`` misclassified points, their stored configuration) and a single update on the known
    flipped points; all on the dense head. CG stops at a relative residual of 1e-3 (the authors' LiSSA is
    coarser still) and HVPs take the whole feature matrix as one batch (features are small)."""
    head = {"params": "head", "batch_size": 8192}
    second = {**head, "solver": "cg", "cg_tol": 1e-3, "cg_iters": 200, "damping": damping}
    loop = {"steps": P.poison_steps, "select": "misclassified", "max_points": P.poison_points}
    return {
        "first": ("influence_first_order", {**head, **loop, "tau": tau}),
        "second": ("influence_second_order", {**second, **loop}),
        "first_one_step": ("influence_first_order", {**head, "tau": tau}),
        "second_one_step": ("influence_second_order", second),
    }


def _correct(model, test) -> np.ndarray:
    return predict(model, test).correct.numpy().astype(bool)


def _head_correct(model, feats: torch.Tensor, data) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model.head(feats[i : i + 4096]).argmax(-1) for i in range(0, len(feats), 4096)])
    return (pred == data.targets).numpy().astype(bool)


def run_poisoning(P: Profile, seed: int = 0) -> dict:
    """Label repair with pairwise flips, for every seed in ``P.poison_seeds``.

    Per seed: flip ``P.flip_budget`` of the labels c -> 9 - c, train the poisoned CNN (cached), then repair it
    with the influence updates (tau / damping chosen on validation on the first seed, reused after), fine-tuning
    for each of ``P.poison_ft_epochs`` (SGD 0.01 on the corrected labels, the authors' baseline) and
    retraining (the clean model: the poisoned model's recipe on the corrected labels; one model for all seeds,
    since it does not depend on the flips). SISA: flips touch every shard, so unlearning retrains every shard on
    corrected labels, i.e. trains an ensemble on the clean data; that cost and accuracy do not depend on the
    seed, so each shard count runs once.

    Returns a dict of DataFrames: ``runs`` (seed x method: test accuracy, restoration, seconds, gradient
    evaluations, speed-up over training the poisoned model, share of test predictions changed), ``regime`` (per
    seed: clean / poisoned accuracy, gap, how well the poisoned model fits its flipped labels), ``tuning`` (every
    grid value's validation accuracy) and ``correct`` (per-test-image correctness, for :func:`poison_summary`)."""
    from ...methods.influence import tune
    from ...methods.sisa import SISAConfig, SISAEnsemble

    data = poison_data(P, seed)
    cfg, arch = cnn_config(P), cnn(P)
    y = data.clean.targets
    gold, gmeta = train_or_load(arch, data.clean, cfg, seed, tag="cifar_clean", progress=True)
    correct = {("all", "clean"): _correct(gold, data.test)}
    runs, regime, tuning, chosen = [], [], [], {}
    for ps in P.poison_seeds:
        flipped = poison_data(P, seed, ps)  # the same subsets, this seed's flips
        poisoned, forget, z_tilde, rest = flipped.train, flipped.forget, flipped.corrected, flipped.retain
        model, meta = train_or_load(arch, poisoned, cfg, ps, tag="cifar_poisoned", progress=True)
        flips = flipped.split.forget.tolist()
        # head-only updates leave the body bit-identical, so their test predictions come from the poisoned model's
        # test features, computed once (exact, and it spares four passes over the 10,000 test images)
        test_feats = penultimate(model, data.test)
        c_p = _head_correct(model, test_feats, data.test)
        correct[(ps, "poisoned")] = c_p
        acc_p, acc_c = float(c_p.mean()), float(correct[("all", "clean")].mean())
        regime.append({"seed": ps, "flipped": len(flips), "acc_clean": acc_c, "acc_poisoned": acc_p, "gap": acc_c - acc_p,
                       "gap_images": int(round((acc_c - acc_p) * len(data.test))),
                       "flip_fit": predict(model, forget).accuracy, "train_seconds": meta["train_seconds"],
                       "cached": meta.get("cached", False)})
        if not chosen:  # tau and damping: chosen once on validation, reused for every seed
            for name, (mname, conf) in influence_configs(P, 0.0, 0.0).items():
                key, grid = ("tau", P.poison_tau_grid) if "first" in name else ("damping", P.poison_damping_grid)
                upd = lambda v, m=mname, c=conf, k=key: methods.get(m)(model, forget, rest, corrected=z_tilde, config={**c, k: v}, seed=ps)
                # the cautious value within one standard error of the best: a step no larger, a damping no smaller
                t = tune(upd, grid, data.val, cautious="smaller" if key == "tau" else "larger")
                chosen[name] = (key, t.value)
                tuning += [{"method": name, "parameter": key, **r, "chosen": r["value"] == t.value,
                            "search_seconds": t.seconds, "search_grad_evals": t.grad_evals} for r in t.table]
        jobs = {}
        for name, (mname, conf) in influence_configs(P, 0.0, 0.0).items():
            key, v = chosen[name]
            jobs[name] = (mname, forget, rest, z_tilde, {**conf, key: v})
        for e in P.poison_ft_epochs:
            jobs["finetune" if e == 1 else f"finetune_{e}"] = (
                "finetune", forget, data.clean, None,
                {"epochs": e, "lr": 0.01, "batch_size": 64, "momentum": 0.0, "weight_decay": 0.0})
        for name, (mname, fg, rt, corrected, conf) in jobs.items():
            out, rec = methods.get(mname)(model, fg, rt, config=conf, seed=ps, **corrected_data(corrected))
            head_only = isinstance(rec.info, INFLUENCE_REPORTS) and rec.info.params == "head"
            correct[(ps, name)] = _head_correct(out, test_feats, data.test) if head_only else _correct(out, data.test)
            runs.append(_poison_row(ps, name, correct, rec.seconds, rec.grad_evals, meta["train_seconds"], rec.info))
        runs.append(_poison_row(ps, "retrain", {**correct, (ps, "retrain"): correct[("all", "clean")]},
                                gmeta["train_seconds"], P.cnn_epochs * len(y), meta["train_seconds"]))
        correct[(ps, "retrain")] = correct[("all", "clean")]
    for k in P.poison_shards:
        with counting() as c, Timer() as t:
            ens = SISAEnsemble.fit(arch, data.clean, SISAConfig(**asdict(cfg), shards=k), seed=seed)
        c_s = _correct(ens, data.test)
        for ps in P.poison_seeds:
            correct[(ps, f"sisa_{k}")] = c_s
            train_s = next(r["train_seconds"] for r in regime if r["seed"] == ps)
            runs.append(_poison_row(ps, f"sisa_{k}", correct, t.seconds, c.value, train_s))
    return {"runs": pd.DataFrame(runs), "regime": pd.DataFrame(regime), "tuning": pd.DataFrame(tuning), "correct": correct,
            "n_test": len(data.test), "n_train": len(y), "clean_train_seconds": gmeta["train_seconds"]}


def sisa_repair(P: Profile, seed: int = 0, shards=(5, 10, 20)) -> pd.DataFrame:
    """SISA's label repair for each shard count, against the same clean and poisoned models as
    :func:`run_poisoning` (both from the cache when it ran): flips touch every shard, so repairing retrains every
    shard on corrected labels, i.e. trains the ensemble on the clean data. One row per (seed, shard count)."""
    from ...methods.sisa import SISAConfig, SISAEnsemble

    data = poison_data(P, seed)
    cfg, arch = cnn_config(P), cnn(P)
    gold, gmeta = train_or_load(arch, data.clean, cfg, seed, tag="cifar_clean", progress=True)
    correct, train_s = {("all", "clean"): _correct(gold, data.test)}, {}
    for ps in P.poison_seeds:
        model, meta = train_or_load(arch, poison_data(P, seed, ps).train, cfg, ps, tag="cifar_poisoned", progress=True)
        correct[(ps, "poisoned")] = _correct(model, data.test)
        train_s[ps] = meta["train_seconds"]
    rows = []
    for k in shards:
        with counting() as c, Timer() as t:
            ens = SISAEnsemble.fit(arch, data.clean, SISAConfig(**asdict(cfg), shards=k), seed=seed)
        c_s = _correct(ens, data.test)
        for ps in P.poison_seeds:
            correct[(ps, f"sisa_{k}")] = c_s
            rows.append(_poison_row(ps, f"sisa_{k}", correct, t.seconds, c.value, train_s[ps]))
    return pd.DataFrame(rows)


def stored_sisa(profile: str) -> pd.DataFrame | None:
    """The table ``tools/poison_sisa.py`` wrote for this profile (mean over seeds), or None."""
    from ... import paths

    f = paths.results_dir(profile) / "02_poisoning_sisa.csv"
    if not f.exists():
        return None
    df = pd.read_csv(f)
    return df.groupby("method", sort=False)[["restored", "test_acc", "seconds", "speedup"]].mean()


INFLUENCE_REPORTS = (FirstOrderReport, SecondOrderReport, RoundsReport)


def _poison_row(ps, name, correct, seconds, grad_evals, train_seconds, report=None) -> dict:
    c_p, c_m, c_c = correct[(ps, "poisoned")], correct[(ps, name)], correct[("all", "clean")]
    acc_p, acc_m, acc_c = c_p.mean(), c_m.mean(), c_c.mean()
    # rounds of an influence update: the repair loop's count, 1 for a single update, 0 for the other methods
    rounds = report.steps if isinstance(report, RoundsReport) else int(isinstance(report, INFLUENCE_REPORTS))
    return {"seed": ps, "method": name, "test_acc": float(acc_m),
            "restored": float(metrics.restoration_fraction(acc_m, acc_p, acc_c)),
            "images": int(round((acc_m - acc_p) * len(c_m))), "seconds": float(seconds), "grad_evals": int(grad_evals),
            "speedup": float(train_seconds / seconds), "changed": float((c_m != c_p).mean()),
            "rounds": rounds}


def poison_summary(res: dict, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per method: restoration averaged over seeds, with a percentile interval from resampling the test images and
    the seeds (the same draws for every method, so differences are paired), mean seconds, speed-up over training
    the poisoned model, gradient evaluations, share of test predictions changed, and ``no_op`` for an update
    that changed fewer than 0.5 % of the test predictions (its row says nothing about repair)."""
    reps = poison_replicates(res, n_boot, seed)
    runs = res["runs"]
    out = []
    for name, g in runs.groupby("method", sort=False):
        defined = reps[name][np.isfinite(reps[name])]  # a replicate without a gap is undefined: left out
        lo, hi = stats.quantiles(defined, level) if len(defined) else (np.nan, np.nan)
        out.append({"method": name, "restored": g["restored"].mean(), "restored_lo": lo, "restored_hi": hi,
                    "restored_min_seed": g["restored"].min(), "images": g["images"].mean(), "test_acc": g["test_acc"].mean(),
                    "seconds": g["seconds"].mean(), "speedup": g["speedup"].mean(), "grad_evals": g["grad_evals"].mean(),
                    "changed": g["changed"].mean(), "no_op": bool(g["changed"].mean() < 0.005)})
    return pd.DataFrame(out)


def poison_replicates(res: dict, n_boot: int = 1000, seed: int = 0) -> dict:
    """Bootstrap replicates of each method's seed-mean restoration fraction: the test images resampled and the
    poisoned seeds redrawn with replacement, both shared by every method (paired)."""
    runs, correct = res["runs"], res["correct"]
    seeds = sorted(runs["seed"].unique())
    names = list(dict.fromkeys(runs["method"]))
    n = res["n_test"]
    rng = np.random.default_rng(seed)
    acc = lambda c, idx: c[idx].mean(1)
    out = {m: [] for m in names}
    # test images and poisoned seeds both redrawn, the same draws for every method: another seed, or another CPU,
    # trains other poisoned models, and the interval should cover them (unlearn.stats)
    for idx, picks in stats.crossed_bootstrap(n, len(seeds), n_boot, rng):
        a_c = acc(correct[("all", "clean")], idx)
        per = {m: [] for m in names}
        for ps in seeds:
            a_p = acc(correct[(ps, "poisoned")], idx)
            with np.errstate(divide="ignore", invalid="ignore"):  # a replicate without a gap: undefined, dropped
                for m in names:
                    per[m].append((acc(correct[(ps, m)], idx) - a_p) / (a_c - a_p))
        for m in names:
            out[m].append(np.take_along_axis(np.stack(per[m]), picks, 0).mean(0))
    reps = {m: np.concatenate(v) for m, v in out.items()}
    return {m: np.where(np.isfinite(v), v, np.nan) for m, v in reps.items()}  # no gap in a replicate: undefined


def poison_difference(res: dict, a: str, b: str, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """``a`` minus ``b`` in seed-mean restoration, paired over the same bootstrap draws of test images and seeds."""
    reps = poison_replicates(res, n_boot, seed)
    runs = res["runs"].set_index(["seed", "method"])["restored"]
    point = float(np.mean([runs[(s, a)] - runs[(s, b)] for s in res["runs"]["seed"].unique()]))
    return stats.paired_difference(reps[a], reps[b], level) | {"diff": point}


def restoration_figure(summary: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Restoration per method: bars with the bootstrap interval, one dot per seed; retraining's 1 as a line."""
    import matplotlib.pyplot as plt

    order = [m for m in summary["method"] if m != "retrain"]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    s = summary.set_index("method").loc[order]
    x = np.arange(len(order))
    ax.bar(x, s["restored"], color=["#bbbbbb" if no else "#4c72b0" for no in s["no_op"]])
    ax.errorbar(x, s["restored"], yerr=[s["restored"] - s["restored_lo"], s["restored_hi"] - s["restored"]],
                fmt="none", ecolor="k", capsize=3)
    for i, m in enumerate(order):
        r = runs.loc[runs.method == m, "restored"]
        ax.scatter(np.full(len(r), i) + np.linspace(-0.15, 0.15, len(r)), r, s=12, color="k", zorder=3)
    ax.axhline(1, color="g", ls="--", lw=1, label="retraining (1 by definition)")
    ax.axhline(0, color="k", lw=1)
    ax.set_xticks(x, order, rotation=30, ha="right")
    ax.set_ylabel("restoration fraction")
    ax.set_title("Label repair: mean over seeds, 95 % interval over seeds and test images, dots = seeds (grey: no-op)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # beside the axes: the line at 1 stays visible
    fig.tight_layout()
    return fig
