"""Twin Machine Unlearning (TMU): Niu, Ji, Sun, Lin, Gao, Wang & Gao, "Towards Aligned Data
Forgetting via Twin Machine Unlearning", arXiv 2501.08615 (earlier version arXiv 2408.11433).

The aim of unlearning is *alignment* with the gold model (retrained without the forget data D_f),
whose accuracy on D_f is not zero: it generalises to the "easy" forget samples. TMU predicts which
forget samples the gold model would still classify correctly and forgets only the others:

1. Twin problem. A held-out set D_h of the forgotten class c (never used in training, i.i.d. with
   D_f) is added to the training set and the original model M_o is fine-tuned on it: the *twin*
   model M_t. For M_t, D_h plays D_f and M_o plays the gold model, and M_o's correctness on D_h is
   known: the twin labels (easy = M_o right, hard = M_o wrong).
2. Features per sample (:mod:`unlearn.methods.tmu.features`): DF, mean distance to the 5 nearest retained
   class-c training samples in L2-normalised penultimate features; AF, output shift under a 5-step
   PGD attack (eps 4/255); CF, cross-entropy under a model trained from scratch for only 2 epochs.
   Each is IQR-clipped and min-max scaled with the twin set's statistics.
3. Predictor: a small MLP trained with BCE on (twin features, twin labels); applied to D_f's features
   under M_o, it predicts the gold model's correctness on D_f.
4. Unlearning from M_o: predicted-easy forget samples keep their labels, predicted-hard ones get a
   random other label, and the model is fine-tuned on them together with the retain set for a few
   epochs with Gaussian noise on the kept forget inputs ("noise-perturbed fine-tuning"; the paper gives the
   noise a membership-inference role: it blurs the samples whose labels stay, which the model would otherwise
   keep fitting as members). The release instead fine-tunes the *twin* model (``start="twin"``).

Call shape: ``tmu(model, forget, retain, holdout=D_h, config=None, seed=0)``. ``holdout`` is *required* and
must hold only class-c samples that the model never saw (e.g. half of class c's test images);
the class c is inferred from the forget labels (all forget samples must share it: TMU's setting is
sub-class forgetting). The twin and curriculum models are trained inside through the checkpoint
cache, so repeated calls are cheap. The record's :class:`TMUReport` holds the predicted-easy mask, the
predictor's scores and every feature value (raw and scaled) for D_h and D_f.

The authors' release (github abc321123444/TWIN-unlearning) is incomplete (the unlearning loop
``noise_train`` and the predictor's network are missing). Defaults below follow the release where it
has the value; lines marked ``CHOICE:`` are details this implementation had to choose.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from ...cache import train_or_load
from ...data.arrays import ArrayDataset, as_arrays, concat_arrays, targets_of, to_arrays
from ...train import TrainConfig, cross_entropy, get_device, penultimate, step
from ..base import Report, register
from .features import (
    FEATURES,
    FeatureScaler,
    adversarial_feature,
    curriculum_feature,
    distance_feature,
    relabel_hard,
    stack_features,
    train_predictor,
    twin_labels,
)


@dataclass
class TMUConfig:
    # twin model M_t = M_o fine-tuned on training set + D_h (release: train_test_data.py)
    twin_epochs: int = 10  # fine-tuning epochs (release: 10)
    twin_lr: float = 1e-4  # Adam learning rate (release: 1e-4)
    twin_batch_size: int = 64  # samples per step (release: 64)
    # > 0: fine-tune the twin until its accuracy on train + D_h reaches this share (twin_epochs is then the cap, and
    # missing it an error), so that M_t fits D_h as M_o fits D_f; 0: exactly twin_epochs (the release)
    twin_fit_target: float = 0.0
    # curriculum model: same architecture, from scratch, only a few epochs (release: train_loss.py)
    curriculum_epochs: int = 2  # epochs from scratch (release and paper: 2)
    curriculum_lr: float = 1e-4  # Adam learning rate (release: get_model's Adam 1e-4)
    curriculum_batch_size: int = 64  # samples per step (release: 64)
    # features
    features: tuple = ("df", "af", "cf")  # which features the predictor uses (paper: all three)
    knn: int = 5  # DF: nearest retained class-c neighbours averaged (release: 5)
    pgd_eps: float = 4 / 255  # AF: L-inf radius (release eval_adverarial_attack: 4/255)
    pgd_steps: int = 5  # AF: PGD iterations (release: 5)
    # predictor (release: train_generalization_binary_classifier.py)
    predictor_epochs: int = 200  # BCE epochs (release: 200)
    predictor_lr: float = 0.01  # Adam learning rate (release: 0.01)
    predictor_hidden: int = 16  # CHOICE: hidden width of the 2-layer MLP (release's pure_model unpublished)
    threshold: float = 0.5  # calibration="fixed": P(easy) >= threshold -> predicted easy
    # how P(easy) becomes a decision (compared in notebook 01):
    #   "fixed"     P >= threshold;
    #   "base_rate" the threshold at which the predicted-easy rate on D_h equals D_h's easy rate;
    #   "release"   the release compares the raw network output (a logit, trained through a sigmoid) with
    #               0.5, i.e. P >= sigmoid(0.5) = 0.62
    calibration: str = "release"  # the paper gives no threshold; the release's is the one on record
    scaling: str = "per_set"  # "per_set": each problem with its own statistics (the release; the paper is silent);
    #                           "twin": both with D_h's statistics (the transfer argument)
    # noise-perturbed fine-tuning (release: 5 epochs, SGD 0.01, momentum 0.9, wd 5e-4, batch 64)
    epochs: int = 5  # passes over retain + relabelled forget (release: 5)
    lr: float = 0.01  # SGD learning rate, constant (release: 0.01)
    momentum: float = 0.9  # SGD momentum (release: 0.9)
    weight_decay: float = 5e-4  # L2 penalty (release: 5e-4)
    batch_size: int = 64  # samples per step (release: 64)
    noise_sigma: float = 0.1  # CHOICE: std of Gaussian noise added to inputs in [0, 1] (unpublished); 0 turns noise off
    # which inputs get the noise: "kept" (the forget samples that keep their labels; the release tags kept, relabelled
    # and retain samples apart, its noise routine is missing), "forget" (all of D_f) or "all" (retain too)
    noise_on: str = "kept"
    start: str = "original"  # the model fine-tuned in step 4: "original" (M_o, the paper) or "twin" (M_t, the release)


def _check(forget, retain, holdout, cfg: TMUConfig, num_classes: int) -> tuple[int, torch.Tensor]:
    if holdout is None or len(holdout) == 0:
        raise ValueError("TMU needs the held-out set D_h: pass class-c samples never used in training as holdout=")
    if retain is None or len(retain) == 0:
        raise ValueError("TMU fine-tunes on the retain set; it is empty")
    yf = targets_of(forget)
    classes = torch.unique(yf).tolist()
    if len(classes) != 1:
        raise ValueError(f"TMU is sub-class forgetting: every forget sample must share one class, got classes {classes}")
    c = int(classes[0])
    yh = targets_of(holdout)
    if (yh != c).any():
        raise ValueError(f"holdout (D_h) must hold only class-{c} samples (the forgotten class), got classes {torch.unique(yh).tolist()}")
    ref = torch.nonzero(targets_of(retain) == c).ravel()
    if len(ref) < cfg.knn:
        raise ValueError(f"DF needs at least knn={cfg.knn} retained class-{c} training samples, the retain set has {len(ref)}")
    if cfg.noise_on not in NOISE_ON:
        raise ValueError(f"noise_on must be one of {NOISE_ON}, got {cfg.noise_on!r}")
    if cfg.start not in ("original", "twin"):
        raise ValueError(f"start must be 'original' (the paper) or 'twin' (the release), got {cfg.start!r}")
    if cfg.noise_sigma < 0:
        raise ValueError(f"noise_sigma must be >= 0, got {cfg.noise_sigma}")
    if cfg.calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {cfg.calibration!r}")
    if cfg.scaling not in ("twin", "per_set"):
        raise ValueError(f"scaling must be 'twin' or 'per_set', got {cfg.scaling!r}")
    unknown = [f for f in cfg.features if f not in FEATURES]
    if unknown or not cfg.features:
        raise ValueError(f"features must be a non-empty subset of {FEATURES}, got {cfg.features}")
    if num_classes < 2:
        raise ValueError("random relabelling needs at least two classes")
    return c, ref


CALIBRATIONS = ("fixed", "base_rate", "release")
NOISE_ON = ("kept", "forget", "all")


def decision_threshold(cfg: TMUConfig, twin_scores: torch.Tensor, twin_labels: torch.Tensor) -> float:
    """The P(easy) threshold of ``cfg.calibration`` (see :class:`TMUConfig`)."""
    if cfg.calibration == "fixed":
        return float(cfg.threshold)
    if cfg.calibration == "release":
        return float(torch.sigmoid(torch.tensor(0.5)))
    rate = float(twin_labels.float().mean())  # base_rate: D_h's share of easy samples
    if rate <= 0:
        return float("inf")
    if rate >= 1:
        return float("-inf")
    return float(torch.quantile(twin_scores.double(), 1 - rate))


def training_set(forget, retain) -> ArrayDataset:
    """D = D_f + D_r as one data set in the root data set's order when both are views of it, so that it (and the
    twin and curriculum models trained on it) is the same whichever D_f of the class is requested."""
    a, b = as_arrays(forget), as_arrays(retain)
    if a is not None and b is not None and a[0] is b[0]:
        idx = torch.sort(torch.cat([a[1], b[1]])).values
        return ArrayDataset(a[0].x[idx], a[0].y[idx])
    return concat_arrays(forget, retain)


def problem_features(model, curriculum, ds, reference, cfg: TMUConfig) -> dict[str, torch.Tensor]:
    """DF, AF, CF of every sample of ``ds`` under ``model`` (the problem's "original" model);
    DF's neighbours are ``reference`` (the retained class-c training samples) in ``model``'s features."""
    return {
        "df": distance_feature(penultimate(model, ds), penultimate(model, reference), cfg.knn),
        "af": adversarial_feature(model, ds, eps=cfg.pgd_eps, steps=cfg.pgd_steps),
        "cf": curriculum_feature(curriculum, ds),
    }


def noisy_finetune(model, data, noisy: torch.Tensor, cfg: TMUConfig, seed: int) -> nn.Module:
    """SGD on ``data`` (constant lr) with N(0, sigma^2) noise added to the inputs flagged ``noisy``.
    CHOICE: the noise is redrawn every time a sample is visited and the inputs are not re-clamped."""
    device = get_device()
    order = torch.Generator().manual_seed(int(seed))
    noise = torch.Generator().manual_seed(int(seed) + 1)
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(data), generator=order)
        for s in range(0, len(perm), cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            x, y = data.take(idx)
            x = x.float().clone()
            if cfg.noise_sigma > 0:
                m = noisy[idx]
                if m.any():
                    x[m] += cfg.noise_sigma * torch.randn(x[m].shape, generator=noise)
            step(opt, cross_entropy(model(x.to(device)), y.to(device)), len(y))
    return model.eval()


@register("tmu", TMUConfig, data="holdout")
def tmu(model, forget, retain, *, holdout=None, config: TMUConfig, seed=0) -> nn.Module:
    """Forget accuracy moves to (about) the gold model's level rather than to zero."""
    cfg = config
    num_classes = int(getattr(model, "num_classes"))
    c, ref_idx = _check(forget, retain, holdout, cfg, num_classes)
    reference = Subset(retain, ref_idx.tolist())
    phases: dict[str, float] = {}
    t0 = time.perf_counter()

    # 1. the twin model and the curriculum model (cached: a re-run, or another request of the same class with
    # the same D_h, loads them: they depend on D and D_h, not on which samples of D are forgotten)
    twin_data = concat_arrays(training_set(forget, retain), holdout)  # training set + D_h
    twin_cfg = TrainConfig(epochs=cfg.twin_epochs, batch_size=cfg.twin_batch_size, lr=cfg.twin_lr, optimizer="adam",
                           weight_decay=0.0, schedule="constant", until_train_acc=cfg.twin_fit_target)
    twin, twin_meta = train_or_load(copy.deepcopy(model), twin_data, twin_cfg, seed, tag="tmu-twin",
                                    progress=False, from_scratch=False)
    # CHOICE: the curriculum model sees the training set + D_h (as M_t does), so the CF of D_h (twin
    # problem) and of D_f (original problem) both measure how well a sample is fitted after 2 epochs of
    # training *on* it; the release trains it on the training set only and reuses it for both problems.
    cur_cfg = TrainConfig(epochs=cfg.curriculum_epochs, batch_size=cfg.curriculum_batch_size, lr=cfg.curriculum_lr,
                          optimizer="adam", weight_decay=0.0, schedule="constant")
    curriculum, cur_meta = train_or_load(model, twin_data, cur_cfg, seed, tag="tmu-curriculum", progress=False)
    phases["models"] = time.perf_counter() - t0

    # 2. twin labels and features of both problems
    t1 = time.perf_counter()
    y_twin = twin_labels(model, holdout)  # M_o (the twin's gold) right or wrong on D_h
    twin_holdout_acc = twin_labels(twin, holdout).float().mean().item()
    raw_twin = problem_features(twin, curriculum, holdout, reference, cfg)
    raw_orig = problem_features(model, curriculum, forget, reference, cfg)
    scaler = FeatureScaler().fit(raw_twin)
    f_twin = scaler.transform(raw_twin)
    f_orig = scaler.transform(raw_orig) if cfg.scaling == "twin" else FeatureScaler().fit(raw_orig).transform(raw_orig)
    phases["features"] = time.perf_counter() - t1

    # 3. the generalization-label predictor, trained on the twin problem, applied to D_f
    t2 = time.perf_counter()
    names = tuple(cfg.features)
    x_twin, x_orig = stack_features(f_twin, names), stack_features(f_orig, names)
    predictor = train_predictor(x_twin, y_twin, epochs=cfg.predictor_epochs, lr=cfg.predictor_lr,
                                   hidden=cfg.predictor_hidden, seed=seed)
    scores = predictor.scores(x_orig)
    twin_scores = predictor.scores(x_twin)
    threshold = decision_threshold(cfg, twin_scores, y_twin)
    easy = scores >= threshold
    twin_fit = ((twin_scores >= threshold).long() == y_twin).float().mean().item()
    phases["predictor"] = time.perf_counter() - t2

    # 4. noise-perturbed fine-tuning of M_o (or of M_t, as the release): easy keep labels, hard get a random other one
    t3 = time.perf_counter()
    if cfg.start == "twin":
        model.load_state_dict(twin.state_dict())
    y_new = finetune_with_labels(model, forget, retain, easy, cfg, seed, num_classes)
    phases["finetune"] = time.perf_counter() - t3

    np_ = lambda d: {k: v.detach().cpu().numpy() for k, v in d.items()}
    return model, TMUReport(
        forget_class=c, easy_mask=easy.numpy(), scores=scores.numpy(), twin_scores=twin_scores.numpy(),
        threshold=threshold, new_labels=y_new.numpy(), features=np_(f_orig), features_raw=np_(raw_orig),
        twin_features=np_(f_twin), twin_features_raw=np_(raw_twin), twin_labels=y_twin.numpy(),
        twin_acc_holdout=twin_holdout_acc, twin_epochs=twin_meta.get("epochs"), start=cfg.start,
        predictor_twin_acc=twin_fit, feature_names=list(names), scaler={"bounds": scaler.bounds, "ranges": scaler.ranges},
        twin_cached=bool(twin_meta.get("cached")), curriculum_cached=bool(cur_meta.get("cached")),
        twin_train_seconds=float(twin_meta["train_seconds"]), curriculum_train_seconds=float(cur_meta["train_seconds"]),
        phase_seconds=phases,
        pipeline_seconds=float(twin_meta["train_seconds"] + cur_meta["train_seconds"]
                               + phases["features"] + phases["predictor"] + phases["finetune"]),
        request_seconds=float(phases["features"] + phases["predictor"] + phases["finetune"]),
        pipeline_grad_evals=int(cfg.twin_epochs * len(twin_data) + cfg.curriculum_epochs * len(twin_data)
                                + cfg.pgd_steps * (len(holdout) + len(forget)) + cfg.epochs * (len(retain) + len(forget))))


@dataclass(frozen=True)
class TMUReport(Report):
    """What one TMU request computed, phase by phase (the notebook's tables and figures read it)."""

    forget_class: int  # the class c part of which is forgotten
    # phase 3, the predictor's decisions
    easy_mask: np.ndarray  # predicted-easy forget samples (they keep their labels)
    scores: np.ndarray  # the predictor's P(easy) per forget sample
    twin_scores: np.ndarray  # and per D_h sample
    threshold: float  # the P(easy) threshold the calibration chose
    # phase 4
    new_labels: np.ndarray  # labels D_f was fine-tuned with
    # phase 2, the features of both problems
    features: dict  # scaled DF/AF/CF of D_f (under M_o)
    features_raw: dict
    twin_features: dict  # scaled DF/AF/CF of D_h (under M_t)
    twin_features_raw: dict
    twin_labels: np.ndarray  # M_o correct on D_h (the twin problem's labels)
    # phase 1, the twin
    twin_acc_holdout: float  # M_t's accuracy on D_h (it trained on it, as M_o on D_f)
    twin_epochs: int | None  # epochs the twin's fine-tuning ran (twin_fit_target stops early)
    start: str  # the model phase 4 fine-tunes: "original" (the paper) or "twin" (the release)
    predictor_twin_acc: float  # predictor accuracy on its own training (twin) set
    feature_names: list
    scaler: dict  # the twin set's clipping bounds and ranges
    twin_cached: bool  # twin and curriculum models loaded from the checkpoint cache
    curriculum_cached: bool
    twin_train_seconds: float
    curriculum_train_seconds: float
    phase_seconds: dict  # wall time per phase of this call
    pipeline_seconds: float  # the whole pipeline's cost as if nothing were cached: twin + curriculum training + the rest
    request_seconds: float  # one more request of the class with the twin and curriculum models reused
    pipeline_grad_evals: int


def finetune_with_labels(model, forget, retain, easy: torch.Tensor, cfg: TMUConfig, seed: int = 0,
                         num_classes: int | None = None) -> torch.Tensor:
    """TMU's step 4 for any easy/hard split of D_f (in place on ``model``): the easy samples keep their labels,
    the hard ones get a random other label, and the model is fine-tuned on them with the retain set, noise on the
    inputs ``cfg.noise_on`` names. Returns the labels D_f was fine-tuned with. Notebook 01's controls call it with random easy
    labels at the predicted rate ("rate-only TMU") and with the gold model's own split ("oracle TMU")."""
    easy = torch.as_tensor(easy, dtype=torch.bool)
    if len(easy) != len(forget):
        raise ValueError(f"easy must have one flag per forget sample ({len(forget)}), got {len(easy)}")
    num_classes = int(num_classes or getattr(model, "num_classes"))
    y_new = relabel_hard(targets_of(forget), ~easy, num_classes, seed)
    xr, yr = to_arrays(retain)
    xf, _ = to_arrays(forget)
    data = concat_arrays(ArrayDataset(xr, yr), ArrayDataset(xf, y_new))
    noisy = torch.zeros(len(data), dtype=torch.bool)
    noisy[len(yr):] = easy if cfg.noise_on == "kept" else True
    if cfg.noise_on == "all":
        noisy[:] = True
    noisy_finetune(model, data, noisy, cfg, seed)
    return y_new
