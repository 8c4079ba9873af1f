"""The training-time studies (ifexplorer.experiments.training_time) on a small separable toy with 20% label
noise: shapes, agreement with the TimeView engine, and sensible values."""
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ifexplorer.experiments.training_time import (
    mislabel_detection,
    noisy_share,
    prediction_path,
    time_grid,
    topk_tracking,
    training_curves,
)
from ifexplorer.influence import NTKInfluence


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    n, m, d = 200, 40, 10
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Xt = rng.normal(size=(m, d))
    Xt /= np.linalg.norm(Xt, axis=1, keepdims=True)
    noisy = np.zeros(n, dtype=bool)
    noisy[rng.choice(n, n // 5, replace=False)] = True
    y = np.where(noisy, -1.0, 1.0) * np.sign(X[:, 0])
    model = NTKInfluence(1e-2, device="cpu").fit(X, y)
    return model, X, y, Xt, np.sign(Xt[:, 0]), noisy


def test_time_grid_spans_the_spectrum(toy):
    model, X, *_ = toy
    mu = np.linalg.eigvalsh(model.kernel_train_.numpy()) + model.reg_
    calls = []
    grid = time_grid(model, 25, progress=lambda f, msg: calls.append(f))
    assert grid.shape == (25,) and np.all(np.diff(np.log(grid)) > 0)
    assert grid[0] == pytest.approx(0.01 / mu[-1], rel=1e-10) and grid[-1] == pytest.approx(100 / mu[0], rel=1e-10)
    with pytest.raises(ValueError, match="n_points"):
        time_grid(model, 1)


def test_training_curves_match_the_engine_and_behave(toy):
    model, X, y, Xt, yt, _ = toy
    times = np.concatenate([[0.0], time_grid(model, 15), [math.inf]])
    c = training_curves(model, Xt, yt, times)
    for s in (1, 7, 16):
        view = model.at_time(times[s])
        assert c.test_loss[s] == pytest.approx(np.mean(0.5 * (view.predict(Xt) - yt) ** 2), rel=1e-12)
        assert c.train_loss[s] == pytest.approx(np.mean(0.5 * (view.train_predictions() - y) ** 2), rel=1e-12)
        assert c.test_accuracy[s] == np.mean(np.sign(view.predict(Xt)) == yt)
    assert c.train_loss[0] == c.test_loss[0] == 0.5 and c.train_accuracy[0] == 0.0
    assert np.all(np.diff(c.train_loss) <= 1e-15)  # every eigen-mode of the training residual decays
    assert c.train_accuracy[-1] == 1.0  # λ small: the noisy labels are memorized at the end
    assert c.test_loss.min() < c.test_loss[-1] - 0.02  # and early stopping would have helped


def test_training_curves_multiclass_accuracy_is_argmax():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 5))
    labels = np.argmax(X[:, :3], axis=1)
    model = NTKInfluence(0.1, device="cpu").fit(X, np.eye(3)[labels])
    c = training_curves(model, X[:20], np.eye(3)[labels[:20]], [1.0, math.inf])
    assert c.test_accuracy[1] == np.mean(model.predict(X[:20]).argmax(1) == labels[:20])
    assert c.test_accuracy[0] == np.mean(model.at_time(1.0).predict(X[:20]).argmax(1) == labels[:20])


def test_prediction_path(toy):
    model, X, y, Xt, yt, _ = toy
    times = [0.0, 0.5, 20.0, math.inf]
    path = prediction_path(model, Xt[3], times)
    assert path.predictions.shape == (4,) and path.predictions[0] == 0.0
    assert path.predictions[1] == pytest.approx(model.at_time(0.5).predict(Xt[3:4])[0], rel=1e-12)
    assert path.predictions[3] == pytest.approx(float(path.final), rel=1e-12)
    assert float(path.final) == pytest.approx(model.predict(Xt[3:4])[0], rel=1e-12)
    with pytest.raises(ValueError, match="one test point"):
        prediction_path(model, Xt[:2], times)


def test_topk_tracking_sets_and_turnover(toy):
    model, X, y, Xt, yt, _ = toy
    times = [0.0, 1.0, 1.0, 30.0, math.inf]
    tr = topk_tracking(model, Xt[:3], yt[:3], times, k=5)
    assert tr.helpful.shape == tr.harmful.shape == tr.helpful_scores.shape == (3, 5, 5)
    assert tr.helpful_turnover.shape == (3, 4) and tr.mean_turnover.shape == (4,)
    assert np.all(tr.helpful[:, 0] == -1) and np.all(np.isnan(tr.helpful_scores[:, 0]))  # t = 0: no influence
    assert np.all(tr.helpful_turnover[:, 1] == 0) and np.all(tr.harmful_turnover[:, 1] == 0)  # identical times
    assert np.all(tr.helpful_turnover[:, 0] == (tr.helpful[:, 1] >= 0).sum(axis=1))  # everything is new after 0
    for j, t in ((1, 1.0), (4, math.inf)):
        top = model.at_time(t).top_influences(Xt[1], yt[1], k=5)
        assert np.array_equal(tr.helpful[1, j, : len(top.helpful)], top.helpful)
        assert np.allclose(tr.harmful_scores[1, j, : len(top.harmful)], top.harmful_scores, rtol=1e-12)
    a, b = set(tr.helpful[2, 3]) - {-1}, set(tr.helpful[2, 4]) - {-1}
    assert tr.helpful_turnover[2, 3] == len(b - a)
    assert tr.mean_turnover[1] == 0 and tr.mean_turnover[2] > 0


def test_noisy_share_grows_with_training(toy):
    model, X, y, Xt, yt, noisy = toy
    times = np.concatenate([[0.0], time_grid(model, 8), [math.inf]])
    res = noisy_share(model, Xt, yt, noisy, times, k=10)
    assert res.share.shape == res.test_loss.shape == (10,) and res.share_by_point.shape == (40, 10)
    assert np.isnan(res.share[0]) and res.base_rate == pytest.approx(0.2)
    infl = model.at_time(times[5]).influence(Xt, yt)
    top = np.argsort(-np.abs(infl), axis=1)[:, :10]
    assert res.share[5] == pytest.approx(noisy[top].mean(), rel=1e-12)
    assert np.all((res.share[1:] >= 0) & (res.share[1:] <= 1))
    assert res.share[-1] > res.share[1] + 0.1  # memorizing the flipped labels makes them influential
    assert res.test_loss[0] == 0.5


def test_mislabel_detection_finds_flipped_labels(toy):
    model, X, y, Xt, yt, noisy = toy
    late = mislabel_detection(model, noisy, math.inf)
    assert late.auc > 0.7 and late.random_auc == 0.5
    assert late.auc == pytest.approx(roc_auc_score(noisy, model.self_influence()), rel=1e-12)
    assert np.allclose(late.random, [0.05, 0.1, 0.2]) and np.all(late.found > late.random)
    order = np.argsort(-model.self_influence())
    assert late.found[2] == pytest.approx(noisy[order[:40]].sum() / 40)  # 40 flipped, top 20% = 40 points
    assert late.precision[0] == pytest.approx(noisy[order[:10]].mean())
    early = mislabel_detection(model, noisy, 0.05)
    assert early.auc > 0.7 and early.t == 0.05
    with pytest.raises(ValueError, match="some but not all"):
        mislabel_detection(model, np.zeros(200, dtype=bool), 1.0)
    with pytest.raises(ValueError, match="one entry per training point"):
        mislabel_detection(model, noisy[:10], 1.0)
    with pytest.raises(ValueError, match="t must"):
        mislabel_detection(model, noisy, -1.0)


def test_study_inputs_are_checked(toy):
    model, X, y, Xt, yt, noisy = toy
    with pytest.raises(ValueError, match="k must"):
        topk_tracking(model, Xt, yt, [1.0], k=0)
    with pytest.raises(ValueError, match="t must"):
        training_curves(model, Xt, yt, [1.0, float("nan")])
    with pytest.raises(ValueError, match="times must"):
        noisy_share(model, Xt, yt, noisy, [], k=3)
