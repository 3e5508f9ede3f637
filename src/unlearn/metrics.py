"""Every metric the three papers report. Each docstring gives the formula and its source."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy: mean(argmax logits == label)."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (logits.argmax(-1) == labels).float().mean().item()


def delta_to_gold(acc_unlearned: float, acc_gold: float) -> float:
    """TMU's alignment gap (Niu et al. 2025): Delta = |Acc_u(D_f) - Acc_gold(D_f)|."""
    return abs(acc_unlearned - acc_gold)


def activation_distance(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean over samples of ||softmax(a) - softmax(b)||_2 (Chundawat et al. 2023, "Bad Teacher")."""
    return (logits_a.softmax(-1) - logits_b.softmax(-1)).norm(dim=-1).mean().item()


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean Jensen-Shannon divergence (natural log) between the two models' output distributions:
    JS(p, q) = KL(p || m)/2 + KL(q || m)/2 with m = (p + q)/2 (Chundawat et al. 2023)."""
    p, q = logits_a.double().softmax(-1), logits_b.double().softmax(-1)
    m = (p + q) / 2
    kl = lambda a, b: (a * (a.clamp_min(1e-300).log() - b.clamp_min(1e-300).log())).sum(-1)
    return ((kl(p, m) + kl(q, m)) / 2).mean().item()


def param_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """L2 distance between two models' parameter vectors: ||theta_a - theta_b||_2."""
    pa, pb = list(model_a.parameters()), list(model_b.parameters())
    if [p.shape for p in pa] != [p.shape for p in pb]:
        raise ValueError("models have different parameter shapes")
    return torch.sqrt(sum(((a.detach().cpu() - b.detach().cpu()) ** 2).sum() for a, b in zip(pa, pb))).item()


def mia_score(member_losses, nonmember_losses, seed: int = 0, n_splits: int = 10) -> float:
    """Loss-based membership inference (the NeurIPS 2023 Machine Unlearning challenge kit, and MUFAC):
    a logistic regression on per-sample cross-entropy separates members (the forget set) from
    non-members (unseen test data). The larger set is subsampled to the size of the smaller; the
    score is the mean accuracy over ``n_splits`` stratified shuffle splits (10 % held out each).
    0.5 means the attack cannot tell forget samples from unseen ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

    m = np.asarray(member_losses, dtype=np.float64).ravel()
    n = np.asarray(nonmember_losses, dtype=np.float64).ravel()
    k = min(len(m), len(n))
    if k < 10:
        raise ValueError(f"MIA needs at least 10 members and 10 non-members, got {len(m)} and {len(n)}")
    if not (np.isfinite(m).all() and np.isfinite(n).all()):
        raise ValueError("losses must be finite")
    rng = np.random.default_rng(seed)
    m = rng.choice(m, k, replace=False) if len(m) > k else m
    n = rng.choice(n, k, replace=False) if len(n) > k else n
    x = np.concatenate([m, n]).reshape(-1, 1)
    y = np.r_[np.ones(k), np.zeros(k)]
    cv = StratifiedShuffleSplit(n_splits=n_splits, random_state=seed)
    return float(cross_val_score(LogisticRegression(), x, y, cv=cv, scoring="accuracy").mean())


def forgetting_score(mia: float) -> float:
    """MUFAC's forgetting score FS = |MIA - 0.5| (0 is perfect: the attacker guesses at chance)."""
    return abs(mia - 0.5)


def nomus(test_acc: float, mia: float, lam: float = 0.5) -> float:
    """Normalised Machine Unlearning Score (Choi & Na, MUFAC):
    NoMUS = lam * Acc_test + (1 - lam) * (1 - 2 * |MIA - 0.5|), in [0, 1], higher is better."""
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    return lam * test_acc + (1 - lam) * (1 - 2 * forgetting_score(mia))


def exposure(canary_logppl: float, candidate_logppls, method: str = "extrapolate") -> float:
    """Canary exposure (Carlini et al. 2019, "The Secret Sharer").

    ``rank``: exposure = log2(|R|) - log2(rank), with R the candidates plus the canary and rank
    the canary's 1-based position when sorted by log-perplexity (rank 1 = most likely).
    ``extrapolate``: fit a skew-normal to the candidates' log-perplexities and take
    exposure = -log2 P(X <= canary_logppl), which extends beyond log2(|R|) for a well-memorised canary.
    """
    c = np.asarray(candidate_logppls, dtype=np.float64).ravel()
    if len(c) < 2:
        raise ValueError("exposure needs at least two random candidates")
    if method == "rank":
        rank = 1 + int((c < canary_logppl).sum())
        return float(np.log2(len(c) + 1) - np.log2(rank))
    if method == "extrapolate":
        import warnings

        from scipy.stats import skewnorm

        with warnings.catch_warnings():  # the MLE's optimiser warns (overflow) on near-degenerate candidate sets
            warnings.simplefilter("ignore", RuntimeWarning)
            params = skewnorm.fit(c)
        p = skewnorm.cdf(canary_logppl, *params)
        return float(-np.log2(max(p, np.finfo(float).tiny)))
    raise ValueError(f"method must be 'rank' or 'extrapolate', got {method!r}")


def gradient_residual_norm(model: nn.Module, loss_fn, l2: float = 0.0) -> float:
    """Gradient residual ||grad_theta L(theta; D)||_2 of the full training objective at the current
    parameters (Warnecke et al. 2023, Sec. on certified unlearning; 0 at an exact optimum).
    ``loss_fn(model)`` returns the summed data loss; ``l2`` adds (l2/2)||theta||^2."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model)
    if l2:
        loss = loss + l2 / 2 * sum((p**2).sum() for p in params)
    grads = torch.autograd.grad(loss, params)
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()


def restoration_fraction(acc_after: float, acc_poisoned: float, acc_clean: float) -> float:
    """Share of the accuracy lost to poisoning that unlearning restores (Warnecke et al. 2023):
    (acc_after - acc_poisoned) / (acc_clean - acc_poisoned)."""
    if np.isclose(acc_clean, acc_poisoned):
        raise ValueError("poisoning did not change accuracy, so a restoration fraction is undefined")
    return (acc_after - acc_poisoned) / (acc_clean - acc_poisoned)


def speedup(retrain_seconds: float, method_seconds: float) -> float:
    """How many times faster than retraining: retrain_seconds / method_seconds."""
    if method_seconds <= 0:
        raise ValueError("method time must be positive")
    return retrain_seconds / method_seconds
