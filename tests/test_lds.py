import numpy as np
import pytest
from reference import ntk_reference, random_unit_rows
from scipy.stats import rankdata, spearmanr

from ifexplorer import NTKInfluence, load_dataset
from ifexplorer.experiments.lds import exact_loo_effects, ihvp_effects, lds, lds_many, spearman_rows

LAM = 0.05


def _train_kernel(X):
    """ntk_reference(X, X) with the diagonal set to its exact value ‖x‖²/2 (θ = 0; arccos of a rounded 1
    loses half the digits there)."""
    H = ntk_reference(X, X)
    np.fill_diagonal(H, 0.5 * np.sum(X * X, axis=1))
    return H


def _reduce_reference(F, label, output):
    """One test point's outputs F (..., C) -> true-class output or margin, with plain indexing."""
    if F.shape[-1] == 1:
        return F[..., 0]
    others = np.delete(F, label, axis=-1)
    return F[..., label] if output == "true_class" else F[..., label] - others.max(axis=-1)


def _reference(X, y, Xt, yt, effects, subsets, output):
    """Actual f_S(x) by np.linalg.solve per subset, g_S(x) by an explicit loop, ρ by scipy per test point."""
    y2, H, K = y.reshape(len(X), -1), _train_kernel(X), ntk_reference(Xt, X)
    labels = np.argmax(yt.reshape(len(Xt), -1), axis=1)
    full = K @ np.linalg.solve(H + LAM * np.eye(len(X)), y2)
    actual = np.empty((len(Xt), len(subsets)))
    predicted = np.empty_like(actual)
    for j, S in enumerate(subsets):
        fS = K[:, S] @ np.linalg.solve(H[np.ix_(S, S)] + LAM * np.eye(len(S)), y2[S])
        out = [i for i in range(len(X)) if i not in set(S)]
        for t in range(len(Xt)):
            actual[t, j] = _reduce_reference(fS[t], labels[t], output)
            predicted[t, j] = _reduce_reference(full[t], labels[t], output) + sum(effects[t, i] for i in out)
    rho = np.array([spearmanr(actual[t], predicted[t]).statistic for t in range(len(Xt))])
    return actual, predicted, rho


def _problem(n_classes, n=30, m=6, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = random_unit_rows(rng, n, d), random_unit_rows(rng, m, d)
    if n_classes == 2:
        return X, np.sign(X[:, 0] + 0.3 * rng.normal(size=n)), Xt, np.sign(Xt[:, 0])
    eye = np.eye(n_classes)
    return X, eye[rng.integers(n_classes, size=n)], Xt, eye[rng.integers(n_classes, size=m)]


@pytest.mark.parametrize("n_classes, output", [(2, "true_class"), (3, "true_class"), (3, "margin")])
@pytest.mark.parametrize("kind", ["exact", "ihvp", "random"])
def test_lds_matches_per_subset_solves_and_scipy(n_classes, output, kind):
    X, y, Xt, yt = _problem(n_classes)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    if kind == "random":
        effects = np.random.default_rng(5).normal(size=(len(Xt), len(X)))
    else:
        effects = (exact_loo_effects if kind == "exact" else ihvp_effects)(model, Xt, yt, output=output)
    res = lds(model, Xt, yt, effects, n_subsets=12, alpha=0.6, seed=3, output=output)
    assert res.subsets.shape == (12, 18) and all(len(set(S)) == 18 for S in res.subsets)
    actual, predicted, rho = _reference(X, y, Xt, yt, effects, res.subsets, output)
    np.testing.assert_allclose(res.actual, actual, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.predicted, predicted, rtol=0, atol=1e-10)
    # the orderings agree exactly, so ρ is the same number up to the order of its sums
    np.testing.assert_array_equal(rankdata(res.actual, axis=1), rankdata(actual, axis=1))
    np.testing.assert_array_equal(rankdata(res.predicted, axis=1), rankdata(predicted, axis=1))
    np.testing.assert_allclose(res.lds, rho, rtol=0, atol=1e-14)
    assert res.mean == pytest.approx(rho.mean(), abs=1e-14)


def test_effects_helpers_match_brute_force_loo_and_ihvp_factor():
    X, y, Xt, yt = _problem(3)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    H, K = _train_kernel(X), ntk_reference(Xt, X)
    full = K @ np.linalg.solve(H + LAM * np.eye(len(X)), y)
    labels = np.argmax(yt, axis=1)
    Q = np.linalg.inv(H + LAM * np.eye(len(X)))
    for output in ("true_class", "margin"):
        exact = np.empty((len(Xt), len(X)))
        ihvp = np.empty_like(exact)
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            loo = K[:, keep] @ np.linalg.solve(H[np.ix_(keep, keep)] + LAM * np.eye(len(X) - 1), y[keep])
            for t in range(len(Xt)):
                base = _reduce_reference(full[t], labels[t], output)
                exact[t, i] = _reduce_reference(loo[t], labels[t], output) - base
                shifted = full[t] + LAM * Q[i, i] * (loo[t] - full[t])
                ihvp[t, i] = _reduce_reference(shifted, labels[t], output) - base
        np.testing.assert_allclose(exact_loo_effects(model, Xt, yt, output=output), exact, rtol=0, atol=1e-10)
        np.testing.assert_allclose(ihvp_effects(model, Xt, yt, output=output), ihvp, rtol=0, atol=1e-10)
    # true-class IHVP effects are λQ_ii × exact (theory §5)
    np.testing.assert_allclose(ihvp_effects(model, Xt, yt), exact_loo_effects(model, Xt, yt) * LAM * np.diag(Q),
                               rtol=1e-9, atol=1e-14)


def test_lds_invariant_to_common_positive_scale_and_seeded():
    X, y, Xt, yt = _problem(2, n=40)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    effects = exact_loo_effects(model, Xt, yt)
    a = lds(model, Xt, yt, effects, n_subsets=20, seed=1)
    b = lds(model, Xt, yt, 3.7 * effects, n_subsets=20, seed=1)
    np.testing.assert_allclose(a.lds, b.lds, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.subsets, lds(model, Xt, yt, effects, n_subsets=20, seed=1).subsets)
    assert not np.array_equal(a.subsets, lds(model, Xt, yt, effects, n_subsets=20, seed=2).subsets)
    # TRAK's form −Σ_{i ∈ S} Δ_i f(x) differs from g by a constant per test point: same ρ
    kept = np.zeros((len(X), 20))
    kept[a.subsets.T, np.arange(20)] = 1.0
    np.testing.assert_allclose(spearman_rows(a.actual, -effects @ kept), a.lds, rtol=0, atol=1e-12)


def test_lds_many_shares_subsets_and_equals_single_calls():
    X, y, Xt, yt = _problem(3)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    effects = {"exact": exact_loo_effects(model, Xt, yt, "margin"), "ihvp": ihvp_effects(model, Xt, yt, "margin")}
    both = lds_many(model, Xt, yt, effects, n_subsets=8, seed=2, output="margin")
    for name, value in effects.items():
        single = lds(model, Xt, yt, value, n_subsets=8, seed=2, output="margin")
        np.testing.assert_array_equal(both[name].lds, single.lds)
        np.testing.assert_array_equal(both[name].subsets, single.subsets)
    with pytest.raises(ValueError, match=r"ihvp must have shape"):
        lds_many(model, Xt, yt, {"exact": effects["exact"], "ihvp": effects["ihvp"][:, :3]})


def test_spearman_rows_ties_and_constant_rows():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, size=(5, 9)).astype(float), rng.normal(size=(5, 9))
    b[4] = 1.0
    got = spearman_rows(a, b)
    want = [spearmanr(a[t], b[t]).statistic for t in range(4)]
    np.testing.assert_allclose(got[:4], want, rtol=0, atol=1e-14)
    assert np.isnan(got[4])


def test_lds_of_exact_effects_positive_on_mnist_7_vs_9():
    ds = load_dataset("mnist", n_train=300, n_test=50, seed=0)
    model = NTKInfluence(reg=1e-2, device="cpu").fit(ds.X_train, ds.y_train)
    exact = lds(model, ds.X_test, ds.y_test, exact_loo_effects(model, ds.X_test, ds.y_test), n_subsets=40)
    ihvp = lds(model, ds.X_test, ds.y_test, ihvp_effects(model, ds.X_test, ds.y_test), n_subsets=40)
    # measured 0.85 / 0.83 (M = 100, 50 test points): the IHVP misses ~93% of each effect's size
    # (λQ_ii ≈ 0.07) yet loses little LDS, as only λQ_ii's variation across points (CV 0.24) matters
    assert exact.mean > 0.6
    assert abs(ihvp.mean - exact.mean) < 0.1


@pytest.mark.parametrize("kwargs, match", [
    ({"n_subsets": 1}, "n_subsets must be an integer ≥ 2; got 1"),
    ({"n_subsets": 10.0}, "n_subsets must be an integer"),
    ({"alpha": 0.0}, r"alpha must be a finite number in \(0, 1\); got 0.0"),
    ({"alpha": 1.0}, r"alpha must be a finite number in \(0, 1\); got 1.0"),
    ({"alpha": 0.01}, "alpha · n must be at least 1"),
    ({"output": "logit"}, "output must be one of"),
    ({"seed": -1}, "seed must be an integer ≥ 0"),
])
def test_lds_bad_settings(kwargs, match):
    X, y, Xt, yt = _problem(2)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match=match):
        lds(model, Xt, yt, np.zeros((len(Xt), len(X))), **kwargs)


def test_lds_bad_effects():
    X, y, Xt, yt = _problem(2)
    model = NTKInfluence(reg=LAM, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match=r"effects must have shape \(m test points, n training points\) = "
                                         r"\(6, 30\); got \(30, 6\)"):
        lds(model, Xt, yt, np.zeros((len(X), len(Xt))))
    bad = np.zeros((len(Xt), len(X)))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="effects contains NaN"):
        lds(model, Xt, yt, bad)
    with pytest.raises(ValueError, match="y_test has 3 rows"):
        lds(model, Xt, yt[:3], np.zeros((len(Xt), len(X))))
