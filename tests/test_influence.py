"""Influence-function unlearning (Warnecke et al. 2023): HVPs, CG / LiSSA inverse HVPs, first- and
second-order updates, the iterative variant and the registry adapters. Real data: sklearn's bundled
breast-cancer (569 x 30) and digits (8x8) sets; float64 so that exactness can be asserted."""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from unlearn import methods
from unlearn.data import ArrayDataset
from unlearn.methods import influence
from unlearn.methods.influence import certified

LAM = 1.0


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x[:300] / 16.0), torch.tensor(y[:300])


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 10)).double()


def test_hvp_matches_finite_differences(digits):
    x, y = digits
    model = mlp()
    v = torch.randn(influence.get_vector(model).numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hv = influence.hvp(model, (x, y), v, l2=0.3, batch_size=64)
    theta = influence.get_vector(model)
    eps = 1e-5

    def grad_at(t):
        m = copy.deepcopy(model)
        influence.set_vector(m, t)
        return influence.total_gradient(m, (x, y), batch_size=64) + 0.3 * t

    fd = (grad_at(theta + eps * v) - grad_at(theta - eps * v)) / (2 * eps)
    assert torch.allclose(hv, fd, rtol=1e-6, atol=1e-6 * float(fd.abs().max()))


def test_dense_hessian_is_symmetric_and_matches_closed_form(lr_data, lr_fit):
    x, y = lr_data
    model = certified.BinaryLogReg(lr_fit.theta)
    h = influence.dense_hessian(model, (x, y), LAM, loss_fn=certified.logistic_loss_sum)
    assert torch.allclose(h, certified.hessian(lr_fit.theta, x, y, LAM), atol=1e-10)


def test_cg_and_lissa_converge_to_exact_inverse_hvp(lr_data, lr_fit):
    x, y = lr_data
    model = certified.BinaryLogReg(lr_fit.theta)
    h = certified.hessian(lr_fit.theta, x, y, LAM)
    g = torch.randn(x.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = torch.linalg.solve(h, g)
    matvec = lambda v: influence.hvp(model, (x, y), v, LAM, certified.logistic_loss_sum, batch_size=569)
    s_cg, info = influence.cg_solve(matvec, g, tol=1e-10, max_iter=200)
    assert info.converged and (s_cg - exact).norm() / exact.norm() < 1e-8
    # LiSSA with the full data as its "batch" is a deterministic Neumann series: converges to H^-1 g
    lam_max = float(torch.linalg.eigvalsh(h)[-1])
    s_li, info = influence.lissa_solve(lambda v: h @ v, g, scale=1.1 * lam_max, damping=0.0, depth=3000, early_stop=False)
    assert not info.diverged and (s_li - exact).norm() / exact.norm() < 1e-6
    # with mini-batch Hessian estimates (and early stopping) it still lands near the solution
    lissa = influence.Solver("lissa", lissa_scale=1.5 * lam_max, lissa_damping=0.0, lissa_depth=1000, lissa_batch_size=256,
                     lissa_patience=1000)
    s_mb, info = influence.inverse_hvp(model, g, (x, y), lissa, l2=LAM, loss_fn=certified.logistic_loss_sum, seed=0)
    assert not info.diverged and (s_mb - exact).norm() / exact.norm() < 0.1
    # power iteration finds the largest eigenvalue used to set LiSSA's scale
    assert influence.largest_eigenvalue(lambda v: h @ v, x.shape[1], iters=200, dtype=torch.float64) == pytest.approx(lam_max, rel=1e-3)


def test_lissa_reports_divergence():
    h = torch.diag(torch.tensor([1.0, 10.0], dtype=torch.float64))
    g = torch.ones(2, dtype=torch.float64)
    _, info = influence.lissa_solve(lambda v: h @ v, g, scale=1.0, depth=2000, early_stop=False)  # scale < lambda_max
    assert info.diverged


def test_solver_object_and_flat_options_agree(lr_data, lr_fit):
    x, y = lr_data
    model = certified.BinaryLogReg(lr_fit.theta)
    z, zt = (x[:5], y[:5]), (x[:5], -y[:5])
    kw = dict(l2=LAM, loss_fn=certified.logistic_loss_sum)
    flat, flat_info = influence.second_order(model, z, zt, (x, y), solver="cg", cg_tol=1e-3, cg_iters=3, damping=0.5, **kw)
    grouped, _ = influence.second_order(model, z, zt, (x, y), solver=influence.Solver("cg", cg_tol=1e-3, cg_iters=3, damping=0.5), **kw)
    assert torch.equal(influence.get_vector(flat), influence.get_vector(grouped))
    assert flat_info.iterations == 3  # the cap was honoured, so the options reached CG
    with pytest.raises(ValueError, match=r"unknown solver option\(s\) \['cg_tolerance'\]; valid: .*'cg_tol'"):
        influence.second_order(model, z, zt, (x, y), solver="cg", cg_tolerance=1e-3, **kw)
    with pytest.raises(ValueError, match="solver must be one of"):
        influence.inverse_hvp(model, torch.ones(x.shape[1], dtype=torch.float64), (x, y), "newton")


def test_first_order_is_exactly_one_scaled_step(digits):
    x, y = digits
    model = mlp()
    z = (x[:20], y[:20])
    zt = (x[:20], (y[:20] + 1) % 10)  # labels changed
    tau = 0.01
    new, _ = influence.first_order(model, z, zt, tau, batch_size=7)
    # independent computation of G: one autograd call on the summed loss difference
    params = list(model.parameters())
    ce = nn.functional.cross_entropy
    diff = ce(model(zt[0]), zt[1], reduction="sum") - ce(model(z[0]), z[1], reduction="sum")
    G = torch.cat([gr.reshape(-1) for gr in torch.autograd.grad(diff, params)])
    assert torch.allclose(influence.get_vector(new), influence.get_vector(model) - tau * G, atol=1e-12)
    assert torch.equal(influence.get_vector(model), influence.get_vector(mlp()))  # the input model is untouched


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_second_order_matches_retraining_and_certified(lr_data, lr_fit, solver):
    x, y = lr_data
    idx = torch.tensor([50])
    y2 = y.clone()
    y2[idx] *= -1
    model = certified.BinaryLogReg(lr_fit.theta)
    new, _ = influence.second_order(model, (x[idx], y[idx]), (x[idx], y2[idx]), (x, y2), l2=LAM, solver=solver,
                         loss_fn=certified.logistic_loss_sum, cg_tol=1e-12, cg_iters=500)
    gold = certified.fit(x, y2, LAM, theta0=lr_fit.theta).theta
    theta = influence.get_vector(new)
    assert (theta - gold).norm() / gold.norm() < 1e-3
    G = certified.influence_gradient(lr_fit.theta, (x[idx], y[idx]), (x[idx], y2[idx]))
    assert torch.allclose(theta, certified.second_order_update(lr_fit.theta, x, y2, LAM, G), atol=1e-8)


def test_iterative_variant(lr_data, lr_fit):
    x, y = lr_data
    idx = torch.arange(40)
    x2 = x.clone()
    x2[idx, 3] = 0
    model = certified.BinaryLogReg(lr_fit.theta)
    kw = dict(loss_fn=certified.logistic_loss_sum)
    one, _ = influence.first_order(model, (x[idx], y[idx]), (x2[idx], y[idx]), 0.05, **kw)
    it1, _ = influence.iterative(model, (x[idx], y[idx]), (x2[idx], y[idx]), 1, 1, tau=0.05, **kw)
    assert torch.allclose(influence.get_vector(one), influence.get_vector(it1))
    it4, it4_info = influence.iterative(model, (x[idx], y[idx]), (x2[idx], y[idx]), 4, 2, l2=LAM, hessian_data=(x2, y), solver="exact", **kw)
    assert it4_info.steps == 4 and len(it4_info.rounds) == 4
    r4 = certified.gradient_residual(influence.get_vector(it4), x2, y, LAM)
    r0 = certified.gradient_residual(lr_fit.theta, x2, y, LAM)
    assert r4 < 0.05 * r0
    with pytest.raises(ValueError):
        influence.iterative(model, (x[idx], y[idx]), (x2[:5], y[:5]), 2, 1, tau=0.1, **kw)


def test_registry_adapters(digits):
    x, y = digits
    base = ArrayDataset(x.float(), y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 10))
    model.num_classes = 10
    forget = torch.utils.data.Subset(base, list(range(10)))
    retain = torch.utils.data.Subset(base, list(range(10, 300)))
    fixed = ArrayDataset(x[:10].float(), (y[:10] + 1) % 10)
    assert {"influence_first_order", "influence_second_order"} <= set(methods.available())
    f1, r1 = methods.get("influence_first_order")(model, forget, retain, corrected=fixed, config={"tau": 0.01})
    direct, _ = influence.first_order(model, (x[:10].float(), y[:10]), (x[:10].float(), (y[:10] + 1) % 10), 0.01)
    assert torch.allclose(influence.get_vector(f1), influence.get_vector(direct), atol=1e-6)
    assert r1.grad_evals == 20 and r1.method == "influence_first_order"
    f2, r2 = methods.get("influence_second_order")(model, forget, retain, corrected=None,
                                               config={"solver": "cg", "l2": 1.0, "cg_iters": 5}, seed=0)
    assert r2.grad_evals == 10 + 5 * 2 * 290  # G on Z, then 5 CG iterations of one HVP over D~
    assert not torch.equal(influence.get_vector(f2), influence.get_vector(model))
    with pytest.raises(ValueError):
        methods.get("influence_second_order")(model, forget, retain, config={"solver": "newton"})
    with pytest.raises(ValueError):
        methods.get("influence_first_order")(model, forget, retain, config={"rate": 1})


def test_bad_inputs(digits):
    x, y = digits
    with pytest.raises(ValueError):
        influence.first_order(mlp(), None, None, 0.1)
    with pytest.raises(ValueError):
        influence.set_vector(mlp(), torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError):
        influence.dense_hessian(mlp(), (x, y), max_params=10)
    with pytest.raises(ValueError):
        influence.lissa_solve(lambda v: v, torch.ones(2), scale=0.0)


def test_canary_helpers_log_perplexity_by_hand():
    from unlearn.data import CharCorpus
    from unlearn.experiments import features_labels
    from unlearn.models import build

    vocab = sorted({chr(c) for c in range(32, 127)} | {"\n"})
    corpus = CharCorpus("abc", vocab, seq_len=2)
    torch.manual_seed(0)
    lstm = build("char_lstm", vocab_size=len(vocab), embed=8, hidden=8, layers=1)
    got = features_labels.log_perplexity(lstm, corpus, ["01", "99"], context="\nx ")
    ids = corpus.encode("\nx 01")
    with torch.no_grad():
        logp = lstm(ids[None, :-1]).log_softmax(-1)[0]
    by_hand = -(logp[2, ids[3]] + logp[3, ids[4]]) / np.log(2)  # only the secret's characters count
    assert got[0] == pytest.approx(float(by_hand), rel=1e-5)
    cands = features_labels.random_candidates(50, seed=1)
    assert cands == features_labels.random_candidates(50, seed=1) and all(len(c) == 10 and c.isdigit() for c in cands)
    assert features_labels.CANARY_SECRET not in cands
    rep = features_labels.replacement_string("Alice was beginning to get very tired 123", 10, seed=0)
    assert len(rep) == 10 and all(c.isalpha() or c == " " for c in rep)
    names = features_labels.first_names()
    assert len(names) == len(set(names)) > 300 and "mary" in names
    assert features_labels.enron_names({"mary": 0, "meeting": 1, "vince": 2}) == ["mary", "vince"]


# --- head scope, tuning and the authors' repair loop -------------------------------------------------------
def small_cnn(seed=0):
    from unlearn.models import build

    torch.manual_seed(seed)
    return build("small_cnn", in_channels=1, num_classes=10, width=4, hidden=16).double().eval()


def test_head_scope_changes_only_the_head_and_equals_the_full_update_there(digits):
    x, y = digits
    img = x.reshape(-1, 1, 8, 8)
    model = small_cnn()
    z, zt = (img[:30], y[:30]), (img[:30], (y[:30] + 3) % 10)
    head, head_info = influence.first_order(model, z, zt, 0.05, params="head")
    full, _ = influence.first_order(model, z, zt, 0.05, params="all")
    for (name, p0), p1, p2 in zip(model.named_parameters(), head.parameters(), full.parameters()):
        if name.startswith("head."):  # in the head both updates take the same step (features are fixed either way)
            assert not torch.equal(p0, p1) and torch.allclose(p1, p2, atol=1e-12)
        else:  # the body is untouched, bit for bit, and BatchNorm statistics too
            assert torch.equal(p0, p1)
    for b0, b1 in zip(model.buffers(), head.buffers()):
        assert torch.equal(b0, b1)
    assert head_info.params == "head"
    with pytest.raises(ValueError, match="params='all'"):
        influence.first_order(mlp(), (x[:5], y[:5]), None, 0.1, params="head")
    with pytest.raises(ValueError, match="params must be"):
        influence.first_order(model, z, zt, 0.1, params="dense")


def test_head_second_order_equals_retraining_the_head_for_a_quadratic_loss(digits):
    """For a squared loss the head's objective is quadratic, so one Newton step from the optimum on D is the
    optimum on the corrected D~ exactly (ridge regression on the fixed features, solved in closed form)."""
    x, y = digits
    img = x.reshape(-1, 1, 8, 8)
    model = small_cnn()
    l2 = 0.5

    def sq(m, f, t):  # summed 0.5 ||logits - onehot||^2
        return 0.5 * ((m(f) - nn.functional.one_hot(t, 10).double()) ** 2).sum()

    with torch.no_grad():
        feats = model.features(img)
    design = torch.cat([feats, torch.ones(len(feats), 1, dtype=torch.float64)], 1)

    def ridge(labels):  # closed form, bias penalised like the weights ((l2/2)||theta||^2 on every head parameter)
        t = nn.functional.one_hot(labels, 10).double()
        return torch.linalg.solve(design.T @ design + l2 * torch.eye(design.shape[1], dtype=torch.float64), design.T @ t)

    w = ridge(y)
    with torch.no_grad():
        model.head.weight.copy_(w[:-1].T)
        model.head.bias.copy_(w[-1])
    y2 = y.clone()
    y2[:25] = (y[:25] + 1) % 10
    new, _ = influence.second_order(model, (img[:25], y[:25]), (img[:25], y2[:25]), (img, y2), l2=l2, solver="exact",
                         params="head", loss_fn=sq)
    gold = ridge(y2)
    assert torch.allclose(new.head.weight, gold[:-1].T, atol=1e-8) and torch.allclose(new.head.bias, gold[-1], atol=1e-8)


def test_tune_scores_each_grid_value_on_validation_and_keeps_the_best(digits):
    x, y = digits
    img = x.reshape(-1, 1, 8, 8)
    model = small_cnn()
    z, zt, val = (img[:40], y[:40]), (img[:40], (y[:40] + 1) % 10), (img[200:], y[200:])
    grid = [1e-3, 1e-2, 1e-1]
    t = influence.tune(lambda tau: influence.first_order(model, z, zt, tau, params="head"), grid, val)
    by_hand = []
    for tau in grid:
        m, _ = influence.first_order(model, z, zt, tau, params="head")
        with torch.no_grad():
            by_hand.append(float((m(val[0]).argmax(1) == val[1]).double().mean()))
    assert [r["val_acc"] for r in t.table] == pytest.approx(by_hand)
    assert t.value == grid[int(np.argmax(by_hand))] and t.seconds > 0 and t.grad_evals == 3 * 80  # G over Z and Z~ per grid value
    # a damping that leaves negative curvature is never chosen while a positive-definite one exists
    t2 = influence.tune(lambda d: influence.second_order(model, z, zt, (img, y), params="all", solver="cg", damping=d), [1e-6, 1e4], val)
    assert t2.table[0]["diverged"] and not t2.table[1]["diverged"] and t2.value == 1e4


def test_tune_one_standard_error_rule_takes_the_cautious_value():
    """The arg-max picks a value on a few validation images; the rule takes the most cautious value within one
    standard error of the best (here sqrt(0.5 * 0.5 / 100) = 0.05)."""
    val = (torch.zeros(100, 2), torch.zeros(100, dtype=torch.long))
    accs = {1e-5: 0.40, 3e-5: 0.47, 1e-4: 0.50, 3e-4: 0.30}  # 1e-4 best by 3 images; 3e-5 within one SE

    class Fixed(nn.Module):  # a model with a chosen validation accuracy
        def __init__(self, acc):
            super().__init__()
            self.acc = acc

        def forward(self, x):
            right = torch.arange(len(x)) < round(self.acc * 100)
            return torch.stack([right.float(), (~right).float()], 1)

    update = lambda v: Fixed(accs[v])
    assert influence.tune(update, list(accs), val).value == 1e-4
    assert influence.tune(update, list(accs), val, cautious="smaller").value == 3e-5
    assert influence.tune(update, list(accs), val, cautious="larger").value == 1e-4
    with pytest.raises(ValueError, match="cautious must be"):
        influence.tune(update, list(accs), val, cautious="bigger")


def test_repair_rounds_take_misclassified_points_with_predicted_labels(digits):
    x, y = digits
    img = x.reshape(-1, 1, 8, 8)
    model = small_cnn()
    with torch.no_grad():
        pred = model(img).argmax(1)
    # nothing misclassified: no round runs and the model is unchanged
    same, same_info = influence.repair(model, (img, pred), steps=3, order=1, tau=0.1, params="head")
    assert same_info.steps == 0 and torch.equal(influence.get_vector(same), influence.get_vector(model))
    # one round over at most 50 of the misclassified points equals the first-order update on exactly those
    wrong = torch.nonzero(pred != y).flatten().numpy()
    one, _ = influence.repair(model, (img, y), steps=1, max_points=50, order=1, tau=0.1, params="head", seed=3)
    idx = torch.as_tensor(np.sort(np.random.default_rng(3).choice(wrong, 50, replace=False)))
    direct, _ = influence.first_order(model, (img[idx], pred[idx]), (img[idx], y[idx]), 0.1, params="head")
    assert torch.allclose(influence.get_vector(one), influence.get_vector(direct), atol=1e-12)
    # the second-order loop lowers the number of mistakes on the corrected set
    two, _ = influence.repair(model, (img, y), steps=3, order=2, params="head", solver="cg", damping=1.0)
    with torch.no_grad():
        assert int((two(img).argmax(1) != y).sum()) < len(wrong)
    with pytest.raises(ValueError):
        influence.repair(model, (img, y), steps=0)


def test_position_loss_sums_every_character_and_raw_lissa_inverts_one_batch():
    # the authors' canary scale: a window of T predicted characters counts T times (their samples predict one each)
    torch.manual_seed(0)
    lstm = methods_lstm()
    x = torch.randint(0, 7, (5, 9))
    y = torch.randint(0, 7, (5, 9))
    per_position = influence.summed_position_cross_entropy(lstm, x, y)
    assert torch.allclose(per_position, 9 * influence.summed_cross_entropy(lstm, x, y))
    # raw batch-sum HVPs (the authors' hvp): with n identical rows r every batch of b rows has Hessian b r r^T, so
    # LiSSA converges to (b r r^T + scale * damping I)^-1 g; rescaled by n / b, to the whole data's (n r r^T + ...)^-1 g
    r = torch.tensor([1.0, 2.0], dtype=torch.float64)
    n, bsz, scale, damping = 40, 10, 1e3, 0.1
    lin = nn.Linear(2, 1, bias=False).double()
    squared = lambda m, x_, y_: 0.5 * (m(x_)[:, 0] ** 2).sum()
    for rescale, rows in ((False, bsz), (True, n)):
        solver = influence.Solver("lissa", lissa_scale=scale, lissa_damping=damping, lissa_depth=300, lissa_batch_size=bsz,
                                  lissa_patience=300, lissa_rescale=rescale)
        s, info = influence.inverse_hvp(lin, r, (r.repeat(n, 1), torch.zeros(n)), solver, loss_fn=squared, seed=0)
        expected = r / (rows * float(r @ r) + scale * damping)  # by hand: r is an eigenvector
        assert not info.diverged and torch.allclose(s, expected, rtol=1e-8), (rescale, s, expected)


def methods_lstm():
    from unlearn import models

    return models.build("char_lstm", vocab_size=7, embed=4, hidden=6, layers=1).double().eval()
