"""The real two-layer ReLU network (theory §1, §7): trainer, batched leave-one-out, exact IHVP."""
import numpy as np
import pytest
import torch

from ifexplorer import network as N


def _toy(n=12, d=5, seed=0, C=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if C == 1:
        y = np.sign(X[:, 0] + 0.3 * rng.normal(size=n))
    else:
        y = np.eye(C)[rng.integers(0, C, size=n)]
    return X, y


def _linearized_minimizer(net, X, y, X_test, reg):
    """Closed form of the model linearized at W0: f0(x) + K0(x, X)(K0 + λI)⁻¹(y − f0(X)) (scalar output)."""
    Xt, Xe = torch.as_tensor(X), torch.as_tensor(X_test)
    S, Se = (Xt @ net.W0.T > 0).double(), (Xe @ net.W0.T > 0).double()
    K = (Xt @ Xt.T) * (S @ S.T) / net.width
    Ke = (Xe @ Xt.T) * (Se @ S.T) / net.width
    f0, f0e = net.forward(Xt)[:, 0], net.forward(Xe)[:, 0]
    alpha = torch.linalg.solve(K + reg * torch.eye(len(X), dtype=K.dtype), torch.as_tensor(y) - f0)
    return (f0e + Ke @ alpha).numpy()


def test_lazy_network_reaches_the_linearized_closed_form_minimizer():
    # Large κ keeps every w_r·x_i far from 0, so no activation flips: the trained network IS its
    # linearization at W0 and must land on the closed-form minimizer (theory §7: small κ is *less* lazy).
    # The antisymmetric init keeps f0 ≡ 0 (a standard init's f0 grows like κ, which is not lazy).
    X, y = _toy(n=10, d=4)
    Xq, _ = _toy(n=6, d=4, seed=1)
    reg = 0.1
    net = N.TwoLayerReLU(512, 4, kappa=1e3, seed=3)
    fit = N.train(net, X, y, reg, rtol=1e-11)
    assert fit.flip_fraction == 0.0 and fit.step_decays == 0
    np.testing.assert_allclose(fit.predict(Xq)[:, 0], _linearized_minimizer(net, X, y, Xq, reg), atol=1e-8)
    assert fit.grad_norm <= 1e-11 * 10 * fit.losses[0] ** 0.5 + 1e-9
    assert fit.losses[-1] < fit.losses[0]
    np.testing.assert_allclose(net.forward(torch.as_tensor(Xq)).numpy(), 0.0, atol=1e-12)


def test_gradient_descent_and_nesterov_reach_the_same_minimizer():
    X, y = _toy(n=10, d=4)
    # In a lazy configuration (0.2% of activations flip). Both stop "kink-limited": the minimizer sits on
    # ReLU kinks, so the outputs agree to the chatter level, not to machine precision. (At width 256,
    # κ = 1, with 2% flips, they differ by 1.5e-3: the loss is not convex there.)
    net = N.TwoLayerReLU(2048, 4, kappa=3.0, seed=0)
    a = N.train(net, X, y, 0.5, method="gd", rtol=1e-10, max_steps=50000)
    b = N.train(net, X, y, 0.5, method="nesterov", rtol=1e-10)
    assert b.steps < a.steps / 5 and max(a.flip_fraction, b.flip_fraction) < 0.005
    np.testing.assert_allclose(a.predict(X), b.predict(X), atol=2e-5)


def test_batched_leave_one_out_equals_the_same_retrain_done_alone():
    X, y = _toy(n=12, d=5, C=2)
    Xq, _ = _toy(n=4, d=5, seed=1)
    net = N.TwoLayerReLU(128, 5, n_outputs=2, kappa=1.0, seed=0)
    fit = N.train(net, X, y, 0.2)
    idx = [0, 7, 11]
    loo = N.retrain_loo(fit, idx, X_eval=Xq, chunk_size=3)
    one = N.retrain_loo(fit, idx, X_eval=Xq, chunk_size=1)
    assert loo.completed.all() and not loo.interrupted
    np.testing.assert_allclose(loo.eval_predictions, one.eval_predictions, atol=1e-10)
    for k, i in enumerate(idx):  # the same network trained on the n − 1 remaining points alone
        keep = np.arange(len(X)) != i
        alone = N.train(net, X[keep], y[keep], 0.2, lr=fit.schedule.lr)
        np.testing.assert_allclose(loo.eval_predictions[k], alone.predict(Xq), atol=1e-8)
        np.testing.assert_allclose(loo.train_predictions[k][keep], alone.predict(X[keep]), atol=1e-8)
        assert loo.steps[k] == alone.steps
    # retraining without a point changes the network
    assert np.abs(loo.eval_predictions[0] - fit.predict(Xq)).max() > 1e-4


def test_interrupted_leave_one_out_keeps_finished_chunks():
    X, y = _toy(n=10, d=4)
    net = N.TwoLayerReLU(64, 4, seed=0)
    fit = N.train(net, X, y, 0.3)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 1  # allow the first chunk only

    loo = N.retrain_loo(fit, [1, 2, 3, 4], chunk_size=2, should_stop=stop)
    assert loo.interrupted and loo.completed.tolist() == [True, True, False, False]
    assert np.isfinite(loo.eval_predictions[:2]).all() and np.isnan(loo.eval_predictions[2:]).all()


def _explicit_hessian_and_jacobian(fit):
    """J (n·C, width·d) by autograd and the true Hessian of L by autograd (float64)."""
    net, X, y, reg = fit.net, fit.X, fit.y, fit.reg

    def outputs(w):
        return net.forward(X, w.reshape(net.W0.shape)).reshape(-1)

    def loss(w):
        W = w.reshape(net.W0.shape)
        return 0.5 * (net.forward(X, W) - y).square().sum() + 0.5 * reg * (W - net.W0).square().sum()

    w = fit.W.reshape(-1).clone()
    J = torch.autograd.functional.jacobian(outputs, w)
    H = torch.autograd.functional.hessian(loss, w)
    return J, H


def test_exact_network_ihvp_equals_an_explicit_hessian_solve():
    X, y = _toy(n=7, d=3, C=2)
    Xq, yq = _toy(n=3, d=3, seed=1, C=2)
    net = N.TwoLayerReLU(6, 3, n_outputs=2, kappa=1.0, seed=2)
    fit = N.train(net, X, y, 0.3)
    J, H = _explicit_hessian_and_jacobian(fit)
    reg = fit.reg
    np.testing.assert_allclose(H.numpy(), (J.T @ J).numpy() + reg * np.eye(H.shape[0]), atol=1e-10)
    an = fit.analysis()
    K = an.empirical_ntk()
    np.testing.assert_allclose(K.numpy(), (J @ J.T).numpy(), atol=1e-12)
    v = torch.randn(net.W0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(an.ihvp_exact(v).reshape(-1).numpy(), torch.linalg.solve(H, v.reshape(-1)).numpy(),
                               rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(an.hvp(v).reshape(-1).numpy(), (H @ v.reshape(-1)).numpy(), atol=1e-11)
    # influence I(i, x) = ∇ℓ_xᵀ Hess⁻¹ ∇ℓ_i with explicit gradients
    Xqt, yqt = torch.as_tensor(Xq), torch.as_tensor(yq)
    r = (net.forward(fit.X, fit.W) - fit.y).reshape(-1)
    grads_i = (J * r[:, None]).reshape(len(X), 2, -1).sum(1)  # (n, width·d)
    Hinv = torch.linalg.inv(H)
    expected = np.stack([(Hinv @ an.test_gradient(Xqt[j], yqt[j]).reshape(-1) @ grads_i.T).numpy()
                         for j in range(len(Xq))])
    np.testing.assert_allclose(an.exact_influence(Xqt, yqt).numpy(), expected, rtol=1e-8, atol=1e-12)
    # the same through the solver path with CG
    cg, infos = an.solver_influence(Xqt, yqt, "cg", max_iter=200, tol=1e-13)
    np.testing.assert_allclose(cg.numpy(), expected, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0), "width must be an integer ≥ 1; got 0"), (dict(width=2.5), "width must be an integer"),
    (dict(width=512.0), "width must be an integer ≥ 1; got 512.0"), (dict(width=True), "width must be an integer"),
    (dict(kappa=0.0), r"kappa \(κ\) must be a positive number; got 0.0"), (dict(kappa=-1.0), "kappa"),
    (dict(kappa=True), r"kappa \(κ\) must be a positive number; got True"), (dict(width=5), "width must be even"),
    (dict(seed=-1), "seed must be an integer ≥ 0; got -1"), (dict(n_inputs=3.0), "n_inputs must be an integer"),
])
def test_bad_network_settings_are_clear_errors(kwargs, match):
    args = dict(width=8, n_inputs=3, kappa=1.0) | kwargs
    with pytest.raises(ValueError, match=match):
        N.TwoLayerReLU(**args)


def test_bad_training_settings_are_clear_errors():
    X, y = _toy(n=8, d=3)
    net = N.TwoLayerReLU(16, 3)
    with pytest.raises(ValueError, match="reg"):
        N.train(net, X, y, 0.0)
    with pytest.raises(ValueError, match="features"):
        N.train(net, X[:, :2], y, 0.1)
    with pytest.raises(ValueError, match="rows"):
        N.train(net, X, y[:5], 0.1)
    with pytest.raises(ValueError, match="method"):
        N.train(net, X, y, 0.1, method="adam")
    fit = N.train(net, X, y, 0.1)
    with pytest.raises(ValueError, match=r"indices must be integers in \[0, 8\); got 8"):
        N.retrain_loo(fit, [0, 8])
    with pytest.raises(ValueError, match=r"indices must be integers in \[0, 8\); got -1"):
        N.retrain_loo(fit, [-1])
    for bad in ([], [1.0, 2.0], [True, False]):
        with pytest.raises(ValueError, match="indices must be a non-empty 1-D array of integers"):
            N.retrain_loo(fit, bad)
    with pytest.raises(ValueError, match="indices must be unique; got 3 more than once"):
        N.retrain_loo(fit, [3, 1, 3])
    for rtol, atol, match in ((float("nan"), 1e-12, "rtol must be a finite number ≥ 0; got nan"),
                              (-1e-8, 1e-12, "rtol must be"), ("x", 1e-12, "rtol must be"),
                              (1e-8, float("inf"), "atol must be"), (0.0, 0.0, "rtol and atol must not both be 0")):
        with pytest.raises(ValueError, match=match):
            N.train(net, X, y, 0.1, rtol=rtol, atol=atol)
    with pytest.raises(ValueError, match="rtol must be"):
        N.retrain_loo(fit, [0], rtol=float("nan"))
    with pytest.raises(ValueError, match="max_steps must be an integer ≥ 1; got 500.0"):
        N.retrain_loo(fit, [0], max_steps=500.0)
    analysis = fit.analysis()
    Xe, ye = net.inputs(X[:1]), net.targets(y[:1], 1)[0]
    with pytest.raises(ValueError, match=r"unknown lissa option\(s\) \['foo'\]"):
        analysis.solver_influence(Xe, ye, "lissa", foo=1)
    with pytest.raises(ValueError, match="solver must be"):
        analysis.solver_influence(Xe, ye, "newton")


def test_a_diverging_step_is_detected_not_returned():
    X, y = _toy(n=10, d=4)
    net = N.TwoLayerReLU(64, 4)
    sched = N.make_schedule(net, net.inputs(X), net.targets(y, 10)[0], 0.1)
    with pytest.raises(N.TrainingDivergedError, match="diverged"):
        N.train(net, X, y, 0.1, lr=5.0 / sched.curvature, method="gd")


def test_running_out_of_steps_is_reported():
    X, y = _toy(n=10, d=4)
    with pytest.raises(N.NotConvergedError, match="max_steps"):
        N.train(N.TwoLayerReLU(64, 4), X, y, 0.01, max_steps=3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_float32_retrains_match_cpu_float64():
    X, y = _toy(n=12, d=5)
    cpu = N.train(N.TwoLayerReLU(256, 5, seed=1, device="cpu", dtype=torch.float64), X, y, 0.3)
    gpu = N.train(N.TwoLayerReLU(256, 5, seed=1, device="cuda", dtype=torch.float32), X, y, 0.3, rtol=1e-5)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), atol=1e-3)
    a = N.retrain_loo(cpu, [2, 5], chunk_size=2)
    b = N.retrain_loo(gpu, [2, 5], chunk_size=2, rtol=1e-5)
    np.testing.assert_allclose(b.train_predictions, a.train_predictions, atol=1e-3)
