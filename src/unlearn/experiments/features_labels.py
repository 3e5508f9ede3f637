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
3. :func:`run_poisoning` - label poisoning: a small CNN on a CIFAR-10 subset with random label flips;
   unlearning restores the correct labels. Restoration fraction, gradient evaluations, seconds.

Person names: no public name list can be downloaded at run time here, so the package ships
``first_names.txt`` (common English first names, hand-compiled; see its header) and intersects it with the
Enron vocabulary (:func:`enron_names`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Subset

from .. import certified as C
from .. import methods, metrics, models, splits
from ..cache import train_or_load
from ..data import ArrayDataset, load_dataset
from ..metrics import Timer
from ..seed import set_seed
from ..train import TrainConfig, counting, predict

PAPER = "Warnecke et al. 2023 (NDSS)"
CANARY_PREFIX = "my telephone number is "
CANARY_SECRET = "0123456789"
CANARY = CANARY_PREFIX + CANARY_SECRET + "!' said alice."
NAMES_FILE = Path(__file__).with_name("first_names.txt")


@dataclass
class Profile:
    # --- part 1: linear models -----------------------------------------------------------------------
    enron_features: int  # Enron bag-of-words vocabulary size (most frequent tokens)
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
    tau_grid: tuple  # first-order unlearning rates tried on a calibration set (lowest residual kept)
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
    canary_tau: float  # first-order unlearning rate for the canary (summed losses)
    canary_tau2: float  # second-order rate: LiSSA truncated at a CPU depth underestimates H^-1 G in flat
    #                    directions, and the authors' code scales both orders by tau (``approx_retraining``)
    canary_lissa_damping: float  # LiSSA damping for the LSTM
    canary_lissa_batch: int  # LiSSA HVP batch (windows)
    canary_lissa_depth: int  # LiSSA recursion steps
    canary_ft_lr: float  # fine-tuning learning rate (SGD, one epoch on the corrected text)
    # --- part 3: label poisoning on CIFAR-10 -------------------------------------------------------------
    cifar_train: int  # training images (subset of the 50k)
    cifar_test: int  # test images (subset of the 10k)
    flip_budget: float  # fraction of training labels flipped (authors: 2.5k-10k of 50k)
    cnn_width: int  # small CNN width
    cnn_epochs: int  # training epochs
    poison_tau: float  # first-order unlearning rate (summed losses)
    poison_tau2: float  # second-order rate (see canary_tau2)
    poison_lissa_damping: float  # LiSSA damping
    poison_lissa_batch: int  # LiSSA HVP batch (authors: 1024)
    poison_lissa_depth: int  # LiSSA recursion steps
    poison_ft_epochs: int  # fine-tuning epochs on the corrected labels (authors: 1 and 10)
    poison_shards: int  # SISA shards (authors: 5, 10, 20)


PROFILES = {
    "smoke": Profile(
        enron_features=1500, enron_sizes=(5, 10, 20), reps=2, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="cg", adult_rows=3000, adult_replacements=100, diabetes_features=2, diabetes_replacements=50,
        tau_grid=(1e-3, 1e-2), ft_lr_grid=(0.1, 1.0), sisa_shards=4,
        alice_chars=8000, canary_copies=4, seq_len=64, lstm_hidden=64, lstm_layers=1, lstm_epochs=2, lstm_lr=3e-3,
        n_candidates=200, canary_tau=0.1, canary_tau2=100.0, canary_lissa_damping=1e-2, canary_lissa_batch=64, canary_lissa_depth=3,
        canary_ft_lr=0.05,
        cifar_train=600, cifar_test=300, flip_budget=0.2, cnn_width=8, cnn_epochs=2, poison_tau=1e-6, poison_tau2=1.0,
        poison_lissa_damping=1e-2, poison_lissa_batch=200, poison_lissa_depth=3, poison_ft_epochs=1, poison_shards=3,
    ),
    "cpu": Profile(
        enron_features=5000, enron_sizes=(10, 50, 100), reps=4, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="cg", adult_rows=0, adult_replacements=1000, diabetes_features=2, diabetes_replacements=100,
        tau_grid=(3e-3, 1e-2, 3e-2, 1e-1), ft_lr_grid=(0.1, 0.3, 1.0, 3.0), sisa_shards=20,
        alice_chars=40000, canary_copies=8, seq_len=64, lstm_hidden=256, lstm_layers=1, lstm_epochs=10, lstm_lr=3e-3,
        n_candidates=2000, canary_tau=0.1, canary_tau2=200.0, canary_lissa_damping=1e-2, canary_lissa_batch=64, canary_lissa_depth=6,
        canary_ft_lr=0.05,
        cifar_train=5000, cifar_test=2000, flip_budget=0.2, cnn_width=16, cnn_epochs=8, poison_tau=1e-7, poison_tau2=1.0,
        poison_lissa_damping=1e-2, poison_lissa_batch=500, poison_lissa_depth=8, poison_ft_epochs=1, poison_shards=5,
    ),
    "paper": Profile(
        enron_features=5000, enron_sizes=(10, 50, 100), reps=100, lam=1.0, sigma=0.01, eps=0.1, delta=0.01,
        enron_solver="exact", adult_rows=0, adult_replacements=5000, diabetes_features=2, diabetes_replacements=100,
        tau_grid=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1), ft_lr_grid=(0.03, 0.1, 0.3, 1.0, 3.0), sisa_shards=20,
        alice_chars=0, canary_copies=29, seq_len=64, lstm_hidden=512, lstm_layers=2, lstm_epochs=50, lstm_lr=1e-3,
        n_candidates=100000, canary_tau=0.1, canary_tau2=100.0, canary_lissa_damping=1e-2, canary_lissa_batch=512, canary_lissa_depth=50,
        canary_ft_lr=0.05,
        cifar_train=50000, cifar_test=10000, flip_budget=0.1, cnn_width=32, cnn_epochs=30, poison_tau=1e-5, poison_tau2=1.0,
        poison_lissa_damping=1e-4, poison_lissa_batch=1024, poison_lissa_depth=50, poison_ft_epochs=10, poison_shards=10,
    ),
}


# ============================================================================================================
# Part 1: sensitive features in linear models
# ============================================================================================================
def first_names() -> list[str]:
    """The shipped list of common English first names (lower case, de-duplicated, file order)."""
    seen, out = set(), []
    for line in NAMES_FILE.read_text().splitlines():
        w = line.strip().lower()
        if w and not w.startswith("#") and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def enron_names(vocabulary: dict, min_count: int = 0, x=None) -> list[str]:
    """Person names present in the Enron vocabulary (optionally occurring in >= min_count training mails)."""
    hits = [n for n in first_names() if n in vocabulary]
    if min_count and x is not None:
        hits = [n for n in hits if int((x[:, vocabulary[n]] != 0).sum()) >= min_count]
    return sorted(hits)


@dataclass
class LinearTask:
    """One linear data set, rows L2-normalised, labels in {-1, +1}."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor
    feature_names: list
    candidates: list  # column indices that may be unlearned
    mode: str  # "remove" (zero the columns in every row), "categorical" (move one-hots), "zero_rows"
    groups: list = field(default_factory=list)  # categorical: column-index lists, one per attribute
    info: dict = field(default_factory=dict)


def linear_task(name: str, P: Profile, seed: int = 0) -> LinearTask:
    """Load and normalise one of ``enron``, ``adult``, ``diabetes`` with its unlearnable features."""
    if name == "enron":
        b = load_dataset("enron", max_features=P.enron_features)
        voc = b.extra["vocabulary"]
        names = enron_names(voc, min_count=1, x=b.train.x)
        cand = [voc[n] for n in names]
        task = LinearTask(name, *_norm(b), b.extra["feature_names"], cand, "remove", info={"names": names})
    elif name == "adult":
        b = load_dataset("adult")
        fn = b.extra["feature_names"]
        groups = [[i for i, f in enumerate(fn) if f.startswith(a + "=")] for a in ("marital-status", "relationship", "race")]
        task = LinearTask(name, *_norm(b), fn, sum(groups, []), "categorical", groups)
        if P.adult_rows and P.adult_rows < len(task.y):
            keep = torch.as_tensor(np.sort(np.random.default_rng(seed).choice(len(task.y), P.adult_rows, replace=False)))
            task.x, task.y = task.x[keep], task.y[keep]
    elif name == "diabetes":
        b = load_dataset("diabetes")
        task = LinearTask(name, *_norm(b), b.extra["feature_names"], list(range(b.train.x.shape[1])), "zero_rows")
    else:
        raise ValueError(f"unknown linear task {name!r}; use enron, adult or diabetes")
    return task


def _norm(b):
    return C.normalize_rows(b.train.x), C.pm1(b.train.y), C.normalize_rows(b.test.x), C.pm1(b.test.y)


def make_change(task: LinearTask, size: int, P: Profile, rng: np.random.Generator):
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
    return float(C.data_loss(theta, x, y)) / len(y)


def _timed(fn):
    with counting() as c, Timer() as t:
        out = fn()
    return out, t.seconds, c.value


def calibrate(task: LinearTask, base: C.LinearModel, size: int, P: Profile, seed: int) -> dict:
    """Choose tau (first order) and the fine-tuning rate on a calibration change drawn with a separate seed:
    the value with the lowest gradient residual (the authors pass both rates by hand)."""
    rng = np.random.default_rng(10_000 + seed)
    x2, _, rows, _ = make_change(task, size, P, rng)
    G = C.influence_gradient(base.theta, (task.x[rows], task.y[rows]), (x2[rows], task.y[rows]))
    res = lambda th: C.gradient_residual(th, x2, task.y, P.lam, base.b)
    tau = min(P.tau_grid, key=lambda t: res(C.first_order_update(base.theta, G, t)))
    lr = min(P.ft_lr_grid, key=lambda a: res(C.finetune_update(base.theta, x2, task.y, P.lam, base.b, a)))
    return {"tau": tau, "ft_lr": lr}


def _sisa_linear(task, rows, P, seed):
    """SISA through the registry on the foundation's logistic-regression module. SISA can only delete points:
    the affected rows are removed and their shards retrained (the authors' linear ensemble likewise retrains
    the shards that hold changed rows). Returns (test accuracy, seconds of the unlearning step, grad evals)."""
    if "sisa" not in methods.available():
        return None
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
    base = C.fit(task.x, task.y, P.lam, sigma=P.sigma, seed=seed)
    cal = calibrate(task, base, sizes[0], P, seed)
    rows_out = []
    for size in sizes:
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
            upd["finetune"] = _timed(lambda: C.finetune_update(base.theta, x2, y, P.lam, b, cal["ft_lr"]))
            upd["first"] = _timed(lambda: C.first_order_update(base.theta, C.influence_gradient(base.theta, z, zt), cal["tau"]))
            upd["second"] = _timed(lambda: C.second_order_update(base.theta, x2, y, P.lam, C.influence_gradient(base.theta, z, zt), solver=solver, tol=1e-10))
            # retraining: the authors' fit from a fresh N(0, I) start on the same perturbed objective
            rt, rt_s, rt_g = _timed(lambda: C.fit(x2, y, P.lam, b=b, seed=seed + 1 + rep))
            upd["retrain"] = (rt.theta, rt_s, rt_g)
            l0 = _mean_loss(base.theta, xt2, task.yt)
            exact = _mean_loss(rt.theta, xt2, task.yt) - l0
            for m, (th, s, g) in upd.items():
                rows_out.append({
                    "dataset": task.name, "size": size, "rep": rep, "method": m, "affected": len(rows),
                    "residual": C.gradient_residual(th, x2, y, P.lam, b),
                    "test_acc": float((torch.where(xt2 @ th >= 0, 1.0, -1.0).double() == task.yt).double().mean()),
                    "loss_change": _mean_loss(th, xt2, task.yt) - l0, "loss_change_exact": exact,
                    "seconds": s, "grad_evals": g,
                })
            if sisa and "sisa" in methods.available():
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
            "dims": task.x.shape[1], **cal, "sigma": P.sigma, "lam": P.lam}
    return df, info


def _occlusion(theta, task, rows, cols):
    """The registry's occlusion (inputs with the features blanked) on theta as a module; for a linear model it
    equals zeroing the removed weights, which is the vector returned (checked against the wrapper)."""
    ds = ArrayDataset(task.x.float(), ((task.y + 1) / 2).long())
    wrapped = methods.get("occlusion")(C.BinaryLogReg(theta), Subset(ds, rows.tolist()), None,
                                       config={"features": tuple(int(c) for c in cols)})
    occluded = theta * wrapped.keep.to(theta.dtype).flatten()
    probe = task.x[:5].to(theta.dtype)
    assert torch.allclose(wrapped(probe), probe @ occluded)
    return occluded


def residual_table(df: pd.DataFrame, order=("none", "occlusion", "finetune", "first", "second")) -> pd.DataFrame:
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
                    "sigma_for_target": C.sigma_for(r, P.eps, P.delta),
                    "eps_at_trained_sigma": float(np.median([C.epsilon_for(v, P.sigma, P.delta) for v in g["residual"]]))})
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


def run_canary(P: Profile, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Train (or load) the LSTM with canaries, then unlearn with every method; exposure before and after."""
    S = canary_setup(P, seed)
    cfg = lstm_config(P)
    arch = models.build("char_lstm", vocab_size=len(S.corpus.vocab), embed=32, hidden=P.lstm_hidden, layers=P.lstm_layers)
    model, meta = train_or_load(arch, S.corpus, cfg, seed, tag="alice_canary", progress=False)
    cands = random_candidates(P.n_candidates, seed=seed)
    forget = Subset(S.corpus, S.affected)
    z_tilde = Subset(S.fixed, S.affected)
    rest = Subset(S.fixed, [i for i in range(len(S.fixed)) if i not in set(S.affected)])
    test = load_dataset("alice", seq_len=P.seq_len).test  # held-out text: exposure must not fall by breaking the model
    test_loss = lambda m: float(predict(m, test).losses.mean())
    rows = [{"method": "none", **canary_exposure(model, S.corpus, cands), "test_loss": test_loss(model), "seconds": 0.0,
             "grad_evals": 0}]
    runs = {
        "finetune": ("finetune", S.fixed, None, {"epochs": 1, "lr": P.canary_ft_lr, "batch_size": 32, "weight_decay": 0.0}),
        "first": ("influence_first_order", rest, z_tilde, {"tau": P.canary_tau, "batch_size": 64}),
        "second": ("influence_second_order", rest, z_tilde, {
            "tau": P.canary_tau2, "solver": "lissa", "lissa_damping": P.canary_lissa_damping, "lissa_batch_size": P.canary_lissa_batch,
            "lissa_depth": P.canary_lissa_depth, "lissa_patience": 20, "batch_size": 64}),
        "retrain": ("retrain", S.fixed, None, asdict(cfg)),
    }
    info = {"windows": len(S.corpus), "affected_windows": len(S.affected), "replacement": S.replacement,
            "train_seconds": meta["train_seconds"]}
    for name, (mname, retain, val, conf) in runs.items():
        out = methods.get(mname)(model, forget, retain, val=val, config=conf, seed=seed)
        rec = out.unlearning_record
        row = {"method": name, **canary_exposure(out, S.corpus, cands), "test_loss": test_loss(out), "seconds": rec.seconds,
               "grad_evals": rec.grad_evals}
        if name == "second":
            info["second_info"] = {k: v for k, v in rec.info.items() if k in ("converged", "diverged", "iterations", "step_norm")}
        rows.append(row)
    return pd.DataFrame(rows), info


# ============================================================================================================
# Part 3: label poisoning on CIFAR-10
# ============================================================================================================
def cnn_config(P: Profile) -> TrainConfig:
    return TrainConfig(epochs=P.cnn_epochs, batch_size=64, lr=2e-3, optimizer="adam", momentum=0.9,
                       weight_decay=5e-4, schedule="cosine")


def run_poisoning(P: Profile, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Clean and poisoned CNNs on a CIFAR-10 subset; each method repairs the flipped labels. Test accuracy,
    restoration fraction (acc - acc_poisoned) / (acc_clean - acc_poisoned), seconds, gradient evaluations."""
    b = load_dataset("cifar10")
    rng = np.random.default_rng(seed)
    tr = np.sort(rng.choice(len(b.train), P.cifar_train, replace=False))
    te = np.sort(rng.choice(len(b.test), P.cifar_test, replace=False))
    x, y = b.train.x[tr], b.train.y[tr]
    test = ArrayDataset(b.test.x[te], b.test.y[te])
    split, y_poison = splits.label_flips(y, P.flip_budget, 10, seed)
    clean, poisoned = ArrayDataset(x, y), ArrayDataset(x, y_poison)
    cfg = cnn_config(P)
    arch = models.build("small_cnn", in_channels=3, num_classes=10, width=P.cnn_width, hidden=4 * P.cnn_width)
    model, meta = train_or_load(arch, poisoned, cfg, seed, tag="cifar_poisoned", progress=False)
    # the clean model is the gold retrain on the corrected data: trained under the retrain method's cache tag
    gold, gmeta = train_or_load(arch, clean, cfg, seed, tag="gold", progress=False)
    acc_p, acc_c = predict(model, test).accuracy, predict(gold, test).accuracy
    forget = Subset(poisoned, split.forget.tolist())
    z_tilde = Subset(clean, split.forget.tolist())
    rest = Subset(poisoned, split.retain.tolist())
    runs = {
        "finetune": ("finetune", clean, None, {"epochs": P.poison_ft_epochs, "lr": 0.01, "batch_size": 64}),
        "first": ("influence_first_order", rest, z_tilde, {"tau": P.poison_tau, "batch_size": 256}),
        "second": ("influence_second_order", rest, z_tilde, {
            "tau": P.poison_tau2, "solver": "lissa", "lissa_damping": P.poison_lissa_damping, "lissa_batch_size": P.poison_lissa_batch,
            "lissa_depth": P.poison_lissa_depth, "lissa_patience": 20, "batch_size": 256}),
        "retrain": ("retrain", clean, None, asdict(cfg)),
    }
    if "sisa" in methods.available():
        # SISA deletes the poisoned points: forget and retain must be Subsets of one data set (``poisoned``)
        runs["sisa"] = ("sisa", rest, None, {**asdict(cfg), "shards": P.poison_shards})
    rows = [{"method": "poisoned (none)", "test_acc": acc_p, "restored": 0.0, "seconds": 0.0, "grad_evals": 0}]
    info = {"acc_clean": acc_c, "acc_poisoned": acc_p, "flipped": len(split.forget), "n_train": len(tr),
            "train_seconds": meta["train_seconds"]}
    for name, (mname, retain, val, conf) in runs.items():
        try:
            out = methods.get(mname)(model, forget, retain, val=val, config=conf, seed=seed)
        except Exception as exc:  # a concurrently written baseline with another API: report, keep going
            print(f"{name} skipped: {type(exc).__name__}: {exc}")
            continue
        rec = out.unlearning_record
        acc = predict(out, test).accuracy
        secs, evals = rec.seconds, rec.grad_evals
        if name == "sisa":  # the record also holds building the ensemble; report the unlearning step alone
            secs, evals = rec.info["unlearn_seconds"], rec.info["unlearn_grad_evals"]
            info["sisa_build_seconds"] = rec.info["built_ensemble_seconds"]
        rows.append({"method": name, "test_acc": acc, "restored": metrics.restoration_fraction(acc, acc_p, acc_c) + 0.0,
                     "seconds": secs, "grad_evals": evals})
        if name == "second":
            info["second_info"] = {k: v for k, v in rec.info.items() if k in ("converged", "diverged", "iterations", "step_norm")}
    return pd.DataFrame(rows), info
