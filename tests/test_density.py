import numpy as np
import pytest
from scipy.stats import multivariate_normal

from ifexplorer.density import log_density, reduce_features


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
    for bad in (-1, None, [0.5]):
        with pytest.raises(ValueError, match="bandwidth"):
            log_density(X, bandwidth=bad)


def test_log_density_with_duplicated_points_is_finite_and_all_equal_points_are_refused():
    rng = np.random.default_rng(0)
    Z = np.vstack([np.ones((10, 5)), rng.normal(size=(3, 5))])  # most pairwise distances are 0
    dens = log_density(Z, n_components=3)
    assert np.all(np.isfinite(dens)) and dens[:10].min() > dens[10:].max()  # the duplicates are the dense spot
    for bandwidth in ("cv", "scott"):
        with pytest.raises(ValueError, match="every point is the same"):
            log_density(np.ones((5, 4)), bandwidth=bandwidth)


def _dense_cv_reference(Z):
    """The dense formulation: the full n × n squared distances, the median over i < j, scipy's logsumexp."""
    from scipy.special import logsumexp

    n, k = Z.shape
    sq = np.sum(Z * Z, axis=1)
    D = np.maximum(sq[:, None] + sq[None, :] - 2 * Z @ Z.T, 0.0)
    pairs = D[np.triu_indices(n, 1)]
    grid = np.sqrt(np.median(pairs[pairs > 0])) * np.geomspace(0.02, 2.0, 30)

    def loo(h):
        logits = -D / (2 * h * h)
        np.fill_diagonal(logits, -np.inf)
        return logsumexp(logits, axis=1) - np.log(n - 1) - 0.5 * k * np.log(2 * np.pi * h * h)

    h = grid[int(np.argmax([np.mean(loo(h)) for h in grid]))]
    return h, loo(h)


@pytest.mark.parametrize("n", [7, 300, 2500])
def test_blocked_cross_validation_equals_the_dense_formulation(n, monkeypatch):
    import ifexplorer.density as density

    monkeypatch.setattr(density, "ROW_BLOCK", 128)  # several blocks, one partial
    rng = np.random.default_rng(n)
    X = np.r_[rng.normal(size=(n // 2, 12)), 3 + 0.5 * rng.normal(size=(n - n // 2, 12))]
    Z = reduce_features(X, 4)
    h_ref, ref = _dense_cv_reference(Z)
    assert density.choose_bandwidth(Z) == h_ref
    seen = []
    got = log_density(X, n_components=4, progress=lambda f, m: seen.append(f))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert seen[-1] == 1.0 and seen == sorted(seen)
