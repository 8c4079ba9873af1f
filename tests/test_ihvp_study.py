import numpy as np
import pytest
from reference import random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer.experiments.ihvp import error_vs_density, error_vs_reg


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
    quarters = [err[:25].mean(), err[25:50].mean(), err[50:75].mean(), err[75:].mean()]
    np.testing.assert_allclose(study.bin_mean_error, quarters)
    assert study.spearman == pytest.approx(-1.0)
