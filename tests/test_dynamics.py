"""Influence at training time t (theory §6) against slow, obviously-correct references in float64:
scipy.linalg.expm of the linear ODE, plain gradient descent on the linearized network, and brute-force
leave-one-out retraining (one eigendecomposition of every A₋ᵢ)."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ifexplorer.dynamics import TimeView, check_time
from ifexplorer.influence import NTKInfluence
from ifexplorer.kernels import empirical_ntk
from ifexplorer.rational import phi_exact, phi_resolvents


def _unit_rows(rng, n, d):
    X = rng.normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _ntk(X1, X2):
    """theory §2 entry by entry; the angle by 2·atan2(‖a − b‖, ‖a + b‖) of the unit vectors, which is
    accurate near θ = 0 (arccos loses half the digits there, e.g. on the diagonal)."""
    U1 = X1 / np.linalg.norm(X1, axis=1, keepdims=True)
    U2 = X2 / np.linalg.norm(X2, axis=1, keepdims=True)
    diff = np.linalg.norm(U1[:, None, :] - U2[None, :, :], axis=2)
    summ = np.linalg.norm(U1[:, None, :] + U2[None, :, :], axis=2)
    theta = 2 * np.arctan2(diff, summ)
    return (X1 @ X2.T) * (np.pi - theta) / (2 * np.pi)


def _problem(n, m=5, d=6, C=None, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = _unit_rows(rng, n, d), _unit_rows(rng, m, d)
    if C is None:
        y = np.sign(X[:, 0] + noise * rng.normal(size=n))
        yt = np.sign(Xt[:, 0])
    else:
        y = np.eye(C)[rng.integers(0, C, n)]
        yt = np.eye(C)[rng.integers(0, C, m)]
    return X, y, Xt, yt


def _phi(mu, t):
    return 1.0 / mu if math.isinf(t) else -np.expm1(-mu * t) / mu


class BruteForce:
    """f_t and f_t⁻ⁱ by eigendecomposing A and every A₋ᵢ (n eigendecompositions)."""

    def __init__(self, X, y, Xt, lam):
        self.H, self.K, self.y, self.lam = _ntk(X, X), _ntk(Xt, X), y, lam
        n = len(X)
        self.eigs = []
        for i in range(n):
            keep = np.arange(n) != i
            self.eigs.append((keep, *scipy.linalg.eigh(self.H[np.ix_(keep, keep)] + lam * np.eye(n - 1))))
        self.full = scipy.linalg.eigh(self.H + lam * np.eye(n))

    def beta(self, eig, y, t):
        mu, V = eig
        return V @ (_phi(mu, t)[:, None] * (V.T @ y.reshape(len(mu), -1)))

    def predict(self, t):
        b = self.beta(self.full, self.y, t)
        return self.K @ b, self.H @ b

    def loo(self, t):
        """(f_t⁻ⁱ(x) (m, n, C), f_t⁻ⁱ(x_i) (n, C))."""
        loo, own = [], []
        for i, (keep, mu, V) in enumerate(self.eigs):
            b = self.beta((mu, V), self.y[keep], t)
            loo.append(self.K[:, keep] @ b)
            own.append(self.H[i, keep] @ b)
        return np.stack(loo, axis=1), np.stack(own)


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300)


# ------------------------------------------------------------------------ rational approximation
def test_resolvent_sum_of_phi_is_uniformly_accurate():
    rs = phi_resolvents()
    assert len(rs.poles) == 8 and np.all(rs.poles.imag > 1.0)  # 16 CF poles = 8 conjugate pairs, off the axis
    s = np.concatenate([[0.0], np.logspace(-14, 14, 4001)])
    exact = phi_exact(s, 1.0)
    assert np.max(np.abs(rs.psi(s) - exact) / exact) < 1e-13
    for t in (1e-6, 1.0, 1e6):  # φ_t(μ) = t ψ(μt): the same relative accuracy at every scale
        mu = np.logspace(-8, 8, 200)
        assert np.max(np.abs(rs.phi(mu, t) / phi_exact(mu, t) - 1)) < 1e-13


def test_phi_exact_small_and_limits():
    assert phi_exact(np.array([0.0]), 2.5)[0] == 2.5
    assert phi_exact(np.array([1e-300]), 2.0)[0] == pytest.approx(2.0, rel=1e-15)
    assert phi_exact(np.array([1e-12]), 3.0)[0] == pytest.approx(3.0 - 4.5e-12, rel=1e-15)
    assert phi_exact(np.array([4.0]), math.inf)[0] == 0.25


# ---------------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("lam", [1e-3, 1.0])
def test_predictions_match_expm_of_the_linear_ode(lam):
    X, y, Xt, _ = _problem(40, C=3)
    model = NTKInfluence(lam, device="cpu").fit(X, y)
    H, K, n = _ntk(X, X), _ntk(Xt, X), len(X)
    # d/dt [β; 1] = [[−A, y], [0, 0]] [β; 1], β(0) = 0: solved by one matrix exponential.
    M = np.zeros((n + 3, n + 3))
    M[:n, :n], M[:n, n:] = -(H + lam * np.eye(n)), y
    for t in (1e-3, 0.3, 10.0, 300.0):
        Z = np.zeros((n + 3, 3))
        Z[n:] = np.eye(3)
        beta = (scipy.linalg.expm(t * M) @ Z)[:n]
        view = model.at_time(t)
        assert _rel(view.predict(Xt), K @ beta) < 1e-10
        assert _rel(view.train_predictions(), H @ beta) < 1e-10


def test_predictions_match_gradient_descent_on_the_linearized_network():
    rng = np.random.default_rng(3)
    n, d, width, lam = 20, 4, 48, 0.5
    X, Xt = _unit_rows(rng, n, d), _unit_rows(rng, 3, d)
    y = np.sign(rng.normal(size=n))
    W = torch.tensor(rng.normal(size=(width, d)))
    model = NTKInfluence(lam, device="cpu", kernel=lambda A, B: empirical_ntk(A, A if B is None else B, W)).fit(X, y)

    def features(Z):  # ∂f/∂W of the two-layer ReLU network (rows), so that J Jᵀ is the empirical NTK
        act = (Z @ W.numpy().T > 0).astype(float)
        return (act[:, :, None] * Z[:, None, :]).reshape(len(Z), -1) / np.sqrt(width)

    J, Jt = features(X), features(Xt)
    assert np.allclose(J @ J.T, empirical_ntk(torch.tensor(X), torch.tensor(X), W).numpy())
    lam_max = np.linalg.eigvalsh(J @ J.T)[-1] + lam
    checkpoints = (0.2, 1.0, 4.0)
    eta = 2e-4 / lam_max
    theta, now = np.zeros(J.shape[1]), 0.0
    for t in checkpoints:  # full-batch gradient descent on ½‖Jθ − y‖² + (λ/2)‖θ‖², step η, until time t
        steps = int(round((t - now) / eta))
        for _ in range(steps):
            theta -= eta * (J.T @ (J @ theta - y) + lam * theta)
        now += steps * eta
        view = model.at_time(now)
        assert _rel(view.predict(Xt), Jt @ theta) < 2e-4
        assert _rel(view.train_predictions(), J @ theta) < 2e-4


# ------------------------------------------------------------------------- exact leave-one-out
CASES = [(1e-3, 60, 0), (1e-1, 100, 1), (1.0, 150, 2)]


@pytest.mark.parametrize("lam,n,seed", CASES)
def test_leave_one_out_at_time_t_equals_brute_force_retraining(lam, n, seed):
    X, y, Xt, yt = _problem(n, seed=seed)
    model = NTKInfluence(lam, device="cpu").fit(X, y)
    ref = BruteForce(X, y, Xt, lam)
    mu_min, mu_max = np.linalg.eigvalsh(ref.H)[[0, -1]] + lam
    # from before 1/λ_max(A) to past 10/λ_min(A) (at least four decades), and ∞
    t_lo, t_hi = 0.1 / mu_max, max(10.0 / mu_min, 1e4 * 0.1 / mu_max)
    times = list(np.geomspace(t_lo, t_hi, 5)) + [math.inf]
    for t in times:
        view = model.at_time(t)
        f, f_train = ref.predict(t)
        loo, own = ref.loo(t)
        assert _rel(view.loo_predictions(Xt[:1]), loo[:1, :, 0]) < 1e-8  # one test point, new t: fused path
        assert _rel(view.predict(Xt), f[:, 0]) < 1e-10
        assert _rel(view.loo_predictions(Xt), loo[..., 0]) < 1e-8  # batch: by rows
        assert _rel(view.loo_predictions(Xt[1:2]), loo[1:2, :, 0]) < 1e-8  # one test point, cached t: by pole
        infl = 0.5 * (loo[..., 0] - yt[:, None]) ** 2 - 0.5 * (f - yt[:, None]) ** 2
        assert _rel(view.influence(Xt, yt), infl) < 1e-8
        assert _rel(view.influence(Xt[2], yt[2:3]), infl[2:3]) < 1e-8
        resid = y - own[:, 0]
        assert _rel(view.loo_residuals(), resid) < 1e-8
        self_infl = 0.5 * resid ** 2 - 0.5 * (y - f_train[:, 0]) ** 2
        assert _rel(view.self_influence(), self_infl) < 1e-8
        assert view.t == t


def test_multiclass_leave_one_out_at_time_t():
    lam, C = 0.1, 3
    X, y, Xt, yt = _problem(70, C=C, seed=4)
    model = NTKInfluence(lam, device="cpu").fit(X, y)
    ref = BruteForce(X, y, Xt, lam)
    for t in (0.05, 2.0, 80.0):
        view = model.at_time(t)
        f, f_train = ref.predict(t)
        loo, own = ref.loo(t)
        assert _rel(view.loo_predictions(Xt[:1]), loo[:1]) < 1e-8
        assert view.predict(Xt).shape == (5, C) and view.loo_predictions(Xt).shape == (5, 70, C)
        assert _rel(view.loo_predictions(Xt), loo) < 1e-8
        assert _rel(view.loo_predictions(Xt[:2]), loo[:2]) < 1e-8
        infl = 0.5 * ((loo - yt[:, None, :]) ** 2).sum(-1) - 0.5 * ((f - yt) ** 2).sum(-1)[:, None]
        assert _rel(view.influence(Xt, yt), infl) < 1e-8
        assert _rel(view.loo_residuals(), y - own) < 1e-8
        self_infl = 0.5 * ((y - own) ** 2).sum(-1) - 0.5 * ((y - f_train) ** 2).sum(-1)
        assert _rel(view.self_influence(), self_infl) < 1e-8
        top = view.top_influences(Xt[0], yt[0], k=4)
        assert np.all(top.helpful_scores > 0) and np.all(np.diff(top.helpful_scores) <= 0)
        assert np.array_equal(top.helpful, np.argsort(-infl[0])[: len(top.helpful)])


# ---------------------------------------------------------------------------------------- limits
def test_time_zero_is_the_untrained_network():
    X, y, Xt, yt = _problem(30)
    view = NTKInfluence(0.1, device="cpu").fit(X, y).at_time(0)
    assert isinstance(view, TimeView) and view.t == 0.0
    assert np.array_equal(view.predict(Xt), np.zeros(5))
    assert np.array_equal(view.train_predictions(), np.zeros(30))
    assert np.array_equal(view.loo_predictions(Xt), np.zeros((5, 30)))
    assert np.array_equal(view.influence(Xt, yt), np.zeros((5, 30)))
    assert np.array_equal(view.self_influence(), np.zeros(30))
    assert np.array_equal(view.loo_residuals(), y)
    top = view.top_influences(Xt[0], yt[0], k=3)
    assert len(top.helpful) == 0 and len(top.harmful) == 0


def test_short_times_grow_linearly_from_zero():
    # f_t = t·Ky + O(t²); influence on x of i is t·k_i(x)·y_i·(y_x) to first order
    X, y, Xt, yt = _problem(30)
    view = NTKInfluence(0.1, device="cpu").fit(X, y).at_time(1e-9)
    K = _ntk(Xt, X)
    assert _rel(view.predict(Xt), 1e-9 * K @ y) < 1e-7
    assert _rel(view.influence(Xt, yt), 1e-9 * K * y[None, :] * yt[:, None]) < 1e-7


def test_time_infinity_is_the_fitted_model_and_late_times_converge_to_it():
    X, y, Xt, yt = _problem(40, C=2)
    model = NTKInfluence(0.1, device="cpu").fit(X, y)
    final = model.at_time(math.inf)
    for name, args in [("predict", (Xt,)), ("loo_predictions", (Xt,)), ("influence", (Xt, yt)),
                       ("self_influence", ()), ("loo_residuals", ()), ("train_predictions", ())]:
        static = getattr(model, name)(*args)
        assert np.array_equal(getattr(final, name)(*args), static)
        late = getattr(model.at_time(1e6), name)(*args)  # e^{−μt} < e^{−1e5}: indistinguishable from ∞
        assert _rel(late, static) < 1e-10, name


@pytest.mark.parametrize("bad", [-1.0, -1e-300, float("nan"), "1.0", None, [1.0, 2.0], True, 1j])
def test_invalid_times_are_rejected_clearly(bad):
    X, y, _, _ = _problem(10)
    model = NTKInfluence(0.1, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="t must"):
        model.at_time(bad)


def test_check_time_accepts_numpy_and_integer_times():
    assert check_time(np.float32(2.0)) == 2.0 and check_time(3) == 3.0 and check_time(np.int64(0)) == 0.0
    assert math.isinf(check_time(float("inf")))


def test_unfitted_model_and_wrong_test_inputs():
    with pytest.raises(ValueError, match="not fitted"):
        NTKInfluence(0.1).at_time(1.0)
    X, y, Xt, yt = _problem(10)
    view = NTKInfluence(0.1, device="cpu").fit(X, y).at_time(1.0)
    with pytest.raises(ValueError, match="features"):
        view.influence(Xt[:, :3], yt)
    with pytest.raises(ValueError, match="rows"):
        view.influence(Xt, yt[:2])
    with pytest.raises(ValueError, match="one test point"):
        view.top_influences(Xt, yt)


def test_refitting_the_model_invalidates_the_cached_spectrum():
    X, y, Xt, yt = _problem(30)
    model = NTKInfluence(0.1, device="cpu").fit(X, y)
    before = model.at_time(1.0).influence(Xt, yt)
    model.fit(X, -y)
    fresh = NTKInfluence(0.1, device="cpu").fit(X, -y).at_time(1.0)
    assert np.allclose(model.at_time(1.0).influence(Xt, yt), fresh.influence(Xt, yt), rtol=0, atol=1e-14)
    assert not np.allclose(before, fresh.influence(Xt, yt))


# ------------------------------------------------------------------ views, refits and memory
def test_a_view_made_before_a_refit_refuses_instead_of_mixing_two_fits():
    X, y, Xt, yt = _problem(10, seed=3)
    X2, y2, _, _ = _problem(10, seed=4)
    model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
    view = model.at_time(2.0)
    view.predict(Xt)
    model.fit(X2, y2)
    with pytest.raises(ValueError, match="fitted again"):
        view.predict(Xt)
    with pytest.raises(ValueError, match="fitted again"):
        view.influence(Xt, yt)
    bf = BruteForce(X2, y2, Xt, 0.1)
    assert _rel(model.at_time(2.0).predict(Xt), bf.predict(2.0)[0][:, 0]) < 1e-10


def test_models_used_through_at_time_are_freed():
    import gc
    import weakref

    X, y, Xt, _ = _problem(20, seed=5)

    def used_model():
        model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
        model.at_time(1.0).influence(Xt, np.ones(len(Xt)))
        return weakref.ref(model)

    refs = [used_model() for _ in range(3)]
    gc.collect()
    assert all(r() is None for r in refs)
    gc.disable()  # the model's caches form no reference cycle: reference counting alone frees them
    try:
        model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
        model.at_time(1.0).influence(Xt, np.ones(len(Xt)))
        refs = [weakref.ref(model), weakref.ref(model.spectral()), weakref.ref(model.spectral().poles(1.0)[0])]
        del model
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_the_model_owns_its_spectral_cache_and_a_refit_resets_it():
    X, y, Xt, yt = _problem(20, seed=5)
    model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
    sp = model.spectral()
    model.at_time(1.0).influence(Xt, yt)
    assert model.spectral() is sp and model.eigendecomposition()[0] is sp.mu
    model.fit(X, y)
    assert model.spectral() is not sp


@pytest.mark.parametrize("t", [1e6, 1e300, 1.7e308])
def test_a_huge_finite_time_is_the_fully_trained_state(t):
    X, y, Xt, yt = _problem(30, seed=6)
    model = NTKInfluence(reg=0.1, device="cpu").fit(X, y)
    view = model.at_time(t)
    assert view.is_final  # λt ≥ 800: e^(−μt) is 0 in float64 for every mode
    np.testing.assert_array_equal(view.influence(Xt, yt), model.influence(Xt, yt))
    np.testing.assert_array_equal(view.self_influence(), model.self_influence())
    assert not model.at_time(7000.0).is_final  # λt = 700: still computed through the resolvents
    assert _rel(model.at_time(7000.0).influence(Xt, yt), model.influence(Xt, yt)) < 1e-9


def test_minus_zero_is_time_zero():
    X, y, Xt, yt = _problem(8, seed=7)
    view = NTKInfluence(reg=0.1, device="cpu").fit(X, y).at_time(-0.0)
    assert repr(view).startswith("TimeView(t=0,") and not np.any(view.influence(Xt, yt))
