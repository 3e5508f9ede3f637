"""Influence-function unlearning of features and labels (Warnecke, Pirch, Wressnegger, Rieck, "Machine
Unlearning of Features and Labels", NDSS 2023; authors' TF 2.7 code: github.com/alewarne/MachineUnlearning,
``Unlearner/DNNUnlearner.py``, ``Unlearner/DPLRUnlearner.py``).

Affected points Z = {(x, y)} are replaced by corrected points Z~ (features zeroed or replaced, labels fixed,
or nothing at all for removal). With theta* the trained parameters and l the per-sample loss,

    G = sum_{z~ in Z~} grad l(z~; theta*) - sum_{z in Z} grad l(z; theta*)

    first order   theta_new = theta* - tau G                         (tau: the "unlearning rate")
    second order  theta_new = theta* - tau H^{-1} G                  (tau = 1 in the paper's derivation)

where H is the Hessian of the training objective sum_{D~} l + (l2 / 2)||theta||^2 on the corrected data D~.
Losses are SUMS over samples, as in the authors' code (Keras' ``categorical_crossentropy`` returns one loss per
sample and ``GradientTape.gradient`` of that vector sums them), so G and H are on the same scale and tau = 1
is exactly Newton's step. The authors' values on that scale (CIFAR-10 poisoning, ``configs/unlearn.json``):
first-order tau = 2e-5; second order tau = 1 with LiSSA scale 2e5, damping 1e-4, HVP batch 1,024, early-stop
patience 20 and at most 100 passes over the data (``iterations=-1``).

**Which parameters** (``params``). The authors differentiate and update only the dense head of their CNN
(``model.trainable_weights[-6:]``: Dense 512, BatchNorm, Dense 10). ``params="head"`` does the same for any
model with ``features(x)`` and ``head`` (every :class:`unlearn.models.Classifier`; ``"auto"``, the adapters'
default, picks it for those and ``"all"`` for anything else, e.g. the character LSTM): the
features of Z, Z~ and D~ are computed once in eval mode, and G, H and the update live in the head's parameters
only. That makes the head's Hessian small enough for an exact or CG solve. ``params="all"`` updates every
trainable parameter; a whole network's Hessian is indefinite away from a minimum, so CG may meet negative
curvature at once and LiSSA needs many passes.

H^{-1} G for networks comes from Hessian-vector products (double backward) by
- conjugate gradients (:func:`cg_solve`) on (H + damping I), stopped on a relative residual or non-positive
  curvature (H of a network need not be positive definite), or
- LiSSA (Agarwal et al. 2017; the authors' ``get_inv_hvp_lissa``, :func:`lissa_solve`): the recursion
  u_{j+1} = G + (1 - damping) u_j - H_j u_j / scale over mini-batch Hessian estimates H_j, returned as u/scale;
  it converges to (H + scale * damping I)^{-1} G when scale exceeds H's largest eigenvalue. Depth and early
  stop as in the authors' code: at most 100 passes over the data; stop when the update norm
  ||u_{j+1} - u_j||_1 has not improved for ``patience`` steps, or on a non-finite value (reported as diverged).

Step sizes are not universal: :func:`tune` picks tau (first order) or the damping (second order) from a grid by
accuracy on a validation split, and reports what the search cost separately from the update.

Models are evaluated in eval mode (BatchNorm running statistics, no dropout) as the authors' ``model(x)`` is.

Function API (takes the model plus Z and Z~; each returns a new model, the input is never changed):

    first_order(model, z, z_tilde, tau, params="all" | "head")
    second_order(model, z, z_tilde, hessian_data, l2=..., solver="cg" | "lissa" | "exact", params=...)
    iterative(model, z, z_tilde, steps, order, ...)     # the update in k steps over parts of Z
    repair(model, corrected, steps=10, max_points=1024, order=...)   # the authors' label-repair loop
    tune(lambda v: <update with v>, grid, val)                        # tau / damping chosen on validation

``z``/``z_tilde``/``hessian_data`` are (x, y) tensor pairs or datasets; ``z`` and ``z_tilde`` need not have
the same length (removal: ``z_tilde=None``). ``loss_fn(model, x, y)`` returns the SUMMED loss of a batch
(default: summed cross-entropy; for a sequence model a sample's loss is its mean over positions).

Registry adapters (``unlearn.methods.get("influence_first_order")`` / ``"influence_second_order"``) fit the
shared call shape: ``forget`` = Z (the affected points as they are in the training set), ``corrected`` = Z~ (the
corrected points, any length; None means the points are removed), ``retain`` = the unaffected rest; the
Hessian is taken on D~ = retain + Z~. ``select="misclassified"`` with ``steps=10`` is the authors' repair loop
over D~ (their stored CIFAR-10 configuration).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset

from ...train import batches, count_grads, cross_entropy, get_device
from ..base import Report, Unlearned, register
from .solvers import SolveInfo, Solver, as_solver, cg_solve, largest_eigenvalue, lissa_solve

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# --- parameter vectors ----------------------------------------------------------------------------------
def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def flatten(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def get_vector(model: nn.Module) -> torch.Tensor:
    return flatten([p.detach() for p in trainable(model)]).clone()


def set_vector(model: nn.Module, vec: torch.Tensor) -> nn.Module:
    """Write a flat vector into the model's trainable parameters (in place)."""
    params = trainable(model)
    n = sum(p.numel() for p in params)
    if vec.numel() != n:
        raise ValueError(f"vector has {vec.numel()} entries, the model {n} trainable parameters")
    with torch.no_grad():
        i = 0
        for p in params:
            p.copy_(vec[i : i + p.numel()].view_as(p).to(p.dtype))
            i += p.numel()
    return model


def summed_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of per-sample cross-entropy (sequence outputs: mean over positions per sample)."""
    return cross_entropy(model(x), y, reduction="none").sum()


def summed_position_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum of the cross-entropy of every predicted position (a sequence of T positions counts T times): the
    authors' scale for their character model, where each sample predicts one character and losses are summed.
    Equals :func:`summed_cross_entropy` for a classifier."""
    logits = model(x)
    if logits.dim() == 3:
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
    return cross_entropy(logits, y, reduction="none").sum()


# config value of ``loss`` -> the summed loss G and H are taken of
LOSSES = {"sample": summed_cross_entropy, "position": summed_position_cross_entropy}


# --- data ----------------------------------------------------------------------------------------------
def _length(data) -> int:
    if data is None:
        return 0
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        return len(data[1])
    return len(data)


def _batches(data, batch_size: int, shuffle: bool = False, generator=None):
    """(x, y) batches from an (x, y) pair of tensors or any dataset (ConcatDataset included)."""
    if _length(data) == 0:
        return
    if isinstance(data, (tuple, list)) and len(data) == 2 and torch.is_tensor(data[0]):
        x, y = data
        idx = torch.randperm(len(y), generator=generator) if shuffle else torch.arange(len(y))
        for s in range(0, len(y), batch_size):
            j = idx[s : s + batch_size]
            yield x[j], y[j]
        return
    yield from batches(data, batch_size, shuffle=shuffle, generator=generator)


def _sample_batch(data, batch_size: int, generator: torch.Generator):
    """One random mini-batch (without replacement within the batch)."""
    n = _length(data)
    j = torch.randperm(n, generator=generator)[: min(batch_size, n)]
    if isinstance(data, (tuple, list)) and torch.is_tensor(data[0]):
        return data[0][j], data[1][j]
    return next(iter(batches(Subset(data, j.tolist()), len(j))))


# --- gradients and Hessian-vector products --------------------------------------------------------------
def total_gradient(model: nn.Module, data, loss_fn: LossFn = summed_cross_entropy, batch_size: int = 256) -> torch.Tensor:
    """sum over ``data`` of grad l(z; theta), as one flat vector (zeros for empty data)."""
    params = trainable(model)
    device = next(model.parameters()).device
    g = torch.zeros(sum(p.numel() for p in params), dtype=params[0].dtype, device=device)
    for x, y in _batches(data, batch_size):
        loss = loss_fn(model, x.to(device), y.to(device))
        g += flatten(torch.autograd.grad(loss, params))
        count_grads(len(y))
    return g


def gradient_difference(model: nn.Module, z, z_tilde, loss_fn: LossFn = summed_cross_entropy, batch_size: int = 256) -> torch.Tensor:
    """G = sum grad l(z~) - sum grad l(z) at the model's current parameters."""
    if _length(z) == 0 and _length(z_tilde) == 0:
        raise ValueError("Z and Z~ are both empty: there is nothing to unlearn")
    was = model.training
    model.eval()
    try:
        return total_gradient(model, z_tilde, loss_fn, batch_size) - total_gradient(model, z, loss_fn, batch_size)
    finally:
        model.train(was)


def batch_hvp(model: nn.Module, x, y, v: torch.Tensor, loss_fn: LossFn = summed_cross_entropy) -> torch.Tensor:
    """(Hessian of the summed loss of one batch) @ v, by double backward."""
    params = trainable(model)
    loss = loss_fn(model, x, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = (flatten(grads) * v).sum()
    hv = torch.autograd.grad(dot, params, allow_unused=True)
    count_grads(2 * len(y))  # a double backward costs about two gradient evaluations per sample
    return flatten([h if h is not None else torch.zeros_like(p) for h, p in zip(hv, params)]).detach()


def hvp(model: nn.Module, data, v: torch.Tensor, l2: float = 0.0, loss_fn: LossFn = summed_cross_entropy,
        batch_size: int = 256) -> torch.Tensor:
    """H v with H the Hessian of sum_{data} l + (l2/2)||theta||^2 at the current parameters (eval mode)."""
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = l2 * v
    try:
        for x, y in _batches(data, batch_size):
            out = out + batch_hvp(model, x.to(device), y.to(device), v, loss_fn)
    finally:
        model.train(was)
    return out


def dense_hessian(model: nn.Module, data, l2: float = 0.0, loss_fn: LossFn = summed_cross_entropy,
                  batch_size: int = 1024, max_params: int = 5000) -> torch.Tensor:
    """The full Hessian, one column per Hessian-vector product (small models only)."""
    n = get_vector(model).numel()
    if n > max_params:
        raise ValueError(f"a dense Hessian of {n} parameters is too large (max_params={max_params}); use solver='cg' or 'lissa'")
    eye = torch.eye(n, dtype=get_vector(model).dtype)
    return torch.stack([hvp(model, data, eye[i], l2, loss_fn, batch_size) for i in range(n)], 1)


# --- inverse Hessian-vector products: see solvers.py (conjugate gradients, LiSSA, power iteration) ---------------


# --- which parameters: the whole network or its head on fixed features -------------------------------------
PARAMS = ("auto", "all", "head")  # auto: "head" for models with features(x) and a head, else "all"


def head_view(model: nn.Module) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """(head module, feature function) of a model with ``features(x)`` and ``head``, such that
    ``model(x) == head(features(x))``."""
    head, feats = getattr(model, "head", None), getattr(model, "features", None)
    if not isinstance(head, nn.Module) or not callable(feats):
        raise ValueError(f"params='head' needs a model with features(x) and a head module (any unlearn.models "
                         f"classifier); {type(model).__name__} has none: use params='all'")
    return head, feats


def _features(feats, data, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(features, labels) of ``data`` computed once, without gradients."""
    if _length(data) == 0:
        return None
    fs, ys = [], []
    with torch.no_grad():
        for x, y in _batches(data, batch_size):
            fs.append(feats(x.to(device)))
            ys.append(y.to(device))
    return torch.cat(fs), torch.cat(ys)


@dataclass
class Scoped:
    """A copy of the model and the data as the parameters in scope see them: in head mode ``module`` is the
    copy's head and every data set is (features, labels); in all mode ``module`` is the copy itself."""

    model: nn.Module  # the new model (its head is ``module`` in head mode)
    module: nn.Module  # whose trainable parameters are updated
    params: str

    def data(self, data, batch_size: int = 1024) -> object:
        if self.params == "all" or data is None:
            return data
        _, feats = head_view(self.model)
        return _features(feats, data, batch_size, next(self.model.parameters()).device)


def scope(model: nn.Module, params: str = "all") -> Scoped:
    """A deep copy of ``model`` in eval mode, with the parameters that ``params`` puts in scope."""
    if params not in PARAMS:
        raise ValueError(f"params must be one of {PARAMS}, got {params!r}")
    if params == "auto":
        has_head = isinstance(getattr(model, "head", None), nn.Module) and callable(getattr(model, "features", None))
        params = "head" if has_head and model.head is not model else "all"
    new = copy.deepcopy(model).to(get_device()).eval()
    module = head_view(new)[0] if params == "head" else new
    if not trainable(module):
        raise ValueError(f"params={params!r} leaves no trainable parameter in scope")
    return Scoped(new, module, params)


# --- the updates ---------------------------------------------------------------------------------------
def first_order(model: nn.Module, z, z_tilde, tau: float, *, params: str = "all", loss_fn: LossFn = summed_cross_entropy,
                batch_size: int = 256) -> tuple[nn.Module, FirstOrderReport]:
    """theta* - tau G, exactly one scaled gradient step on the change of the loss: (a new model, its report)."""
    sc = scope(model, params)
    g = gradient_difference(sc.module, sc.data(z), sc.data(z_tilde), loss_fn, batch_size)
    set_vector(sc.module, get_vector(sc.module) - tau * g)
    return sc.model, FirstOrderReport(G_norm=float(g.norm()), tau=tau, params=sc.params, n_z=_length(z),
                                      n_z_tilde=_length(z_tilde))


def inverse_hvp(model: nn.Module, g: torch.Tensor, hessian_data, solver: str | Solver = "cg", *, l2: float = 0.0,
                loss_fn: LossFn = summed_cross_entropy, batch_size: int = 256, seed: int = 0) -> tuple[torch.Tensor, SolveInfo]:
    """H^{-1} g for the objective sum_{hessian_data} l + (l2/2)||theta||^2 by ``solver`` (a :class:`Solver`, or
    its method's name with the default options): ``exact`` (dense Hessian, Cholesky / LU solve), ``cg`` or
    ``lissa`` (see module docstring)."""
    sv = as_solver(solver)
    n_data = _length(hessian_data)
    if n_data == 0:
        raise ValueError("the Hessian needs data (the corrected training set)")
    if sv.method == "exact":
        eye = torch.eye(g.numel(), dtype=g.dtype, device=g.device)
        h = dense_hessian(model, hessian_data, l2, loss_fn, max(batch_size, 1024)) + sv.damping * eye
        try:
            s = torch.cholesky_solve(g[:, None], torch.linalg.cholesky(h))[:, 0]
        except torch.linalg.LinAlgError:  # not positive definite (a network away from a minimum): plain solve
            s = torch.linalg.solve(h, g)
        return s, SolveInfo(1, True, residual=float((h @ s - g).norm() / g.norm().clamp_min(1e-300)))
    if sv.method == "cg":
        return cg_solve(lambda v: hvp(model, hessian_data, v, l2, loss_fn, batch_size), g, sv.damping, sv.cg_tol,
                        sv.cg_iters)
    gen = torch.Generator().manual_seed(seed)  # lissa
    device = g.device

    def batch_matvec(v):  # the full (summed) Hessian estimated from one batch, or that batch's own (lissa_rescale)
        x, y = _sample_batch(hessian_data, sv.lissa_batch_size, gen)
        model.eval()
        factor = n_data / len(y) if sv.lissa_rescale else 1.0
        return factor * batch_hvp(model, x.to(device), y.to(device), v, loss_fn) + (l2 + sv.damping) * v

    scale = sv.lissa_scale
    if scale is None:
        scale = 1.5 * largest_eigenvalue(batch_matvec, g.numel(), iters=10, seed=seed, dtype=g.dtype, device=device)
    depth = sv.lissa_depth if sv.lissa_depth is not None else 100 * max(1, -(-n_data // sv.lissa_batch_size))
    s, info = lissa_solve(batch_matvec, g, scale, sv.lissa_damping, depth, sv.lissa_patience)
    info.scale = scale
    return s, info


def second_order(model: nn.Module, z, z_tilde, hessian_data, *, l2: float = 0.0, tau: float = 1.0,
                 solver: str | Solver = "cg", params: str = "all", loss_fn: LossFn = summed_cross_entropy,
                 batch_size: int = 256, seed: int = 0, **solver_kw) -> tuple[nn.Module, SecondOrderReport]:
    """theta* - tau H^{-1} G with H on ``hessian_data`` (the corrected training set D~) plus (l2/2)||theta||^2:
    (a new model, its report). ``solver``: a :class:`Solver` or a method name; ``solver_kw`` set its options
    (damping, cg_tol, cg_iters, lissa_*). If LiSSA diverges, or CG meets non-positive curvature before its first
    step, the model is returned unchanged and the report's ``diverged`` is True (the authors skip diverged
    updates)."""
    sc = scope(model, params)
    g = gradient_difference(sc.module, sc.data(z), sc.data(z_tilde), loss_fn, batch_size)
    return _newton(sc, g, sc.data(hessian_data), as_solver(solver, **solver_kw), l2=l2, tau=tau, loss_fn=loss_fn,
                   batch_size=batch_size, seed=seed, n_z=_length(z), n_z_tilde=_length(z_tilde))


def _newton(sc: Scoped, g, hdata, solver: Solver, *, l2, tau, loss_fn, batch_size, seed, n_z,
            n_z_tilde) -> tuple[nn.Module, SecondOrderReport]:
    s, info = inverse_hvp(sc.module, g, hdata, solver, l2=l2, loss_fn=loss_fn, batch_size=batch_size, seed=seed)
    if not info.diverged:
        set_vector(sc.module, get_vector(sc.module) - tau * s)
    return sc.model, SecondOrderReport(
        G_norm=float(g.norm()), step_norm=float(s.norm()) if not info.diverged else float("nan"), solver=solver.method,
        iterations=info.iterations, converged=info.converged, residual=info.residual, scale=info.scale,
        diverged=info.diverged, negative_curvature=info.negative_curvature, stopped_early=info.stopped_early,
        params=sc.params, n_z=n_z, n_z_tilde=n_z_tilde)


def _part(data, idx: np.ndarray):
    if isinstance(data, (tuple, list)) and torch.is_tensor(data[0]):
        j = torch.as_tensor(idx, dtype=torch.long)
        return data[0][j], data[1][j]
    return Subset(data, idx.tolist())


def iterative(model: nn.Module, z, z_tilde, steps: int, order: int = 2, *, tau: float = 1.0, hessian_data=None,
              **kw) -> tuple[nn.Module, RoundsReport]:
    """The update applied in ``steps`` rounds over consecutive parts of Z: each round recomputes G for its part
    at the current parameters. Z and Z~ must be aligned (same length, row i corrected into row i). For the
    second order the Hessian is taken on ``hessian_data`` (the fully corrected data) in every round. For label
    repair the authors choose each round's points differently: see :func:`repair`."""
    n = _length(z)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if z_tilde is not None and _length(z_tilde) != n:
        raise ValueError(f"iterative updates need aligned Z and Z~; got {n} and {_length(z_tilde)} points")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    cur = model
    infos = []
    for part in np.array_split(np.arange(n), min(steps, n)):
        zp, ztp = _part(z, part), (_part(z_tilde, part) if z_tilde is not None else None)
        if order == 1:
            cur, info = first_order(cur, zp, ztp, tau, **kw)
        else:
            cur, info = second_order(cur, zp, ztp, hessian_data, tau=tau, **kw)
        infos.append(info)
    return cur, RoundsReport(steps=len(infos), order=order, params=infos[0].params, rounds=infos,
                             diverged=any(getattr(i, "diverged", False) for i in infos))


def repair(model: nn.Module, corrected, *, steps: int = 10, max_points: int = 1024, order: int = 2, tau: float = 1.0,
           params: str = "all", l2: float = 0.0, solver: str | Solver = "cg", loss_fn: LossFn = summed_cross_entropy,
           batch_size: int = 256, seed: int = 0, **solver_kw) -> tuple[nn.Module, RoundsReport]:
    """The authors' label-repair loop (``iter_approx_retraining`` with ``get_delta_idx``): in each of ``steps``
    rounds, draw at most ``max_points`` points of the corrected training set that the current model
    misclassifies; Z is those points with the model's *predicted* labels, Z~ the same points with their corrected
    labels; apply the first- or second-order update (second order: H on the whole corrected set). Stops early
    when nothing is misclassified or an update diverges. Misclassified points need not be poisoned ones:
    the loop repairs whatever the model gets wrong on D~, as the authors' does."""
    if steps < 1 or max_points < 1:
        raise ValueError(f"steps and max_points must be at least 1, got {steps} and {max_points}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    solver = as_solver(solver, **solver_kw)
    sc = scope(model, params)
    data = sc.data(corrected)  # head mode: features once, every round reuses them
    if not (isinstance(data, (tuple, list)) and torch.is_tensor(data[0])):
        data = next(iter(batches(data, len(data))))
    x, y = data
    gen = np.random.default_rng(seed)
    infos = []
    for _ in range(steps):
        with torch.no_grad():
            pred = torch.cat([sc.module(x[i : i + 1024]).argmax(-1) for i in range(0, len(y), 1024)])
        wrong = torch.nonzero(pred != y).flatten().cpu().numpy()
        if len(wrong) == 0:
            break
        idx = torch.as_tensor(np.sort(gen.choice(wrong, min(max_points, len(wrong)), replace=False)))
        z, zt = (x[idx], pred[idx]), (x[idx], y[idx])
        g = gradient_difference(sc.module, z, zt, loss_fn, batch_size)
        if order == 1:
            set_vector(sc.module, get_vector(sc.module) - tau * g)
            infos.append(FirstOrderReport(G_norm=float(g.norm()), tau=tau, params=sc.params, n_z=len(idx),
                                          n_z_tilde=len(idx)))
        else:
            infos.append(_newton(sc, g, (x, y), solver, l2=l2, tau=tau, loss_fn=loss_fn, batch_size=batch_size,
                                 seed=seed, n_z=len(idx), n_z_tilde=len(idx))[1])
            if infos[-1].diverged:
                break
    return sc.model, RoundsReport(steps=len(infos), order=order, params=sc.params, rounds=infos,
                                  diverged=bool(infos and getattr(infos[-1], "diverged", False)))


# --- what an update reports -------------------------------------------------------------------------------
@dataclass(frozen=True)
class FirstOrderReport(Report):
    G_norm: float  # norm of G, the change of the summed loss's gradient from Z to Z~
    tau: float  # the step: theta - tau G
    params: str  # the parameters updated: "head" or "all"
    n_z: int  # |Z|
    n_z_tilde: int  # |Z~| (0: removal)


@dataclass(frozen=True)
class SecondOrderReport(Report):
    G_norm: float  # norm of G
    step_norm: float  # norm of H^-1 G (NaN when the solve diverged and no step was taken)
    solver: str  # "cg", "lissa" or "exact"
    iterations: int  # solver iterations
    converged: bool  # the solver met its tolerance
    residual: float  # its last relative residual
    scale: float | None  # LiSSA's scale
    diverged: bool  # the solve diverged (the model is returned unchanged)
    negative_curvature: bool  # CG met non-positive curvature
    stopped_early: bool  # LiSSA's patience stopped it
    params: str
    n_z: int
    n_z_tilde: int


@dataclass(frozen=True)
class RoundsReport(Report):
    steps: int  # rounds run
    order: int  # 1 or 2
    params: str
    rounds: list  # each round's FirstOrderReport or SecondOrderReport
    diverged: bool  # a round's solve diverged (the loop stopped there)


def _model_and_report(out) -> tuple[nn.Module, Report | None]:
    """(model, report) of an update's result: a registered method's Unlearned, an update's (model, report), or a
    bare model."""
    if isinstance(out, Unlearned):
        return out.model, out.record.info
    if isinstance(out, tuple):
        return out
    return out, None


# --- choosing tau / damping on a validation split --------------------------------------------------------
@dataclass
class Tuned:
    """The value a grid search chose, the validation accuracy of every grid point, and what the search cost."""

    value: float
    table: list  # [{"value": v, "val_acc": a, "diverged": bool}, ...]
    seconds: float
    grad_evals: int


def tune(update: Callable[[float], nn.Module], grid, val, batch_size: int = 1024,
         score: Callable[[nn.Module], float] | None = None, cautious: str | None = None) -> Tuned:
    """Choose a step size from ``grid`` by accuracy on ``val`` (held out from training and test): ``update(v)``
    returns the unlearned model for value v (an update's ``(model, report)`` or a method's ``Unlearned``) (e.g. ``lambda t: first_order(model, z, zt, t, params="head")`` or
    a damping for :func:`second_order` / :func:`repair`). Ties go to the smaller value; an update that diverged
    or met negative curvature is never chosen while another is left. ``score(model)`` (higher is better)
    replaces validation accuracy as the criterion when given (removal requests: e.g. how close the forget
    accuracy comes to the validation accuracy). ``seconds`` and ``grad_evals`` are the search's whole cost,
    to be reported apart from the update's own.

    ``cautious`` ("smaller" for a step size, "larger" for a damping) applies the one-standard-error rule (Hastie,
    Tibshirani & Friedman, ESL 7.10): of the values whose validation accuracy is within one standard error
    (sqrt(p(1 - p) / n) at the best accuracy p, n validation samples) of the best, the most cautious is chosen.
    Without it the arg-max decides on a handful of validation images: at the cpu profile of notebook 02 two step
    sizes 3 images apart (of 1,000) swapped places between two CPUs, and the larger one overshot on test."""
    import time

    from ...train import counting, predict

    grid = sorted(float(v) for v in grid)
    if not grid:
        raise ValueError("the grid is empty")
    if _length(val) == 0:
        raise ValueError("tune needs a validation set held out from training and test")
    if isinstance(val, (tuple, list)) and torch.is_tensor(val[0]):
        from ...data import ArrayDataset

        val = ArrayDataset(*val)
    start = time.perf_counter()
    table = []
    with counting() as c:
        for v in grid:
            m, info = _model_and_report(update(v))
            bad = bool(getattr(info, "diverged", False) or getattr(info, "negative_curvature", False))
            acc = predict(m, val, batch_size).accuracy
            table.append({"value": v, "val_acc": acc, "score": acc if score is None else float(score(m)), "diverged": bad})
    ok = [r for r in table if not r["diverged"]] or table
    best = max(ok, key=lambda r: (r["score"], -r["value"]))
    if cautious is not None:
        if cautious not in ("smaller", "larger"):
            raise ValueError(f"cautious must be 'smaller', 'larger' or None, got {cautious!r}")
        if score is not None:
            raise ValueError("cautious uses the standard error of an accuracy; it cannot be combined with score=")
        se = (best["val_acc"] * (1 - best["val_acc"]) / _length(val)) ** 0.5
        near = [r for r in ok if r["val_acc"] >= best["val_acc"] - se]
        best = min(near, key=lambda r: r["value"]) if cautious == "smaller" else max(near, key=lambda r: r["value"])
    return Tuned(best["value"], table, time.perf_counter() - start, c.value)


# --- registry adapters ---------------------------------------------------------------------------------
def _hessian_set(retain, z_tilde) -> Dataset:
    if z_tilde is None or len(z_tilde) == 0:
        return retain
    return ConcatDataset([retain, z_tilde])


@dataclass
class InfluenceFirstOrderConfig:
    """Warnecke et al. 2023, first-order update theta - tau G (summed losses). tau has no universal value:
    the authors use 2e-5 for their CIFAR-10 CNN's head; choose it on validation with :func:`tune`."""

    tau: float = 2e-5  # unlearning rate: theta_new = theta - tau * G (G from summed per-sample losses)
    loss: str = "sample"  # G's loss: "sample" (a sequence's mean over positions) or "position" (every position summed)
    params: str = "auto"  # "head": the head on fixed features (the authors' choice); "all": every parameter; "auto": head if the model has one
    steps: int = 1  # > 1: the update in that many rounds (see ``select``)
    select: str = "parts"  # rounds over "parts" of Z, or over points the model "misclassifies" (the authors' repair loop)
    max_points: int = 1024  # select="misclassified": points per round
    batch_size: int = 256  # samples per gradient batch (does not change the result)


@dataclass
class InfluenceSecondOrderConfig:
    """Warnecke et al. 2023, second-order update theta - tau H^{-1} G (summed losses, tau = 1 is Newton's step).
    LiSSA defaults are the authors' CIFAR-10 config (HVP batch 1,024, damping 1e-4, patience 20, up to 100
    passes); its scale is found by power iteration unless given (the authors hand-set 2e5). In head mode the
    Hessian is small and ``cg`` or ``exact`` solves it; choose the damping on validation with :func:`tune`."""

    tau: float = 1.0  # step multiplier (1 = Newton step on the corrected objective)
    loss: str = "sample"  # G's and H's loss: "sample" (a sequence's mean over positions) or "position" (all summed)
    params: str = "auto"  # "head" (the authors' choice), "all", or "auto" (head if the model has one)
    solver: str = "cg"  # "cg", "lissa" or "exact" (dense Hessian, a few thousand parameters at most)
    l2: float = 0.0  # L2 term (l2/2)||theta||^2 added to the summed loss in H (e.g. N * weight_decay)
    damping: float = 0.0  # extra damping * I for "cg" / "exact"
    cg_tol: float = 1e-6  # CG relative residual
    cg_iters: int = 200  # CG iteration cap (each is one full HVP over D~)
    lissa_scale: float | None = None  # None: 1.5 x largest eigenvalue estimate
    lissa_damping: float = 1e-4  # LiSSA damping (authors' CIFAR config)
    lissa_depth: int | None = None  # recursion steps (None: 100 passes over D~, the authors' default)
    lissa_batch_size: int = 1024  # HVP batch (authors' CIFAR config)
    lissa_patience: int = 20  # early stop patience (authors' CIFAR config; their code's default, used for the canary: 5)
    lissa_rescale: bool = True  # scale each batch HVP by n / b; False: the raw batch sum, as the authors' code
    steps: int = 1  # > 1: the update in that many rounds (see ``select``)
    select: str = "parts"  # "parts" of Z, or points the model "misclassifies" (the authors' repair loop)
    max_points: int = 1024  # select="misclassified": points per round
    batch_size: int = 256  # samples per gradient / HVP batch


_SELECT = ("parts", "misclassified")
_SOLVER_OPTIONS = [f.name for f in dataclasses.fields(Solver) if f.name != "method"]  # the config's flat solver fields


def _check_select(config) -> None:
    if config.select not in _SELECT:
        raise ValueError(f"select must be one of {_SELECT}, got {config.select!r}")
    if config.params not in PARAMS:
        raise ValueError(f"params must be one of {PARAMS}, got {config.params!r}")
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {config.loss!r}")


@register("influence_first_order", InfluenceFirstOrderConfig, data="corrected")
def influence_first_order(model, forget, retain, *, corrected=None, config: InfluenceFirstOrderConfig, seed=0) -> nn.Module:
    """forget = Z, corrected = Z~ (None: removal), retain = the unaffected rest. theta - tau G. With
    select="misclassified" the rounds run over retain + Z~ (the corrected training set), as the authors' repair."""
    _check_select(config)
    kw = dict(params=config.params, batch_size=config.batch_size, loss_fn=LOSSES[config.loss])
    if config.select == "misclassified":
        return repair(model, _hessian_set(retain, corrected), steps=config.steps, max_points=config.max_points, order=1,
                      tau=config.tau, seed=seed, **kw)
    if config.steps > 1:
        return iterative(model, forget, corrected, config.steps, 1, tau=config.tau, **kw)
    return first_order(model, forget, corrected, config.tau, **kw)


@register("influence_second_order", InfluenceSecondOrderConfig, data="corrected")
def influence_second_order(model, forget, retain, *, corrected=None, config: InfluenceSecondOrderConfig, seed=0) -> nn.Module:
    """forget = Z, corrected = Z~ (None: removal), Hessian on retain + Z~. theta - tau H^{-1} G."""
    _check_select(config)
    solver = Solver(config.solver, **{f: getattr(config, f) for f in _SOLVER_OPTIONS})
    kw = dict(l2=config.l2, solver=solver, params=config.params, batch_size=config.batch_size, seed=seed,
              loss_fn=LOSSES[config.loss])
    hdata = _hessian_set(retain, corrected)
    if config.select == "misclassified":
        return repair(model, hdata, steps=config.steps, max_points=config.max_points, order=2, tau=config.tau, **kw)
    if config.steps > 1:
        return iterative(model, forget, corrected, config.steps, 2, tau=config.tau, hessian_data=hdata, **kw)
    return second_order(model, forget, corrected, hdata, tau=config.tau, **kw)
