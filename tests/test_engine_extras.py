"""The classroom example, the density estimate and the IHVP / complexity studies."""
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from ifexplorer import NTKInfluence
from ifexplorer.classroom import example_points, parameter_influence, response_curve, weighted_fit
from ifexplorer.density import log_density, reduce_features
from ifexplorer.experiments.complexity import group_complexity
from ifexplorer.experiments.ihvp import error_vs_density, error_vs_reg
from reference import krr_fit, ntk_reference, random_unit_rows


def test_linear_regression_example_of_math_section_8():
    x, y = example_points()
    np.testing.assert_allclose(weighted_fit(x, y, np.ones(3)), [1.0, 1 / 6], atol=1e-12)
    expected = [[0.083, -0.139], [0.000, 0.111], [-0.083, 0.028]]
    np.testing.assert_allclose(parameter_influence(x, y), expected, atol=5e-4)
    eps = 1e-6
    for k in range(3):  # the influence is the tangent of θ(ε) at ε = 0
        fd = (response_curve(x, y, k, [eps])[0] - response_curve(x, y, k, [-eps])[0]) / (2 * eps)
        np.testing.assert_allclose(fd, parameter_influence(x, y)[k], atol=1e-8)
    with pytest.raises(ValueError, match="undetermined"):
        weighted_fit(x, y, [1, 0, 0])


def test_loo_kde_matches_scipy_gaussians_and_ranks_isolated_points_low():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(60, 3)), [[8.0, 8.0, 8.0]]]
    h = 0.7
    got = log_density(X, n_components=3, bandwidth=h)
    Z = reduce_features(X, 3)
    for i in (0, 17, 60):
        others = np.delete(Z, i, axis=0)
        ref = np.log(np.mean(multivariate_normal(mean=np.zeros(3), cov=h * h * np.eye(3)).pdf(others - Z[i])))
        assert got[i] == pytest.approx(ref, rel=1e-10)
    cv = log_density(X, n_components=3)
    assert np.argmin(cv) == 60
    with pytest.raises(ValueError, match="bandwidth"):
        log_density(X, bandwidth=-1)


def test_error_vs_reg_matches_per_lambda_fits_and_bounds():
    rng = np.random.default_rng(1)
    X, Xt = random_unit_rows(rng, 40, 5), random_unit_rows(rng, 4, 5)
    y, yt = np.sign(X[:, 0]), np.sign(Xt[:, 0])
    regs = [1e-3, 1e-1, 10.0]
    curve = error_vs_reg(X, y, regs, Xt, yt)
    for j, lam in enumerate(regs):
        m = NTKInfluence(reg=lam).fit(X, y)
        e = m.ihvp_error()
        assert curve.mean_error[j] == pytest.approx(e.mean(), rel=1e-9)
        b = m.ihvp_error_bounds()
        assert curve.lower_bound[j] == pytest.approx(b.lower, rel=1e-9)
        assert curve.lower_bound[j] <= e.min() + 1e-12 and e.max() <= curve.upper_bound[j] + 1e-12
        exact, ihvp = m.influence(Xt, yt), m.ihvp_influence(Xt, yt)
        assert curve.influence_error[j] == pytest.approx(np.median(np.abs(ihvp - exact) / np.abs(exact)), rel=1e-9)
    assert np.all(np.diff(curve.mean_error) < 0)  # weaker regularization, larger error (Theorem 3)
    with pytest.raises(ValueError, match="positive"):
        error_vs_reg(X, y, [0.1, -1])


def test_error_vs_density_bins_and_rank_correlation():
    dens = np.arange(100.0)
    err = 1 - dens / 100
    study = error_vs_density(err, dens, n_bins=4)
    np.testing.assert_array_equal(study.bin_counts, [25, 25, 25, 25])
    np.testing.assert_allclose(study.bin_mean_error, [err[:25].mean(), err[25:50].mean(), err[50:75].mean(), err[75:].mean()])
    assert study.spearman == pytest.approx(-1.0)


def test_group_complexity_equals_brute_force_norm_increments():
    rng = np.random.default_rng(2)
    X = random_unit_rows(rng, 30, 4)
    y = np.eye(2)[rng.integers(0, 2, 30)]
    lam = 0.1
    model = NTKInfluence(reg=lam).fit(X, y)
    scores = rng.normal(size=30)
    groups = group_complexity(model, scores, n_groups=3)
    H = ntk_reference(X, X)
    np.fill_diagonal(H, 0.5)
    full = np.sum(y * krr_fit(H, y, lam))
    for members, c in zip(groups.members, groups.complexity):
        keep = np.setdiff1d(np.arange(30), members)
        rest = np.sum(y[keep] * krr_fit(H[np.ix_(keep, keep)], y[keep], lam))
        assert c == pytest.approx(full - rest, rel=1e-9)
    assert np.all(np.diff([scores[m].mean() for m in groups.members]) > 0)
    single = group_complexity(model, scores, n_groups=30)
    np.testing.assert_allclose(single.complexity, model.complexity()[np.argsort(scores)], rtol=1e-9)


def test_log_density_with_duplicated_points_is_finite_and_all_equal_points_are_refused():
    rng = np.random.default_rng(0)
    Z = np.vstack([np.ones((10, 5)), rng.normal(size=(3, 5))])  # most pairwise distances are 0
    dens = log_density(Z, n_components=3)
    assert np.all(np.isfinite(dens)) and dens[:10].min() > dens[10:].max()  # the duplicates are the dense spot
    for bandwidth in ("cv", "scott"):
        with pytest.raises(ValueError, match="every point is the same"):
            log_density(np.ones((5, 4)), bandwidth=bandwidth)
