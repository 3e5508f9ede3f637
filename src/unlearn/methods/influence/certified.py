"""Certified unlearning for L2-regularised binary logistic regression (Warnecke et al., NDSS 2023, Sec. 5
"Certified unlearning"; objective perturbation after Guo et al. 2020 / Chaudhuri et al. 2011).

The model is a weight vector theta (no bias, as in the authors' ``DPLRUnlearner``), labels are in {-1, +1},
and every input row is L2-normalised (||x||_2 <= 1, which the certificate needs). The training objective is

    L(theta; D) = sum_{(x, y) in D} log(1 + exp(-y theta^T x)) + (lam / 2) ||theta||^2 + b^T theta,

with b ~ N(0, sigma^2 I) drawn once at training time (sigma = 0: no perturbation). Unlearning replaces the
affected points Z by their corrected versions Z~ (features zeroed / replaced, labels changed, or removed):

    G = sum_{z~ in Z~} grad l(z~; theta*) - sum_{z in Z} grad l(z; theta*)
    first order:  theta_new = theta* - tau G
    second order: theta_new = theta* - H^{-1} G,   H = X~^T diag(p (1 - p)) X~ + lam I  (on the corrected data)

The gradient residual ||grad L(theta_new; D~)||_2 bounds how far theta_new is from the exact retrained optimum;
an update with residual r is (eps, delta)-certified when sigma >= r sqrt(2 ln(1.5 / delta)) / eps
(:func:`sigma_for`; equivalently the update achieves eps = r sqrt(2 ln(1.5/delta)) / sigma, :func:`epsilon_for`).

Everything runs in float64 on the CPU: these are small convex problems where exactness matters more than speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...train import count_grads
from .solvers import cg_solve

DTYPE = torch.float64


# --- data helpers ----------------------------------------------------------------------------------------
def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row scaled to unit L2 norm (all-zero rows stay zero); float64."""
    x = torch.as_tensor(x, dtype=DTYPE)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def pm1(y) -> torch.Tensor:
    """Labels {0, 1} (or already {-1, +1}) as float64 {-1, +1}."""
    y = torch.as_tensor(y)
    u = set(torch.unique(y).tolist())
    if not u <= {0, 1} and not u <= {-1, 1}:
        raise ValueError(f"binary labels must be in {{0, 1}} or {{-1, +1}}, got {sorted(u)}")
    y = y.to(DTYPE)
    return y if -1 in u else 2 * y - 1  # {0, 1} -> {-1, +1}; {1} alone stays +1 either way


def _check(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 2 or theta.dim() != 1 or x.shape[1] != theta.shape[0]:
        raise ValueError(f"shapes do not fit: x {tuple(x.shape)}, theta {tuple(theta.shape)}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")


# --- objective, gradient, Hessian ----------------------------------------------------------------------
def data_loss(theta, x, y) -> torch.Tensor:
    """sum_i log(1 + exp(-y_i theta^T x_i)) (numerically stable softplus)."""
    _check(theta, x, y)
    return F.softplus(-y * (x @ theta)).sum()


def objective(theta, x, y, lam: float, b: torch.Tensor | None = None) -> float:
    """L(theta; D) = data loss + (lam/2)||theta||^2 + b^T theta."""
    out = data_loss(theta, x, y) + lam / 2 * theta @ theta
    if b is not None:
        out = out + b @ theta
    return float(out)


def data_gradient(theta, x, y) -> torch.Tensor:
    """sum_i grad l(x_i, y_i; theta) = sum_i -y_i sigmoid(-y_i theta^T x_i) x_i."""
    _check(theta, x, y)
    count_grads(len(y))
    return x.T @ (-y * torch.sigmoid(-y * (x @ theta)))


def gradient(theta, x, y, lam: float, b: torch.Tensor | None = None) -> torch.Tensor:
    """grad L(theta; D) = data gradient + lam theta + b."""
    g = data_gradient(theta, x, y) + lam * theta
    return g + b if b is not None else g


def hessian(theta, x, y, lam: float) -> torch.Tensor:
    """H = X^T diag(p(1-p)) X + lam I (dense; b does not enter). Sparse product when X is mostly zeros."""
    _check(theta, x, y)
    count_grads(len(y))  # one pass of per-sample second derivatives
    p = torch.sigmoid(x @ theta)
    w = p * (1 - p)
    if (x != 0).double().mean() < 0.1 and x.shape[1] > 500:  # bag of words: a sparse product is ~15x faster
        import scipy.sparse as sp

        xs = sp.csr_matrix(x.numpy())
        h = torch.from_numpy((xs.T @ sp.diags(w.numpy()) @ xs).toarray())
    else:
        h = x.T @ (w[:, None] * x)
    return h + lam * torch.eye(x.shape[1], dtype=DTYPE)


def hvp(theta, x, y, lam: float, v: torch.Tensor) -> torch.Tensor:
    """H v without forming H: X^T (p(1-p) * (X v)) + lam v."""
    p = torch.sigmoid(x @ theta)
    count_grads(2 * len(y))
    return x.T @ (p * (1 - p) * (x @ v)) + lam * v


def conjugate_gradient(matvec, g: torch.Tensor, tol: float = 1e-12, max_iter: int = 1000) -> tuple[torch.Tensor, int]:
    """Solve A s = g for a symmetric positive definite A given by ``matvec`` (relative residual ``tol``): the shared
    conjugate gradients, which must not meet non-positive curvature here (a strongly convex objective)."""
    s, info = cg_solve(matvec, g, tol=tol, max_iter=max_iter)
    if info.negative_curvature:  # a singular or indefinite A: the iterates would run off to ~1e34
        raise ValueError(f"conjugate gradients met non-positive curvature at iteration {info.iterations}: the matrix "
                         "is not positive definite (for logistic regression use lam > 0)")
    return s, info.iterations


# --- training (exact optimum) --------------------------------------------------------------------------
@dataclass
class LinearModel:
    """A fitted certified logistic regression."""

    theta: torch.Tensor  # (d,) float64 weights
    lam: float  # L2 strength of the objective
    b: torch.Tensor  # (d,) objective-perturbation vector (zeros when sigma = 0)
    sigma: float  # standard deviation b was drawn with

    def predict(self, x) -> torch.Tensor:
        """Labels in {-1, +1}."""
        return torch.where(torch.as_tensor(x, dtype=DTYPE) @ self.theta >= 0, 1.0, -1.0).to(DTYPE)

    def accuracy(self, x, y) -> float:
        return float((self.predict(x) == pm1(y)).double().mean())


def fit(x, y, lam: float, sigma: float = 0.0, seed: int = 0, b: torch.Tensor | None = None,
        theta0: torch.Tensor | None = None, tol: float = 1e-10, max_iter: int = 5000, polish: int = 3) -> LinearModel:
    """Minimise L(theta; D) with L-BFGS (scipy, float64) from ``theta0`` (default: the authors' N(0, I) start),
    then up to ``polish`` Newton steps (conjugate gradients on exact Hessian-vector products) so that the
    result is the optimum to machine precision (L-BFGS alone stops at residuals ~1e-7).

    ``b`` is drawn from N(0, sigma^2 I) with ``seed`` unless given (pass the original model's b to retrain
    the same perturbed objective on corrected data)."""
    from scipy.optimize import minimize

    x, y = torch.as_tensor(x, dtype=DTYPE), pm1(y)
    if not lam > 0:
        raise ValueError(f"lam must be positive (strong convexity), got {lam}")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and non-negative (0 = no perturbation), got {sigma}")
    norms = x.norm(dim=1)
    if len(norms) and float(norms.max()) > 1 + 1e-9:
        raise ValueError(f"the certificate needs rows with norm <= 1, the largest is {float(norms.max()):.3g}; "
                         "pass normalize_rows(x)")
    d = x.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    if b is None:
        b = sigma * torch.randn(d, generator=gen, dtype=DTYPE) if sigma > 0 else torch.zeros(d, dtype=DTYPE)
    if theta0 is None:
        theta0 = torch.randn(d, generator=gen, dtype=DTYPE)

    def fun(t):
        th = torch.from_numpy(t)
        return objective(th, x, y, lam, b), gradient(th, x, y, lam, b).numpy()

    res = minimize(fun, theta0.numpy().astype(np.float64), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-15, "maxcor": 20})
    theta = torch.from_numpy(res.x)
    for _ in range(polish):
        g = gradient(theta, x, y, lam, b)
        if float(g.norm()) < 1e-12 * max(1.0, float(theta.norm())):
            break
        step, _ = conjugate_gradient(lambda v: hvp(theta, x, y, lam, v), g, tol=1e-12, max_iter=2 * d)
        theta = theta - step
    return LinearModel(theta, lam, b, sigma)


def fit_traced(x, y, lam: float, b: torch.Tensor | None = None, seed: int = 0, tol: float = 1e-5,
               max_iter: int = 1000) -> tuple[LinearModel, list[tuple[float, float]]]:
    """Retraining as the authors run it (``DPLRUnlearner``: scipy's L-BFGS-B from an N(0, I) start with
    ``options={'maxiter': 1000}``, i.e. scipy's default stopping rule, pgtol 1e-5 or a relative decrease below
    ftol 2.2e-9; no polish), with its path: [(seconds so far, gradient residual ||grad L||), ...] after every
    iteration. The residuals are computed in a callback whose time is excluded, so ``seconds`` is the
    optimiser's own. Use :func:`seconds_to_residual` to read off when it reached a given residual."""
    import time

    from scipy.optimize import minimize

    x, y = torch.as_tensor(x, dtype=DTYPE), pm1(y)
    d = x.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    b = torch.zeros(d, dtype=DTYPE) if b is None else b
    theta0 = torch.randn(d, generator=gen, dtype=DTYPE)
    trace, excluded = [], [0.0]
    start = time.perf_counter()

    def fun(t):
        th = torch.from_numpy(t)
        return objective(th, x, y, lam, b), gradient(th, x, y, lam, b).numpy()

    def callback(t):
        c0 = time.perf_counter()
        r = float(gradient(torch.from_numpy(t), x, y, lam, b).norm())
        trace.append((c0 - start - excluded[0], r))
        excluded[0] += time.perf_counter() - c0

    res = minimize(fun, theta0.numpy().astype(np.float64), jac=True, method="L-BFGS-B", callback=callback,
                   options={"maxiter": max_iter, "gtol": tol})
    return LinearModel(torch.from_numpy(res.x), lam, b, 0.0), trace


def seconds_to_residual(trace: list[tuple[float, float]], residual: float) -> float:
    """The first time on a :func:`fit_traced` path at which the residual was at most ``residual`` (nan if never)."""
    return next((s for s, r in trace if r <= residual), float("nan"))


# --- unlearning updates --------------------------------------------------------------------------------
def influence_gradient(theta, z: tuple, z_tilde: tuple) -> torch.Tensor:
    """G = sum grad l(z~) - sum grad l(z) at theta. ``z``/``z_tilde`` are (x, y) pairs (y in {-1, +1});
    an empty z_tilde (removal) contributes nothing."""
    g = -data_gradient(theta, z[0], z[1])
    if z_tilde is not None and len(z_tilde[1]):
        g = g + data_gradient(theta, z_tilde[0], z_tilde[1])
    return g


def first_order_update(theta, G: torch.Tensor, tau: float) -> torch.Tensor:
    """theta - tau G: one gradient step of size tau on the change of the loss."""
    return theta - tau * G


def second_order_update(theta, x_tilde, y_tilde, lam: float, G: torch.Tensor, solver: str = "exact",
                        tol: float = 1e-12, max_iter: int = 2000) -> torch.Tensor:
    """theta - H^{-1} G with H the Hessian of L on the corrected data at theta. ``exact`` solves H s = G by
    Cholesky (never forming H^{-1}); ``cg`` runs conjugate gradients on exact Hessian-vector products."""
    if not lam > 0:
        raise ValueError(f"lam must be positive: without it the Hessian is singular whenever d > n, got {lam}")
    if solver == "exact":
        h = hessian(theta, x_tilde, y_tilde, lam)
        chol = torch.linalg.cholesky(h)
        s = torch.cholesky_solve(G[:, None], chol)[:, 0]
    elif solver == "cg":
        s, _ = conjugate_gradient(lambda v: hvp(theta, x_tilde, y_tilde, lam, v), G, tol=tol, max_iter=max_iter)
    else:
        raise ValueError(f"solver must be 'exact' or 'cg', got {solver!r}")
    return theta - s


def finetune_update(theta, x, y, lam: float, b: torch.Tensor | None, lr: float, batch_size: int = 32,
                    full_regulariser: bool = False) -> torch.Tensor:
    """One pass of mini-batch gradient descent over the corrected data, in order (the authors' LR fine-tuning
    baseline, ``DPLRUnlearner.get_fine_tuning_update``): theta <- theta - (lr / batch_size) grad L_batch.
    ``full_regulariser=True`` is the authors' batch gradient, the batch's summed loss gradient plus the *whole*
    lam theta + b (``get_gradient_L``); False gives each batch its share (B/N) of them, so that one pass adds up
    to exactly one pass over L."""
    theta = theta.clone()
    n = len(y)
    for s in range(0, n, batch_size):
        xb, yb = x[s : s + batch_size], y[s : s + batch_size]
        share = 1.0 if full_regulariser else len(yb) / n
        g = data_gradient(theta, xb, yb) + share * lam * theta + (share * b if b is not None else 0)
        theta = theta - lr / batch_size * g
    return theta


def occlusion_update(theta, feature_idx) -> torch.Tensor:
    """Zero the weights of the removed features (the occlusion baseline for a linear model)."""
    theta = theta.clone()
    theta[torch.as_tensor(np.asarray(feature_idx), dtype=torch.long)] = 0
    return theta


def gradient_residual(theta, x_tilde, y_tilde, lam: float, b: torch.Tensor | None = None) -> float:
    """||grad L(theta; D~)||_2 on the corrected data (0 at the exact optimum of the corrected objective)."""
    return float(gradient(theta, x_tilde, y_tilde, lam, b).norm())


# --- certificate ---------------------------------------------------------------------------------------
def _c(delta: float) -> float:
    if not 0 < delta < 1:  # a failure probability; at delta >= 1 the certificate says nothing
        raise ValueError(f"delta must lie in (0, 1), got {delta}")
    return math.sqrt(2 * math.log(1.5 / delta))


def sigma_for(residual: float, eps: float, delta: float) -> float:
    """Noise scale that makes an update with gradient residual ``residual`` (eps, delta)-certified:
    sigma = residual * sqrt(2 ln(1.5 / delta)) / eps."""
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if residual < 0:
        raise ValueError(f"a residual norm is non-negative, got {residual}")
    return residual * _c(delta) / eps


def epsilon_for(residual: float, sigma: float, delta: float) -> float:
    """The eps an update with ``residual`` achieves under perturbation ``sigma`` at ``delta`` (inverse of
    :func:`sigma_for`); inf when sigma = 0 and the residual is positive."""
    if sigma < 0:
        raise ValueError(f"sigma must be non-negative, got {sigma}")
    if residual < 0:
        raise ValueError(f"a residual norm is non-negative, got {residual}")
    if sigma == 0:
        return 0.0 if residual == 0 else math.inf
    return residual * _c(delta) / sigma


# --- an nn.Module view, so the generic influence functions (and the registry) apply --------------------
class BinaryLogReg(nn.Module):
    """theta as a module: ``forward(x) = x @ theta``. Use with :func:`logistic_loss_sum` as ``loss_fn``."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=DTYPE).clone())

    def forward(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=DTYPE) @ self.theta


def logistic_loss_sum(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum_i log(1 + exp(-y_i f(x_i))) for labels in {-1, +1} (or {0, 1}, mapped)."""
    y = y.to(DTYPE)
    if y.numel() and y.min() >= 0:
        y = 2 * y - 1
    return F.softplus(-y * model(x)).sum()
