"""Notebook 02: "Machine Unlearning of Features and Labels" (Warnecke, Pirch, Wressnegger, Rieck, NDSS 2023).

Three parts, each a pipeline function returning DataFrames / dicts:

1. :func:`run_linear` - sensitive features in (certified) logistic regression: person names in Enron spam
   (bag of words), marital-status / relationship / race one-hots in Adult, and two numeric columns of
   Diabetes. Z are the rows the change touches, Z~ the same rows after the change (authors'
   ``copy_and_replace``). Methods: none, occlusion, fine-tune (one pass), first order, second order,
   retrain (and SISA through the registry when it is there). Measures: gradient residual, test accuracy,
   approximate vs exact change of the test loss, seconds, gradient evaluations, certificate.
2. :func:`run_canary` - unintended memorisation: a character LSTM on Alice in Wonderland with the canary
   "my telephone number is 0123456789!' said alice." inserted several times; Z~ replaces the ten digits by
   a 10-character string from the text. Exposure before/after first order, second order, fine-tune, retrain.
3. :func:`run_poisoning` - label poisoning as the authors run it: pairwise flips c -> 9 - c on a CIFAR-10
   subset, a VGG-style CNN that fits them, influence updates on its dense head (tau / damping chosen on a
   validation split), fine-tuning, SISA and retraining, over several flip seeds. Restoration fraction with
   bootstrap intervals (:func:`poison_summary`), seconds, gradient evaluations, speed-up over training.

The linear data sets, their unlearnable features and the person names of Enron (a shipped list of first names
intersected with the vocabulary) come from :func:`unlearn.tasks.linear_task`, which ``make bench`` uses too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Subset

from .. import methods, metrics, models, splits, tasks
from ..cache import train_or_load
from ..data import ArrayDataset, load_dataset
from ..methods.influence import certified
from ..tasks import LinearTask, enron_names, first_names  # noqa: F401  (notebook 02 reads them here)
from ..train import Timer, TrainConfig, counting, penultimate, predict

if TYPE_CHECKING:  # names for annotations only
    from matplotlib.figure import Figure

PAPER = "Warnecke et al. 2023 (NDSS)"
CANARY_PREFIX = "my telephone number is "
CANARY_SECRET = "0123456789"
CANARY = CANARY_PREFIX + CANARY_SECRET + "!' said alice."


@dataclass
class Profile:
    # --- part 1: linear models -----------------------------------------------------------------------
    enron_features: int  # Enron bag-of-words vocabulary size (most frequent tokens); cpu: 500 so that the
    #                     3,879 training mails far outnumber the words (the authors: 4,902 words, 33k mails)
    enron_sizes: tuple  # how many person names to unlearn (paper: 10, 50, 100)
    reps: int  # random feature sets per setting (paper: 100-1000 combinations)
    lam: float  # L2 strength of the logistic-regression objective (summed loss)
    sigma: float  # objective-perturbation std of the trained models (certificate)
    eps: float  # target epsilon of the certificate (authors' avg_grad_residual: 0.1)
    delta: float  # target delta (authors: 0.1 * eps)
    enron_solver: str  # second-order solve for Enron ("cg": 5000 dims; "exact": Cholesky)
    adult_rows: int  # training rows of Adult used (0 = all 30,162)
    adult_replacements: int  # Adult rows whose marital/relationship/race one-hots are moved
    diabetes_features: int  # numeric Diabetes columns zeroed
    diabetes_replacements: int  # Diabetes rows in which they are zeroed
    tau_grid: tuple  # first-order unlearning rates tried on a calibration change of each size (lowest residual kept)
    ft_lr_grid: tuple  # fine-tuning learning rates tried the same way
    sisa_shards: int  # shards of the SISA baseline (authors: 20 for linear models)
    # --- part 2: canary in a character LSTM ------------------------------------------------------------
    alice_chars: int  # characters of Alice's training text used (0 = all ~134k)
    canary_copies: int  # times the canary is inserted (authors: 6 or 29 in the whole book)
    seq_len: int  # window length of the character corpus
    lstm_hidden: int  # LSTM units (authors: 2 x 512)
    lstm_layers: int  # LSTM layers
    lstm_epochs: int  # training epochs (Adam)
    lstm_lr: float  # Adam learning rate
    n_candidates: int  # random 10-digit candidates for the exposure (authors: 1e5 per digit position)
    canary_tau: float  # first-order unlearning rate for the canary, on every character's loss summed (authors: 3e-4)
    canary_tau2: float  # second-order step multiplier (the paper and the authors: 1, Newton's step)
    canary_lissa_scale: float  # LiSSA scale (authors' canary run: 39,000)
    canary_lissa_damping: float  # LiSSA damping for the LSTM (authors: 0.1)
    canary_lissa_batch: int  # LiSSA HVP batch in windows; its raw batch-sum Hessian (authors: 500 one-character
    #                          samples, so 8 windows of 64 = 512 character terms)
    canary_lissa_depth: int  # LiSSA recursion steps (authors: 30)
    canary_ft_lr: float  # fine-tuning learning rate (SGD, one epoch on the corrected text)
    # --- part 3: label poisoning on CIFAR-10 -------------------------------------------------------------
    cifar_train: int  # training images (a seeded subset of the 50k)
    cifar_val: int  # validation images (from the rest of the 50k; chooses tau and the damping)
    cifar_test: int  # test images (0 = the whole 10k test set)
    flip_budget: float  # fraction of training labels flipped pairwise, c -> 9 - c (authors: 5-20 % of 50k)
    cnn_width: int  # VGG-style CNN width (authors: 128 filters)
    cnn_hidden: int  # dense units of the head (authors: 512)
    cnn_epochs: int  # Adam epochs without weight decay: long enough to fit the flipped labels
    cnn_lr: float  # Adam learning rate
    poison_seeds: tuple  # flip draws (and poisoned-model initialisations); authors: seeds 42-46
    poison_tau_grid: tuple  # first-order rates tried on validation (authors: 2e-5)
    poison_damping_grid: tuple  # second-order dampings tried on validation (CG on the head's Hessian)
    poison_steps: int  # rounds of the authors' repair loop (authors: 10)
    poison_points: int  # misclassified points per round (authors: 1,024)
    poison_ft_epochs: tuple  # fine-tuning epochs on the corrected labels (authors: 1 and 10, SGD 0.01)
    poison_shards: tuple  # SISA shard counts run in the notebook (authors: 5, 10, 20). Each costs a whole training
    #                       (the flips touch every shard), so at cpu they run in tools/poison_sisa.py instead
    poison_bootstrap: int  # bootstrap replicates over test images for the intervals

PROFILES = {
    "smoke": Profile(
        enron_features=1500, enron_sizes=(5, 10, 20), reps=2, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="cg", adult_rows=3000, adult_replacements=100, diabetes_features=2, diabetes_replacements=50,
        tau_grid=(1e-3, 1e-2), ft_lr_grid=(0.1, 1.0), sisa_shards=4,
        alice_chars=8000, canary_copies=4, seq_len=64, lstm_hidden=64, lstm_layers=1, lstm_epochs=2, lstm_lr=3e-3,
        n_candidates=200, canary_tau=3e-4, canary_tau2=1.0, canary_lissa_scale=39000.0, canary_lissa_damping=0.1,
        canary_lissa_batch=8, canary_lissa_depth=3,
        canary_ft_lr=0.05,
        cifar_train=1000, cifar_val=200, cifar_test=500, flip_budget=0.2, cnn_width=8, cnn_hidden=32, cnn_epochs=8,
        cnn_lr=2e-3, poison_seeds=(0, 1), poison_tau_grid=(1e-4, 1e-3), poison_damping_grid=(1e2, 1e3), poison_steps=3,
        poison_points=100, poison_ft_epochs=(1,), poison_shards=(2,), poison_bootstrap=50,
    ),
    "cpu": Profile(
        enron_features=500, enron_sizes=(5, 10, 20), reps=4, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="exact", adult_rows=0, adult_replacements=1000, diabetes_features=2, diabetes_replacements=100,
        tau_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), ft_lr_grid=(0.1, 0.3, 1.0, 3.0), sisa_shards=20,
        alice_chars=40000, canary_copies=8, seq_len=64, lstm_hidden=256, lstm_layers=1, lstm_epochs=10, lstm_lr=3e-3,
        n_candidates=2000, canary_tau=3e-4, canary_tau2=1.0, canary_lissa_scale=39000.0, canary_lissa_damping=0.1,
        canary_lissa_batch=8, canary_lissa_depth=30,
        canary_ft_lr=0.05,
        cifar_train=5000, cifar_val=1000, cifar_test=0, flip_budget=0.2, cnn_width=16, cnn_hidden=128, cnn_epochs=40,
        # first order at the authors' stored rate (Applications/Poisoning/configs/unlearn.json: tau [2e-5]): a validation
        # search over 1e-5 / 3e-5 / 1e-4 chose between values a few validation images apart, and its choice moved with
        # the CPU (first order restored +22 % on an AMD EPYC, +7 % on an Intel Xeon)
        cnn_lr=2e-3, poison_seeds=(0, 1, 2), poison_tau_grid=(2e-5,), poison_damping_grid=(1e3, 3e3, 1e4, 3e4),
        poison_steps=10, poison_points=1024, poison_ft_epochs=(1, 10), poison_shards=(), poison_bootstrap=1000,
    ),
    "paper": Profile(
        enron_features=5000, enron_sizes=(10, 50, 100), reps=100, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="exact", adult_rows=0, adult_replacements=5000, diabetes_features=2, diabetes_replacements=100,
        tau_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1), ft_lr_grid=(0.03, 0.1, 0.3, 1.0, 3.0), sisa_shards=20,
        alice_chars=0, canary_copies=29, seq_len=64, lstm_hidden=512, lstm_layers=2, lstm_epochs=50, lstm_lr=1e-3,
        n_candidates=100000, canary_tau=3e-4, canary_tau2=1.0, canary_lissa_scale=39000.0, canary_lissa_damping=0.1,
        canary_lissa_batch=8, canary_lissa_depth=30,
        canary_ft_lr=0.05,
        cifar_train=49000, cifar_val=1000, cifar_test=0, flip_budget=0.2, cnn_width=128, cnn_hidden=512, cnn_epochs=100,
        cnn_lr=1e-3, poison_seeds=(42, 43, 44, 45, 46), poison_tau_grid=(1e-5, 2e-5, 5e-5, 1e-4),
        poison_damping_grid=(1e3, 1e4, 1e5, 1e6), poison_steps=10, poison_points=1024, poison_ft_epochs=(1, 10),
        poison_shards=(5, 10, 20), poison_bootstrap=1000,
    ),
}


# ============================================================================================================
# Part 1: sensitive features in linear models
# ============================================================================================================
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
    the shards that hold changed rows). Returns the unlearned ensemble and the test inputs it is scored on."""
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
                ens, _ = _sisa_linear(task, rows, P, seed)
                yt01 = ((task.yt + 1) / 2).long()
                acc = predict(ens, ArrayDataset(xt2.float(), yt01)).accuracy
                rec = ens.unlearning_record
                rows_out.append({"dataset": task.name, "size": size, "rep": rep, "method": "sisa", "affected": len(rows),
                                 "residual": float("nan"), "test_acc": acc, "loss_change": float("nan"),
                                 "loss_change_exact": exact, "seconds": rec.info["unlearn_seconds"],
                                 "grad_evals": rec.info["unlearn_grad_evals"]})
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
                                       config={"features": tuple(int(c) for c in cols)})
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


# ============================================================================================================
# Part 2: a canary in a character LSTM
# ============================================================================================================
def replacement_string(text: str, length: int, seed: int) -> str:
    """A seeded ``length``-character piece of the text made of letters and spaces only (no digits, no newline)."""
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        i = int(rng.integers(0, len(text) - length))
        s = text[i : i + length]
        if all(c.isalpha() or c == " " for c in s):
            return s
    raise ValueError("no clean replacement string found")


@dataclass
class CanarySetup:
    corpus: object  # CharCorpus with the canaries
    fixed: object  # the same text with the ten digits replaced (Z~ lives here)
    affected: list  # window indices whose input or target changed
    replacement: str  # the 10-character replacement
    offsets: list  # canary start offsets in the text


def canary_setup(P: Profile, seed: int = 0) -> CanarySetup:
    b = load_dataset("alice", seq_len=P.seq_len)
    text = b.train.text[: P.alice_chars] if P.alice_chars else b.train.text
    with_canary, offsets = splits.insert_canary(text, CANARY, P.canary_copies, seed=seed)
    repl = replacement_string(text, len(CANARY_SECRET), seed)
    fixed_text = with_canary.replace(CANARY, CANARY_PREFIX + repl + CANARY[len(CANARY_PREFIX) + len(CANARY_SECRET):])
    corpus, fixed = b.train.with_text(with_canary), b.train.with_text(fixed_text)
    diff = torch.nonzero(corpus.ids != fixed.ids).flatten()
    L = P.seq_len
    win = set((diff // L).tolist()) | set(((diff - 1) // L).tolist())  # as input, or as the next-char target
    affected = sorted(w for w in win if 0 <= w < len(corpus))
    return CanarySetup(corpus, fixed, affected, repl, offsets)


def log_perplexity(model, corpus, secrets: list[str], context: str = "\n" + CANARY_PREFIX, batch_size: int = 1000) -> np.ndarray:
    """-sum_i log2 p(secret_i | context, secret_<i) under the character model, one value per secret (bits)."""
    model.eval()
    out = []
    n_ctx = len(context)
    with torch.no_grad():
        for s in range(0, len(secrets), batch_size):
            ids = torch.stack([corpus.encode(context + sec) for sec in secrets[s : s + batch_size]])
            logp = model(ids[:, :-1]).log_softmax(-1)
            tok = -logp.gather(2, ids[:, 1:, None])[..., 0] / math.log(2)
            out.append(tok[:, n_ctx - 1 :].sum(1).numpy())
    return np.concatenate(out)


def random_candidates(n: int, length: int = 10, seed: int = 0, alphabet: str = "0123456789") -> list[str]:
    """``n`` seeded random strings over ``alphabet`` (the exposure's reference population; the canary's own
    secret is excluded)."""
    rng = np.random.default_rng(seed)
    out = ["".join(rng.choice(list(alphabet), length)) for _ in range(n)]
    return [c for c in out if c != CANARY_SECRET]


def canary_exposure(model, corpus, candidates: list[str]) -> dict:
    lp = log_perplexity(model, corpus, [CANARY_SECRET])[0]
    cl = log_perplexity(model, corpus, candidates)
    return {"canary_logppl": float(lp), "candidates_median_logppl": float(np.median(cl)),
            "exposure": metrics.exposure(lp, cl, "extrapolate"), "exposure_rank": metrics.exposure(lp, cl, "rank")}


def lstm_config(P: Profile) -> TrainConfig:
    return TrainConfig(epochs=P.lstm_epochs, batch_size=32, lr=P.lstm_lr, optimizer="adam", momentum=0.9,
                       weight_decay=0.0, schedule="cosine")


def _corrected(points) -> dict:
    """The corrected points Z~ as the influence updates take them; nothing for a method without them."""
    return {} if points is None else {"corrected": points}


def run_canary(P: Profile, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Train (or load) the LSTM with canaries, then unlearn with every method; exposure before and after."""
    canary = canary_setup(P, seed)
    cfg = lstm_config(P)
    arch = models.build("char_lstm", vocab_size=len(canary.corpus.vocab), embed=32, hidden=P.lstm_hidden, layers=P.lstm_layers)
    model, meta = train_or_load(arch, canary.corpus, cfg, seed, tag="alice_canary", progress=False)
    cands = random_candidates(P.n_candidates, seed=seed)
    forget = Subset(canary.corpus, canary.affected)
    z_tilde = Subset(canary.fixed, canary.affected)
    rest = Subset(canary.fixed, [i for i in range(len(canary.fixed)) if i not in set(canary.affected)])
    test = load_dataset("alice", seq_len=P.seq_len).test  # held-out text: exposure must not fall by breaking the model
    test_loss = lambda m: float(predict(m, test).losses.mean())
    rows = [{"method": "none", **canary_exposure(model, canary.corpus, cands), "test_loss": test_loss(model), "seconds": 0.0,
             "grad_evals": 0}]
    runs = {
        "finetune": ("finetune", canary.fixed, None, {"epochs": 1, "lr": P.canary_ft_lr, "batch_size": 32, "weight_decay": 0.0}),
        # the authors' scale: every predicted character's loss summed (their samples predict one character each and
        # tape.gradient sums them, DNNUnlearner.py:393-394), the LiSSA HVP on a raw batch of about 500 character
        # terms (hvp, :429-439, no n / b), patience 5 (get_inv_hvp_lissa's default, which approx_retraining keeps)
        "first": ("influence_first_order", rest, z_tilde, {"tau": P.canary_tau, "batch_size": 64, "params": "all",
                                                           "loss": "position"}),
        "second": ("influence_second_order", rest, z_tilde, {
            "tau": P.canary_tau2, "solver": "lissa", "lissa_scale": P.canary_lissa_scale, "lissa_damping": P.canary_lissa_damping,
            "lissa_batch_size": P.canary_lissa_batch, "lissa_depth": P.canary_lissa_depth, "lissa_patience": 5,
            "lissa_rescale": False, "batch_size": 64, "params": "all", "loss": "position"}),
        "retrain": ("retrain", canary.fixed, None, asdict(cfg)),
    }
    info = {"windows": len(canary.corpus), "affected_windows": len(canary.affected), "replacement": canary.replacement,
            "train_seconds": meta["train_seconds"]}
    for name, (mname, retain, corrected, conf) in runs.items():
        out = methods.get(mname)(model, forget, retain, config=conf, seed=seed, **_corrected(corrected))
        rec = out.unlearning_record
        row = {"method": name, **canary_exposure(out, canary.corpus, cands), "test_loss": test_loss(out), "seconds": rec.seconds,
               "grad_evals": rec.grad_evals}
        if name == "second":
            info["second_info"] = {k: v for k, v in rec.info.items()
                                   if k in ("converged", "diverged", "stopped_early", "iterations", "step_norm", "G_norm")}
        rows.append(row)
    return pd.DataFrame(rows), info


# ============================================================================================================
# Part 3: label poisoning on CIFAR-10
# ============================================================================================================
@dataclass
class PoisonData:
    clean: ArrayDataset  # the training subset with its true labels (the corrected data D~)
    val: ArrayDataset  # held out from training and test: chooses tau and the damping
    test: ArrayDataset


def poison_data(P: Profile, seed: int = 0) -> PoisonData:
    """A seeded CIFAR-10 training subset, a disjoint validation subset of the other training images, and the
    test set (all of it unless ``P.cifar_test``)."""
    b = load_dataset("cifar10")
    perm = np.random.default_rng(seed).permutation(len(b.train))
    tr, va = np.sort(perm[: P.cifar_train]), np.sort(perm[P.cifar_train : P.cifar_train + P.cifar_val])
    test = b.test
    if P.cifar_test:
        te = np.sort(np.random.default_rng(seed + 1).choice(len(b.test), P.cifar_test, replace=False))
        test = ArrayDataset(b.test.x[te], b.test.y[te])
    return PoisonData(ArrayDataset(b.train.x[tr], b.train.y[tr]), ArrayDataset(b.train.x[va], b.train.y[va]), test)


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
    from ..methods.influence import tune
    from ..methods.sisa import SISAConfig, SISAEnsemble

    data = poison_data(P, seed)
    cfg, arch = cnn_config(P), cnn(P)
    y = data.clean.targets
    gold, gmeta = train_or_load(arch, data.clean, cfg, seed, tag="cifar_clean", progress=True)
    correct = {("all", "clean"): _correct(gold, data.test)}
    runs, regime, tuning, chosen = [], [], [], {}
    for ps in P.poison_seeds:
        split, y_poison = splits.label_flips(y, P.flip_budget, 10, seed=ps, pairwise=True)
        poisoned = ArrayDataset(data.clean.x, y_poison)
        model, meta = train_or_load(arch, poisoned, cfg, ps, tag="cifar_poisoned", progress=True)
        flips = split.forget.tolist()
        forget, z_tilde = Subset(poisoned, flips), Subset(data.clean, flips)
        rest = Subset(poisoned, split.retain.tolist())
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
            out = methods.get(mname)(model, fg, rt, config=conf, seed=ps, **_corrected(corrected))
            rec = out.unlearning_record
            head_only = getattr(out, "unlearning_info", {}).get("params") == "head"
            correct[(ps, name)] = _head_correct(out, test_feats, data.test) if head_only else _correct(out, data.test)
            runs.append(_poison_row(ps, name, correct, rec.seconds, rec.grad_evals, meta["train_seconds"], out))
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
    from ..methods.sisa import SISAConfig, SISAEnsemble

    data = poison_data(P, seed)
    cfg, arch = cnn_config(P), cnn(P)
    gold, gmeta = train_or_load(arch, data.clean, cfg, seed, tag="cifar_clean", progress=True)
    correct, train_s = {("all", "clean"): _correct(gold, data.test)}, {}
    for ps in P.poison_seeds:
        _, y_poison = splits.label_flips(data.clean.targets, P.flip_budget, 10, seed=ps, pairwise=True)
        model, meta = train_or_load(arch, ArrayDataset(data.clean.x, y_poison), cfg, ps, tag="cifar_poisoned", progress=True)
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
    from .. import paths

    f = paths.results_dir(profile) / "02_poisoning_sisa.csv"
    if not f.exists():
        return None
    df = pd.read_csv(f)
    return df.groupby("method", sort=False)[["restored", "test_acc", "seconds", "speedup"]].mean()


def _poison_row(ps, name, correct, seconds, grad_evals, train_seconds, model=None) -> dict:
    c_p, c_m, c_c = correct[(ps, "poisoned")], correct[(ps, name)], correct[("all", "clean")]
    acc_p, acc_m, acc_c = c_p.mean(), c_m.mean(), c_c.mean()
    info = getattr(model, "unlearning_info", {}) if model is not None else {}
    return {"seed": ps, "method": name, "test_acc": float(acc_m),
            "restored": float(metrics.restoration_fraction(acc_m, acc_p, acc_c)),
            "images": int(round((acc_m - acc_p) * len(c_m))), "seconds": float(seconds), "grad_evals": int(grad_evals),
            "speedup": float(train_seconds / seconds), "changed": float((c_m != c_p).mean()),
            "rounds": info.get("steps", 1 if info else 0)}


def poison_summary(res: dict, level: float = 0.95, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per method: restoration averaged over seeds, with a percentile interval from resampling the test images and
    the seeds (the same draws for every method, so differences are paired), mean seconds, speed-up over training
    the poisoned model, gradient evaluations, share of test predictions changed, and ``no_op`` for an update
    that changed fewer than 0.5 % of the test predictions (its row says nothing about repair)."""
    reps = poison_replicates(res, n_boot, seed)
    q = [(1 - level) / 2, (1 + level) / 2]
    runs = res["runs"]
    out = []
    for name, g in runs.groupby("method", sort=False):
        lo, hi = np.nanquantile(reps[name], q) if np.isfinite(reps[name]).any() else (np.nan, np.nan)
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
    for s in range(0, n_boot, 100):  # chunks keep the index matrix small
        idx = rng.integers(0, n, (min(100, n_boot - s), n))
        a_c = acc(correct[("all", "clean")], idx)
        per = {m: [] for m in names}
        for ps in seeds:
            a_p = acc(correct[(ps, "poisoned")], idx)
            with np.errstate(divide="ignore", invalid="ignore"):  # a replicate without a gap: undefined, dropped
                for m in names:
                    per[m].append((acc(correct[(ps, m)], idx) - a_p) / (a_c - a_p))
        # the poisoned seeds redrawn too (the same draw for every method): another seed, or another CPU, trains
        # other poisoned models, and the interval should cover them (unlearn.stats)
        picks = rng.integers(0, len(seeds), (len(seeds), idx.shape[0]))
        for m in names:
            out[m].append(np.take_along_axis(np.stack(per[m]), picks, 0).mean(0))
    reps = {m: np.concatenate(v) for m, v in out.items()}
    return {m: np.where(np.isfinite(v), v, np.nan) for m, v in reps.items()}  # no gap in a replicate: undefined


def poison_difference(res: dict, a: str, b: str, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """``a`` minus ``b`` in seed-mean restoration, paired over the same bootstrap draws of test images and seeds."""
    reps = poison_replicates(res, n_boot, seed)
    d = reps[a] - reps[b]
    d = d[np.isfinite(d)]
    runs = res["runs"].set_index(["seed", "method"])["restored"]
    point = float(np.mean([runs[(s, a)] - runs[(s, b)] for s in res["runs"]["seed"].unique()]))
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2]) if len(d) else (np.nan, np.nan)
    return {"diff": point, "lo": float(lo), "hi": float(hi)}


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
    ax.legend(loc="upper left")
    return fig


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
    return fig
