"""Certified logistic regression (Warnecke et al. 2023): exact optimum, second-order == retraining,
gradient residual, sigma from (eps, delta). Real data: sklearn's bundled breast-cancer set (569 x 30)."""

import math

import numpy as np
import pytest
import torch

from unlearn.methods.influence import certified

LAM = 1.0


@pytest.fixture(scope="module")
def data(lr_data):  # shared fixture (conftest.py)
    return lr_data


@pytest.fixture(scope="module")
def fitted(lr_fit):
    return lr_fit


def rel(a, b):
    return float((a - b).norm() / b.norm())


def test_labels_and_rows():
    assert certified.pm1(torch.tensor([0, 1, 1])).tolist() == [-1.0, 1.0, 1.0]
    assert certified.pm1(torch.tensor([-1, 1])).tolist() == [-1.0, 1.0]
    with pytest.raises(ValueError):
        certified.pm1(torch.tensor([0, 2]))
    x = certified.normalize_rows(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert torch.allclose(x, torch.tensor([[0.6, 0.8], [0.0, 0.0]], dtype=torch.float64))


def test_exact_optimum_has_zero_residual(data, fitted):
    x, y = data
    assert certified.gradient_residual(fitted.theta, x, y, LAM) < 1e-7
    assert fitted.accuracy(x, y) > 0.95  # a real classifier, not a degenerate optimum


def test_closed_form_hessian_matches_autograd(data, fitted):
    x, y = data
    h = certified.hessian(fitted.theta, x, y, LAM)
    f = lambda t: certified.data_loss(t, x, y) + LAM / 2 * t @ t
    ha = torch.autograd.functional.hessian(f, fitted.theta.clone())
    assert torch.allclose(h, ha, atol=1e-10)
    v = torch.randn(x.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(certified.hvp(fitted.theta, x, y, LAM, v), h @ v, atol=1e-10)


def _flip(y, idx):
    y2 = y.clone()
    y2[idx] *= -1
    return y2


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_second_order_matches_retraining_label_change(data, fitted, solver):
    x, y = data
    idx = torch.tensor([50])  # one flipped label among 569 (three give ~3e-3: the error is second order in the change)
    y2 = _flip(y, idx)
    G = certified.influence_gradient(fitted.theta, (x[idx], y[idx]), (x[idx], y2[idx]))
    theta2 = certified.second_order_update(fitted.theta, x, y2, LAM, G, solver=solver)
    gold = certified.fit(x, y2, LAM, theta0=fitted.theta).theta
    assert rel(theta2, gold) < 1e-3
    # and it is far better than doing nothing or the first-order step
    assert rel(theta2, gold) < 0.05 * rel(fitted.theta, gold)


def test_second_order_matches_retraining_feature_zeroed(data, fitted):
    x, y = data
    col = 7
    x2 = x.clone()
    x2[:, col] = 0
    rows = torch.nonzero(x[:, col] != 0).flatten()[:10]  # a small change: zero the feature in ten rows only
    x2 = x.clone()
    x2[rows, col] = 0
    G = certified.influence_gradient(fitted.theta, (x[rows], y[rows]), (x2[rows], y[rows]))
    theta2 = certified.second_order_update(fitted.theta, x2, y, LAM, G)
    gold = certified.fit(x2, y, LAM, theta0=fitted.theta).theta
    assert rel(theta2, gold) < 1e-3
    r2 = certified.gradient_residual(theta2, x2, y, LAM)
    r0 = certified.gradient_residual(fitted.theta, x2, y, LAM)
    assert r2 < 1e-2 * r0  # the residual left is second order in the change


def test_removal_is_an_empty_z_tilde(data, fitted):
    x, y = data
    idx = torch.arange(5)
    keep = torch.arange(5, len(y))
    G = certified.influence_gradient(fitted.theta, (x[idx], y[idx]), None)
    theta2 = certified.second_order_update(fitted.theta, x[keep], y[keep], LAM, G)
    gold = certified.fit(x[keep], y[keep], LAM, theta0=fitted.theta).theta
    assert rel(theta2, gold) < 1e-3


def test_first_order_is_one_scaled_step(data, fitted):
    x, y = data
    G = torch.arange(x.shape[1], dtype=torch.float64)
    assert torch.equal(certified.first_order_update(fitted.theta, G, 0.25), fitted.theta - 0.25 * G)


def test_objective_perturbation_enters_gradient(data):
    x, y = data
    m = certified.fit(x, y, LAM, sigma=0.5, seed=3)
    assert m.b.abs().sum() > 0
    assert certified.gradient_residual(m.theta, x, y, LAM, m.b) < 1e-7
    assert certified.gradient_residual(m.theta, x, y, LAM) > 1e-2  # without b it is not the optimum
    m2 = certified.fit(x, y, LAM, sigma=0.5, seed=3)
    assert torch.equal(m.b, m2.b)  # seeded


def test_sigma_formula():
    r, eps, delta = 0.5, 1.0, 1e-4
    expected = 0.5 * math.sqrt(2 * math.log(1.5 / 1e-4)) / 1.0
    assert certified.sigma_for(r, eps, delta) == pytest.approx(expected, rel=1e-12)
    assert certified.sigma_for(r, eps, delta) == pytest.approx(2.19265, abs=1e-4)  # by hand: 0.5 * sqrt(2 ln 15000)
    assert certified.epsilon_for(r, certified.sigma_for(r, eps, delta), delta) == pytest.approx(eps)
    assert certified.sigma_for(0.0, 0.1, 0.01) == 0.0
    assert certified.epsilon_for(0.1, 0.0, 0.01) == math.inf
    for bad in [(-1, 1, 0.1), (1, 0, 0.1), (1, 1, 0), (1, 1, 2)]:
        with pytest.raises(ValueError):
            certified.sigma_for(*bad)


def test_finetune_and_occlusion(data, fitted):
    x, y = data
    th = certified.occlusion_update(fitted.theta, [0, 2])
    assert th[0] == 0 and th[2] == 0 and th[1] == fitted.theta[1]
    ft = certified.finetune_update(fitted.theta, x, y, LAM, None, lr=0.0)
    assert torch.equal(ft, fitted.theta)  # lr 0 changes nothing
    x2 = x.clone()
    x2[:, 7] = 0
    ft = certified.finetune_update(fitted.theta, x2, y, LAM, None, lr=0.5)
    assert certified.gradient_residual(ft, x2, y, LAM) < certified.gradient_residual(fitted.theta, x2, y, LAM)


def test_bad_inputs(data, fitted):
    x, y = data
    with pytest.raises(ValueError):
        certified.fit(x, y, 0.0)
    with pytest.raises(ValueError):
        certified.second_order_update(fitted.theta, x, y, LAM, fitted.theta, solver="newton")
    with pytest.raises(ValueError):
        certified.data_loss(fitted.theta[:3], x, y)


def test_certificate_inputs_are_checked(data, fitted):
    x, y = data
    for delta in (1.0, 1.2, 0.0):  # a failure probability must lie in (0, 1)
        with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\)"):
            certified.sigma_for(1.0, 0.1, delta)
    with pytest.raises(ValueError, match="residual norm is non-negative"):
        certified.epsilon_for(-1.0, 1.0, 0.01)
    with pytest.raises(ValueError, match="sigma must be finite and non-negative"):
        certified.fit(x, y, LAM, sigma=-1.0)
    with pytest.raises(ValueError, match="norm <= 1, the largest is 30"):
        certified.fit(x * 30 / x.norm(dim=1).max(), y, LAM)
    # lam = 0 with more features than samples: singular Hessian, refused instead of |theta| ~ 1e34
    wide, few = torch.randn(5, 20, dtype=torch.float64), y[:5]
    with pytest.raises(ValueError, match="lam must be positive"):
        certified.second_order_update(torch.zeros(20, dtype=torch.float64), certified.normalize_rows(wide), few, 0.0, torch.ones(20, dtype=torch.float64), solver="cg")
    with pytest.raises(ValueError, match="not positive definite"):
        certified.conjugate_gradient(lambda v: torch.zeros_like(v), torch.ones(3, dtype=torch.float64))


def test_traced_retraining_stops_at_the_authors_tolerance_and_reads_its_path(data, fitted):
    x, y = data
    from scipy.optimize import minimize

    model, path = certified.fit_traced(x, y, LAM, seed=3)
    # the authors' call (LRUnlearner): scipy's L-BFGS-B with options={'maxiter': 1000} and its default tolerances
    # from an N(0, I) start; not polished to machine precision as certified.fit is
    theta0 = torch.randn(x.shape[1], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    fun = lambda t: (certified.objective(torch.from_numpy(t), x, y, LAM), certified.gradient(torch.from_numpy(t), x, y, LAM).numpy())
    ref = minimize(fun, theta0.numpy(), jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    assert np.allclose(model.theta.numpy(), ref.x, rtol=0, atol=1e-12)
    assert certified.gradient_residual(model.theta, x, y, LAM) > 1e-9 > certified.gradient_residual(certified.fit(x, y, LAM, seed=3).theta, x, y, LAM)
    secs = [s for s, _ in path]
    assert secs == sorted(secs) and len(path) > 3
    # the first time the path was at or below a residual, nan if it never got there
    mid = path[len(path) // 2][1]
    first = next(i for i, (_, r) in enumerate(path) if r <= mid)
    assert certified.seconds_to_residual(path, mid) == path[first][0]
    assert np.isnan(certified.seconds_to_residual(path, 0.0))


def test_authors_finetune_adds_the_whole_regulariser_every_batch(data, fitted):
    # DPLRUnlearner.get_fine_tuning_update: theta -= lr / B * (summed batch gradient + lam theta + b), batch by batch
    x, y = data
    b = torch.full_like(fitted.theta, 0.01)
    by_hand = fitted.theta.clone()
    for s in range(0, len(y), 32):
        g = certified.data_gradient(by_hand, x[s : s + 32], y[s : s + 32]) + LAM * by_hand + b
        by_hand = by_hand - 0.1 / 32 * g
    ours = certified.finetune_update(fitted.theta, x, y, LAM, b, lr=0.1, full_regulariser=True)
    assert torch.allclose(ours, by_hand, rtol=0, atol=1e-12)
    shared = certified.finetune_update(fitted.theta, x, y, LAM, b, lr=0.1)
    assert not torch.allclose(shared, by_hand)  # the default shares lam theta + b across the batches
