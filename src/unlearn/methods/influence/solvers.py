"""Solvers for H s = g where H is only available through Hessian-vector products: conjugate gradients (exact
products; also the certified linear case's Newton steps), LiSSA (the authors' stochastic recursion on mini-batch
products) and power iteration (LiSSA's scale). One module for both influence updates and ``certified``."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import torch

SOLVERS = ("cg", "lissa", "exact")


@dataclass(frozen=True)
class Solver:
    """How an inverse Hessian-vector product is solved: the method and its options, one object instead of a
    dozen keywords. The option names are those of :class:`InfluenceSecondOrderConfig`, so
    ``Solver("lissa", lissa_scale=2e5)`` and ``second_order(..., solver="lissa", lissa_scale=2e5)`` agree."""

    method: str = "cg"  # "cg", "lissa" or "exact" (dense Hessian; small models only)
    damping: float = 0.0  # extra damping * I for "cg" and "exact"
    cg_tol: float = 1e-8  # CG: relative residual to stop at
    cg_iters: int = 100  # CG: iteration cap (each one full HVP over the data)
    lissa_scale: float | None = None  # LiSSA: None = 1.5 x the largest eigenvalue from 10 power iterations
    lissa_damping: float = 0.0  # LiSSA: the recursion's damping
    lissa_depth: int | None = None  # LiSSA: recursion steps (None: 100 passes over the data, the authors' default)
    lissa_batch_size: int = 256  # LiSSA: samples per mini-batch HVP
    lissa_patience: int = 20  # LiSSA: early stop after this many steps without a smaller update
    # LiSSA: True scales each batch's HVP by n / b (an unbiased estimate of the whole data's Hessian); False uses
    # the raw batch-sum Hessian, as the authors' ``hvp`` does (the recursion then inverts scale * damping * I plus
    # the Hessian of one batch, not of the data set)
    lissa_rescale: bool = True

    def __post_init__(self) -> None:
        if self.method not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.method!r}")


def as_solver(solver: str | Solver = "cg", **options) -> Solver:
    """A :class:`Solver` from a name and options, or a given Solver with ``options`` replacing its own. An
    unknown option is a ValueError that lists the valid ones."""
    valid = {f.name for f in dataclasses.fields(Solver)} - {"method"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ValueError(f"unknown solver option(s) {unknown}; valid: {sorted(valid)}")
    if isinstance(solver, Solver):
        return dataclasses.replace(solver, **options)
    return Solver(solver, **options)


@dataclass
class SolveInfo:
    """How an inverse-HVP solver ended."""

    iterations: int
    converged: bool  # CG: relative residual reached; LiSSA: finished without diverging
    diverged: bool = False  # LiSSA: a non-finite estimate (the update is not applied)
    residual: float = float("nan")  # CG: final relative residual ||g - A s|| / ||g||
    stopped_early: bool = False  # LiSSA: the update norm stopped improving
    scale: float = float("nan")  # LiSSA: the scale used (given, or from power iteration)
    negative_curvature: bool = False  # CG: stopped at a direction of non-positive curvature


def cg_solve(matvec: Callable[[torch.Tensor], torch.Tensor], g: torch.Tensor, damping: float = 0.0,
             tol: float = 1e-8, max_iter: int = 100) -> tuple[torch.Tensor, SolveInfo]:
    """Conjugate gradients for (A + damping I) s = g. Stops on ||r|| <= tol ||g|| or, for an indefinite A,
    at the first direction of non-positive curvature (returning the iterate so far)."""
    s = torch.zeros_like(g)
    r = g.clone()
    p = r.clone()
    rr = r @ r
    gn = float(g.norm())
    if gn == 0:
        return s, SolveInfo(0, True, residual=0.0)
    for it in range(1, max_iter + 1):
        ap = matvec(p) + damping * p
        curv = p @ ap
        if float(curv) <= 0:
            return s, SolveInfo(it, False, residual=float(r.norm()) / gn, negative_curvature=True)
        alpha = rr / curv
        s = s + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        rel = math.sqrt(float(rr_new)) / gn
        if rel <= tol:
            return s, SolveInfo(it, True, residual=rel)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return s, SolveInfo(max_iter, False, residual=math.sqrt(float(rr)) / gn)


def lissa_solve(batch_matvec: Callable[[torch.Tensor], torch.Tensor], g: torch.Tensor, scale: float, damping: float = 0.0,
                depth: int = 100, patience: int = 20, early_stop: bool = True) -> tuple[torch.Tensor, SolveInfo]:
    """LiSSA as in the authors' ``get_inv_hvp_lissa``: u_0 = g, u_{j+1} = g + (1 - damping) u_j - H_j u_j / scale,
    result u / scale (-> (H + scale * damping I)^{-1} g). ``batch_matvec(v)`` returns an unbiased mini-batch
    estimate of H v (a fresh batch each call). ``depth``: recursion steps. Early stop when the L1 norm of the
    update has not improved on its best for ``patience`` steps."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    u = g.clone()
    best, since = math.inf, 0
    for j in range(1, depth + 1):
        new = g + (1 - damping) * u - batch_matvec(u) / scale
        if not torch.isfinite(new).all():
            return new / scale, SolveInfo(j, False, diverged=True)
        upd = float((new - u).abs().sum())
        u = new
        if upd < best:
            best, since = upd, 0
        else:
            since += 1
        if early_stop and since >= patience:
            return u / scale, SolveInfo(j, True, stopped_early=True)
    return u / scale, SolveInfo(depth, True)


def largest_eigenvalue(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, iters: int = 20, seed: int = 0,
                       dtype=torch.float32, device=None) -> float:
    """Power iteration for the largest-magnitude eigenvalue of a symmetric operator (to set LiSSA's scale)."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, generator=gen, dtype=dtype).to(device or "cpu")
    v /= v.norm()
    lam = 0.0
    for _ in range(iters):
        w = matvec(v)
        lam = float(v @ w)
        nrm = w.norm()
        if not torch.isfinite(nrm) or nrm == 0:
            break
        v = w / nrm
    return abs(lam)
