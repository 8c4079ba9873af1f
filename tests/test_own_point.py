"""experiments/own_point.py against the engine and scikit-learn (float64 references)."""
import numpy as np
import pytest
from sklearn.decomposition import PCA

from ifexplorer import NTKInfluence
from ifexplorer.data import load_dataset
from ifexplorer.experiments.embedding import embed
from ifexplorer.experiments.own_point import explain_new_point, place_on_map, predicted_class, target_vector


@pytest.fixture(scope="module")
def binary():
    ds = load_dataset("digits", classes=(3, 8), n_train=120, n_test=20, seed=1)
    return ds, NTKInfluence(reg=1e-2, dtype="float64").fit(ds.X_train, ds.y_train)


@pytest.fixture(scope="module")
def multi():
    ds = load_dataset("digits", classes=(0, 1, 2), n_train=90, n_test=12, seed=2)
    return ds, NTKInfluence(reg=1e-2, dtype="float64").fit(ds.X_train, ds.y_train)


def test_target_vector_matches_the_dataset_encoding(binary, multi):
    for ds, _ in (binary, multi):
        for j in range(5):
            y = target_vector(int(ds.labels_train[j]), ds.n_classes)
            np.testing.assert_array_equal(y, np.atleast_1d(ds.y_train[j]))
    with pytest.raises(ValueError, match="class index"):
        target_vector(2, 2)


def test_a_test_image_as_a_new_point_gets_the_test_images_answer(binary, multi):
    for ds, model in (binary, multi):
        i = 3
        answer = explain_new_point(model, ds.X_test[i], ds.n_classes, target=int(ds.labels_test[i]), k=6)
        ref = model.top_influences(ds.X_test[i], ds.y_test[i], k=6)
        np.testing.assert_array_equal(answer.top.helpful, ref.helpful)
        np.testing.assert_array_equal(answer.top.harmful, ref.harmful)
        np.testing.assert_allclose(answer.influence, model.influence(ds.X_test[i:i + 1], ds.y_test[i:i + 1])[0],
                                   rtol=1e-12)
        assert answer.predicted == predicted_class(model.predict(ds.X_test[i:i + 1])[0])


def test_default_target_is_the_prediction_and_influence_is_a_refit(binary):
    ds, model = binary
    x = ds.X_test[5]
    answer = explain_new_point(model, x, 2)
    assert answer.target == answer.predicted
    y = target_vector(answer.target, 2)[0]
    j = int(answer.top.helpful[0])
    keep = np.arange(ds.n_train) != j
    refit = NTKInfluence(reg=1e-2, dtype="float64").fit(ds.X_train[keep], ds.y_train[keep])
    f, f_minus = model.predict(x[None])[0], refit.predict(x[None])[0]
    np.testing.assert_allclose(answer.influence[j], 0.5 * (f_minus - y) ** 2 - 0.5 * (f - y) ** 2, rtol=1e-7)


def test_pca_placement_is_pca_transform_and_training_points_land_on_themselves(binary):
    ds, _ = binary
    xy = embed(ds.X_train, "pca", cache=False)
    for j in (0, 7, 50):
        np.testing.assert_allclose(place_on_map(ds.X_train, xy, ds.X_train[j]), xy[j], atol=1e-10)
    pca = PCA(n_components=2, random_state=0).fit(ds.X_train)
    signs = np.sign(np.sum(pca.transform(ds.X_train) * xy, axis=0))
    np.testing.assert_allclose(place_on_map(ds.X_train, xy, ds.X_test[2]), pca.transform(ds.X_test[2:3])[0] * signs,
                               atol=1e-10)


def test_tsne_placement_is_the_mean_of_the_nearest_points(binary):
    ds, _ = binary
    xy = np.random.default_rng(0).normal(size=(ds.n_train, 2))
    x = ds.X_test[0]
    sims = ds.X_train @ x
    nearest = [j for j in range(ds.n_train) if np.sum(sims > sims[j]) < 5]
    np.testing.assert_allclose(place_on_map(ds.X_train, xy, x, "tsne"), xy[nearest].mean(axis=0))
    with pytest.raises(ValueError, match="method"):
        place_on_map(ds.X_train, xy, x, "umap")
