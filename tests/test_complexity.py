import numpy as np
import pytest
from reference import krr_fit, ntk_reference, random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer.experiments.complexity import group_complexity


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
