"""Every metric the three papers report, each docstring with its formula and source; and the NeurIPS 2023 unlearning
competition's per-example forgetting quality (:func:`forgetting_quality`), a stronger test than any of the three use."""

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
    from sklearn.model_selection import StratifiedShuffleSplit

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
    # the folds fitted in a plain loop: the same numbers as cross_val_score(..., scoring="accuracy").mean(), at a
    # quarter of its time (its per-fold cloning and scorer dispatch dominate a one-feature fit; notebook 03's
    # bootstrap calls this a thousand times)
    accuracies = [LogisticRegression().fit(x[tr], y[tr]).score(x[te], y[te]) for tr, te in cv.split(x, y)]
    return float(np.mean(accuracies))


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


# --- forgetting like retraining, per example, over many models (NeurIPS 2023 unlearning competition) -----------------
# Triantafillou et al., "Are we making progress in unlearning?" (arXiv 2406.09073) and the competition's evaluation
# code (DeepMind, Apache 2.0): K models unlearned and K retrained from independent runs; for each forget example, how
# well a family of threshold attacks on its logit-scaled confidence tells the two sets of models apart, as the epsilon
# of an (epsilon, delta) guarantee; examples score by epsilon bucket. Implemented here from that description, in numpy.
FQ_DELTA = 1e-5  # delta of the (epsilon, delta) estimate
FQ_EPSILON_CAP = 50.0  # an epsilon this large means perfectly told apart
FQ_THRESHOLDS_PER_UNIT = 10  # attack thresholds per unit of confidence


def logit_scaled_confidence(logits, labels) -> np.ndarray:
    """log p(y|x) - log(1 - p(y|x)) per sample, the statistic LiRA attacks (Carlini et al. 2022), computed without
    forming 1 - p: the other classes' probabilities are summed after shifting by the largest logit."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    right = p[np.arange(len(y)), y]
    wrong = p.sum(axis=1) - right
    return np.log(right + 1e-45) - np.log(wrong + 1e-45)


def _rates_single(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tpr, fnr, fpr, tnr) of the attacks "confidence >= t" over a grid of thresholds t spanning both samples."""
    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(lo, hi, max(int(np.ceil((hi - lo) * FQ_THRESHOLDS_PER_UNIT)), 1))
    tpr, fpr = (pos[:, None] >= t).mean(0), (neg[:, None] >= t).mean(0)
    return tpr, 1 - tpr, fpr, 1 - fpr


def _rates_double(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tpr, fnr, fpr, tnr) of the attacks "left <= confidence <= right": a window as wide as the narrower sample's
    range, slid around it; the narrower (peakier) sample is the positive class."""
    if np.ptp(pos) >= np.ptp(neg):
        pos, neg = neg, pos
    width, buffer = np.ptp(pos), 2.0
    lo, hi = pos.min() + width - buffer, pos.max() + buffer
    right = np.linspace(lo, hi, max(int(np.ceil((hi - lo) * FQ_THRESHOLDS_PER_UNIT)), 1))
    n_left = int(np.ceil(2 * buffer * FQ_THRESHOLDS_PER_UNIT))
    left = (right[:, None] - width + np.linspace(-buffer, buffer, n_left)[None, :]).ravel()
    right = np.repeat(right, n_left)
    inside = lambda c: (left[None, :] <= c[:, None]) & (c[:, None] <= right[None, :])
    tpr, fpr = inside(pos).mean(0), inside(neg).mean(0)
    return tpr, 1 - tpr, fpr, 1 - fpr


def example_epsilon(unlearned, retrained, delta: float = FQ_DELTA) -> float:
    """The epsilon of one forget example: its logit-scaled confidences under K unlearned and K retrained models.
    Over every attack of both families, epsilon = max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR),
    at least 0; an attack with FPR = FNR = 0 separates perfectly (the cap); one with exactly one of them 0 is left
    out (too few models to say). Positive is the sample with the larger median. A sample whose spread is under 1 %
    of the other's is a point mass the attacks cannot resolve: the cap, as in the competition."""
    u, r = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
    small, large = sorted((np.ptp(pos), np.ptp(neg)))
    if large == 0:  # both constant: the same value cannot be told apart, different values always can
        return 0.0 if pos[0] == neg[0] else FQ_EPSILON_CAP
    if small / large < 0.01:
        return FQ_EPSILON_CAP
    tpr, fnr, fpr, tnr = (np.concatenate(pair) for pair in zip(_rates_double(pos, neg), _rates_single(pos, neg)))
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.maximum(np.log(1 - delta - fpr) - np.log(fnr), np.log(1 - delta - fnr) - np.log(fpr)).clip(min=0)
    eps = np.where((fpr == 0) & (fnr == 0), np.inf, np.where((fpr == 0) | (fnr == 0), np.nan, eps))
    if np.isnan(eps).all():  # no attack could be scored: NaN, which scores as the worst bucket (as in the competition)
        return float("nan")
    return float(np.clip(np.nanmax(eps), 0, FQ_EPSILON_CAP))


def quality_from_epsilons(epsilons, num_models: int) -> float:
    """The competition's forgetting quality from per-example epsilons: buckets of width 0.5 from 0 up to
    ceil(ln(K - 1)), the largest epsilon K models can show; an example in bucket k scores 2^-k, beyond the last 0;
    the mean over examples (1: no example told apart from retraining; 0: every one). A NaN epsilon scores 0."""
    if num_models < 3:
        raise ValueError(f"forgetting quality needs at least 3 models of each kind, got {num_models}")
    top = np.ceil(np.log(num_models - 1))
    edges = np.arange(0.5, top + 1e-9, 0.5)  # upper edges of the buckets
    eps = np.asarray(epsilons, dtype=np.float64)
    k = np.searchsorted(edges, eps, side="right")  # bucket index (len(edges): beyond the last)
    points = np.where(k < len(edges), 0.5 ** k, 0.0)
    return float(points.mean())


def forgetting_quality(unlearned_confs, retrained_confs) -> tuple[float, np.ndarray]:
    """(quality, per-example epsilons) from [K models, N forget examples] logit-scaled confidences of K unlearned
    and K retrained models (each run with its own seed): see :func:`example_epsilon`, :func:`quality_from_epsilons`."""
    u, r = np.asarray(unlearned_confs, dtype=np.float64), np.asarray(retrained_confs, dtype=np.float64)
    if u.ndim != 2 or u.shape != r.shape:
        raise ValueError(f"need two [models, examples] arrays of one shape, got {u.shape} and {r.shape}")
    eps = np.array([example_epsilon(u[:, i], r[:, i]) for i in range(u.shape[1])])
    return quality_from_epsilons(eps, u.shape[0]), eps
