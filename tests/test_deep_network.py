"""Deep ReLU networks (theory §9), leave-one-out retraining, PBRF (§10) and the network's own IHVP,
against autograd / closed-form / explicit-Hessian references in float64."""
import math

import numpy as np
import pytest
import torch

from ifexplorer import deep_network as D
from ifexplorer import kernels
from ifexplorer import network as N


@pytest.fixture(autouse=True)
def _one_thread():
    """These problems are tiny: threads only add synchronisation (30× slower on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _toy(n=10, d=4, seed=0, C=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.sign(X[:, 0] + 0.3 * rng.normal(size=n)) if C == 1 else np.eye(C)[rng.integers(0, C, size=n)]
    return X, y


def _test_points(m=4, d=4, seed=1, C=1):
    return _toy(m, d, seed, C)


def _loss_change(pred, base_pred, y):
    """½‖f' − y‖² − ½‖f − y‖² per (run, test point): pred (R, m, C), base_pred (m, C), y (m,) or (m, C)."""
    y = np.asarray(y).reshape(base_pred.shape)
    return 0.5 * ((pred - y) ** 2).sum(-1) - 0.5 * ((base_pred - y) ** 2).sum(-1)


def _flat_jacobian(infl, X):
    """J (m·C, p) at θ_s by torch.func.jacrev — the obviously-correct reference."""
    J = torch.func.jacrev(lambda t: infl.outputs(t, X))(infl.theta)
    return J.reshape(-1, infl.theta.numel())


# ----------------------------------------------------------------------- the network and its maps
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("linearized", [False, True])
def test_batched_objective_gradient_equals_autograd(depth, linearized):
    # The engine's hand-written backward pass (span coordinates for W¹, masks, the PBRF linear term) against
    # torch.func.grad of the same objective written on the full weights.
    X, y = _toy(n=6, d=3, C=2)
    net = D.DeepReLU(10, 3, 2, depth=depth, seed=2, linearized=linearized)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(0)
    ref = tuple(p + 0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in net.params0)
    prob = D._Problem(net, Xt, ref)
    Dz = tuple(0.2 * torch.randn(z.shape, generator=gen, dtype=torch.float64) for z in prob.zeros(2))
    mask = torch.tensor([[1.0, 0, 1, 1, 0.5, 1], [1, 1, 1, 0, 1, 1]], dtype=torch.float64)
    E = 0.3 * torch.randn((2, 6, 2), generator=gen, dtype=torch.float64)
    reg = 0.7
    f, cache = prob.forward(Dz)
    P, dd, pp = prob.gradient(Dz, cache, (f - yt) * mask[..., None] + E, reg)
    full = prob.full_weights(Dz)
    for b in range(2):
        def objective(params, b=b):
            fb = net.function(params, Xt)
            off = sum(((p - r) ** 2).sum() for p, r in zip(params, ref))
            return (0.5 * (mask[b, :, None] * (fb - yt) ** 2).sum() + (E[b] * (fb - yt)).sum() + 0.5 * reg * off)
        pb = tuple(p[b] for p in full)
        g = torch.func.grad(objective)(pb)
        np.testing.assert_allclose(f[b].numpy(), net.function(pb, Xt).numpy(), atol=1e-13)
        np.testing.assert_allclose((P[0][b].transpose(-1, -2) @ Xt).numpy(), g[0].numpy(), atol=1e-12)
        for k in range(1, depth):
            np.testing.assert_allclose(P[k][b].numpy(), g[k].numpy(), atol=1e-12)
        np.testing.assert_allclose(float(pp[b]), sum(float((t ** 2).sum()) for t in g), rtol=1e-12)
        np.testing.assert_allclose(float(dd[b]), sum(float(((p - r) ** 2).sum()) for p, r in zip(pb, ref)),
                                   rtol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("linearized", [False, True])
def test_empirical_ntk_equals_the_jacobian_product(depth, linearized):
    X, y = _toy(n=5, d=3, C=2)
    Xq, _ = _test_points(m=3, d=3)
    net = D.DeepReLU(12, 3, 2, depth=depth, seed=4, linearized=linearized)
    fit = D.train(net, X, y, 1.0, require_convergence=False, max_steps=30)  # weights away from θ(0)
    infl = fit.influence()
    Xt, Xqt = torch.as_tensor(X), torch.as_tensor(Xq)
    J, Jq = _flat_jacobian(infl, Xt), _flat_jacobian(infl, Xqt)
    np.testing.assert_allclose(infl.ntk().numpy(), (J @ J.T).numpy(), atol=1e-12)
    np.testing.assert_allclose(infl.ntk(Xqt).numpy(), (Jq @ J.T).numpy(), atol=1e-12)
    if linearized:  # the linearized model's Jacobian is J(θ(0)) everywhere
        at0 = net.empirical_ntk(net.params0, Xt)
        np.testing.assert_allclose(infl.ntk().numpy(), at0.numpy(), atol=1e-13)


def test_antisymmetric_init_starts_at_zero_and_keeps_one_copys_kernel():
    X, _ = _toy(n=6, d=4)
    Xt = torch.as_tensor(X)
    net = D.DeepReLU(64, 4, 2, depth=3, seed=0)
    assert net.copies == 2 and net.copy_width == 32
    np.testing.assert_allclose(net.forward(X).numpy(), 0.0, atol=1e-15)
    one = D.DeepReLU(32, 4, 2, depth=3, seed=0, antisymmetric=False)  # one copy: the same draws
    for p, q in zip(net.params0, one.params0):
        assert torch.equal(p[0], p[1]) and torch.equal(p[0], q[0])
    np.testing.assert_allclose(net.empirical_ntk(net.params0, Xt).numpy(),
                               one.empirical_ntk(one.params0, Xt).numpy(), rtol=1e-12)
    assert np.abs(one.forward(X).numpy()).max() > 0.1


def _ntk_recursion(X1, X2, depth):
    """theory §9 written out in the plain arccos form, which loses half the digits at θ → 0 (the diagonal):
    good to ~1e-8 there, to rounding elsewhere."""
    S = X1 @ X2.T
    n1, n2 = (X1 ** 2).sum(1)[:, None], (X2 ** 2).sum(1)[None, :]
    Theta = S.copy()
    for _ in range(depth - 1):
        th = np.arccos(np.clip(S / np.sqrt(n1 * n2), -1, 1))
        S = np.sqrt(n1 * n2) * (np.sin(th) + (np.pi - th) * np.cos(th)) / np.pi
        Theta = S + Theta * (np.pi - th) / np.pi
    th = np.arccos(np.clip(S / np.sqrt(n1 * n2), -1, 1))
    return Theta * (np.pi - th) / (2 * np.pi)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_empirical_ntk_at_init_approaches_the_depth_L_kernel_with_width(depth):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 20)) * rng.uniform(0.5, 2.0, size=(6, 1))
    H = _ntk_recursion(X, X, depth)
    np.testing.assert_allclose(np.diag(H), depth * (X ** 2).sum(1) / 2, rtol=1e-7)  # H_L(x, x) = L‖x‖²/2
    if hasattr(kernels, "ntk_relu"):  # the package's kernel, once it has landed
        np.testing.assert_allclose(np.asarray(kernels.ntk_relu(torch.as_tensor(X), torch.as_tensor(X), depth=depth)),
                                   H, rtol=1e-7)
    errors = []
    for width in (64, 4096):
        err = []
        for seed in range(3):
            net = D.DeepReLU(width, 20, depth=depth, seed=seed)
            K = net.empirical_ntk(net.params0, torch.as_tensor(X)).numpy()
            err.append(np.linalg.norm(K - H) / np.linalg.norm(H))
        errors.append(np.mean(err))
    assert errors[1] < 0.5 * errors[0] and errors[1] < 0.05, errors


# ---------------------------------------------------------------------------------- training
def test_depth_one_is_the_two_layer_trainer_of_network_py():
    X, y = _toy(n=10, d=4)
    for width, reg in ((64, 0.2), (256, 1.0)):
        deep = D.train(D.DeepReLU(width, 4, depth=1, seed=1), X, y, reg, rtol=1e-10)
        net2 = N.TwoLayerReLU(width, 4, seed=1)
        two = N.train(net2, X, y, reg, rtol=1e-10)
        W0 = D.DeepReLU(width, 4, depth=1, seed=1).params0[0].reshape(width, 4)
        np.testing.assert_array_equal(W0.numpy(), net2.W0.numpy())  # the same W(0)
        assert deep.steps == two.steps and deep.step_decays == two.step_decays
        np.testing.assert_allclose(deep.schedule.lr, two.schedule.lr, rtol=1e-12)
        np.testing.assert_allclose(deep.params[0].reshape(width, 4).numpy(), two.W.numpy(), atol=1e-10)
        np.testing.assert_allclose(deep.predict(X), two.predict(X), atol=1e-10)


def test_linearized_network_lands_on_the_closed_form_minimizer():
    # Linear in θ, so L is a strongly convex quadratic: the trainer must reach its minimizer, kernel ridge
    # regression with the empirical NTK at θ(0), with the gradient (by autograd) at the tolerance.
    X, y = _toy(n=10, d=4)
    Xq, _ = _test_points()
    net = D.DeepReLU(64, 4, depth=3, seed=0, linearized=True)
    fit = D.train(net, X, y, 0.3, rtol=1e-12)
    assert fit.status == "tolerance" and fit.step_decays == 0
    Xt, Xqt = torch.as_tensor(X), torch.as_tensor(Xq)
    K, Kq = net.empirical_ntk(net.params0, Xt), net.empirical_ntk(net.params0, Xqt, Xt)
    closed = Kq @ torch.linalg.solve(K + 0.3 * torch.eye(10, dtype=K.dtype), torch.as_tensor(y))
    np.testing.assert_allclose(fit.predict(Xq)[:, 0], closed.numpy(), atol=1e-9)
    infl = fit.influence()
    g = torch.func.grad(infl.loss)(infl.theta)
    assert float(g.norm()) <= 1e-10 and abs(float(g.norm()) - fit.grad_norm) < 1e-12


def test_deep_relu_network_stops_kink_limited_on_a_local_minimum():
    # The minimizer of the real network sits on ReLU kinks (pre-activations exactly 0), where the gradient
    # jumps and its norm cannot vanish; the trainer then stops "kink-limited". Check that (a) it is a local
    # minimum: no random direction lowers L beyond the chatter, (b) the outputs have settled: more step
    # decays move them by less than 1e-4.
    X, y = _toy(n=8, d=4)
    net = D.DeepReLU(256, 4, depth=2, seed=1)
    fit = D.train(net, X, y, 1.0, rtol=1e-10)
    assert fit.status == "kink-limited" and fit.step_decays == 3 and fit.flip_fraction > 0
    assert fit.loss < 0.6 * fit.losses[0]
    infl = fit.influence()
    L0 = float(infl.loss(infl.theta))
    np.testing.assert_allclose(L0, fit.loss, rtol=1e-10)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        v = torch.randn(infl.theta.shape, generator=gen, dtype=torch.float64)
        v /= v.norm()
        for t in (1e-2, -1e-2):
            assert float(infl.loss(infl.theta + t * v)) - L0 > -1e-6
    finer = D.train(net, X, y, 1.0, rtol=1e-10, max_decays=6)
    np.testing.assert_allclose(finer.predict(X), fit.predict(X), atol=1e-4)


# ---------------------------------------------------------------- leave-one-out, PBRF and the IHVP
def test_batched_runs_equal_the_same_runs_done_alone():
    X, y = _toy(n=10, d=4, C=2)
    Xq, _ = _test_points(C=2)
    net = D.DeepReLU(32, 4, 2, depth=3, seed=0)
    fit = D.train(net, X, y, 0.5)
    idx = [0, 6, 9]
    for run in (D.retrain_loo, D.pbrf):
        batch = run(fit, idx, X_eval=Xq, chunk_size=3)
        alone = run(fit, idx, X_eval=Xq, chunk_size=1)
        assert batch.completed.all() and not batch.interrupted
        np.testing.assert_allclose(batch.eval_predictions, alone.eval_predictions, atol=1e-8)
        np.testing.assert_allclose(batch.train_predictions, alone.train_predictions, atol=1e-8)
        np.testing.assert_array_equal(batch.steps, alone.steps)
    loo = D.retrain_loo(fit, idx, X_eval=Xq, chunk_size=3)
    for k, i in enumerate(idx):  # the same network trained on the n − 1 other points
        keep = np.arange(len(X)) != i
        own = D.train(net, X[keep], y[keep], 0.5, lr=fit.schedule.lr)
        np.testing.assert_allclose(loo.eval_predictions[k], own.predict(Xq), atol=1e-8)
        assert loo.steps[k] == own.steps
    assert np.abs(loo.eval_predictions[0] - fit.predict(Xq)).max() > 1e-3


@pytest.mark.parametrize("C", [1, 2])
def test_pbrf_equals_leave_one_out_for_a_network_linear_in_its_weights(C):
    # theory §10: in the NTK regime (here: the network's linearization, exactly linear in θ) PBRF from θ_s and
    # retraining from θ(0) minimise quadratics with the same Hessian and the same gradient at θ_s. Both must
    # also equal the closed-form leave-one-out of kernel ridge regression with the empirical NTK (theory §4).
    X, y = _toy(n=10, d=4, C=C)
    Xq, yq = _test_points(C=C)
    net = D.DeepReLU(64, 4, C, depth=2, seed=1, linearized=True)
    fit = D.train(net, X, y, 0.5, rtol=1e-12)
    idx = [0, 4, 7]
    p = D.pbrf(fit, idx, X_eval=Xq, rtol=1e-12)
    loo = D.retrain_loo(fit, idx, X_eval=Xq, rtol=1e-12)
    np.testing.assert_allclose(p.eval_predictions, loo.eval_predictions, atol=1e-8)
    np.testing.assert_allclose(p.train_predictions, loo.train_predictions, atol=1e-8)
    Xt, Xqt, yt = torch.as_tensor(X), torch.as_tensor(Xq), torch.as_tensor(y).reshape(10, C)
    K, Kq = net.empirical_ntk(net.params0, Xt), net.empirical_ntk(net.params0, Xqt, Xt)
    for k, i in enumerate(idx):
        keep = torch.as_tensor([r * C + c for r in range(10) for c in range(C) if r != i])  # rows (point, output)
        sol = torch.linalg.solve(K[keep][:, keep] + 0.5 * torch.eye(len(keep), dtype=K.dtype),
                                 yt.reshape(-1)[keep])
        np.testing.assert_allclose(p.eval_predictions[k].reshape(-1), (Kq[:, keep] @ sol).numpy(), atol=1e-8)
    # and the IHVP is PBRF's first-order term only: with one output Δf_ihvp(x) = r_m (k(x)ᵀQ)_m = λQ_mm Δf_pbrf(x)
    # (theory §5), r = f(θ_s, X) − y
    if C == 1:
        Q = torch.linalg.inv(K + 0.5 * torch.eye(10, dtype=K.dtype)).numpy()
        r = fit.predict(X)[:, 0] - y
        df_pbrf = p.eval_predictions[:, :, 0].T - fit.predict(Xq)  # (test point, removed point)
        np.testing.assert_allclose(0.5 * np.diag(Q)[idx] * df_pbrf, (Kq.numpy() @ Q)[:, idx] * r[idx], atol=1e-8)


def test_pbrf_first_order_term_is_the_gauss_newton_ihvp():
    # Bae et al.: influence functions answer PBRF. Weighting the removed point by ε, the PBRF response divided
    # by ε tends to the Gauss–Newton IHVP at θ_s with an O(ε) error, for any θ_s (PBRF's D-terms are stationary
    # there whether or not training converged). A converged ReLU network sits on kinks (pre-activations at
    # ~1e-6), where the response is only piecewise smooth in ε; an early-stopped one has none nearby.
    X, y = _toy(n=10, d=4)
    Xq, yq = _test_points()
    fit = D.train(D.DeepReLU(64, 4, depth=2, seed=1), X, y, 0.5, max_steps=40, require_convergence=False)
    assert fit.status == "max_steps" and fit.flip_fraction > 0
    idx = [0, 4, 7]
    ihvp = fit.influence().ihvp_gn(torch.as_tensor(Xq), torch.as_tensor(yq).reshape(-1, 1)).numpy()[:, idx].T
    errors = []
    for eps in (1e-3, 1e-4):  # measured: relative error 5.3e-4, 5.3e-5 (and 5.4e-6 at ε = 1e-5)
        p = D.pbrf(fit, idx, X_eval=Xq, weight=eps, rtol=1e-12)
        assert all(s == "tolerance" for s in p.status)
        change = _loss_change(p.eval_predictions, fit.predict(Xq), yq) / eps
        errors.append(np.abs(change - ihvp).max() / np.abs(ihvp).max())
    assert 0.05 < errors[1] / errors[0] < 0.2 and errors[1] < 1e-3, errors


def test_on_a_finite_relu_network_loo_pbrf_and_ihvp_differ():
    # The three answers of theory §10 part ways on a narrow network: PBRF (from θ_s) is not leave-one-out (from
    # θ(0)) because the network is not lazy, and the IHVP is not PBRF because of the leverage (its error is
    # the nonlinearity in ε). Measured here (λ = 0.5, width 128, depth 2, n = 10, 3 points × 4 test points):
    # ‖pbrf − loo‖/‖loo‖ = 0.097, ‖ihvp − pbrf‖/‖pbrf‖ = 0.566, ‖ihvp − loo‖/‖loo‖ = 0.567; Pearson
    # pbrf~loo 0.997, ihvp~pbrf 0.987, ihvp~loo 0.982 (2.5% of the activations flipped in training).
    X, y = _toy(n=10, d=4)
    Xq, yq = _test_points()
    fit = D.train(D.DeepReLU(128, 4, depth=2, seed=1), X, y, 0.5)
    idx = [0, 4, 7]
    base = fit.predict(Xq)
    loo = _loss_change(D.retrain_loo(fit, idx, X_eval=Xq).eval_predictions, base, yq)
    pb = _loss_change(D.pbrf(fit, idx, X_eval=Xq).eval_predictions, base, yq)
    ihvp = fit.influence().ihvp_gn(torch.as_tensor(Xq), torch.as_tensor(yq).reshape(-1, 1)).numpy()[:, idx].T
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    assert 0.03 < rel(pb, loo) < 0.3
    assert rel(ihvp, pb) > 0.3 and rel(ihvp, loo) > 0.3
    assert np.corrcoef(pb.ravel(), loo.ravel())[0, 1] > 0.9  # still the same story


def test_true_hessian_ihvp_equals_an_explicit_hessian_solve():
    # Tiny enough for torch.func.hessian of L (p = 56 parameters). For depth ≥ 2 the true Hessian has the term
    # Σ r_i ∇²f_i besides JᵀJ + λI, so the two IHVPs differ; each must match its explicit solve.
    X, y = _toy(n=6, d=3)
    Xq, yq = _test_points(m=2, d=3)
    fit = D.train(D.DeepReLU(8, 3, depth=2, seed=3), X, y, 0.5, require_convergence=False)
    infl = fit.influence()
    Xqt, yqt = torch.as_tensor(Xq), torch.as_tensor(yq).reshape(-1, 1)
    H = torch.func.hessian(infl.loss)(infl.theta)
    J = _flat_jacobian(infl, torch.as_tensor(X))
    GN = J.T @ J + 0.5 * torch.eye(J.shape[1], dtype=J.dtype)
    assert torch.linalg.norm(H - GN) > 1e-2 * torch.linalg.norm(GN)
    assert float(torch.linalg.eigvalsh(H)[0]) > 0
    grads_train = J.T * infl.residual.reshape(-1)  # (p, n): ∇ℓ_i = J_iᵀ r_i
    ref = {}
    for name, M in (("gn", GN), ("hessian", H)):
        rows = [infl.test_gradient(Xqt[j], yqt[j]) @ torch.linalg.solve(M, grads_train) for j in range(2)]
        ref[name] = torch.stack(rows).numpy()
    np.testing.assert_allclose(infl.ihvp_gn(Xqt, yqt).numpy(), ref["gn"], rtol=1e-9, atol=1e-12)
    got, info = infl.ihvp_hessian(Xqt, yqt, tol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref["hessian"], rtol=1e-8, atol=1e-11)
    assert all(i["iterations"] <= 56 for i in info)
    assert np.abs(ref["gn"] - ref["hessian"]).max() > 1e-4


# ----------------------------------------------------------------------------------- the study
def test_examine_reports_every_method_and_keeps_finished_parts_when_stopped():
    X, y = _toy(n=10, d=4)
    Xq, yq = _test_points()
    kw = dict(depth=2, width=32, reg=0.5, indices=[1, 5], seed=0)
    full = D.examine(X, y, Xq, yq, methods=("loo", "pbrf", "ihvp_gn", "ihvp_hessian"), **kw)
    assert not full["interrupted"]
    for m in ("loo", "pbrf", "ihvp_gn", "ihvp_hessian"):
        assert full["changes"][m].shape == (2, 4) and full["completed"][m].all()
    assert 0 < full["flip_fraction"] < 1 and full["loo_flip_fraction"].shape == (2,)
    assert full["train"]["depth"] == 2 and full["train"]["status"] in ("tolerance", "kink-limited")
    fit = D.train(D.DeepReLU(32, 4, depth=2, seed=0), X, y, 0.5)  # the same study by hand
    loo = D.retrain_loo(fit, [1, 5], X_eval=Xq)
    np.testing.assert_allclose(full["changes"]["loo"], _loss_change(loo.eval_predictions, fit.predict(Xq), yq),
                               atol=1e-12)
    entered_loo = []  # stop as soon as the leave-one-out stage starts: the rest must be kept

    def progress(fraction, message):
        if message.startswith("retraining without"):
            entered_loo.append(fraction)

    part = D.examine(X, y, Xq, yq, methods=("loo", "pbrf", "ihvp_gn"), progress=progress,
                     should_stop=lambda: bool(entered_loo), **kw)
    assert part["interrupted"] and not part["completed"]["loo"].any() and np.isnan(part["changes"]["loo"]).all()
    for m in ("pbrf", "ihvp_gn"):
        assert part["completed"][m].all()
        np.testing.assert_allclose(part["changes"][m], full["changes"][m], atol=1e-12)


def test_examine_ntk_method_is_leave_one_out_of_the_depth_L_kernel():
    X, y = _toy(n=10, d=4)
    Xq, yq = _test_points()
    kw = dict(depth=3, width=16, reg=0.5, indices=[1, 5], methods=("ntk",))
    if not hasattr(kernels, "ntk_relu"):
        with pytest.raises(ValueError, match="needs the depth-L kernel ifexplorer.kernels.ntk_relu"):
            D.examine(X, y, Xq, yq, **kw)
        return
    got = D.examine(X, y, Xq, yq, **kw)["changes"]["ntk"]
    H, Hq = _ntk_recursion(X, X, 3), _ntk_recursion(Xq, X, 3)
    f = Hq @ np.linalg.solve(H + 0.5 * np.eye(10), y)
    for k, i in enumerate([1, 5]):
        keep = np.arange(10) != i
        fi = Hq[:, keep] @ np.linalg.solve(H[np.ix_(keep, keep)] + 0.5 * np.eye(9), y[keep])
        np.testing.assert_allclose(got[k], 0.5 * (fi - yq) ** 2 - 0.5 * (f - yq) ** 2, atol=1e-9)


# -------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=0), r"depth .* integer ≥ 1; got 0"),
    (dict(depth=2.5), r"depth .* integer ≥ 1; got 2.5"),
    (dict(depth=True), r"depth .* integer ≥ 1; got True"),
    (dict(width=7), r"width must be even and ≥ 2; got 7"),
    (dict(width=0), r"width must be an integer ≥ 1; got 0"),
])
def test_bad_network_settings_are_refused_with_clear_messages(kwargs, match):
    args = dict(width=8, n_inputs=3, depth=2) | kwargs
    with pytest.raises(ValueError, match=match):
        D.DeepReLU(args.pop("width"), args.pop("n_inputs"), **args)


def test_bad_runs_are_refused_or_reported():
    X, y = _toy(n=8, d=4)
    net = D.DeepReLU(16, 4, depth=2, seed=0)
    with pytest.raises(ValueError, match="X_train has 3 features; the network takes 4"):
        D.train(net, X[:, :3], y, 0.5)
    with pytest.raises(ValueError, match=r"reg \(λ\)"):
        D.train(net, X, y, -1.0)
    with pytest.raises(D.TrainingDivergedError, match="training diverged"):
        D.train(net, X, y, 0.5, lr=50.0)
    with pytest.raises(D.NotConvergedError, match="after 3 steps"):
        D.train(net, X, y, 0.5, max_steps=3)
    fit = D.train(net, X, y, 0.5)
    with pytest.raises(D.NotConvergedError, match=r"point\(s\) \[2, 5\]"):
        D.retrain_loo(fit, [2, 5], max_steps=3)
    with pytest.raises(ValueError, match=r"indices must be integers in \[0, 8\); got 8"):
        D.pbrf(fit, [8])
    with pytest.raises(ValueError, match="weight"):
        D.pbrf(fit, [1], weight=0.0)
    with pytest.raises(ValueError, match="methods must be"):
        D.examine(X, y, X, y, depth=2, width=16, reg=0.5, indices=[0], methods=("lissa",))
    assert issubclass(D.TrainingDivergedError, ValueError) and D.NotConvergedError is N.NotConvergedError
    assert math.isfinite(fit.loss)
