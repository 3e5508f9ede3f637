"""Part 2 of notebook 02: a canary in a character LSTM, its exposure before and after unlearning."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Subset

from ... import methods, metrics, models, splits
from ...cache import train_or_load
from ...data import load_dataset
from ...train import TrainConfig, predict
from .profile import Profile, corrected_data

CANARY_PREFIX = "my telephone number is "
CANARY_SECRET = "0123456789"
CANARY = CANARY_PREFIX + CANARY_SECRET + "!' said alice."


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
        out, rec = methods.get(mname)(model, forget, retain, config=conf, seed=seed, **corrected_data(corrected))
        row = {"method": name, **canary_exposure(out, canary.corpus, cands), "test_loss": test_loss(out), "seconds": rec.seconds,
               "grad_evals": rec.grad_evals}
        if name == "second":
            info["second_info"] = {k: v for k, v in dataclasses.asdict(rec.info).items()
                                   if k in ("converged", "diverged", "stopped_early", "iterations", "step_norm", "G_norm")}
        rows.append(row)
    return pd.DataFrame(rows), info
