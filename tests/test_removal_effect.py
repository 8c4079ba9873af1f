"""NTKInfluence.removal_effect against a direct refit without point i (numpy float64, explicit solves)."""
import numpy as np
import pytest
from reference import krr_fit, ntk_reference, random_unit_rows

from ifexplorer import NTKInfluence
from ifexplorer.removal import RemovalEffect


def _problem(C=None, n=30, m=25, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X, Xt = random_unit_rows(rng, n, d), random_unit_rows(rng, m, d)
    if C is None:
        y, yt = np.sign(X[:, 0] + 0.5 * rng.normal(size=n)), np.sign(Xt[:, 0] + 0.5 * rng.normal(size=m))
    else:
        y, yt = np.eye(C)[rng.integers(0, C, n)], np.eye(C)[rng.integers(0, C, m)]
    return X, y, Xt, yt


def _refit_without(X, y, Xt, i, lam):
    H, K = ntk_reference(X, X), ntk_reference(Xt, X)
    np.fill_diagonal(H, 0.5)
    keep = np.arange(len(X)) != i
    return K @ krr_fit(H, y, lam), K[:, keep] @ krr_fit(H[np.ix_(keep, keep)], y[keep], lam)


def _loss(f, y):
    return 0.5 * np.sum(np.reshape((f - y) ** 2, (len(y), -1)), axis=1)


def _right(f, y):
    return f * y > 0 if f.ndim == 1 else f.argmax(axis=1) == y.argmax(axis=1)


@pytest.mark.parametrize("C", [None, 3])
@pytest.mark.parametrize("lam", [1e-3, 0.1])
def test_removal_effect_equals_a_refit_without_the_point(C, lam):
    X, y, Xt, yt = _problem(C=C, seed=3)
    model = NTKInfluence(reg=lam).fit(X, y)
    for i in (0, 7, len(X) - 1):
        effect = model.removal_effect(i, Xt, yt, k=4)
        f, f_minus = _refit_without(X, y, Xt, i, lam)
        scale = np.max(np.abs(f))
        assert isinstance(effect, RemovalEffect) and effect.index == i
        assert effect.predictions_after.shape == f.shape
        assert np.max(np.abs(effect.predictions_before - f)) < 1e-10 * scale
        assert np.max(np.abs(effect.predictions_after - f_minus)) < 1e-10 * scale
        influence = _loss(f_minus, yt) - _loss(f, yt)
        assert np.max(np.abs(effect.influence - influence)) < 1e-10 * np.max(np.abs(influence))
        np.testing.assert_allclose(effect.influence, model.influence(Xt, yt)[:, i], rtol=1e-9, atol=1e-14)
        assert abs(effect.loss_before - _loss(f, yt).mean()) < 1e-10
        assert abs(effect.loss_after - _loss(f_minus, yt).mean()) < 1e-10
        assert np.isclose(effect.loss_after - effect.loss_before, effect.influence.mean(), rtol=1e-8)
        before, after = _right(f, yt), _right(f_minus, yt)
        assert effect.accuracy_before == before.mean() and effect.accuracy_after == after.mean()
        np.testing.assert_array_equal(effect.became_correct, np.flatnonzero(~before & after))
        np.testing.assert_array_equal(effect.became_wrong, np.flatnonzero(before & ~after))
        order = np.argsort(-influence)
        np.testing.assert_array_equal(effect.helps, order[:4][influence[order[:4]] > 0])
        np.testing.assert_array_equal(effect.hurts, order[::-1][:4][influence[order[::-1][:4]] < 0])
        np.testing.assert_allclose(effect.helps_scores, influence[effect.helps], rtol=1e-9)


def test_a_mislabelled_point_hurts_and_removing_it_can_fix_a_test_point():
    X, y, Xt, yt = _problem(n=40, m=60, seed=1)
    j = int(np.flatnonzero(NTKInfluence(reg=1e-3).fit(X, y).predict(Xt) * yt > 0)[0])  # a test point got right
    X, y = np.vstack([X, Xt[j]]), np.append(y, -yt[j])  # ... and a copy of it with the wrong label
    effect = NTKInfluence(reg=1e-3).fit(X, y).removal_effect(len(X) - 1, Xt, yt)
    assert effect.hurts[0] == j and effect.hurts_scores[0] < 0
    assert j in effect.became_correct and effect.accuracy_after > effect.accuracy_before


def test_removal_effect_refuses_bad_index_and_targets():
    X, y, Xt, yt = _problem()
    model = NTKInfluence(reg=0.01).fit(X, y)
    for bad in (-1, len(X), 2.0, True):
        with pytest.raises(ValueError, match="training index i"):
            model.removal_effect(bad, Xt, yt)
    with pytest.raises(ValueError, match="rows"):
        model.removal_effect(0, Xt, yt[:-1])
    with pytest.raises(ValueError, match="not fitted"):
        NTKInfluence().removal_effect(0, Xt, yt)
