"""Part 1 of notebook 02: sensitive features in (certified) logistic regression, and its figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Subset

from ... import methods, models, tasks
from ...data import ArrayDataset
from ...methods.influence import certified
from ...tasks import LinearTask
from ...train import Timer, counting, predict
from .profile import Profile

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure


def linear_task(name: str, P: Profile, seed: int = 0) -> tasks.LinearTask:
    """One of ``enron``, ``adult``, ``diabetes`` at this profile's size (:func:`unlearn.tasks.linear_task`)."""
    return tasks.linear_task(name, seed, rows=P.adult_rows if name == "adult" else 0,
                             max_features=P.enron_features if name == "enron" else None)


def make_change(task: LinearTask, size: int, P: Profile, rng: np.random.Generator) -> tuple:
    """Authors' ``copy_and_replace``: returns (x~, xt~, changed rows, feature columns).
    remove: the chosen columns are zeroed everywhere (train and test); categorical: in
    ``adult_replacements`` random rows each attribute's one-hot moves to a random other value (test
    unchanged); zero_rows: the chosen columns are zeroed in ``diabetes_replacements`` random rows."""
    x2, xt2 = task.x.clone(), task.xt.clone()
    if task.mode == "remove":
        cols = np.sort(rng.choice(task.candidates, size, replace=False))
        rows = torch.nonzero((task.x[:, cols] != 0).any(1)).flatten()
        x2[:, cols] = 0
        xt2[:, cols] = 0
    elif task.mode == "categorical":
        cols = np.array(task.candidates)
        rows = torch.as_tensor(np.sort(rng.choice(len(task.y), min(size, len(task.y)), replace=False)))
        for r in rows.tolist():
            for g in task.groups:
                vals = x2[r, g]
                on = [g[i] for i in torch.nonzero(vals != 0).flatten().tolist()]
                if len(on) != 1:
                    continue
                value = float(x2[r, on[0]])
                others = [c for c in g if c != on[0]]
                x2[r, on[0]] = 0
                x2[r, int(rng.choice(others))] = value  # same norm: the row stays normalised
    elif task.mode == "zero_rows":
        cols = np.sort(rng.choice(task.candidates, size, replace=False))
        rows = torch.as_tensor(np.sort(rng.choice(len(task.y), min(P.diabetes_replacements, len(task.y)), replace=False)))
        x2[rows[:, None], torch.as_tensor(cols)[None, :]] = 0
    else:
        raise ValueError(task.mode)
    return x2, xt2, rows, cols


def _mean_loss(theta, x, y) -> float:
    return float(certified.data_loss(theta, x, y)) / len(y)


def _timed(fn):
    with counting() as c, Timer() as t:
        out = fn()
    return out, t.seconds, c.value


def calibrate(task: LinearTask, base: certified.LinearModel, size: int, P: Profile, seed: int) -> dict:
    """Choose tau (first order) and the tuned fine-tuning rate on a calibration change drawn with a separate seed:
    the value with the lowest gradient residual (the authors pass both rates by hand; their fine-tuning baseline
    takes tau itself, see :func:`run_linear`)."""
    rng = np.random.default_rng(10_000 + seed)
    x2, _, rows, _ = make_change(task, size, P, rng)
    G = certified.influence_gradient(base.theta, (task.x[rows], task.y[rows]), (x2[rows], task.y[rows]))
    res = lambda th: certified.gradient_residual(th, x2, task.y, P.lam, base.b)
    tau = min(P.tau_grid, key=lambda t: res(certified.first_order_update(base.theta, G, t)))
    lr = min(P.ft_lr_grid, key=lambda a: res(certified.finetune_update(base.theta, x2, task.y, P.lam, base.b, a)))
    return {"tau": tau, "ft_lr": lr}


def _sisa_linear(task, rows, P, seed):
    """SISA through the registry on the foundation's logistic-regression module. SISA can only delete points:
    the affected rows are removed and their shards retrained (the authors' linear ensemble likewise retrains
    the shards that hold changed rows). Returns the unlearned ensemble with its record, and the test inputs it is
    scored on."""
    train = ArrayDataset(task.x.float(), ((task.y + 1) / 2).long())
    xt = task.xt.clone()
    model = models.build("logreg", in_features=task.x.shape[1], num_classes=2)
    keep = np.setdiff1d(np.arange(len(task.y)), rows.numpy())
    conf = {"shards": P.sisa_shards, "epochs": 10, "batch_size": 32, "lr": 0.1, "optimizer": "sgd",
            "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine"}
    out = methods.get("sisa")(model, Subset(train, rows.tolist()), Subset(train, keep.tolist()), config=conf, seed=seed)
    return out, xt


def run_linear(task: LinearTask, sizes, P: Profile, seed: int = 0, sisa: bool = False) -> tuple[pd.DataFrame, dict]:
    """For every size and ``P.reps`` random feature sets: each method's gradient residual on D~, test accuracy,
    change of the mean test loss (approximate vs retrained), seconds and gradient evaluations."""
    base = certified.fit(task.x, task.y, P.lam, sigma=P.sigma, seed=seed)
    cals = {size: calibrate(task, base, size, P, seed) for size in sizes}  # a rate per request size, as by hand
    rows_out = []
    for size in sizes:
        cal = cals[size]
        rng = np.random.default_rng(seed * 1000 + size)
        for rep in range(P.reps):
            x2, xt2, rows, cols = make_change(task, size, P, rng)
            y, b = task.y, base.b
            z, zt = (task.x[rows], y[rows]), (x2[rows], y[rows])
            solver = P.enron_solver if task.name == "enron" else "exact"
            upd = {}
            upd["none"] = (base.theta, 0.0, 0)
            if task.mode == "remove":
                upd["occlusion"] = _timed(lambda: _occlusion(base.theta, task, rows, cols))
            # the authors' baseline: rate = the first-order tau, their batch gradient (Enron notebook, cell 4:
            # unlearning_rate_ft = unlearning_rate; DPLRUnlearner.py:140-144); ours with its rate tuned as an extra row
            upd["finetune"] = _timed(lambda: certified.finetune_update(base.theta, x2, y, P.lam, b, cal["tau"],
                                                                       full_regulariser=True))
            upd["finetune_tuned"] = _timed(lambda: certified.finetune_update(base.theta, x2, y, P.lam, b, cal["ft_lr"]))
            upd["first"] = _timed(lambda: certified.first_order_update(base.theta, certified.influence_gradient(base.theta, z, zt), cal["tau"]))
            upd["second"] = _timed(lambda: certified.second_order_update(base.theta, x2, y, P.lam, certified.influence_gradient(base.theta, z, zt), solver=solver, tol=1e-10))
            # retraining as the authors run it: L-BFGS from a fresh N(0, I) start on the same perturbed objective,
            # stopped by scipy's default rule as the authors call it; its path says when it matched each update's residual
            (rt, path), rt_s, rt_g = _timed(lambda: certified.fit_traced(x2, y, P.lam, b=b, seed=seed + 1 + rep))
            upd["retrain"] = (rt.theta, rt_s, rt_g)
            l0 = _mean_loss(base.theta, xt2, task.yt)
            exact = _mean_loss(rt.theta, xt2, task.yt) - l0
            for m, (th, s, g) in upd.items():
                r = certified.gradient_residual(th, x2, y, P.lam, b)
                rows_out.append({
                    "dataset": task.name, "size": size, "rep": rep, "method": m, "affected": len(rows),
                    "residual": r, "retrain_seconds_to_residual": certified.seconds_to_residual(path, r),
                    "test_acc": float((torch.where(xt2 @ th >= 0, 1.0, -1.0).double() == task.yt).double().mean()),
                    "loss_change": _mean_loss(th, xt2, task.yt) - l0, "loss_change_exact": exact,
                    "seconds": s, "grad_evals": g,
                })
            if sisa:
                (ens, rec), _ = _sisa_linear(task, rows, P, seed)
                yt01 = ((task.yt + 1) / 2).long()
                acc = predict(ens, ArrayDataset(xt2.float(), yt01)).accuracy
                rows_out.append({"dataset": task.name, "size": size, "rep": rep, "method": "sisa", "affected": len(rows),
                                 "residual": float("nan"), "test_acc": acc, "loss_change": float("nan"),
                                 "loss_change_exact": exact, "seconds": rec.info.unlearn_seconds,
                                 "grad_evals": rec.info.unlearn_grad_evals})
    df = pd.DataFrame(rows_out)
    info = {"dataset": task.name, "base_test_acc": base.accuracy(task.xt, task.yt), "n_train": len(task.y),
            "dims": task.x.shape[1], "tau": {k: v["tau"] for k, v in cals.items()},
            "ft_lr": {k: v["ft_lr"] for k, v in cals.items()}, "sigma": P.sigma, "lam": P.lam}
    return df, info


def _occlusion(theta, task, rows, cols):
    """The registry's occlusion (inputs with the features blanked) on theta as a module; for a linear model it
    equals zeroing the removed weights, which is the vector returned (checked against the wrapper)."""
    ds = ArrayDataset(task.x.float(), ((task.y + 1) / 2).long())
    wrapped = methods.get("occlusion")(certified.BinaryLogReg(theta), Subset(ds, rows.tolist()), None,
                                       config={"features": tuple(int(c) for c in cols)}).model
    occluded = theta * wrapped.keep.to(theta.dtype).flatten()
    probe = task.x[:5].to(theta.dtype)
    assert torch.allclose(wrapped(probe), probe @ occluded)
    return occluded


def residual_table(df: pd.DataFrame, order=("none", "occlusion", "finetune", "finetune_tuned", "first", "second")) -> pd.DataFrame:
    """Mean gradient residual per (dataset, size) and method."""
    t = df.pivot_table(index=["dataset", "size"], columns="method", values="residual", aggfunc="mean")
    return t[[m for m in order if m in t.columns]]


def certificate_table(df: pd.DataFrame, P: Profile) -> pd.DataFrame:
    """Per method: mean residual, the sigma that would certify (eps, delta) = (P.eps, P.delta), and the eps each
    run achieves at the trained sigma (median over runs)."""
    out = []
    for (ds, size, m), g in df.dropna(subset=["residual"]).groupby(["dataset", "size", "method"]):
        if m == "retrain":
            continue
        r = g["residual"].mean()
        out.append({"dataset": ds, "size": size, "method": m, "residual": r,
                    "sigma_for_target": certified.sigma_for(r, P.eps, P.delta),
                    "eps_at_trained_sigma": float(np.median([certified.epsilon_for(v, P.sigma, P.delta) for v in g["residual"]]))})
    return pd.DataFrame(out)


def speed_table(linear: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method): mean seconds and gradient evaluations, the speed-up over retraining to the
    authors' tolerance, and over retraining only until it matched the method's gradient residual
    (``x_at_equal_residual``; nan when retraining never got that close)."""
    df = linear[linear.method != "none"].copy()
    rt = df[df.method == "retrain"].set_index(["dataset", "size", "rep"])["seconds"]
    key = list(zip(df["dataset"], df["size"], df["rep"]))
    df["speedup"] = rt.loc[key].to_numpy() / df["seconds"]
    df["x_at_equal_residual"] = df["retrain_seconds_to_residual"] / df["seconds"]
    cols = ["residual", "seconds", "grad_evals", "speedup", "x_at_equal_residual"]
    return df.groupby(["dataset", "method"])[cols].mean()


# --- figures of the linear (sensitive-feature) experiments -------------------------------------------------
FEATURE_METHODS = ("none", "occlusion", "finetune", "first", "second")
CHANGE_AXIS = {"enron": "names removed", "adult": "rows changed", "diabetes": "columns zeroed"}


def residual_figure(linear: pd.DataFrame, order=FEATURE_METHODS) -> Figure:
    """Gradient residual on the corrected data per data set, change size and method (log scale)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [3, 1, 1]})
    palette = dict(zip(order, sns.color_palette("colorblind", len(order))))  # one colour per method in every panel
    for ax, (name, g) in zip(axes, linear[linear.method.isin(order)].groupby("dataset", sort=False)):
        sns.boxplot(data=g, x="size", y="residual", hue="method", hue_order=[m for m in order if m in set(g.method)],
                    palette=palette, ax=ax)
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel(CHANGE_AXIS[name])
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.suptitle("Gradient residual on the corrected data (log scale)")
    fig.tight_layout()
    return fig


def loss_scatter_figure(linear: pd.DataFrame) -> Figure:
    """Each update's change of test loss against retraining's (the diagonal = exact)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(5.5, 5))
    sc = linear[linear.method.isin(["none", "finetune", "first", "second"])]
    sns.scatterplot(data=sc, x="loss_change_exact", y="loss_change", hue="method", style="dataset", ax=ax)
    cols = sc[["loss_change_exact", "loss_change"]]
    lim = [cols.min().min(), cols.max().max()]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("exact change of test loss (retraining)")
    ax.set_ylabel("approximate change of test loss")
    return fig


def runtime_figure(linear: pd.DataFrame) -> Figure:
    """Wall time per unlearning request and method, per data set (log scale)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(data=linear[linear.method != "none"], x="dataset", y="seconds", hue="method", ax=ax)
    ax.set_yscale("log")
    ax.set_title("Runtime per unlearning request (same process, same threads)")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # beside the bars, not over them
    return fig
