"""DLFD: Distribution-Level Feature Distancing (Choi & Na 2024, "Distribution-Level Feature
Distancing for Machine Unlearning: Towards a Better Trade-off Between Model Utility and
Forgetting", arXiv:2409.14747; released code github.com/Dasol-Choi/DLFD, ``unlearn/dlfd.py``).

One epoch over the retain set. Retain batch t is paired with a forget batch of the same size
(the forget set is cycled). While the forgetting score FS = |MIA - 0.5|, measured on small
samples during the epoch, is at least ``fs_threshold``, the retain batch is perturbed by K
signed-gradient steps of size alpha that *maximise*

    L(delta) = w_f * OT(f(x_r + delta), f(x_f)) - w_r(t) * CE(f(x_r + delta), y_r),

i.e. move the retain samples' output distribution away from the forget samples' (optimal
transport with a cosine cost) while keeping them correctly classified, and the model takes one
SGD step on CE(f(x_r + delta), y_r). Once FS drops below the threshold the model takes plain SGD
steps on CE(f(x_r), y_r) (the "dynamic stop"). The classification weight rises linearly,
w_r(t) = w_r0 + (w_r1 - w_r0) * t / (T - 1). The checkpoint with the best validation accuracy
among those whose FS is at most ``save_threshold`` is returned.

Where the release and the paper differ (and what is implemented). ``RELEASE`` below is the
release-faithful arm: one config, the same code.

* OT target. The release computes ``compute_ot_loss(dlfm_model(x_retain), forget_feature)`` on
  the *clean* retain batch, so the OT term is constant in delta and no gradient from it reaches
  the perturbation (and, because the optimiser's gradients are zeroed before the training step,
  it never reaches the weights either): the released DLFD is effectively "fine-tune on retain
  samples perturbed to lower their loss". The paper's equations put f(x_r + delta) in the OT
  term. Default here: the paper's form (``ot_target="perturbed"``); the release's is
  ``ot_target="clean"``.
* Model state during the perturbation. Building delta takes K + 1 forward passes per batch; in
  train mode each would overwrite BatchNorm's running statistics (momentum 0.1, so 16 passes
  replace ~80 % of them) with statistics of saturated, adversarial images, and dropout would
  make the K gradients noisy. The perturbation is an attack on a fixed model, so here delta is
  built with the model in eval mode and leaves every weight, buffer and gradient untouched; only
  the training step runs in train mode (``model_mode="paper"``). The release never calls
  ``model.train()``: its first batch (perturbation included) runs in train mode and, once its
  monitoring has called ``model.eval()``, every later batch runs in eval mode, training step
  included (``model_mode="release"``).
* Batch 0. w_r(0) = 0, so in the paper's form the first delta is a pure OT ascent (it only moves
  the batch away from the forget distribution). That is what the paper's schedule says and it is
  kept: the paper ramps w_r from 0 so that early perturbations distance and later ones also
  preserve the label, and with a release-sized epoch (~200 batches) batch 0 is one step in 200.
  In the release delta is exactly 0 on batch 0, only because its OT term has no gradient: the
  objective is -0 * CE there, sign(0) = 0.
* Inputs and step size. The release perturbs ImageNet-normalised inputs with alpha = 0.4 and
  clamps x + delta to [0, 1] *in normalised units* (pixels to about [mean, mean + std]: every
  perturbed image is also washed out). The paper form here perturbs pixels in [0, 1] with the same
  step in pixel units, 0.4 x 0.226 = 0.09, and clamps to valid pixels. ``input_norm="imagenet"``
  reproduces the release's units and clamp.
* Monitoring. The release monitors after every batch: validation accuracy and an MIA on all
  forget vs all validation losses. Here FS is measured after every perturbed batch (it decides
  whether the next one is perturbed) and otherwise every ``monitor_every`` batches;
  ``monitor_samples`` and ``val_samples`` monitor on samples (needed on a CPU); None means all,
  as released. An epoch whose losses turn non-finite stops there and returns its best eligible
  checkpoint (``info["diverged_at"]``), or raises if it has none.
* Batches. The release iterates unshuffled loaders and skips a retain batch whose forget partner
  is shorter; here the retain set is shuffled (seeded) and every retain batch gets a forget batch
  of exactly its size from a cycled, shuffled forget stream.
* OT solver. Log-domain Sinkhorn with epsilon = 0.01 and uniform marginals, as released, but
  through POT's torch backend (``ot.sinkhorn2(method="sinkhorn_log")``), differentiable through
  the iterations; ``ot_iters=50`` matches the release's iteration cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Subset

from .. import metrics
from ..seed import set_seed
from ..train import Diverged, count_grads, cross_entropy, get_device, predict, step, take
from .base import Report, register


@dataclass
class DLFDConfig:
    """Defaults: the paper's method with the release's MUFAC (age) settings, ``age_cls_experiments.ipynb``."""

    lr: float = 0.008  # SGD learning rate
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 5e-4  # L2 penalty through the optimiser
    batch_size: int = 32  # retain (and paired forget) batch size
    forget_weight: float = 3.0  # w_f, weight of the OT distancing term (0 = no OT term)
    retain_weight_start: float = 0.0  # w_r0, classification weight at the first batch
    retain_weight_end: float = 1.0  # w_r1, classification weight at the last batch
    perturb_steps: int = 15  # K, signed-gradient steps building delta
    perturb_step_size: float = 0.09  # alpha, in the units of input_norm (pixels: the release's 0.4 x 0.226 std)
    input_norm: str | None = None  # None: delta and its clamp in pixel units; "imagenet": in ImageNet-normalised units (release)
    fs_threshold: float = 0.15  # perturb while FS >= this (0 = never stop); every commit of the release's MUFAC notebook: 0.15
    save_threshold: float = 0.09  # a checkpoint is eligible when FS <= this
    monitor_every: int = 1  # measure accuracy and FS every this many batches (release: 1)
    monitor_samples: int | None = None  # forget / validation losses per MIA during the epoch (None = all, as released)
    val_samples: int | None = None  # validation samples for monitored accuracy (None = all, as released)
    ot_target: str = "perturbed"  # "perturbed": OT(f(x_r+delta), f(x_f)) (paper); "clean": OT(f(x_r), f(x_f)) (release)
    ot_space: str = "logits"  # "logits" (release) or "features" (penultimate layer)
    ot_reg: float = 0.01  # entropic regularisation epsilon of the Sinkhorn solver
    ot_iters: int = 50  # Sinkhorn iterations (release: 50)
    select_best: bool = True  # return the best eligible checkpoint (else the last model)
    model_mode: str = "paper"  # "paper": delta built in eval mode, training steps in train mode; "release": see docstring


# The release-faithful arm (notebook 03's ablation): the release's input units, step, clamp, model
# mode and OT form, on this code.
RELEASE = {"input_norm": "imagenet", "perturb_step_size": 0.4, "model_mode": "release", "ot_target": "clean"}

_NORMS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}  # torchvision's ImageNet mean, std


def retain_weight(t: int, total: int, start: float, end: float) -> float:
    """The release's ``linear_weight_scheduler``: w_r(t) = start + (end - start) * t / (total - 1)
    for batch t in 0..total-1 (``end`` when there is a single batch)."""
    if total < 1 or not 0 <= t < total:
        raise ValueError(f"batch index {t} outside 0..{total - 1}")
    if total == 1:
        return float(end)
    return float(start + (end - start) * t / (total - 1))


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C_ij = max(0, 1 - cos(x_i, y_j)) (the release's ``cost_matrix_cos``, eps 1e-6)."""
    cos = F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=2, eps=1e-6)
    return torch.clamp(1 - cos, min=0)


def ot_loss(x: torch.Tensor, y: torch.Tensor, reg: float = 0.01, num_iter: int = 50) -> torch.Tensor:
    """Entropic OT cost <T*, C> between the empirical distributions of the rows of ``x`` and
    ``y`` (uniform marginals, cosine cost), by log-domain Sinkhorn on POT's torch backend, so it
    is differentiable in both inputs."""
    import ot

    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"ot_loss expects (n, d) and (m, d) inputs, got {tuple(x.shape)} and {tuple(y.shape)}")
    cost = cosine_cost(x, y)
    a = torch.full((len(x),), 1.0 / len(x), dtype=cost.dtype, device=cost.device)
    b = torch.full((len(y),), 1.0 / len(y), dtype=cost.dtype, device=cost.device)
    return ot.sinkhorn2(a, b, cost, reg, method="sinkhorn_log", numItermax=num_iter, stopThr=1e-9, warn=False)


def _outputs(model, x, space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(the representation OT compares, the logits)."""
    if space == "logits":
        logits = model(x)
        return logits, logits
    if space == "features":
        z = model.features(x)
        return z, model.head(z)
    raise ValueError(f"ot_space must be 'logits' or 'features', got {space!r}")


def perturbed_input(x_r: torch.Tensor, delta: torch.Tensor, config: DLFDConfig) -> torch.Tensor:
    """x_r + delta in pixels: delta is added, and the sum clamped to [0, 1], in the units of
    ``config.input_norm`` (pixels, or ImageNet-normalised units as in the release)."""
    if config.input_norm is None:
        return (x_r + delta).clamp(0, 1)
    if config.input_norm not in _NORMS:
        raise ValueError(f"input_norm must be None (pixels) or one of {sorted(_NORMS)}, got {config.input_norm!r}")
    mean, std = (torch.tensor(v, dtype=x_r.dtype, device=x_r.device).view(1, -1, 1, 1) for v in _NORMS[config.input_norm])
    return ((x_r - mean) / std + delta).clamp(0, 1) * std + mean


def perturbation_objective(model, x_r, y_r, delta, target, w_f: float, w_r: float, config: DLFDConfig,
                           clean: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = w_f * OT(., f(x_f)) - w_r * CE(f(x_r + delta), y_r), returned with its OT and CE parts.
    ``target`` is f(x_f); the OT's first argument is f(x_r + delta) (paper) or ``clean`` = f(x_r)
    (release). Maximised over delta."""
    z, logits = _outputs(model, perturbed_input(x_r, delta, config), config.ot_space)
    ce = cross_entropy(logits, y_r)
    if w_f == 0:
        ot_term = torch.zeros((), device=ce.device)
    else:
        source = z if config.ot_target == "perturbed" else clean
        ot_term = ot_loss(source, target, config.ot_reg, config.ot_iters)
    return w_f * ot_term - w_r * ce, ot_term, ce


def perturb(model, x_r, y_r, x_f, w_r: float, config: DLFDConfig) -> torch.Tensor:
    """The perturbed retain batch x_r + delta (pixels), delta from K signed-gradient ascent steps on
    :func:`perturbation_objective`. An attack on the model as it is: gradients go to delta only
    (weights' ``.grad`` untouched) and the model's mode is the caller's (eval in the paper form, so
    no BatchNorm statistic moves)."""
    cfg = config

    def references():  # f(x_f), and f(x_r) for the release's OT form
        with torch.no_grad():
            target = _outputs(model, x_f, cfg.ot_space)[0]
            return target, (_outputs(model, x_r, cfg.ot_space)[0] if cfg.ot_target == "clean" else None)

    # In eval mode the model is fixed, so the references are computed once. The release recomputes
    # them in each of the K steps; in train mode (its batch 0) those clean passes also move the
    # BatchNorm statistics, so a train-mode perturbation repeats them as the release does.
    repeat = model.training
    target, clean = references()
    delta = torch.zeros_like(x_r, requires_grad=True)
    for k in range(cfg.perturb_steps):
        if repeat and k > 0:
            target, clean = references()
        loss, _, _ = perturbation_objective(model, x_r, y_r, delta, target, cfg.forget_weight, w_r, cfg, clean)
        (grad,) = torch.autograd.grad(loss, delta, allow_unused=True)
        count_grads(len(x_r))  # a backward pass through the network per sample, to delta
        if grad is not None:
            delta = (delta + cfg.perturb_step_size * grad.sign()).detach().requires_grad_(True)
    return perturbed_input(x_r, delta.detach(), cfg).detach()


def _forget_stream(n: int, batch: int, gen: torch.Generator):
    """Forget indices in shuffled passes, cycled forever, cut into pieces of the requested size."""
    buf = torch.empty(0, dtype=torch.long)
    while True:
        while len(buf) < batch:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        out, buf = buf[:batch], buf[batch:]
        yield out


def measure(model, forget, held_out, config: DLFDConfig, rng: np.random.Generator, seed: int) -> tuple[float, float]:
    """(validation accuracy, FS) as the release's monitoring: an MIA between up to
    ``monitor_samples`` random forget losses and as many validation losses. FS is NaN when the
    model's losses are no longer finite (the epoch has diverged)."""
    n = config.monitor_samples or max(len(forget), len(held_out))
    if config.val_samples is not None and len(held_out) > config.val_samples:
        held_out = Subset(held_out, np.sort(rng.choice(len(held_out), config.val_samples, replace=False)).tolist())
    pv = predict(model, held_out)
    fi = np.sort(rng.choice(len(forget), min(n, len(forget)), replace=False))
    pf = predict(model, Subset(forget, fi.tolist()))
    vl = pv.losses.numpy()
    if len(vl) > n:
        vl = vl[np.sort(rng.choice(len(vl), n, replace=False))]
    if not (np.isfinite(vl).all() and torch.isfinite(pf.losses).all()):
        return pv.accuracy, float("nan")
    mia = metrics.mia_score(pf.losses.numpy(), vl, seed=seed)
    return pv.accuracy, metrics.forgetting_score(mia)


@register("dlfd", DLFDConfig, data="monitor")
def dlfd(model, forget, retain, *, monitor=None, config: DLFDConfig, seed=0) -> nn.Module:
    """Forget samples' losses rise towards those of unseen samples (FS falls) while test accuracy
    is kept: the retain data are pushed away from the forget data in output space, not the forget
    data towards errors."""
    cfg = config
    if monitor is None:
        raise ValueError("DLFD monitors accuracy and the forgetting score on a held-out set: pass it as monitor=")
    if cfg.ot_target not in ("perturbed", "clean"):
        raise ValueError(f"ot_target must be 'perturbed' (paper) or 'clean' (release), got {cfg.ot_target!r}")
    if cfg.ot_space not in ("logits", "features"):
        raise ValueError(f"ot_space must be 'logits' or 'features', got {cfg.ot_space!r}")
    if cfg.model_mode not in ("paper", "release"):
        raise ValueError(f"model_mode must be 'paper' or 'release', got {cfg.model_mode!r}")
    if cfg.input_norm is not None and cfg.input_norm not in _NORMS:
        raise ValueError(f"input_norm must be None (pixels) or one of {sorted(_NORMS)}, got {cfg.input_norm!r}")
    if cfg.monitor_every < 1 or cfg.perturb_steps < 0 or cfg.batch_size < 1:
        raise ValueError("monitor_every and batch_size must be >= 1 and perturb_steps >= 0")
    gen = set_seed(seed)
    rng = np.random.default_rng(seed)
    device = get_device()
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    order = torch.randperm(len(retain), generator=gen)
    total = -(-len(retain) // cfg.batch_size)
    stream = _forget_stream(len(forget), cfg.batch_size, gen)
    fs, best_acc, best_state, best_batch = float("inf"), -1.0, None, None  # release starts FS at 3
    curve, perturbed, diverged_at = [], 0, None
    for t in range(total):
        idx = order[t * cfg.batch_size : (t + 1) * cfg.batch_size]
        x_r, y_r = (v.to(device) for v in take(retain, idx))
        x_f, _ = take(forget, next(stream)[: len(idx)])
        x_f = x_f.to(device)
        w_r = retain_weight(t, total, cfg.retain_weight_start, cfg.retain_weight_end)
        # paper: attack a fixed model (eval), train in train mode; release: train mode on batch 0 only
        train_step = cfg.model_mode == "paper" or t == 0
        perturb_now = fs >= cfg.fs_threshold
        if perturb_now:
            perturbed += 1
            model.train(cfg.model_mode == "release" and t == 0)
            x_train = perturb(model, x_r, y_r, x_f, w_r, cfg)
        else:
            x_train = x_r
        model.train(train_step)
        try:
            step(opt, cross_entropy(model(x_train), y_r), len(idx))
        except Diverged:  # the step refused a non-finite loss: the epoch stops here, weights untouched
            diverged_at = t + 1
            break
        # FS decides whether the next batch is perturbed, so it is measured after every perturbed
        # batch (as the release does after every batch); between perturbations every monitor_every
        if (perturb_now and cfg.fs_threshold > 0) or (t + 1) % cfg.monitor_every == 0 or t == total - 1:
            acc, fs = measure(model, forget, monitor, cfg, rng, seed)
            curve.append({"batch": t + 1, "val_acc": acc, "fs": fs, "perturbed": perturb_now, "w_r": w_r})
            if np.isnan(fs):
                diverged_at = t + 1
                break
            if fs <= cfg.save_threshold and acc > best_acc:
                best_acc, best_batch = acc, t + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if diverged_at is not None and best_state is None:
        raise Diverged(f"DLFD diverged at batch {diverged_at} of {total} (non-finite losses) before any "
                                 f"checkpoint reached FS <= save_threshold ({cfg.save_threshold}); lower lr or perturb_step_size")
    selected = "last"
    if best_state is not None and (cfg.select_best or diverged_at is not None):
        model.load_state_dict(best_state)
        selected = "best"
    return model, DLFDReport(diverged_at=diverged_at, curve=curve, batches=total, perturbed_batches=perturbed,
                             selected=selected, best_batch=best_batch,
                             best_val_acc=best_acc if best_state is not None else None)


@dataclass(frozen=True)
class DLFDReport(Report):
    diverged_at: int | None  # batch after which losses were non-finite (the epoch stopped there), or None
    curve: list  # the monitor's rows: batch, FS, accuracy on D_test, perturbed or not
    batches: int  # batches of the epoch
    perturbed_batches: int  # batches whose retain inputs were perturbed (FS above the threshold)
    selected: str  # the checkpoint returned: "best" (FS <= save_threshold, best accuracy) or "last"
    best_batch: int | None  # the batch of the best checkpoint
    best_val_acc: float | None  # its accuracy on D_test
