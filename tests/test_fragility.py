import numpy as np
import pytest
from reference import ntk_reference, random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer.experiments.fragility import ihvp_error_vs_depth
from ifexplorer.experiments.lds import exact_loo_effects, ihvp_effects, lds


def deep_ntk_numpy(X, depth):
    """theory §9's recursion literally in numpy (textbook arccos), with the exact diagonal L‖x‖²/2."""
    scale = np.linalg.norm(X, axis=1)[:, None] * np.linalg.norm(X, axis=1)[None, :]
    sigma = X @ X.T
    theta = np.arccos(np.clip(sigma / scale, -1, 1))
    big = sigma
    for _ in range(depth - 1):
        sigma = scale * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi
        big = sigma + big * (np.pi - theta) / np.pi
        theta = np.arccos(np.clip(sigma / scale, -1, 1))
    H = big * (np.pi - theta) / (2 * np.pi)
    np.fill_diagonal(H, depth * np.sum(X * X, axis=1) / 2)
    return H


def test_deep_ntk_numpy_depth_one_is_section_2():
    X = random_unit_rows(np.random.default_rng(0), 7, 4)
    H = ntk_reference(X, X)
    np.fill_diagonal(H, 0.5)
    np.testing.assert_allclose(deep_ntk_numpy(X, 1), H, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_ihvp_error_equals_explicit_inverse_of_depth_L_kernel(depth):
    rng = np.random.default_rng(depth)
    X = 1.5 * random_unit_rows(rng, 25, 6)
    y = np.sign(X[:, 0])
    for lam in (1e-3, 0.3):
        Q = np.linalg.inv(deep_ntk_numpy(X, depth) + lam * np.eye(len(X)))
        got = NTKInfluence(reg=lam, depth=depth, device="cpu").fit(X, y).ihvp_error()
        np.testing.assert_allclose(got, 1 - lam * np.diag(Q), rtol=0, atol=1e-10)


def test_table_equals_direct_computations():
    rng = np.random.default_rng(3)
    X, Xt = random_unit_rows(rng, 30, 5), random_unit_rows(rng, 5, 5)
    y, yt = np.sign(X[:, 0] + 0.2 * rng.normal(size=30)), np.sign(Xt[:, 0])
    depths, regs = (1, 3), (1e-2, 1.0)
    table = ihvp_error_vs_depth(X, y, depths, regs, Xt, yt, n_subsets=10, seed=4, device="cpu")
    for a, depth in enumerate(depths):
        H = deep_ntk_numpy(X, depth)
        h = np.linalg.eigvalsh(H)
        assert table.eigenvalue_min[a] == pytest.approx(h[0], abs=1e-10)
        assert table.eigenvalue_max[a] == pytest.approx(h[-1], rel=1e-12)
        for b, lam in enumerate(regs):
            e = 1 - lam * np.diag(np.linalg.inv(H + lam * np.eye(len(X))))
            assert table.mean_error[a, b] == pytest.approx(e.mean(), abs=1e-12)
            assert table.median_error[a, b] == pytest.approx(np.median(e), abs=1e-12)
            assert table.lower_bound[a, b] == pytest.approx(h[0] / (lam + h[0]), abs=1e-9)
            assert table.upper_bound[a, b] == pytest.approx(h[-1] / (lam + h[-1]), rel=1e-12)
            assert table.lower_bound[a, b] - 1e-12 <= e.min() and e.max() <= table.upper_bound[a, b] + 1e-12
            model = NTKInfluence(reg=lam, depth=depth, device="cpu").fit(X, y)
            for key, effects in (("lds_exact", exact_loo_effects), ("lds_ihvp", ihvp_effects)):
                want = lds(model, Xt, yt, effects(model, Xt, yt), n_subsets=10, seed=4).mean
                assert getattr(table, key)[a, b] == want
    assert np.all(np.diff(table.mean_error, axis=1) < 0)  # stronger λ, smaller error (Theorem 3)


def test_without_test_points_lds_is_nan_and_bad_settings():
    rng = np.random.default_rng(0)
    X = random_unit_rows(rng, 12, 4)
    y = np.sign(X[:, 0])
    table = ihvp_error_vs_depth(X, y, depths=2, regs=[0.1], device="cpu")
    assert table.mean_error.shape == (1, 1) and np.isnan(table.lds_exact).all() and np.isnan(table.lds_ihvp).all()
    with pytest.raises(ValueError, match="depth must be an integer ≥ 1; got 0"):
        ihvp_error_vs_depth(X, y, depths=(1, 0))
    with pytest.raises(ValueError, match="regs must be a positive number; got -1"):
        ihvp_error_vs_depth(X, y, regs=(0.1, -1))
    with pytest.raises(ValueError, match="regs must be a non-empty list"):
        ihvp_error_vs_depth(X, y, regs=[])
    with pytest.raises(ValueError, match="give both X_test and y_test"):
        ihvp_error_vs_depth(X, y, X_test=X)
